//! The out-of-process load generator (`sharesim bench load`, a hidden subcommand): the
//! API part runs it as a child process, pinned to one core when the machine allows, so
//! it never shares a process, a runtime or an allocator with the server it loads, the
//! way wrk runs. Like wrk it writes prebuilt request bytes on keep-alive connections
//! from one thread and reads each answer with a small HTTP/1.1 parser; unlike wrk it
//! can run a cycle of requests whose paths carry the id an earlier answer gave (the
//! write mix: create, accept, delete).

use super::BenchError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the generator sends: each connection repeats `steps` in order, as one cycle,
/// until the duration has passed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// Loopback addresses the steps name by index.
    pub targets: Vec<SocketAddr>,
    /// Concurrent connections (for a per-connection step, also how many of its targets
    /// are used).
    pub connections: usize,
    /// Seconds of load, after every connection is open.
    pub duration_secs: f64,
    /// One cycle.
    pub steps: Vec<Step>,
    /// Ids each connection captured in earlier runs of the same plan, where `{n}`
    /// starts counting (empty: 0 for all).
    #[serde(default)]
    pub first_n: Vec<u64>,
}

/// One request of a cycle. `{id}` in the path is the id the last capturing step's
/// answer gave, `{n}` how many ids this connection has captured (the receiver's id of
/// the n-th invitation, when each connection has a receiver of its own); `{connection}`
/// in the body is the connection's index from 0.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Step {
    /// Index into [`Plan::targets`]; for a per-connection step, connection `i` uses
    /// `target + i`.
    pub target: usize,
    /// Whether every connection has its own target (see `target`).
    #[serde(default)]
    pub per_connection: bool,
    /// HTTP method.
    pub method: String,
    /// Path and query, possibly with `{id}` and `{n}`.
    pub path: String,
    /// Extra headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Headers for one connection each (e.g. the credentials of its own receiver):
    /// connection `i` also sends entry `i`, when there is one.
    #[serde(default)]
    pub connection_headers: Vec<(String, String)>,
    /// Request body, possibly with `{connection}`.
    #[serde(default)]
    pub body: String,
    /// The status every answer must have.
    pub expect: u16,
    /// Take `sharing_agreement.id` from the answer for later steps' `{id}`.
    #[serde(default)]
    pub capture_id: bool,
}

/// What one generator run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LoadReport {
    /// Answers with the expected status.
    pub requests: u64,
    /// Cycles whose every step was answered as expected.
    pub cycles: u64,
    /// Wrong statuses and failed exchanges.
    pub errors: u64,
    /// From the moment every connection was open to the last answer.
    pub seconds: f64,
    /// Good answers per second.
    pub requests_per_second: f64,
    /// Complete cycles per second.
    pub cycles_per_second: f64,
    /// Median request latency, ms.
    pub p50_ms: f64,
    /// 99th percentile request latency, ms.
    pub p99_ms: f64,
    /// CPU seconds the generator itself used (its whole process).
    pub cpu_seconds: f64,
    /// The core the generator was pinned to, when it could be.
    pub pinned_cpu: Option<usize>,
    /// The first error seen, for a reader wondering why `errors` is not 0.
    pub first_error: Option<String>,
    /// Ids each connection captured, counting from [`Plan::first_n`]: the next run of
    /// the same plan starts from here.
    #[serde(default)]
    pub captured: Vec<u64>,
}

