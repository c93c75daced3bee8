//! Outbound partner messages: the world's senders pass the scheduler's gate, then each
//! attempt is traced, carried by the world's HTTP client (on whichever network the world
//! runs), retried as configured and classified into the status a sender records.
//!
//! Everything here is above the network's cut and shared by both networks: the gate
//! ([`scheduler`]), where a message may go and how redirects are followed
//! (`redirects`), and what each failure means (`classify`): the status a sender
//! records, how Zendesk's own client reads each answer, and which failures are worth
//! another attempt.

use crate::core::directory::Directory;
use crate::core::faults::{Fault, FaultTable, Side};
use crate::core::model::AgreementStatus;
use crate::core::network::client::{HttpClient, Resolve};
use crate::core::network::{Network, Reservation};
use crate::core::trace::{
    Delivery, EventDraft, EventKind, Surface, Text, Trace, Wire, method_text,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod classify;
mod message;
pub(crate) mod redirects;
pub mod scheduler;
mod wire;

pub use classify::{
    AnswerClass, Retry, answer_class, classify_error, classify_status, retry_advice,
};
pub use message::{
    BaseUrls, Body, DeliveryFailure, Destination, FROM_HEADER, MAX_REDIRECTS, Message,
    PROTOCOL_VERSION, RELAY_FAILURE_HEADER, Reply, Shown, TOKEN_HEADER, VERSION_HEADER,
    WORLD_HEADER,
};
use redirects::{Target, allowed_target};
use scheduler::{Pass, Plan, Scheduler};

/// How a world's transport behaves.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Limit on each attempt, connect to last byte.
    pub timeout: Duration,
    /// Extra attempts after a failure (default 0: the reference client never retries).
    pub retries: u32,
    /// TLS settings for HTTPS partners: trust only the world's CA.
    pub tls: Arc<rustls::ClientConfig>,
    /// The world's seed: the scheduler draws interleavings and `seeded` orders from it.
    pub seed: u64,
    /// The network messages travel on.
    pub network: Network,
}

/// Errors building the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The port that refuses `down` links could not be reserved.
    #[error("could not reserve a loopback port for refused connections: {0}")]
    Io(#[from] std::io::Error),
}

/// Sends partner messages for every account of one world.
#[derive(Clone, Debug)]
pub struct Transport {
    /// The pooled client; its connections are dropped when an account's listener
    /// restarts, so the next message makes a new connection and handshake.
    client: Arc<HttpClient>,
    /// A client that sends every name to a port where nothing listens: how a `down`
    /// link, or an account that never started, gives the sender a real refused
    /// connection.
    refusing: Arc<HttpClient>,
    /// That port, kept so no other listener can take it while the world runs.
    _nowhere: Arc<Reservation>,
    directory: Directory,
    trace: Trace,
    faults: Arc<FaultTable>,
    config: TransportConfig,
    /// The gate every message passes before it is sent (holds, duplicates, lost
    /// replies, and the interleaving of `concurrently` groups).
    scheduler: Arc<Scheduler>,
    /// Sent as [`WORLD_HEADER`]: drawn from the OS, never from the seed, so no one
    /// outside the process can pass a message off as the world's own.
    world_key: Arc<str>,
    /// The same key as the header value every message carries.
    world_header: axum::http::HeaderValue,
    /// Partner base URLs parsed once (see [`BaseUrls`]).
    bases: Arc<BaseUrls>,
}

