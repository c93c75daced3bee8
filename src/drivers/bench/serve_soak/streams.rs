//! The journal-stream part of `--only serve-soak`: [`SUBSCRIBERS`] streams that must
//! receive what the flood makes them receive, read by a process of their own
//! (`readers`), and a count, per stream, of what each one got against what the trace
//! recorded that matches its filter.

use super::super::BenchError;
use super::process::{Served, client};
use super::readers::{Expected, ReaderPlan, ReadersReport, Tally};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// Journal-stream subscribers of the stream part.
pub(crate) const SUBSCRIBERS: usize = 200;

/// The two filters, half the streams each: every created ticket's decision (the flood
/// creates one ticket in ten requests), and decisions about tickets whose id ends in 0
/// (one in ten of those), which a stream can only find by looking at each event's
/// sentence. As query text, and as the `/verify` body that counts the same events.
fn filters() -> [(&'static str, Value); 2] {
    [
        ("kind=decision", json!({"kind": "decision"})),
        ("detail=0%20%22soak", json!({"detail": "0 \"soak"})),
    ]
}

/// What the streams received against what the trace recorded.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct StreamCounts {
    /// Streams still open, never ended or cut, when the count was taken.
    pub open: usize,
    /// Streams that received exactly the matching events the trace recorded after they
    /// connected, in order, each once.
    pub complete: usize,
    /// Matching events the trace recorded for a `kind=decision` stream.
    pub decisions: u64,
    /// Matching events the trace recorded for a rarer-filter stream.
    pub rare: u64,
    /// Events every stream received, summed.
    pub received: u64,
    /// The first stream that did not receive what it should, and why.
    pub first_problem: Option<String>,
    /// CPU seconds the readers' process used, from the first stream opened to the count.
    pub readers_cpu_seconds: f64,
    /// The core the readers' process was pinned to (None: it floated).
    pub readers_cpu: Option<usize>,
}

/// Open journal streams, read and counted by a process of their own (see `readers`).
pub(crate) struct Subscribers {
    since: u64,
    which: Vec<usize>,
    child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    output: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Subscribers {
    /// Opens `count` streams after the newest event, alternating the two filters, in
    /// the readers' process; answers once every one of them is open.
    pub(crate) async fn open(served: &Served, count: usize) -> Result<Subscribers, BenchError> {
        let control = served.text("/control_url");
        let addr = url::Url::parse(&control)
            .ok()
            .and_then(|url| url.socket_addrs(|| None).ok()?.into_iter().next())
            .ok_or_else(|| BenchError::Setup(format!("the control URL {control:?}")))?;
        let since = last_seq(served).await?;
        let filters = filters();
        let which: Vec<usize> = (0..count).map(|index| index % filters.len()).collect();
        let plan = ReaderPlan {
            addr,
            token: served.text("/control_token"),
            paths: which
                .iter()
                .map(|w| format!("/journal/stream?since={since}&{}", filters[*w].0))
                .collect(),
        };
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["bench", "readers"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BenchError::Setup("the readers' pipes".into()));
        };
        let mut subscribers = Subscribers {
            since,
            which,
            child,
            input,
            output: tokio::io::BufReader::new(output).lines(),
        };
        subscribers.send(&plan).await?;
        let opened: Value = subscribers.receive().await?;
        if opened["opened"].as_u64() != Some(count as u64) {
            return Err(BenchError::Unexpected(format!("the readers said {opened}")));
        }
        Ok(subscribers)
    }

    async fn send(&mut self, value: &impl Serialize) -> Result<(), BenchError> {
        let mut line = serde_json::to_vec(value).map_err(|e| BenchError::Setup(e.to_string()))?;
        line.push(b'\n');
        self.input.write_all(&line).await?;
        Ok(self.input.flush().await?)
    }

    async fn receive<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, BenchError> {
        let line = self.output.next_line().await?.ok_or_else(|| {
            BenchError::Unexpected("the readers' process ended without answering".into())
        })?;
        serde_json::from_str(&line).map_err(|e| BenchError::Unexpected(e.to_string()))
    }