/// Checks a plan before any connection is opened.
pub(crate) fn validate(plan: &Plan) -> Result<(), String> {
    if plan.steps.is_empty() {
        return Err("the plan has no steps".to_string());
    }
    if !(1..=1_024).contains(&plan.connections) {
        return Err(format!("{} connections: use 1 to 1024", plan.connections));
    }
    if !(plan.duration_secs > 0.0 && plan.duration_secs <= 3_600.0) {
        return Err(format!(
            "a duration of {} s: use more than 0 and at most 3600",
            plan.duration_secs
        ));
    }
    if let Some(addr) = plan.targets.iter().find(|a| !a.ip().is_loopback()) {
        return Err(format!(
            "{addr} is not a loopback address: the generator only loads loopback"
        ));
    }
    for (index, step) in plan.steps.iter().enumerate() {
        let last = step.target
            + if step.per_connection {
                plan.connections - 1
            } else {
                0
            };
        if last >= plan.targets.len() {
            return Err(format!(
                "step {index} names target {last}, but the plan has {} targets",
                plan.targets.len()
            ));
        }
        if step.method.is_empty() || !step.method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("step {index}: {:?} is not a method", step.method));
        }
        if !step.path.starts_with('/') || step.path.contains([' ', '\r', '\n']) {
            return Err(format!("step {index}: {:?} is not a path", step.path));
        }
        for (name, value) in step.headers.iter().chain(&step.connection_headers) {
            if name.contains([':', '\r', '\n']) || value.contains(['\r', '\n']) {
                return Err(format!("step {index}: the header {name:?} is malformed"));
            }
        }
    }
    Ok(())
}

/// Runs `plan` on a thread of its own with a single-threaded runtime (pinned to the
/// last core it may use, when there is more than one), and reports. Blocks.
pub(crate) fn run_pinned(plan: Plan) -> Result<LoadReport, BenchError> {
    validate(&plan).map_err(BenchError::Setup)?;
    let thread = std::thread::spawn(move || {
        let pinned_cpu = pin_to_last_core();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let cpu = super::process_cpu_seconds();
        let mut report = runtime.block_on(drive(plan))?;
        report.cpu_seconds = super::process_cpu_seconds() - cpu;
        report.pinned_cpu = pinned_cpu;
        Ok::<_, BenchError>(report)
    });
    thread
        .join()
        .map_err(|_| BenchError::Setup("the generator thread panicked".to_string()))?
}

/// Pins the calling thread to the last core of its affinity set; None when there is
/// only one core (or the call is refused): then the generator floats, as wrk does.
pub(crate) fn pin_to_last_core() -> Option<usize> {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let allowed = sched_getaffinity(None).ok()?;
    let cores: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .collect();
    if cores.len() < 2 {
        return None;
    }
    let core = *cores.last()?;
    let mut only = CpuSet::new();
    only.set(core);
    sched_setaffinity(None, &only).ok()?;
    Some(core)
}

/// Runs `plan` as a child process (`sharesim bench load`, the plan on its stdin, the
/// report on its stdout) and waits for its report.
pub(crate) async fn spawn(plan: &Plan) -> Result<LoadReport, BenchError> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .args(["bench", "load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let json = serde_json::to_vec(plan).map_err(|e| BenchError::Setup(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&json).await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(BenchError::Setup(format!(
            "the load generator failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        BenchError::Setup(format!(
            "the load generator's report is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        ))
    })
}

/// One connection's tally.
struct Tally {
    requests: u64,
    cycles: u64,
    errors: u64,
    latency: hdrhistogram::Histogram<u64>,
    first_error: Option<String>,
    finished: Instant,
    captured: u64,
}

async fn drive(plan: Plan) -> Result<LoadReport, BenchError> {
    let plan = std::sync::Arc::new(plan);
    let mut opened = Vec::with_capacity(plan.connections);
    for connection in 0..plan.connections {
        // One connection per distinct target: steps to the same account share it.
        let mut conns: Vec<(usize, Conn)> = Vec::new();
        for step in &plan.steps {
            let target = target_of(step, connection);
            if !conns.iter().any(|(t, _)| *t == target) {
                conns.push((target, Conn::open(plan.targets[target]).await?));
            }
        }
        opened.push(conns);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(plan.duration_secs);
    let mut tasks = Vec::with_capacity(opened.len());
    for (connection, conns) in opened.into_iter().enumerate() {
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            worker(&plan, connection, conns, deadline).await
        }));
    }
    let mut latency = super::load::new_histogram();
    let mut report = LoadReport::default();
    let mut finished = started;
    for task in tasks {
        let tally = task
            .await
            .map_err(|e| BenchError::Setup(format!("a generator task failed: {e}")))?;
        report.requests += tally.requests;
        report.cycles += tally.cycles;
        report.errors += tally.errors;
        report.first_error = report.first_error.or(tally.first_error);
        finished = finished.max(tally.finished);
        report.captured.push(tally.captured);
        let _ = latency.add(&tally.latency);
    }
    report.seconds = (finished - started).as_secs_f64();
    report.requests_per_second = report.requests as f64 / report.seconds.max(1e-9);
    report.cycles_per_second = report.cycles as f64 / report.seconds.max(1e-9);
    report.p50_ms = super::percentile_ms(&latency, 50.0);
    report.p99_ms = super::percentile_ms(&latency, 99.0);
    Ok(report)
}

