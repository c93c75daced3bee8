//! Outbound partner messages: one pooled HTTP client per world that resolves
//! subdomains through the directory, trusts only the world's CA, times out, follows at
//! most two redirects, and classifies every failure into the status a sender records.
//!
//! The classification is our model of the failure statuses (Zendesk documents only the
//! names), and it reads a partner's answer the way Zendesk's own `ticket_sharing` client
//! does ([`answer_class`]); which failures are worth another attempt is [`retry_advice`].

use crate::directory::{Directory, subdomain_of_host};
use crate::faults::{Fault, FaultTable, Side};
use crate::model::AgreementStatus;
use crate::trace::{Delivery, EventDraft, EventKind, Surface, Trace, lock};
use reqwest::Method;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod scheduler;

use scheduler::{Pass, Plan, Scheduler};

/// The protocol version we speak and require (`X-Ticket-Sharing-Version`).
pub const PROTOCOL_VERSION: &str = "1";
/// Header carrying `{agreement uuid}:{access key}` on every call after the invitation.
pub const TOKEN_HEADER: &str = "X-Ticket-Sharing-Token";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "X-Ticket-Sharing-Version";
/// Header naming the sending account on every partner message (a sharesim extension),
/// so the receiving side can apply faults to one link.
pub const FROM_HEADER: &str = "X-Sharesim-From";
/// Redirects a sender follows before giving up (the reference client's limit).
pub const MAX_REDIRECTS: usize = 2;
/// The longest `Retry-After` a sender waits before another attempt *(model)*; a partner
/// asking for longer is not retried at once.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

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
}

/// A partner message about to be sent.
#[derive(Clone, Debug)]
pub struct Message {
    /// The sending account's subdomain (for the trace and per-link faults).
    pub from: String,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL, under the partner's sharing URL.
    pub url: String,
    /// `X-Ticket-Sharing-Token`, absent only on an invitation.
    pub token: Option<String>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
}

/// A 2xx answer from the partner.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The 2xx status.
    pub status: u16,
    /// The body, parsed as JSON when it is JSON (otherwise Null).
    pub body: serde_json::Value,
}

/// Why a message was not delivered, and the status a sender records for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// `failed`, `ssl_error` or `configuration_error`.
    pub status: AgreementStatus,
    /// What happened, in words, including the underlying library's error text.
    pub cause: String,
    /// The HTTP status, when the partner answered with a refusal.
    pub http_status: Option<u16>,
    /// How long the partner asked the sender to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

impl DeliveryFailure {
    /// Whether the partner refused the message for what it says (400, 409, 413, 422):
    /// the same message would be refused again, so a queued push is dropped rather
    /// than kept *(model)*. Every other failure says nothing about the message.
    pub fn refuses_content(&self) -> bool {
        matches!(self.http_status, Some(400 | 409 | 413 | 422))
    }
}

impl std::fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.cause, self.status)
    }
}

/// Errors building the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// reqwest refused the configuration.
    #[error("could not build the outbound HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// rustls refused the TLS configuration.
    #[error("could not configure TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The port that refuses `down` links could not be reserved.
    #[error("could not reserve a loopback port for refused connections: {0}")]
    Io(#[from] std::io::Error),
}

/// Sends partner messages for every account of one world.
#[derive(Clone, Debug)]
pub struct Transport {
    /// The pooled client; replaced (dropping every pooled connection) when an account's
    /// listener restarts, so the next message makes a new connection and handshake.
    client: Arc<Mutex<reqwest::Client>>,
    /// A client that resolves every name to `nowhere`: how a `down` link, or an account
    /// that never started, gives the sender a real "connection refused".
    refusing: reqwest::Client,
    /// A loopback port bound but never listened on, so the kernel refuses connections
    /// to it and no other socket can take it while the world runs.
    nowhere: Arc<tokio::net::TcpSocket>,
    directory: Directory,
    trace: Trace,
    faults: Arc<FaultTable>,
    config: TransportConfig,
    /// The gate every message passes before it is sent (holds, duplicates, lost
    /// replies, and the interleaving of `concurrently` groups).
    scheduler: Arc<Scheduler>,
}

