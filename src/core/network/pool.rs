//! The client's connections to one host: hyper's HTTP/1.1 connections kept idle between
//! exchanges, the way hyper-util's pooled client keeps them (newest idle first, none
//! older than the idle limit, a request the connection closed under before sending it
//! tried again on a new one), without its generic machinery on every request.

use axum::http::HeaderValue;
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The sending half of one HTTP/1.1 connection; its I/O runs in a task of its own.
pub(super) type Sender = SendRequest<Full<Bytes>>;

/// One idle connection and since when it has been idle.
struct Idle {
    sender: Sender,
    https: bool,
    since: Instant,
}

/// The idle connections to one host (as URLs spell it).
#[derive(Default)]
pub(super) struct HostPool {
    idle: Mutex<Vec<Idle>>,
    /// The `Host` header of this host's requests, for `http` and `https` (see
    /// [`HostPool::host_header`]).
    host: [OnceLock<HeaderValue>; 2],
    /// Set when the host's connections are forgotten: a connection in use then is
    /// closed when its exchange ends instead of being kept.
    forgotten: AtomicBool,
}

impl std::fmt::Debug for HostPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostPool").finish_non_exhaustive()
    }
}

impl HostPool {
    /// The newest idle connection for the scheme that is still open and was idle for
    /// less than `limit`; older or closed ones on the way are dropped.
    pub(super) fn checkout(&self, https: bool, limit: Duration) -> Option<Sender> {
        let now = Instant::now();
        let mut idle = crate::core::trace::lock(&self.idle);
        let mut index = idle.len();
        while index > 0 {
            index -= 1;
            if idle[index].https != https {
                continue;
            }
            let entry = idle.remove(index);
            if entry.sender.is_ready() && now.saturating_duration_since(entry.since) < limit {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Keeps `sender` for the next exchange once it can take one: now if it is ready,
    /// else from a task that waits until it is (or drops it when it closes).
    pub(super) fn put(self: &std::sync::Arc<Self>, mut sender: Sender, https: bool) {
        if self.forgotten.load(Ordering::Relaxed) {
            return;
        }
        if sender.is_ready() {
            self.keep(sender, https);
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                pool.keep(sender, https);
            }
        });
    }

    fn keep(&self, sender: Sender, https: bool) {
        if self.forgotten.load(Ordering::Relaxed) {
            return;
        }
        crate::core::trace::lock(&self.idle).push(Idle {
            sender,
            https,
            since: Instant::now(),
        });
    }

    /// The `Host` header for `https` or not, made once by `make`: the pool's host is
    /// one authority, so the header is the same on every request.
    pub(super) fn host_header(
        &self,
        https: bool,
        make: impl FnOnce() -> HeaderValue,
    ) -> HeaderValue {
        self.host[usize::from(https)].get_or_init(make).clone()
    }

    /// Closes the idle connections and keeps none of those in use.
    pub(super) fn forget(&self) {
        self.forgotten.store(true, Ordering::Relaxed);
        crate::core::trace::lock(&self.idle).clear();
    }
}