fn target_of(step: &Step, connection: usize) -> usize {
    step.target + if step.per_connection { connection } else { 0 }
}

/// One connection's loop: the plan's steps in order, again and again, each on the
/// keep-alive connection to its target.
async fn worker(
    plan: &Plan,
    connection: usize,
    opened: Vec<(usize, Conn)>,
    deadline: Instant,
) -> Tally {
    let slots: Vec<usize> = plan
        .steps
        .iter()
        .map(|step| {
            let target = target_of(step, connection);
            opened.iter().position(|(t, _)| *t == target).unwrap_or(0)
        })
        .collect();
    let mut conns: Vec<Conn> = opened.into_iter().map(|(_, conn)| conn).collect();
    // Requests without placeholders are built once.
    let fixed: Vec<Option<Vec<u8>>> = plan
        .steps
        .iter()
        .zip(&slots)
        .map(|(step, &slot)| {
            let fixed = !step.path.contains('{') && !step.body.contains('{');
            let extra = step.connection_headers.get(connection);
            fixed.then(|| request_bytes(step, extra, &conns[slot].host, &step.path, &step.body))
        })
        .collect();
    let mut tally = Tally {
        requests: 0,
        cycles: 0,
        errors: 0,
        latency: super::load::new_histogram(),
        first_error: None,
        finished: Instant::now(),
        captured: 0,
    };
    let (mut id, mut n) = (0u64, plan.first_n.get(connection).copied().unwrap_or(0));
    'cycles: while Instant::now() < deadline {
        for (index, step) in plan.steps.iter().enumerate() {
            let slot = slots[index];
            let built;
            let request = match &fixed[index] {
                Some(bytes) => bytes.as_slice(),
                None => {
                    let path = step
                        .path
                        .replace("{id}", &id.to_string())
                        .replace("{n}", &n.to_string());
                    let body = step.body.replace("{connection}", &connection.to_string());
                    let extra = step.connection_headers.get(connection);
                    built = request_bytes(step, extra, &conns[slot].host, &path, &body);
                    built.as_slice()
                }
            };
            let sent = Instant::now();
            let outcome = conns[slot].exchange(request, step.capture_id).await;
            let failure = match outcome {
                Ok((status, _)) if status != step.expect => Some(format!(
                    "{} {} answered {status}, expected {}",
                    step.method, step.path, step.expect
                )),
                Ok((_, captured)) => {
                    tally.requests += 1;
                    super::load::record(&mut tally.latency, sent.elapsed());
                    if let Some(captured) = captured {
                        id = captured;
                        n += 1;
                    }
                    None
                }
                Err(error) => {
                    // A broken connection is replaced; a refused one ends this worker.
                    let addr = conns[slot].addr;
                    match Conn::open(addr).await {
                        Ok(fresh) => conns[slot] = fresh,
                        Err(_) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(error);
                            break 'cycles;
                        }
                    }
                    Some(error)
                }
            };
            if let Some(failure) = failure {
                tally.errors += 1;
                tally.first_error.get_or_insert(failure);
                continue 'cycles;
            }
        }
        tally.cycles += 1;
    }
    tally.finished = Instant::now();
    tally.captured = n;
    tally
}