/// A resolver that sends every name to one address (where nothing listens).
#[derive(Debug)]
struct Nowhere(SocketAddr);

impl reqwest::dns::Resolve for Nowhere {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) })
    }
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
        let nowhere = tokio::net::TcpSocket::new_v4()?;
        nowhere.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
        let refusing = build_client(
            Arc::new(Nowhere(nowhere.local_addr()?)),
            directory.clone(),
            &config,
        )?;
        let client = build_client(Arc::new(directory.clone()), directory.clone(), &config)?;
        let scheduler = Arc::new(Scheduler::new(trace.clone(), config.seed));
        Ok(Transport {
            scheduler,
            client: Arc::new(Mutex::new(client)),
            refusing,
            nowhere: Arc::new(nowhere),
            directory,
            trace,
            faults,
            config,
        })
    }

    /// Drops every pooled connection: the next message to any account opens a new
    /// connection (and, over HTTPS, makes a full handshake). Called when a listener
    /// restarts or changes its certificate.
    pub fn forget_connections(&self) {
        match build_client(
            Arc::new(self.directory.clone()),
            self.directory.clone(),
            &self.config,
        ) {
            Ok(client) => *lock(&self.client) = client,
            Err(error) => tracing::warn!(%error, "could not rebuild the outbound client"),
        }
    }

    /// Where refused connections go (a loopback port nothing listens on).
    pub fn nowhere(&self) -> Option<SocketAddr> {
        self.nowhere.local_addr().ok()
    }

    /// The world's directory (who exists and where).
    pub fn directory(&self) -> &Directory {
        &self.directory
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
        // Parsed once for every attempt, its trace events and the request itself.
        let url = reqwest::Url::parse(&message.url).map_err(|e| e.to_string());
        let (to, path) = describe_target(url.as_ref().map_err(String::as_str), &message.url);
        let plan = match self.scheduler.pass(&to, message, self.config.timeout).await {
            Pass::Go(plan) => plan,
            Pass::TimedOut => {
                let failure = DeliveryFailure {
                    status: AgreementStatus::Failed,
                    cause: format!(
                        "timed out after {} ms: the message is held in flight on {} → {to} and the receiver never answered (it may still arrive later)",
                        self.config.timeout.as_millis(),
                        message.from
                    ),
                    http_status: None,
                    retry_after: None,
                };
                self.trace.record(
                    EventKind::Response,
                    EventDraft {
                        surface: Some(Surface::Partner),
                        from: to,
                        to: message.from.clone(),
                        method: Some(message.method.to_string()),
                        path: Some(path),
                        outcome: Some(failure.status.to_string()),
                        detail: failure.cause.clone(),
                        ..EventDraft::default()
                    },
                );
                return Err(failure);
            }
        };
        let result = self
            .attempts(message, url.as_ref().map_err(String::as_str), plan)
            .await;
        if plan.duplicate {
            // The link delivers the same message again; the sender already has its
            // answer, so the second reply only shows in the trace.
            let mark = Mark {
                delivery: Some(Delivery::Duplicated),
                note: "the same message, delivered a second time",
                ..Mark::default()
            };
            let _ = self
                .attempt(message, url.as_ref().map_err(String::as_str), 0, mark)
                .await;
        }
        result
    }

    /// Delivers a released message whose sender stopped waiting at its timeout: the
    /// receiver still gets it, and its answer reaches no one.
    pub async fn deliver_orphan(&self, message: &Message) {
        let url = reqwest::Url::parse(&message.url).map_err(|e| e.to_string());
        let mark = Mark {
            delivery: Some(Delivery::Released),
            note: "released after its sender stopped waiting",
            orphan: true,
            ..Mark::default()
        };
        let _ = self
            .attempt(message, url.as_ref().map_err(String::as_str), 0, mark)
            .await;
    }

    async fn attempts(
        &self,
        message: &Message,
        url: Result<&reqwest::Url, &str>,
        plan: Plan,
    ) -> Result<Reply, DeliveryFailure> {
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
            let result = self.attempt(message, url, attempt, mark).await;
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
            // tokio's clock: a paused test clock (or a simulated network) skips the wait.
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        message: &Message,
        url: Result<&reqwest::Url, &str>,
        attempt: u32,
        mark: Mark,
    ) -> Result<Reply, DeliveryFailure> {
        let (to, path) = describe_target(url, &message.url);
        let retry_note = if attempt > 0 {
            format!(" (retry {attempt})")
        } else {
            String::new()
        };
        let summary = summarize_body(message.body.as_ref());
        let detail = match (mark.note, summary.is_empty()) {
            ("", _) => format!("{summary}{retry_note}"),
            (note, true) => format!("{note}{retry_note}"),
            (note, false) => format!("{note}: {summary}{retry_note}"),
        };
        self.trace.record(
            EventKind::Request,
            EventDraft {
                surface: Some(Surface::Partner),
                from: message.from.clone(),
                to: to.clone(),
                method: Some(message.method.to_string()),
                path: Some(path.clone()),
                detail,
                delivery: mark.delivery,
                ..EventDraft::default()
            },
        );
        let result = match url {
            Ok(url) => self.send(message, url).await,
            Err(error) => Err(DeliveryFailure {
                status: AgreementStatus::ConfigurationError,
                cause: format!("the sharing URL {:?} is malformed: {error}", message.url),
                http_status: None,
                retry_after: None,
            }),
        };
        let draft = EventDraft {
            surface: Some(Surface::Partner),
            from: to,
            to: message.from.clone(),
            method: Some(message.method.to_string()),
            path: Some(path),
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
                    outcome: Some(failure.status.to_string()),
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
                let summary = summarize_body(Some(&reply.body));
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
                    outcome: Some(failure.status.to_string()),
                    detail: failure.cause.clone(),
                    ..draft
                },
            ),
        };
        result
    }

    async fn send(&self, message: &Message, url: &reqwest::Url) -> Result<Reply, DeliveryFailure> {
        let client = match self.check_target(url)? {
            Target::Literal => lock(&self.client).clone(),
            Target::Account { subdomain, running } => {
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
                    self.refusing.clone()
                } else {
                    lock(&self.client).clone()
                }
            }
        };
        let mut request = client
            .request(message.method.clone(), url.clone())
            .header(VERSION_HEADER, PROTOCOL_VERSION)
            .header(FROM_HEADER, &message.from);
        if let Some(token) = &message.token {
            request = request.header(TOKEN_HEADER, token);
        }
        if let Some(body) = &message.body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_error(&e, self.config.timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| classify_error(&e, self.config.timeout))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        if (200..300).contains(&status) {
            Ok(Reply { status, body })
        } else {
            Err(classify_status(
                status,
                &String::from_utf8_lossy(&bytes),
                retry_after.as_deref(),
            ))
        }
    }

    /// Refuses, before any socket is opened, targets that are not simulated accounts
    /// on loopback: nothing is ever sent outside this world.
    fn check_target(&self, parsed: &reqwest::Url) -> Result<Target, DeliveryFailure> {
        allowed_target(&self.directory, parsed).map_err(|cause| DeliveryFailure {
            status: AgreementStatus::ConfigurationError,
            cause,
            http_status: None,
            retry_after: None,
        })
    }
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

