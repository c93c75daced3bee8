//! What keeps an account's listener serving when clients misbehave: a cap on open
//! connections, deadlines for the TLS handshake, the request head and body, and idle
//! connections, and an accept loop that backs off (and warns once in a while) when the
//! process runs out of file descriptors instead of spinning.
//!
//! The defaults live in [`crate::core::limits`]; `serve` can change each one.

use crate::core::limits;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The limits one listener applies to every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time to send a request's head (counted from the connection's start or the end of
    /// the previous answer, so it also closes idle keep-alive connections), and then
    /// again its body.
    pub header_timeout: Duration,
    /// Time a connection may stay open with no request in progress and no byte moving.
    pub idle_timeout: Duration,
    /// Time to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
            header_timeout: limits::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: limits::DEFAULT_IDLE_TIMEOUT,
            tls_handshake_timeout: limits::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        }
    }
}

/// Shortest pause after an accept that failed for lack of resources.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// Longest such pause.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// At most one warning about failing accepts per this interval.
const WARNING_INTERVAL: Duration = Duration::from_secs(5);

/// What the accept loop does after a failed accept.
#[derive(Debug, PartialEq, Eq)]
pub struct AcceptPause {
    /// How long to wait before accepting again (zero: at once).
    pub delay: Duration,
    /// A warning to log, when one is due.
    pub warning: Option<String>,
}

/// The accept loop's memory of recent failures: exponential pauses while descriptors
/// (or buffers) are exhausted, and warnings rate-limited with a count of the rest.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    pause: Option<Duration>,
    suppressed: u64,
    last_warning: Option<Instant>,
}

impl AcceptBackoff {
    /// A successful accept: the next failure starts from the shortest pause again.
    pub fn on_success(&mut self) {
        self.pause = None;
    }

    /// An accept failed with `error` at `now`: how long to pause and what to log.
    pub fn on_error(&mut self, error: &std::io::Error, now: Instant) -> AcceptPause {
        let delay = if exhausts_resources(error) {
            let next = self
                .pause
                .map_or(FIRST_PAUSE, |pause| (pause * 2).min(LONGEST_PAUSE));
            self.pause = Some(next);
            next
        } else {
            // A connection that died before it was accepted: nothing to wait for.
            Duration::ZERO
        };
        let due = self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARNING_INTERVAL);
        let warning = if due {
            let suppressed = std::mem::take(&mut self.suppressed);
            self.last_warning = Some(now);
            Some(if suppressed == 0 {
                format!("accept failed: {error}; pausing {} ms", delay.as_millis())
            } else {
                format!(
                    "accept failed: {error}; pausing {} ms ({suppressed} more failures since the last warning)",
                    delay.as_millis()
                )
            })
        } else {
            self.suppressed += 1;
            None
        };
        AcceptPause { delay, warning }
    }
}

/// Out of file descriptors or kernel memory: accepting again at once would fail again.
fn exhausts_resources(error: &std::io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(error),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// What a connection has been doing, counted without reading the clock: the
/// connection's watchdog ([`Activity::watch`]) compares the counts between its wakes.
/// Reading the clock on every read, write and answer (and arming a head timer per
/// request in hyper) was a measurable share of a keep-alive request's cost.
#[derive(Debug)]
pub struct Activity {
    /// Reads that brought bytes: a client still sending (perhaps a slow head).
    reads: AtomicU64,
    /// Writes that moved bytes, heads received and answers ended: the connection is
    /// not waiting for a request head.
    progress: AtomicU64,
    /// Whether the last write found the socket full: an answer the client has not
    /// read, which only the idle deadline ends.
    write_blocked: AtomicBool,
    in_flight: AtomicUsize,
    handling: AtomicUsize,
}

/// Why a connection's watchdog ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// No request head within the header deadline of the connection's start or of the
    /// end of the previous answer.
    Head,
    /// No request in progress and no byte moving for the idle deadline.
    Idle,
}