fn request_bytes(
    step: &Step,
    extra: Option<&(String, String)>,
    host: &str,
    path: &str,
    body: &str,
) -> Vec<u8> {
    let mut request = format!("{} {path} HTTP/1.1\r\nHost: {host}\r\n", step.method);
    for (name, value) in step.headers.iter().chain(extra) {
        request.push_str(name);
        request.push_str(": ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    if !body.is_empty() || !matches!(step.method.as_str(), "GET" | "HEAD" | "DELETE") {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request.into_bytes()
}

/// A keep-alive connection with its read buffer.
struct Conn {
    addr: SocketAddr,
    host: String,
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, BenchError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            addr,
            host: addr.to_string(),
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Writes `request` and reads its whole answer: the status, and the captured id
    /// when asked for.
    async fn exchange(
        &mut self,
        request: &[u8],
        capture: bool,
    ) -> Result<(u16, Option<u64>), String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| format!("could not send: {e}"))?;
        loop {
            if let Some(head) = parse_head(&self.buffer)? {
                let end = head.length + head.body;
                while self.buffer.len() < end {
                    self.fill().await?;
                }
                let captured = if capture {
                    captured_id(&self.buffer[head.length..end])
                } else {
                    None
                };
                self.buffer.drain(..end);
                if head.close {
                    return Err("the server closed the connection".to_string());
                }
                return Ok((head.status, captured));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        self.buffer.reserve(16 * 1024);
        match self.stream.read_buf(&mut self.buffer).await {
            Ok(0) => Err("the server closed the connection".to_string()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("could not read: {e}")),
        }
    }
}

/// An answer's head: its status, its length in bytes, its body's length, and whether
/// the server will close the connection after it.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    length: usize,
    body: usize,
    close: bool,
}

/// Parses an answer's head from the start of `buffer`; None while it is incomplete.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the answer is not HTTP/1.1: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let mut body = None;
    let mut close = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            body = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked answers are not supported by the generator".to_string());
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    let body = match (body, status) {
        (Some(length), _) => length,
        (None, 204 | 304) | (None, 100..=199) => 0,
        (None, _) => return Err(format!("a {status} answer without Content-Length")),
    };
    Ok(Some(Head {
        status,
        length,
        body,
        close,
    }))
}

/// `sharing_agreement.id` of a JSON answer.
fn captured_id(body: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Envelope {
        sharing_agreement: Record,
    }
    #[derive(Deserialize)]
    struct Record {
        id: u64,
    }
    serde_json::from_slice::<Envelope>(body)
        .ok()
        .map(|e| e.sharing_agreement.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_only_when_whole() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse_head(&answer[..20]), Ok(None));
        assert_eq!(
            parse_head(answer),
            Ok(Some(Head {
                status: 200,
                length: answer.len() - 5,
                body: 5,
                close: false
            }))
        );
        let empty = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";
        assert_eq!(
            parse_head(empty).unwrap().map(|h| (h.body, h.close)),
            Some((0, true))
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn ids_are_captured_from_an_agreement_answer() {
        assert_eq!(
            captured_id(br#"{"sharing_agreement":{"name":"x","id":42}}"#),
            Some(42)
        );
        assert_eq!(captured_id(b"{}"), None);
    }

    #[test]
    fn plans_that_leave_loopback_or_name_missing_targets_are_refused() {
        let step = Step {
            target: 0,
            per_connection: true,
            method: "GET".to_string(),
            path: "/".to_string(),
            headers: Vec::new(),
            connection_headers: Vec::new(),
            body: String::new(),
            expect: 200,
            capture_id: false,
        };
        let mut plan = Plan {
            targets: vec!["127.0.0.1:1".parse().unwrap()],
            connections: 2,
            duration_secs: 1.0,
            steps: vec![step],
            first_n: Vec::new(),
        };
        assert!(validate(&plan).unwrap_err().contains("target 1"));
        plan.connections = 1;
        assert_eq!(validate(&plan), Ok(()));
        plan.targets = vec!["10.0.0.1:1".parse().unwrap()];
        assert!(validate(&plan).unwrap_err().contains("loopback"));
    }
}