/// Where a message goes, as far as the transport cares.
enum Target {
    /// A simulated account by name; `running` is false until it first listens.
    Account { subdomain: String, running: bool },
    /// A simulated account's loopback address given literally.
    Literal,
}

/// The one check every URL a message is sent to passes, the first and every redirect
/// hop: HTTP(S) to `{subdomain}.sharesim.test` of an account in the directory, or to
/// the literal loopback address an account listens on. No other host, no other port,
/// and no name ever reaches a resolver other than the directory.
fn allowed_target(directory: &Directory, parsed: &reqwest::Url) -> Result<Target, String> {
    let url = parsed.as_str();
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("the sharing URL {url:?} is not HTTP(S)"));
    }
    let not_ours = || {
        format!(
            "the sharing URL {url:?} is not a simulated account: sharesim only sends to *.sharesim.test and the loopback addresses its accounts listen on"
        )
    };
    match parsed.host() {
        Some(url::Host::Domain(host)) => {
            let subdomain = subdomain_of_host(host).ok_or_else(not_ours)?;
            match directory.get(subdomain) {
                None => Err(format!(
                    "unknown subdomain {subdomain:?}: no account answers at {host}"
                )),
                Some(listing) => Ok(Target::Account {
                    subdomain: subdomain.to_string(),
                    running: listing.addr.is_some(),
                }),
            }
        }
        Some(url::Host::Ipv4(ip)) => literal_target(directory, IpAddr::V4(ip), parsed, not_ours),
        Some(url::Host::Ipv6(ip)) => literal_target(directory, IpAddr::V6(ip), parsed, not_ours),
        None => Err(not_ours()),
    }
}