    /// Has the readers wait (at most `patience`) until every stream has received what
    /// it should (`created`: the tickets the flood created, and those whose id ends in
    /// 0), then close them all, and counts.
    pub(crate) async fn close(
        mut self,
        served: &Served,
        created: [u64; 2],
        patience: Duration,
    ) -> StreamCounts {
        let problem_only = |problem: String| StreamCounts {
            first_problem: Some(problem),
            ..StreamCounts::default()
        };
        let expected = match self.expected(served, created).await {
            Ok(expected) => expected,
            Err(problem) => return problem_only(problem),
        };
        let wanted = Expected {
            events: self.which.iter().map(|w| expected[*w]).collect(),
            patience_ms: patience.as_millis() as u64,
        };
        let report: ReadersReport = match self.send(&wanted).await {
            Ok(()) => match self.receive().await {
                Ok(report) => report,
                Err(e) => return problem_only(e.to_string()),
            },
            Err(e) => return problem_only(e.to_string()),
        };
        let _ = self.child.wait().await;
        let mut counts = StreamCounts {
            decisions: expected[0],
            rare: expected[1],
            readers_cpu_seconds: report.cpu_seconds,
            readers_cpu: report.pinned_cpu,
            ..StreamCounts::default()
        };
        for (index, (which, tally)) in self.which.iter().zip(&report.tallies).enumerate() {
            counts.received += tally.received;
            counts.open += usize::from(tally.ended.is_none() && !tally.cut);
            match problem(tally, self.since, expected[*which]) {
                None => counts.complete += 1,
                Some(problem) => {
                    counts.first_problem.get_or_insert(format!(
                        "stream {index} ({}): {problem}",
                        filters()[*which].0
                    ));
                }
            }
        }
        if report.tallies.len() != self.which.len() {
            counts.first_problem.get_or_insert(format!(
                "{} tallies for {} streams",
                report.tallies.len(),
                self.which.len()
            ));
        }
        counts
    }

    /// What each filter should have received: the tickets the flood created (each one
    /// records exactly one decision), and those of them whose id ends in 0. When the
    /// kept trace still starts at or before the streams' first event, `POST /verify`
    /// must count the same, or the count is refused.
    async fn expected(&self, served: &Served, created: [u64; 2]) -> Result<[u64; 2], String> {
        let first = first_kept(served).await.map_err(|e| e.to_string())?;
        if first > self.since + 1 {
            // The trace dropped its oldest events (it keeps 100,000 or 32 MiB): the
            // flood's own count is all there is.
            return Ok(created);
        }
        for ((query, body), created) in filters().into_iter().zip(created) {
            let mut body = body;
            body["since"] = json!(self.since);
            let verdict = control_call(served, reqwest::Method::POST, "/verify", Some(body))
                .await
                .map_err(|e| e.to_string())?;
            let counted = verdict["count"].as_u64().unwrap_or_default();
            if counted != created {
                return Err(format!(
                    "the trace recorded {counted} events for {query}, the flood created {created}"
                ));
            }
        }
        Ok(created)
    }
}

/// Why a stream's tally is not exactly `expected` events after `since`, in order.
fn problem(tally: &Tally, since: u64, expected: u64) -> Option<String> {
    if let Some(end) = &tally.ended {
        return Some(format!("ended by the server: {end}"));
    }
    if tally.cut {
        return Some("the connection closed without an end event".into());
    }
    if let Some(first) = tally.first.filter(|first| *first <= since) {
        return Some(format!("an event from before it connected ({first})"));
    }
    if let Some((earlier, later)) = tally.disorder {
        return Some(format!("event {later} came after {earlier}"));
    }
    let received = tally.received;
    (received != expected).then(|| format!("received {received} of {expected} events"))
}

/// A control API call, answered JSON.
async fn control_call(
    served: &Served,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, BenchError> {
    let mut request = client()?
        .request(method, format!("{}{path}", served.text("/control_url")))
        .bearer_auth(served.text("/control_token"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| BenchError::Setup(format!("the control API did not answer: {e}")))?;
    response
        .json()
        .await
        .map_err(|e| BenchError::Unexpected(format!("the control API's answer: {e}")))
}

/// The newest event's sequence number.
async fn last_seq(served: &Served) -> Result<u64, BenchError> {
    let page = control_call(served, reqwest::Method::GET, "/journal?limit=1", None).await?;
    Ok(page["last_seq"].as_u64().unwrap_or_default())
}

/// The oldest kept event's sequence number.
async fn first_kept(served: &Served) -> Result<u64, BenchError> {
    let page = control_call(served, reqwest::Method::GET, "/journal?limit=1", None).await?;
    Ok(page["events"][0]["seq"]
        .as_u64()
        .unwrap_or(page["last_seq"].as_u64().unwrap_or_default() + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_must_be_every_expected_event_in_order_and_nothing_more() {
        let mut tally = Tally {
            received: 2,
            first: Some(11),
            last: 12,
            ..Tally::default()
        };
        assert_eq!(problem(&tally, 10, 2), None);
        assert_eq!(
            problem(&tally, 10, 3).as_deref(),
            Some("received 2 of 3 events")
        );
        assert!(problem(&tally, 11, 2).is_some(), "11 is not after 11");
        tally.disorder = Some((12, 12));
        assert!(problem(&tally, 10, 2).unwrap().contains("came after"));
        tally.ended = Some("{\"reason\":\"too_slow\"}".into());
        assert!(problem(&tally, 10, 2).unwrap().contains("too_slow"));
    }
}
