//! The handshake and a ticket's life, driven through sharesim's own account (the tester)
//! with ordinary steps, and graded from the trace (what the endpoint answered) and from
//! copies of what the endpoint sent on its own (its answer, its pushes).

use super::probes::{self, Prober};
use super::{Check, Settings};
use crate::core::account::tap::Inbound;
use crate::core::model::Agreement;
use crate::core::trace::{Event, EventKind};
use crate::drivers::scenario::json_steps::parse_steps;
use crate::drivers::scenario::run::Session;
use crate::world::World;
use serde_json::{Value, json};
use std::fmt::Write as _;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// The protocol's time format (`2011-01-02 13:01:01 -0500`).
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S %z";
pub(super) const AGREEMENT: &str = "conform";
pub(super) const TICKET: &str = "conform-ticket";

/// The ticket checks, skipped together when the agreement is not accepted.
pub(super) const TICKET_CHECKS: [&str; 10] = [
    "ticket.share",
    "ticket.comment_push",
    "ticket.comment_repeat",
    "ticket.status_push",
    "ticket.unknown_uuid",
    "ticket.endpoint_comment",
    "ticket.unshare",
    "ticket.deactivation",
    "ticket.not_accepted",
    "ticket.no_echo",
];

/// One run against one endpoint.
pub(super) struct Conformer<'w> {
    pub(super) world: &'w World,
    pub(super) settings: Settings,
    pub(super) tester: String,
    pub(super) partner: String,
    pub(super) prober: Prober,
    session: Session,
    inbound: UnboundedReceiver<Inbound>,
    /// Every message the endpoint sent so far, oldest first.
    pub(super) seen: Vec<Inbound>,
}