fn literal_target(
    directory: &Directory,
    ip: IpAddr,
    parsed: &reqwest::Url,
    not_ours: impl Fn() -> String,
) -> Result<Target, String> {
    let port = parsed.port_or_known_default().ok_or_else(&not_ours)?;
    let addr = SocketAddr::new(ip, port);
    if ip.is_loopback() && directory.subdomain_at(addr).is_some() {
        Ok(Target::Literal)
    } else {
        Err(not_ours())
    }
}

/// Why a redirect was not followed, found in the error chain by [`classify_error`].
#[derive(Debug, thiserror::Error)]
#[error("refused to follow the redirect to {location:?}: {reason}")]
struct RedirectRefused {
    location: String,
    reason: String,
}

/// Follows at most [`MAX_REDIRECTS`] redirects, and each only to the host and port the
/// message was first sent to, after the same target check as the first URL: a partner
/// cannot bounce a message (with its token) anywhere else.
fn redirect_policy(directory: Directory) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(TooManyRedirects);
        }
        let next = attempt.url();
        let refuse = |reason: String| RedirectRefused {
            location: next.to_string(),
            reason,
        };
        let first = &attempt.previous()[0];
        if next.host() != first.host()
            || next.port_or_known_default() != first.port_or_known_default()
        {
            let error = refuse(format!(
                "a partner may only redirect to its own host {}",
                first.host_str().unwrap_or_default()
            ));
            return attempt.error(error);
        }
        match allowed_target(&directory, next) {
            Ok(_) => attempt.follow(),
            Err(reason) => {
                let error = refuse(reason);
                attempt.error(error)
            }
        }
    })
}

/// More redirects than the reference client follows.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