impl Transport {
    /// Builds the world's pooled client. Connections (and TLS sessions) are reused.
    /// `faults` is read for `down` links, which are refused on the sender's side.
    pub fn new(
        directory: Directory,
        trace: Trace,
        faults: Arc<FaultTable>,
        config: TransportConfig,
    ) -> Result<Transport, TransportError> {
        let (nowhere, reservation) = config
            .network
            .reserve_free(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        let client = |resolve| {
            Arc::new(HttpClient::new(
                config.network.clone(),
                resolve,
                config.tls.clone(),
                crate::core::limits::MAX_BODY_BYTES,
            ))
        };
        let scheduler = Arc::new(Scheduler::new(trace.clone(), config.seed));
        let key = world_key();
        Ok(Transport {
            scheduler,
            client: client(Resolve::Directory(directory.clone())),
            refusing: client(Resolve::Nowhere(nowhere)),
            _nowhere: Arc::new(reservation),
            directory,
            trace,
            faults,
            config,
            world_header: axum::http::HeaderValue::from_str(&key)
                .expect("hex digits are a valid header value"),
            world_key: key.into(),
            bases: Arc::default(),
        })
    }

    /// Where a message to `{base}/{kind}/{id}` goes, its base parsed once.
    pub fn destination(&self, base: &str, kind: &str, id: &str) -> Destination {
        self.bases.destination(base, kind, id)
    }

    /// Whether a received message was sent by this world's transport (see
    /// [`WORLD_HEADER`]).
    pub fn is_own_message(&self, headers: &axum::http::HeaderMap) -> bool {
        headers
            .get(WORLD_HEADER)
            .is_some_and(|key| key.as_bytes() == self.world_key.as_bytes())
    }

    /// Drops the pooled connections to one account, by the host names its messages
    /// use (its name, and its address for URLs that spell it): the next message there
    /// opens a new connection and makes a new handshake. Called when its listener
    /// restarts or changes its certificate.
    pub fn forget_connections(&self, hosts: &[String]) {
        for host in hosts {
            self.client.forget_connections(host);
        }
    }

    /// The gate every message passes (see [`scheduler`]).
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Sends `message`, retrying as configured, recording each attempt in the trace.
    /// The message first passes the scheduler's gate, which may hold it (until its
    /// timeout), park it beside a `concurrently` group's other messages, deliver it
    /// twice or lose its reply.
    pub async fn deliver(&self, message: &Message) -> Result<Reply, DeliveryFailure> {
        let routed = self.route(message);
        let message = routed.as_ref().unwrap_or(message);
        let plan = match self
            .scheduler
            .pass(message.url.to(), message, self.config.timeout)
            .await
        {
            Pass::Go(plan) => plan,
            Pass::TimedOut => {
                let failure = DeliveryFailure {
                    status: AgreementStatus::Failed,
                    cause: format!(
                        "timed out after {} ms: the message is held in flight on {} → {} and the receiver never answered (it may still arrive later)",
                        self.config.timeout.as_millis(),
                        message.from,
                        message.url.to()
                    ),
                    http_status: None,
                    retry_after: None,
                };
                self.trace.record(
                    EventKind::Response,
                    EventDraft {
                        surface: Some(Surface::Partner),
                        from: message.url.to().clone(),
                        to: message.from.clone(),
                        method: Some(method_text(&message.method)),
                        path: Some(message.url.shown_path()),
                        outcome: Some(failure.status.as_str().into()),
                        detail: failure.cause.clone(),
                        ..EventDraft::default()
                    },
                );
                return Err(failure);
            }
        };
        let result = self.attempts(message, plan).await;
        if plan.outside_round {
            // A `release` let this client's message go and waits for its answer.
            self.scheduler.finished();
        }
        if plan.duplicate {
            // The link delivers the same message again; the sender already has its
            // answer, so the second reply only shows in the trace.
            let mark = Mark {
                delivery: Some(Delivery::Duplicated),
                note: "the same message, delivered a second time",
                ..Mark::default()
            };
            let _ = self.attempt(message, 0, mark).await;
        }
        result
    }

    /// Delivers a released message whose sender stopped waiting at its timeout: the
    /// receiver still gets it, and its answer reaches no one.
    pub async fn deliver_orphan(&self, message: &Message) {
        let routed = self.route(message);
        let message = routed.as_ref().unwrap_or(message);
        let mark = Mark {
            delivery: Some(Delivery::Released),
            note: "released after its sender stopped waiting",
            orphan: true,
            ..Mark::default()
        };
        let _ = self.attempt(message, 0, mark).await;
    }

    /// A message to an external account's configured URL goes to the world's relay for
    /// it instead (see [`Directory::in_world_url`]); from here on its link is like any
    /// other. None: the message goes where it says.
    fn route(&self, message: &Message) -> Option<Message> {
        if !self.directory.has_externals() {
            return None;
        }
        let url = self.directory.in_world_url(message.url.url().ok()?)?;
        Some(Message {
            url: Destination::parse(url),
            ..message.clone()
        })
    }

    async fn attempts(&self, message: &Message, plan: Plan) -> Result<Reply, DeliveryFailure> {
        let mut attempt = 0;
        loop {
            let mark = Mark {
                delivery: (plan.released && attempt == 0).then_some(Delivery::Released),
                note: if plan.released && attempt == 0 {
                    "released"
                } else {
                    ""
                },
                lose_reply: plan.lose_reply && attempt == 0,
                orphan: false,
            };
            let result = self.attempt(message, attempt, mark).await;
            let wait = match &result {
                Err(failure) if attempt < self.config.retries => match retry_advice(failure) {
                    // Exponential backoff: 20 ms, 40 ms, 80 ms… short, so scenarios stay fast.
                    Retry::Backoff => Duration::from_millis(20u64 << attempt.min(6)),
                    Retry::After(wait) => wait,
                    Retry::No => return result,
                },
                _ => return result,
            };
            attempt += 1;
            tracing::debug!(attempt, ?wait, "retrying partner message");
            // The world's clock: on the simulated network the wait costs no wall time.
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        message: &Message,
        attempt: u32,
        mark: Mark,
    ) -> Result<Reply, DeliveryFailure> {
        let (to, path) = (message.url.to().clone(), message.url.shown_path());
        let retry_note = if attempt > 0 {
            format!(" (retry {attempt})")
        } else {
            String::new()
        };
        let (request_seq, body) = self.record_request(message, (&to, &path), mark, &retry_note);
        let (result, answer) = match message.url.origin() {
            Ok(origin) => self.send(message, origin, body).await,
            Err(error) => (
                Err(DeliveryFailure {
                    status: AgreementStatus::ConfigurationError,
                    cause: format!(
                        "the sharing URL {:?} is malformed: {error}",
                        message.url.text()
                    ),
                    http_status: None,
                    retry_after: None,
                }),
                None,
            ),
        };
        let draft = EventDraft {
            surface: Some(Surface::Partner),
            from: to,
            to: message.from.clone(),
            method: Some(method_text(&message.method)),
            path: Some(path),
            wire: answer.map(|wire| wire.answering(request_seq)),
            ..EventDraft::default()
        };
        let answered = match &result {
            Ok(reply) => Some(reply.status),
            Err(failure) => failure.http_status,
        };
        if let (true, Some(status)) = (mark.lose_reply, answered) {
            // The receiver processed it and answered; the answer is dropped on its way
            // back, so the sender sees only a connection that closed without a reply.
            let failure = DeliveryFailure {
                status: AgreementStatus::Failed,
                cause: format!(
                    "connection closed before the reply: the receiver answered {status} but the reply was lost on its way back (lose_reply on {} → {})",
                    message.from, draft.from
                ),
                http_status: None,
                retry_after: None,
            };
            self.trace.record(
                EventKind::Response,
                EventDraft {
                    status: None,
                    outcome: Some(failure.status.as_str().into()),
                    detail: failure.cause.clone(),
                    delivery: Some(Delivery::Lost),
                    ..draft
                },
            );
            return Err(failure);
        }
        let draft = if mark.orphan {
            EventDraft {
                detail: "the sender stopped waiting at its timeout: this answer reaches no one"
                    .to_string(),
                ..draft
            }
        } else {
            draft
        };
        match &result {
            Ok(reply) => {
                let summary = reply.shown.summary();
                let detail = match (draft.detail.is_empty(), summary.is_empty()) {
                    (true, _) => summary,
                    (false, true) => draft.detail.clone(),
                    (false, false) => format!("{summary}; {}", draft.detail),
                };
                self.trace.record(
                    EventKind::Response,
                    EventDraft {
                        status: Some(reply.status),
                        detail,
                        ..draft
                    },
                )
            }
            Err(failure) => self.trace.record(
                EventKind::Response,
                EventDraft {
                    status: failure.http_status,
                    outcome: Some(failure.status.as_str().into()),
                    detail: failure.cause.clone(),
                    ..draft
                },
            ),
        };
        result
    }

    /// Records an attempt's request (with its wire) and returns its sequence number and
    /// the body, serialised once: the same bytes go on the wire and into the trace.
    fn record_request(
        &self,
        message: &Message,
        (to, path): (&Text, &Text),
        mark: Mark,
        retry_note: &str,
    ) -> (u64, Option<bytes::Bytes>) {
        let summary = message
            .body
            .as_ref()
            .map(|body| body.shown.summary())
            .unwrap_or_default();
        let detail = match (mark.note, summary.is_empty()) {
            ("", _) if retry_note.is_empty() => summary,
            ("", _) => format!("{summary}{retry_note}"),
            (note, true) => format!("{note}{retry_note}"),
            (note, false) => format!("{note}: {summary}{retry_note}"),
        };
        let body = message.body.as_ref().map(|body| body.bytes.clone());
        let seq = self.trace.record(
            EventKind::Request,
            EventDraft {
                surface: Some(Surface::Partner),
                from: message.from.clone(),
                to: to.clone(),
                method: Some(method_text(&message.method)),
                path: Some(path.clone()),
                detail,
                delivery: mark.delivery,
                wire: self
                    .trace
                    .keeps_wires()
                    .then(|| wire::request(message, body.as_ref())),
                ..EventDraft::default()
            },
        );
        (seq, body)
    }

    /// Sends one attempt of `message` with its serialised `body`; the answer's wire comes
    /// back beside the result whenever the partner answered at all. `origin` is the
    /// destination's scheme, host and port.
    async fn send(
        &self,
        message: &Message,
        origin: &url::Url,
        body: Option<bytes::Bytes>,
    ) -> (Result<Reply, DeliveryFailure>, Option<Wire>) {
        let client = match self.check_target(origin, message.url.text()) {
            Ok(Target::Literal) => &self.client,
            Ok(Target::Account { subdomain, running }) => {
                let down = self
                    .faults
                    .take(&subdomain, Some(&message.from), Side::Sending);
                if down == Some(Fault::Down) {
                    self.trace.world(
                        &subdomain,
                        format!(
                            "nothing listens where {} connects to reach {subdomain} (fault down)",
                            message.from
                        ),
                    );
                }
                if down.is_some() || !running {
                    &self.refusing
                } else {
                    &self.client
                }
            }
            Err(failure) => return (Err(failure), None),
        };
        let exchange =
            redirects::exchange(client, &self.directory, message, &self.world_header, body);
        let answer = match tokio::time::timeout(self.config.timeout, exchange).await {
            Err(_) => return (Err(classify::classify_timeout(self.config.timeout)), None),
            Ok(Err(error)) => return (Err(classify_error(&error)), None),
            Ok(Ok(answer)) => answer,
        };
        let status = answer.status;
        // The answer came off the connection: copied, so the journal does not pin its
        // read buffer.
        let wire = self
            .trace
            .keeps_wires()
            .then(|| Wire::received(wire::answer_headers(&answer.headers), &answer.body));
        if let Some(failure) = relay_failure(&answer) {
            return (Err(failure), wire);
        }
        let result = if (200..300).contains(&status) {
            Ok(Reply {
                status,
                shown: Shown::of_json(&answer.body),
                body: answer.body.clone(),
            })
        } else {
            let retry_after = answer
                .headers
                .get(axum::http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok());
            Err(classify_status(
                status,
                &String::from_utf8_lossy(&answer.body),
                retry_after,
            ))
        };
        (result, wire)
    }

    /// Refuses, before any connection is opened, targets that are not simulated
    /// accounts: nothing is ever sent outside this world.
    fn check_target(&self, origin: &url::Url, text: &str) -> Result<Target, DeliveryFailure> {
        allowed_target(&self.directory, origin, text).map_err(|cause| DeliveryFailure {
            status: AgreementStatus::ConfigurationError,
            cause,
            http_status: None,
            retry_after: None,
        })
    }
}

/// 40 hex characters from the OS RNG: the key the world's own messages carry.
fn world_key() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// How one attempt is marked in the trace and what the link does to its reply.
#[derive(Clone, Copy, Debug, Default)]
struct Mark {
    /// The request event's delivery mark.
    delivery: Option<Delivery>,
    /// A few words put before the body's summary.
    note: &'static str,
    /// The reply is dropped and the sender sees the connection close.
    lose_reply: bool,
    /// No sender waits for the answer.
    orphan: bool,
}

/// The failure the world's relay reports when an external account could not be reached
/// (see [`RELAY_FAILURE_HEADER`]): the status and cause the relay classified.
fn relay_failure(answer: &crate::core::network::client::Answer) -> Option<DeliveryFailure> {
    // The name as a constant: looked up by text, it would be parsed on every answer.
    const RELAY_FAILURE: axum::http::HeaderName =
        axum::http::HeaderName::from_static("x-sharesim-relay-failure");
    debug_assert!(RELAY_FAILURE == RELAY_FAILURE_HEADER);
    let status = answer
        .headers
        .get(RELAY_FAILURE)?
        .to_str()
        .ok()?
        .parse::<AgreementStatus>()
        .ok()
        .filter(|status| status.is_delivery_failure())?;
    Some(DeliveryFailure {
        status,
        cause: String::from_utf8_lossy(&answer.body).trim().to_string(),
        http_status: None,
        retry_after: None,
    })
}

/// A short, deterministic summary of a protocol body for the trace.
pub fn summarize_body(body: Option<&serde_json::Value>) -> String {
    let Some(serde_json::Value::Object(map)) = body else {
        return String::new();
    };
    ["status", "deactivated_by", "name", "subject"]
        .iter()
        .filter_map(|key| match map.get(*key) {
            Some(serde_json::Value::String(value)) => Some(format!("{key}={value}")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_summaries_pick_the_key_fields() {
        let body =
            serde_json::json!({"status": "inactive", "deactivated_by": "sender", "uuid": "x"});
        assert_eq!(
            summarize_body(Some(&body)),
            "status=inactive deactivated_by=sender"
        );
        assert_eq!(summarize_body(None), "");
    }
}
