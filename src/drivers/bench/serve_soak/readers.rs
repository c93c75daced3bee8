//! The journal-stream readers of `--only serve-soak` as a process of their own
//! (`sharesim bench readers`, a hidden subcommand), like the API part's load generator:
//! one thread, pinned to the last core the machine allows, reading every stream over
//! plain keep-alive sockets with a small chunked-body and server-sent-event parser. So
//! the 200 readers share no process, runtime or allocator with the flood or `serve`,
//! and cost as little CPU as reading 200 streams can.
//!
//! The protocol: a [`ReaderPlan`] (one JSON line) on stdin; `{"opened": N}` on stdout
//! once every stream answered 200; then [`Expected`] (one JSON line) on stdin; the
//! [`ReadersReport`] on stdout, when every stream received what it should, ended, or
//! the patience ran out.

use super::super::BenchError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Which streams to open.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReaderPlan {
    /// The control API (loopback).
    pub addr: SocketAddr,
    /// Its bearer token.
    pub token: String,
    /// Each stream's path and query.
    pub paths: Vec<String>,
}

/// What each stream should receive, and how long to wait for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Expected {
    /// Events per stream, in the plan's order.
    pub events: Vec<u64>,
    /// Most milliseconds to wait for them.
    pub patience_ms: u64,
}

/// What one stream received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tally {
    /// Events received.
    pub received: u64,
    /// The first event's sequence number.
    pub first: Option<u64>,
    /// The last event's sequence number.
    pub last: u64,
    /// The first pair of events out of order (or repeated): (earlier, later).
    pub disorder: Option<(u64, u64)>,
    /// The data of an `end` event, when the server ended the stream.
    pub ended: Option<String>,
    /// Whether the connection closed without an `end` event.
    pub cut: bool,
}

/// What the readers' process answers last.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ReadersReport {
    /// One per stream, in the plan's order.
    pub tallies: Vec<Tally>,
    /// CPU seconds the readers' process used from the first stream opened.
    pub cpu_seconds: f64,
    /// The core it was pinned to (None: it floated).
    pub pinned_cpu: Option<usize>,
}

/// The `sharesim bench readers` process: runs the protocol above on stdin and stdout,
/// on a pinned thread of its own. Blocks.
pub(crate) fn process() -> Result<(), BenchError> {
    let thread = std::thread::spawn(|| {
        let pinned_cpu = super::super::generator::pin_to_last_core();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(pinned_cpu))
    });
    thread
        .join()
        .map_err(|_| BenchError::Setup("the readers' thread panicked".to_string()))?
}

async fn run(pinned_cpu: Option<usize>) -> Result<(), BenchError> {
    let mut input = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut output = tokio::io::stdout();
    let plan: ReaderPlan = json_line(&mut input).await?;
    let cpu = super::super::process_cpu_seconds();
    let stop = CancellationToken::new();
    let progress: Arc<Vec<Progress>> =
        Arc::new(plan.paths.iter().map(|_| Progress::default()).collect());
    let mut tasks = Vec::new();
    for (index, path) in plan.paths.iter().enumerate() {
        let (socket, rest) = open(&plan, path).await?;
        let (progress, stop) = (progress.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            read(socket, rest, &progress[index], stop).await
        }));
    }
    let opened = format!("{{\"opened\": {}}}\n", tasks.len());
    output.write_all(opened.as_bytes()).await?;
    output.flush().await?;
    let expected: Expected = json_line(&mut input).await?;
    let deadline = Instant::now() + Duration::from_millis(expected.patience_ms);
    let arrived = || {
        progress.iter().zip(&expected.events).all(|(p, wanted)| {
            p.done.load(Ordering::Relaxed) || p.received.load(Ordering::Relaxed) >= *wanted
        })
    };
    while Instant::now() < deadline && !arrived() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let mut report = ReadersReport {
        pinned_cpu,
        ..ReadersReport::default()
    };
    for task in tasks {
        report.tallies.push(task.await.unwrap_or_default());
    }
    report.cpu_seconds = super::super::process_cpu_seconds() - cpu;
    let mut line = serde_json::to_vec(&report).map_err(|e| BenchError::Setup(e.to_string()))?;
    line.push(b'\n');
    output.write_all(&line).await?;
    output.flush().await?;
    Ok(())
}

/// The next line of `input`, as JSON.
async fn json_line<T: serde::de::DeserializeOwned>(
    input: &mut tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>,
) -> Result<T, BenchError> {
    let line = input
        .next_line()
        .await?
        .ok_or_else(|| BenchError::Setup("the readers' input ended".to_string()))?;
    serde_json::from_str(&line).map_err(|e| BenchError::Setup(format!("the readers' input: {e}")))
}

/// How far one stream got, for the wait on all of them.
#[derive(Default)]
struct Progress {
    received: AtomicU64,
    done: AtomicBool,
}