fn build_client(
    resolver: Arc<dyn reqwest::dns::Resolve>,
    directory: Directory,
    config: &TransportConfig,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(resolver)
        .tls_backend_preconfigured((*config.tls).clone())
        .timeout(config.timeout)
        .redirect(redirect_policy(directory))
        .no_proxy()
        // Shorter than any listener keeps an idle connection (the header timeout, 20 s
        // by default), so a pooled connection is not reused just as the partner closes it.
        .pool_idle_timeout(Duration::from_secs(10))
        .user_agent(concat!("sharesim/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The account a URL addresses (its subdomain, or the host as written) and its path.
fn describe_target(parsed: Result<&reqwest::Url, &str>, raw: &str) -> (String, String) {
    match parsed {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or_default();
            let to = subdomain_of_host(host).unwrap_or(host).to_string();
            (to, parsed.path().to_string())
        }
        Err(_) => (raw.to_string(), String::new()),
    }
}

/// A short, deterministic summary of a protocol body for the trace.
fn summarize_body(body: Option<&serde_json::Value>) -> String {
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

/// How Zendesk's `ticket_sharing` client reads a partner's answer (its `Client`):
/// 2xx succeeds, a redirect is followed, a listed refusal is a failure the caller
/// handles (`success?` false), and any other status raises `TicketSharing::Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerClass {
    /// 2xx.
    Success,
    /// 3xx: followed, at most [`MAX_REDIRECTS`] times.
    Redirect,
    /// 401, 403, 404, 405, 408, 410, 422 and 5xx: `success?` is false.
    Failure,
    /// Anything else (400, 409, 412, 413, 429, 1xx, other 4xx): the client raises.
    Error,
}

/// The class Zendesk's client puts `status` in.
pub fn answer_class(status: u16) -> AnswerClass {
    match status {
        200..=299 => AnswerClass::Success,
        300..=399 => AnswerClass::Redirect,
        401 | 403 | 404 | 405 | 408 | 410 | 422 | 500..=599 => AnswerClass::Failure,
        _ => AnswerClass::Error,
    }
}

/// Our model of what an HTTP refusal means for the sender: 404/405 say the sharing
/// path is wrong (`configuration_error`), the rest `failed`; the cause says when
/// Zendesk's client would raise rather than report a failure, and carries the
/// partner's `Retry-After` (seconds or an HTTP date).
pub fn classify_status(status: u16, body: &str, retry_after: Option<&str>) -> DeliveryFailure {
    let snippet: String = body.trim().chars().take(120).collect();
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let raised = if answer_class(status) == AnswerClass::Error {
        " (Zendesk's client raises TicketSharing::Error on it)"
    } else {
        ""
    };
    let cause = if snippet.is_empty() {
        format!("partner answered {status} {reason}{raised}")
    } else {
        format!("partner answered {status} {reason}{raised}: {snippet}")
    };
    let status_after = match status {
        404 | 405 => AgreementStatus::ConfigurationError,
        _ => AgreementStatus::Failed,
    };
    DeliveryFailure {
        status: status_after,
        cause,
        http_status: Some(status),
        retry_after: retry_after.and_then(parse_retry_after),
    }
}

/// `Retry-After` as a delay: whole seconds, or an HTTP date (measured from now).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// What a sender with retries left may do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Try again after the usual backoff.
    Backoff,
    /// Try again after the partner's `Retry-After`.
    After(Duration),
    /// Do not try again: the same answer would come back, or the partner asked for a
    /// longer wait than [`MAX_RETRY_AFTER`].
    No,
}

/// Our model of which failures are worth another attempt (when retries are on):
/// nothing answered (refused, reset, timed out), 408, 429 and 5xx; after the
/// partner's `Retry-After` when it gave one. A refusal says the same thing again.
pub fn retry_advice(failure: &DeliveryFailure) -> Retry {
    let transient = match failure.http_status {
        None => true,
        Some(status) => matches!(status, 408 | 429 | 500..=599),
    };
    match (transient, failure.retry_after) {
        (false, _) => Retry::No,
        (true, Some(wait)) if wait > MAX_RETRY_AFTER => Retry::No,
        (true, Some(wait)) => Retry::After(wait),
        (true, None) => Retry::Backoff,
    }
}

/// Our model of what a transport error means for the sender (DESIGN.md §2): TLS
/// failures are `ssl_error`, a partner that is not a TLS endpoint or a redirect loop is
/// `configuration_error`, everything else (refused, reset, timeout) is `failed`.
pub fn classify_error(error: &reqwest::Error, timeout: Duration) -> DeliveryFailure {
    let chain = error_chain(error);
    let failure = |status, cause: String| DeliveryFailure {
        status,
        cause,
        http_status: None,
        retry_after: None,
    };
    if let Some(refused) = find_source::<RedirectRefused>(error) {
        return failure(AgreementStatus::ConfigurationError, refused.to_string());
    }
    if error.is_redirect() {
        return failure(
            AgreementStatus::ConfigurationError,
            format!("more than {MAX_REDIRECTS} redirects (a redirect loop): {chain}"),
        );
    }
    if let Some(tls) = find_source::<rustls::Error>(error) {
        return match tls {
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                failure(
                    AgreementStatus::ConfigurationError,
                    format!(
                        "the partner does not speak TLS (plain HTTP where HTTPS is required): {tls}"
                    ),
                )
            }
            _ => failure(
                AgreementStatus::SslError,
                format!("TLS handshake failed: {tls}"),
            ),
        };
    }
    if error.is_timeout() {
        return failure(
            AgreementStatus::Failed,
            format!("timed out after {} ms: {chain}", timeout.as_millis()),
        );
    }
    if error.is_body() || error.is_decode() {
        // The status line and headers arrived, then the body broke off.
        return failure(
            AgreementStatus::Failed,
            format!("connection closed mid-response: {chain}"),
        );
    }
    if find_source::<hyper::Error>(error).is_some_and(hyper::Error::is_incomplete_message) {
        // The request went out and the connection closed with no answer at all.
        return failure(
            AgreementStatus::Failed,
            format!("connection closed before the reply: {chain}"),
        );
    }
    if let Some(io) = find_source::<std::io::Error>(error) {
        let what = match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused",
            std::io::ErrorKind::ConnectionReset => "connection reset",
            std::io::ErrorKind::ConnectionAborted => "connection aborted",
            std::io::ErrorKind::UnexpectedEof => "connection closed",
            _ => "connection failed",
        };
        return failure(AgreementStatus::Failed, format!("{what}: {chain}"));
    }
    if error.is_connect() {
        return failure(
            AgreementStatus::Failed,
            format!("could not connect: {chain}"),
        );
    }
    failure(AgreementStatus::Failed, chain)
}

