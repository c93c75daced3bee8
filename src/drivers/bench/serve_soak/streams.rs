//! The journal-stream part of `--only serve-soak`: [`SUBSCRIBERS`] streams that must
//! receive what the flood makes them receive, and a count, per stream, of what each one
//! got against what the trace recorded that matches its filter.

use super::super::BenchError;
use super::process::{Served, client};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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

/// What one stream received.
#[derive(Debug, Default)]
struct Tally {
    /// The sequence numbers received, in the order they came.
    ids: Vec<u64>,
    /// The data of an `end` event, when the server ended the stream.
    ended: Option<String>,
    /// Whether the connection closed without an `end` event.
    cut: bool,
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
}

/// Open journal streams, each read and counted as it arrives.
pub(crate) struct Subscribers {
    stop: CancellationToken,
    since: u64,
    streams: Vec<(usize, Arc<Mutex<Tally>>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Subscribers {
    /// Opens `count` streams after the newest event, alternating the two filters.
    pub(crate) async fn open(served: &Served, count: usize) -> Result<Subscribers, BenchError> {
        let control = served.text("/control_url");
        let token = served.text("/control_token");
        let since = last_seq(served).await?;
        let stop = CancellationToken::new();
        let (mut streams, mut tasks) = (Vec::new(), Vec::new());
        let filters = filters();
        for index in 0..count {
            let which = index % filters.len();
            let response = client()?
                .get(format!(
                    "{control}/journal/stream?since={since}&{}",
                    filters[which].0
                ))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| BenchError::Setup(format!("a stream did not open: {e}")))?;
            if !response.status().is_success() {
                return Err(BenchError::Unexpected(format!(
                    "a stream answered {}",
                    response.status()
                )));
            }
            let tally = Arc::new(Mutex::new(Tally::default()));
            streams.push((which, tally.clone()));
            tasks.push(tokio::spawn(read(response, tally, stop.clone())));
        }
        Ok(Subscribers {
            stop,
            since,
            streams,
            tasks,
        })
    }

    /// Waits (at most `patience`) until every stream has received what it should
    /// (`created`: the tickets the flood created, and those whose id ends in 0), then
    /// closes them all and counts.
    pub(crate) async fn close(
        self,
        served: &Served,
        created: [u64; 2],
        patience: Duration,
    ) -> StreamCounts {
        let expected = match self.expected(served, created).await {
            Ok(expected) => expected,
            Err(problem) => {
                self.stop.cancel();
                return StreamCounts {
                    first_problem: Some(problem),
                    ..StreamCounts::default()
                };
            }
        };
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline && !self.all_arrived(&expected) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        let mut counts = StreamCounts {
            decisions: expected[0],
            rare: expected[1],
            ..StreamCounts::default()
        };
        for (index, (which, tally)) in self.streams.iter().enumerate() {
            let tally = tally.lock().unwrap_or_else(|p| p.into_inner());
            counts.received += tally.ids.len() as u64;
            let open = tally.ended.is_none() && !tally.cut;
            counts.open += usize::from(open);
            match problem(&tally, self.since, expected[*which]) {
                None => counts.complete += 1,
                Some(problem) => {
                    counts.first_problem.get_or_insert(format!(
                        "stream {index} ({}): {problem}",
                        filters()[*which].0
                    ));
                }
            }
        }
        counts
    }

    fn all_arrived(&self, expected: &[u64; 2]) -> bool {
        self.streams.iter().all(|(which, tally)| {
            let tally = tally.lock().unwrap_or_else(|p| p.into_inner());
            tally.ids.len() as u64 >= expected[*which] || tally.ended.is_some() || tally.cut
        })
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
    if tally.ids.first().is_some_and(|first| *first <= since) {
        return Some(format!(
            "an event from before it connected ({})",
            tally.ids[0]
        ));
    }
    if let Some(pair) = tally.ids.windows(2).find(|pair| pair[1] <= pair[0]) {
        return Some(format!("event {} came after {}", pair[1], pair[0]));
    }
    let received = tally.ids.len() as u64;
    (received != expected).then(|| format!("received {received} of {expected} events"))
}

/// Reads one stream until `stop`, noting each event's id, and the end event if any.
/// Lean on purpose: the readers share the machine with the flood they are measured
/// beside, so they scan bytes for complete messages and wait on `stop` without a timer.
async fn read(mut response: reqwest::Response, tally: Arc<Mutex<Tally>>, stop: CancellationToken) {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => return,
            chunk = response.chunk() => chunk,
        };
        let Ok(Some(bytes)) = chunk else {
            tally.lock().unwrap_or_else(|p| p.into_inner()).cut = true;
            return;
        };
        buffer.extend_from_slice(&bytes);
        let Some(end) = buffer.windows(2).rposition(|pair| pair == b"\n\n") else {
            continue;
        };
        let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
        for message in String::from_utf8_lossy(&buffer[..end]).split("\n\n") {
            note(message, &mut tally);
        }
        buffer.drain(..end + 2);
    }
}

/// Notes one server-sent event (a keep-alive comment has neither id nor event).
fn note(message: &str, tally: &mut Tally) {
    let field = |name: &str| {
        message
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim_start)
    };
    if field("event") == Some("end") {
        tally.ended = Some(field("data").unwrap_or_default().to_string());
    } else if let Some(id) = field("id").and_then(|id| id.parse().ok()) {
        tally.ids.push(id);
    }
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
        let mut tally = Tally::default();
        for message in [
            "id: 11\nevent: decision\ndata: {}",
            ":",
            "id:12\nevent: decision\ndata: {}",
        ] {
            note(message, &mut tally);
        }
        assert_eq!(tally.ids, [11, 12]);
        assert_eq!(problem(&tally, 10, 2), None);
        assert_eq!(
            problem(&tally, 10, 3).as_deref(),
            Some("received 2 of 3 events")
        );
        assert!(problem(&tally, 11, 2).is_some(), "11 is not after 11");
        tally.ids.push(12);
        assert!(problem(&tally, 10, 3).unwrap().contains("came after"));
        note("event: end\ndata: {\"reason\":\"too_slow\"}", &mut tally);
        assert!(problem(&tally, 10, 3).unwrap().contains("too_slow"));
    }
}