impl<'w> Conformer<'w> {
    pub(super) fn new(
        world: &'w World,
        settings: &Settings,
        partner: &str,
        inbound: UnboundedReceiver<Inbound>,
    ) -> Result<Conformer<'w>, String> {
        let prober = Prober::new(
            settings.url.clone(),
            world.services().directory.clone(),
            settings.message_timeout,
            &settings.partner_ca_pem,
        )?;
        Ok(Conformer {
            world,
            settings: settings.clone(),
            tester: settings.subdomain.clone(),
            partner: partner.to_string(),
            prober,
            session: Session::default(),
            inbound,
            seen: Vec::new(),
        })
    }

    /// Every check, in order.
    pub(super) async fn run(&mut self) -> Vec<Check> {
        let mut checks = Vec::new();
        let (new, agreement) = self.invite().await;
        checks.push(new);
        let Some(agreement) = agreement else {
            return checks;
        };
        let invitation = self.invitation(&agreement);
        checks.extend(probes::invitations(&self.prober, &invitation).await);
        checks.extend(probes::tokens(&self.prober, &invitation, &agreement.access_key).await);
        checks.extend(self.answers(&agreement).await);
        let status = self
            .our_copy(&agreement)
            .map(|copy| copy.status.to_string());
        if status.as_deref() == Some("accepted") {
            checks.extend(self.tickets(&agreement).await);
        } else {
            let reason = format!(
                "the agreement is not accepted (sharesim's copy is {}): ticket checks need the endpoint to accept the invitation",
                status.as_deref().unwrap_or("gone")
            );
            checks.extend(
                TICKET_CHECKS
                    .iter()
                    .map(|name| Check::skipped(name, reason.clone())),
            );
        }
        self.drain();
        checks.push(self.time_format());
        checks
    }

    /// Runs one step on the tester's world; returns whether it passed and its events.
    pub(super) async fn step(&mut self, step: Value) -> (bool, Vec<Event>) {
        let accounts = [self.tester.clone()];
        let externals = [self.partner.clone()];
        let steps = match parse_steps(&json!([step]), &accounts, &externals, &self.session) {
            Ok(steps) => steps,
            Err(_) => return (false, Vec::new()),
        };
        let Some(step) = steps.first() else {
            return (false, Vec::new());
        };
        let result = self.session.run_step(self.world, step).await;
        let events = result.events(self.world.trace());
        (result.passed, events)
    }

    /// The endpoint's answer to the tester's message `method` under `path`, in words,
    /// with its status.
    pub(super) fn answer_in(
        &self,
        events: &[Event],
        method: &str,
        path: &str,
    ) -> (Option<u16>, String) {
        let found = events.iter().rev().find(|e| {
            e.kind == EventKind::Response
                && e.from == self.partner
                && e.method.as_deref() == Some(method)
                && e.path.as_deref().is_some_and(|p| p.starts_with(path))
        });
        match found {
            None => (None, "no message was sent".to_string()),
            Some(event) => {
                let mut text = match event.status {
                    Some(status) => status.to_string(),
                    None => "no answer".to_string(),
                };
                if !event.detail.is_empty() {
                    let _ = write!(text, ": {}", event.detail);
                }
                (event.status, text)
            }
        }
    }

    fn our_copy(&self, agreement: &Agreement) -> Option<Agreement> {
        self.world
            .account(&self.tester)?
            .agreement_by_id(agreement.id)
    }

    fn invitation(&self, agreement: &Agreement) -> Value {
        match self.world.account(&self.tester) {
            Some(account) => serde_json::to_value(crate::surfaces::partner::wire::invitation(
                &account, agreement,
            ))
            .unwrap_or_default(),
            None => Value::Null,
        }
    }

    pub(super) fn url(&self, rest: &str) -> String {
        format!("{}{rest}", self.settings.url)
    }

    /// `invitation.new`: the tester invites the endpoint.
    async fn invite(&mut self) -> (Check, Option<Agreement>) {
        let step = json!({"invite": {"from": self.tester, "to": self.partner, "as": AGREEMENT,
                                     "terms": {"sync_status": true, "allows_public_comments": true}}});
        let (_, events) = self.step(step).await;
        let agreement = self
            .world
            .account(&self.tester)
            .and_then(|account| account.agreements().into_iter().next());
        let Some(agreement) = agreement else {
            let check = Check::skipped(
                "invitation.new",
                "sharesim could not open its own invitation".to_string(),
            );
            return (check, None);
        };
        let (status, received) = self.answer_in(&events, "POST", "/sharing/agreements/");
        let sent = format!(
            "POST {} without a token, body: {}",
            self.url(&format!("/agreements/{}", agreement.uuid)),
            self.invitation(&agreement)
        );
        let verdict = match status {
            Some(201) => Ok(()),
            Some(other) => Err(format!(
                "a new invitation must be answered 201 Created; the endpoint answered {other}"
            )),
            None => {
                Err("a new invitation must be answered 201 Created; it got no answer".to_string())
            }
        };
        (
            Check::new("invitation.new", sent, received, verdict),
            Some(agreement),
        )
    }

    /// Takes every message the endpoint has sent so far.
    pub(super) fn drain(&mut self) {
        while let Ok(message) = self.inbound.try_recv() {
            self.seen.push(message);
        }
    }

    /// The first message from the endpoint that `wanted` accepts, waiting until
    /// `deadline` for it.
    pub(super) async fn await_inbound(
        &mut self,
        deadline: Instant,
        wanted: impl Fn(&Inbound) -> bool,
    ) -> Option<Inbound> {
        self.drain();
        if let Some(found) = self.seen.iter().find(|m| wanted(m)) {
            return Some(found.clone());
        }
        loop {
            let next = tokio::time::timeout_at(deadline, self.inbound.recv()).await;
            match next {
                Ok(Some(message)) => {
                    let hit = wanted(&message);
                    self.seen.push(message.clone());
                    if hit {
                        return Some(message);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        Instant::now() + self.settings.answer_timeout
    }

    /// `answer.*`: the endpoint's own answer to the invitation.
    async fn answers(&mut self, agreement: &Agreement) -> Vec<Check> {
        let path = format!("/sharing/agreements/{}", agreement.uuid);
        let deadline = self.deadline();
        let answer = self
            .await_inbound(deadline, |m| m.method == "PUT" && m.path == path)
            .await;
        let awaited = format!(
            "waited up to {} s for the endpoint's answer: PUT {}/agreements/{}",
            self.settings.answer_timeout.as_secs(),
            self.world
                .account(&self.tester)
                .map(|a| a.loopback_sharing_url())
                .unwrap_or_default(),
            agreement.uuid
        );
        let Some(answer) = answer else {
            let reason = "no answer arrived".to_string();
            return vec![
                Check::new(
                    "answer.arrives",
                    awaited,
                    "nothing".to_string(),
                    Err(format!(
                        "the endpoint did not answer the invitation within {} s: it must accept or decline it with PUT to the sender_url (raise --answer-timeout-secs if a person answers it)",
                        self.settings.answer_timeout.as_secs()
                    )),
                ),
                Check::skipped("answer.token", reason.clone()),
                Check::skipped("answer.shape", reason),
            ];
        };
        let received = describe_inbound(&answer);
        let arrives = match answer.status {
            Some(status) if (200..300).contains(&status) => Ok(()),
            Some(status) => Err(format!(
                "the answer arrived, but sharesim refused it with {status}: {}",
                answer.answer.trim()
            )),
            None => Err("the answer arrived, but no reply went back".to_string()),
        };
        let expected = agreement.token();
        let token = match answer.header("x-ticket-sharing-token") {
            Some(token) if token == expected => Ok(()),
            Some(token) => Err(format!(
                "an answer must carry the agreement's token `{{uuid}}:{{access key}}` ({expected}), not {token:?}"
            )),
            None => Err(format!(
                "an answer must carry X-Ticket-Sharing-Token: {expected}"
            )),
        };
        vec![
            Check::new("answer.arrives", awaited.clone(), received.clone(), arrives),
            Check::new("answer.token", awaited.clone(), received.clone(), token),
            Check::new(
                "answer.shape",
                awaited,
                received,
                answer_shape(&answer, &agreement.uuid),
            ),
        ]
    }

    /// `time.format`: every time the endpoint sent is in the protocol's format.
    fn time_format(&self) -> Check {
        let mut times = Vec::new();
        for message in &self.seen {
            let body = json_body(message);
            if let Some(at) = body["requested_at"].as_str() {
                times.push(("requested_at", at.to_string()));
            }
            for comment in body["comments"].as_array().into_iter().flatten() {
                if let Some(at) = comment["authored_at"].as_str() {
                    times.push(("authored_at", at.to_string()));
                }
            }
        }
        if times.is_empty() {
            return Check::skipped(
                "time.format",
                "the endpoint sent no time (no ticket and no comment reached sharesim)".to_string(),
            );
        }
        let listed = times
            .iter()
            .map(|(field, at)| format!("{field} {at:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let wrong = times
            .iter()
            .find(|(_, at)| chrono::DateTime::parse_from_str(at, TIME_FORMAT).is_err());
        let verdict = match wrong {
            None => Ok(()),
            Some((field, at)) => Err(format!(
                "{field} {at:?} is not in the protocol's time format `{TIME_FORMAT}` (e.g. 2011-01-02 13:01:01 -0500)"
            )),
        };
        Check::new(
            "time.format",
            "read every time the endpoint sent".to_string(),
            listed,
            verdict,
        )
    }
}

pub(super) fn expect_status(
    status: Option<u16>,
    allowed: &[u16],
    rule: &str,
) -> Result<(), String> {
    match status {
        Some(status) if allowed.contains(&status) => Ok(()),
        Some(status) => Err(format!("{rule}; the endpoint answered {status}")),
        None => Err(format!("{rule}; the endpoint gave no answer")),
    }
}

pub(super) fn json_body(message: &Inbound) -> Value {
    serde_json::from_slice(&message.body).unwrap_or(Value::Null)
}

/// A message from the endpoint in words: its call, token, version and body, and what
/// sharesim answered.
pub(super) fn describe_inbound(message: &Inbound) -> String {
    let mut text = format!("{} {}", message.method, message.path);
    match message.header("x-ticket-sharing-token") {
        Some(token) => {
            let _ = write!(text, " with X-Ticket-Sharing-Token: {token}");
        }
        None => text.push_str(" without X-Ticket-Sharing-Token"),
    }
    if let Some(version) = message.header("x-ticket-sharing-version") {
        let _ = write!(text, ", X-Ticket-Sharing-Version: {version}");
    }
    let body: String = String::from_utf8_lossy(&message.body)
        .chars()
        .take(400)
        .collect();
    let _ = write!(text, ", body: {body}");
    match message.status {
        Some(status) => {
            let _ = write!(text, "; sharesim answered {status}");
        }
        None => text.push_str("; sharesim gave no answer"),
    }
    text
}

/// `answer.shape`: a JSON agreement naming the path's uuid and a lower-case answer.
fn answer_shape(answer: &Inbound, uuid: &str) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("an answer's body must be a JSON agreement: {e}"))?;
    if !body.is_object() {
        return Err("an answer's body must be a JSON object (an agreement)".to_string());
    }
    match body["uuid"].as_str() {
        Some(found) if found == uuid => {}
        Some(found) => {
            return Err(format!(
                "an answer's uuid must be the agreement's ({uuid}), not {found:?}"
            ));
        }
        None => return Err("an answer must name the agreement's `uuid`".to_string()),
    }
    match body["status"].as_str() {
        Some("accepted" | "declined") => {}
        other => {
            return Err(format!(
                "an answer's status must be \"accepted\" or \"declined\" (lower case), not {other:?}"
            ));
        }
    }
    match answer.header("x-ticket-sharing-version") {
        None | Some("1") => {}
        Some(other) => {
            return Err(format!(
                "an answer must speak X-Ticket-Sharing-Version 1, not {other:?}"
            ));
        }
    }
    let json = answer
        .header("content-type")
        .is_some_and(|value| value.starts_with("application/json"));
    if !json {
        return Err("an answer's Content-Type must be application/json".to_string());
    }
    Ok(())
}