/// Opens one stream: the request, then its answer's head, which must be 200 with a
/// chunked body. Answers the socket and the body bytes already read.
async fn open(plan: &ReaderPlan, path: &str) -> Result<(TcpStream, Vec<u8>), BenchError> {
    let mut socket = TcpStream::connect(plan.addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        plan.addr, plan.token
    );
    socket.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(4096);
    loop {
        if socket.read_buf(&mut buffer).await? == 0 {
            return Err(BenchError::Unexpected(
                "a stream closed before its answer".into(),
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let status = response
            .parse(&buffer)
            .map_err(|e| BenchError::Unexpected(format!("a stream's answer: {e}")))?;
        let httparse::Status::Complete(head) = status else {
            continue;
        };
        if response.code != Some(200) {
            return Err(BenchError::Unexpected(format!(
                "a stream answered {:?}",
                response.code
            )));
        }
        let chunked = response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("transfer-encoding")
                && String::from_utf8_lossy(h.value).contains("chunked")
        });
        if !chunked {
            return Err(BenchError::Unexpected(
                "a stream's body is not chunked".into(),
            ));
        }
        return Ok((socket, buffer.split_off(head)));
    }
}

/// Reads one stream until `stop` or its end.
async fn read(
    mut socket: TcpStream,
    mut raw: Vec<u8>,
    progress: &Progress,
    stop: CancellationToken,
) -> Tally {
    let mut parser = Parser::default();
    loop {
        let open = parser.feed(&mut raw);
        progress
            .received
            .store(parser.tally.received, Ordering::Relaxed);
        if !open {
            parser.tally.cut |= parser.tally.ended.is_none();
            progress.done.store(true, Ordering::Relaxed);
            return parser.tally;
        }
        raw.reserve(64 * 1024);
        let read = tokio::select! {
            _ = stop.cancelled() => return parser.tally,
            read = socket.read_buf(&mut raw) => read,
        };
        if !matches!(read, Ok(n) if n > 0) {
            parser.tally.cut |= parser.tally.ended.is_none();
            progress.done.store(true, Ordering::Relaxed);
            return parser.tally;
        }
    }
}

/// A chunked body of server-sent events, parsed as it arrives.
#[derive(Default)]
struct Parser {
    /// Body bytes left in the current chunk.
    in_chunk: usize,
    /// Whether the current chunk's data is followed by a CRLF still to skip.
    crlf_due: bool,
    /// Decoded body bytes not yet parsed into messages.
    body: Vec<u8>,
    tally: Tally,
}

impl Parser {
    /// Takes what it can of `raw` (leaving an incomplete chunk-size line), and notes
    /// every complete message. False once the body (or the stream) has ended.
    fn feed(&mut self, raw: &mut Vec<u8>) -> bool {
        let mut at = 0;
        let mut open = true;
        while at < raw.len() {
            if self.in_chunk > 0 {
                let take = self.in_chunk.min(raw.len() - at);
                self.body.extend_from_slice(&raw[at..at + take]);
                self.in_chunk -= take;
                at += take;
                continue;
            }
            if self.crlf_due {
                if raw.len() - at < 2 {
                    break;
                }
                at += 2;
                self.crlf_due = false;
                continue;
            }
            match httparse::parse_chunk_size(&raw[at..]) {
                Ok(httparse::Status::Complete((used, 0))) => {
                    at += used;
                    open = false;
                    break;
                }
                Ok(httparse::Status::Complete((used, size))) => {
                    at += used;
                    self.in_chunk = usize::try_from(size).unwrap_or(usize::MAX);
                    self.crlf_due = true;
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    open = false;
                    break;
                }
            }
        }
        raw.drain(..at);
        self.messages();
        open && self.tally.ended.is_none()
    }

    /// Notes every complete message of the decoded body.
    fn messages(&mut self) {
        let mut start = 0;
        while let Some(end) = memchr::memmem::find(&self.body[start..], b"\n\n") {
            note(&self.body[start..start + end], &mut self.tally);
            start += end + 2;
        }
        self.body.drain(..start);
    }
}

/// Notes one server-sent event: an event's id, or the stream's end (a keep-alive
/// comment has neither).
fn note(message: &[u8], tally: &mut Tally) {
    if let Some(rest) = message.strip_prefix(b"id:") {
        let digits = rest
            .iter()
            .skip_while(|b| **b == b' ')
            .take_while(|b| b.is_ascii_digit());
        let id = digits.fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        if tally.disorder.is_none() && tally.first.is_some() && id <= tally.last {
            tally.disorder = Some((tally.last, id));
        }
        tally.first.get_or_insert(id);
        tally.last = id;
        tally.received += 1;
    } else if message.starts_with(b"event: end") {
        let text = String::from_utf8_lossy(message);
        let data = text
            .lines()
            .find_map(|line| line.strip_prefix("data:"))
            .unwrap_or_default();
        tally.ended = Some(data.trim_start().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_event_stream_is_parsed_across_any_split() {
        let messages = [
            "id: 11\nevent: decision\ndata: {\"detail\":\"a\"}\n\n",
            ": \n\n",
            "id: 12\nevent: decision\ndata: {}\n\nid: 12\nevent: decision\ndata: {}\n\n",
            "event: end\ndata: {\"reason\":\"too_slow\"}\n\n",
        ];
        let body: String = messages
            .iter()
            .map(|m| format!("{:x}\r\n{m}\r\n", m.len()))
            .collect();
        // Fed one byte at a time, or all at once: the same tally.
        for step in [1, 7, body.len()] {
            let mut parser = Parser::default();
            let mut raw = Vec::new();
            let mut open = true;
            for piece in body.as_bytes().chunks(step) {
                raw.extend_from_slice(piece);
                open = parser.feed(&mut raw);
            }
            assert!(!open, "ended by the end event");
            assert_eq!(
                parser.tally,
                Tally {
                    received: 3,
                    first: Some(11),
                    last: 12,
                    disorder: Some((12, 12)),
                    ended: Some("{\"reason\":\"too_slow\"}".into()),
                    cut: false,
                },
                "fed {step} bytes at a time"
            );
        }
        let mut parser = Parser::default();
        let mut last = b"5\r\n: \n\n\r\n0\r\n\r\n".to_vec();
        assert!(!parser.feed(&mut last), "the last chunk ends the body");
    }
}