/// The error and every source, joined with ": ", deduplicated.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

fn find_source<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        // io::Error::source() skips the error it wraps (it returns that error's own
        // source), so look at the wrapped error itself: that is where rustls's error is.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    None
}

/// A client config that trusts nothing: for worlds that serve plain HTTP only.
pub fn untrusting_tls_config() -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_the_model() {
        assert_eq!(
            classify_status(404, "", None).status,
            AgreementStatus::ConfigurationError
        );
        assert_eq!(
            classify_status(405, "", None).status,
            AgreementStatus::ConfigurationError
        );
        for status in [
            400, 401, 403, 408, 409, 410, 412, 413, 422, 429, 500, 502, 503,
        ] {
            assert_eq!(
                classify_status(status, "x", None).status,
                AgreementStatus::Failed,
                "{status}"
            );
        }
        let failure = classify_status(503, "busy", None);
        assert_eq!(
            failure.cause,
            "partner answered 503 Service Unavailable: busy"
        );
        assert_eq!(failure.http_status, Some(503));
        assert_eq!(
            classify_status(409, "", None).cause,
            "partner answered 409 Conflict (Zendesk's client raises TicketSharing::Error on it)"
        );
    }

    /// Every status, as the gem's `Client#handle_response` reads it.
    #[test]
    fn answers_are_classed_as_zendesks_client_reads_them() {
        let failures = [401, 403, 404, 405, 408, 410, 422];
        for status in 100..=599u16 {
            let expected = match status {
                200..=299 => AnswerClass::Success,
                300..=399 => AnswerClass::Redirect,
                500..=599 => AnswerClass::Failure,
                s if failures.contains(&s) => AnswerClass::Failure,
                _ => AnswerClass::Error,
            };
            assert_eq!(answer_class(status), expected, "{status}");
        }
    }

    /// Only what may change on its own is retried, after the partner's Retry-After.
    #[test]
    fn retries_wait_for_retry_after_and_skip_refusals() {
        let advice = |status: u16, retry_after: Option<&str>| {
            retry_advice(&classify_status(status, "", retry_after))
        };
        assert_eq!(advice(429, Some("2")), Retry::After(Duration::from_secs(2)));
        assert_eq!(advice(503, Some("0")), Retry::After(Duration::ZERO));
        assert_eq!(advice(429, None), Retry::Backoff);
        assert_eq!(advice(500, None), Retry::Backoff);
        assert_eq!(advice(408, None), Retry::Backoff);
        assert_eq!(
            advice(429, Some("3600")),
            Retry::No,
            "longer than sharesim waits"
        );
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(advice(429, Some(&past)), Retry::After(Duration::ZERO));
        for status in [400, 401, 403, 404, 405, 409, 410, 412, 413, 422] {
            assert_eq!(advice(status, Some("1")), Retry::No, "{status}");
        }
        let unanswered = DeliveryFailure {
            status: AgreementStatus::Failed,
            cause: "connection refused".into(),
            http_status: None,
            retry_after: None,
        };
        assert_eq!(retry_advice(&unanswered), Retry::Backoff);
        assert!(classify_status(422, "", None).refuses_content());
        assert!(!classify_status(503, "", None).refuses_content());
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert_eq!(
            find_source::<rustls::Error>(&wrapped),
            Some(&rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))
        );
        assert!(find_source::<std::io::Error>(&wrapped).is_some());
    }

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