impl Activity {
    /// A connection that starts now.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            reads: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            handling: AtomicUsize::new(0),
        })
    }

    fn advance(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a request in progress (its head has arrived) until the returned guard
    /// drops: a slow handler (a `latency` or `hang` fault) is not an idle connection.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.advance();
        InFlight(self.clone())
    }

    /// Marks a request whose handler runs (its body is read) until the returned guard
    /// drops: a closing connection waits for it (see `ListenerControl`).
    pub fn handling(self: &Arc<Self>) -> Handling {
        self.handling.fetch_add(1, Ordering::SeqCst);
        Handling(self.clone())
    }

    /// Whether some request's handler is running.
    pub fn is_handling(&self) -> bool {
        self.handling.load(Ordering::SeqCst) > 0
    }

    /// Resolves when the connection has waited `head` (when given: HTTP/1) for a
    /// request head, counted from the watch's start or the end of the previous answer
    /// (bytes trickling in do not count: a slowloris head is cut off), or has had no
    /// request in progress and no byte moving for `idle`. It wakes four times per
    /// deadline and never ends a connection early; it ends one at most a quarter of
    /// the deadline late.
    pub async fn watch(&self, head: Option<Duration>, idle: Duration) -> Expired {
        let period = (head.map_or(idle, |head| head.min(idle)) / 4).max(Duration::from_millis(1));
        let start = Instant::now();
        // The latest wake that saw the connection not waiting for a head, and the
        // latest that saw it not idle: each at or after what it stands for.
        let (mut not_waiting, mut not_idle) = (start, start);
        let mut seen = (
            self.reads.load(Ordering::Relaxed),
            self.progress.load(Ordering::Relaxed),
        );
        let mut wake = start;
        loop {
            wake += period;
            tokio::time::sleep_until(wake).await;
            let now = Instant::now();
            let counts = (
                self.reads.load(Ordering::Relaxed),
                self.progress.load(Ordering::Relaxed),
            );
            let busy = self.in_flight.load(Ordering::SeqCst) > 0;
            if busy || counts.1 != seen.1 || self.write_blocked.load(Ordering::Relaxed) {
                not_waiting = now;
            }
            if busy || counts != seen {
                not_idle = now;
            }
            seen = counts;
            if head.is_some_and(|head| now.duration_since(not_waiting) >= head) {
                return Expired::Head;
            }
            if now.duration_since(not_idle) >= idle {
                return Expired::Idle;
            }
            // A runtime that woke late starts the next period from now.
            wake = wake.max(now);
        }
    }
}

/// A request in progress on a connection (see [`Activity::request`]).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.advance();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request whose handler runs (see [`Activity::handling`]).
#[derive(Debug)]
pub struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    /// Counts a write attempt's outcome.
    fn wrote(&self, result: &Poll<std::io::Result<usize>>) {
        match result {
            Poll::Pending => self.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(outcome) => {
                self.write_blocked.store(false, Ordering::Relaxed);
                if matches!(outcome, Ok(written) if *written > 0) {
                    self.advance();
                }
            }
        }
    }
}

/// A stream that records in its [`Activity`] every read and write that moves bytes.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Watches `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.wrote(&result);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> std::io::Error {
        std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error())
    }

    #[test]
    fn exhausted_descriptors_pause_longer_each_time_up_to_a_second() {
        let mut backoff = AcceptBackoff::default();
        let now = Instant::now();
        let delays: Vec<u128> = (0..12)
            .map(|_| backoff.on_error(&emfile(), now).delay.as_millis())
            .collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]
        );
        backoff.on_success();
        assert_eq!(backoff.on_error(&emfile(), now).delay, FIRST_PAUSE);
    }

    #[test]
    fn warnings_come_at_most_every_five_seconds_with_a_count() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        assert!(backoff.on_error(&emfile(), start).warning.is_some());
        for _ in 0..1_000 {
            assert_eq!(backoff.on_error(&emfile(), start).warning, None);
        }
        let later = backoff
            .on_error(&emfile(), start + WARNING_INTERVAL)
            .warning
            .expect("due again");
        assert!(later.contains("(1000 more failures"), "{later}");
    }

    #[test]
    fn an_aborted_connection_is_not_a_reason_to_pause() {
        let mut backoff = AcceptBackoff::default();
        let aborted = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(
            backoff.on_error(&aborted, Instant::now()).delay,
            Duration::ZERO
        );
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickling_in_is_cut_off_after_the_head_deadline_and_not_before() {
        let activity = Activity::new();
        let head = ms(400);
        let trickle = {
            let activity = activity.clone();
            tokio::spawn(async move {
                loop {
                    activity.reads.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(ms(50)).await;
                }
            })
        };
        let start = Instant::now();
        let expired = activity.watch(Some(head), ms(60_000)).await;
        let waited = start.elapsed();
        trickle.abort();
        assert_eq!(expired, Expired::Head);
        assert!(waited >= head && waited <= head + head / 4, "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_or_an_unread_answer_is_not_a_late_head() {
        let activity = Activity::new();
        let idle = ms(2_000);
        let start = Instant::now();
        let request = activity.request();
        let watch = activity.watch(Some(ms(400)), idle);
        tokio::pin!(watch);
        let busy = tokio::time::timeout(ms(3_000), &mut watch).await;
        assert!(busy.is_err(), "{busy:?}");
        drop(request);
        // The answer's writes find the socket full: only the idle deadline applies.
        activity.wrote(&Poll::Pending);
        assert_eq!(watch.await, Expired::Idle);
        assert!(start.elapsed() >= ms(3_000) + idle);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_written_starts_the_wait_for_the_next_head_again() {
        let activity = Activity::new();
        let head = ms(400);
        let watch = activity.watch(Some(head), ms(60_000));
        tokio::pin!(watch);
        for _ in 0..5 {
            let waiting = tokio::time::timeout(ms(300), &mut watch).await;
            assert!(waiting.is_err(), "{waiting:?}");
            drop(activity.request());
            activity.wrote(&Poll::Ready(Ok(280)));
        }
        let answered = Instant::now();
        assert_eq!(watch.await, Expired::Head);
        assert!(answered.elapsed() >= head);
    }
}
