//! The handshake and a ticket's life, driven through sharesim's own account (the tester)
//! with ordinary steps, and graded from the trace (what the endpoint answered) and from
//! copies of what the endpoint sent on its own (its answer, its pushes).

use super::probes::{self, Prober, fresh};
use super::{Check, Settings};
use crate::account::tap::Inbound;
use crate::model::Agreement;
use crate::scenario::json_steps::parse_steps;
use crate::scenario::run::Session;
use crate::trace::{Event, EventKind};
use crate::world::World;
use axum::http::Method;
use serde_json::{Value, json};
use std::fmt::Write as _;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// The protocol's time format (`2011-01-02 13:01:01 -0500`).
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S %z";
const AGREEMENT: &str = "conform";
const TICKET: &str = "conform-ticket";

/// One run against one endpoint.
pub(super) struct Conformer<'w> {
    world: &'w World,
    settings: Settings,
    tester: String,
    partner: String,
    prober: Prober,
    session: Session,
    inbound: UnboundedReceiver<Inbound>,
    /// Every message the endpoint sent so far, oldest first.
    seen: Vec<Inbound>,
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
    async fn step(&mut self, step: Value) -> (bool, Vec<Event>) {
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
        let events = self
            .world
            .trace()
            .events_since(result.first_event.saturating_sub(1))
            .into_iter()
            .filter(|e| e.seq <= result.last_event)
            .collect();
        (result.passed, events)
    }

    /// The endpoint's answer to the tester's message `method` under `path`, in words,
    /// with its status.
    fn answer_in(&self, events: &[Event], method: &str, path: &str) -> (Option<u16>, String) {
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
            Some(account) => {
                serde_json::to_value(crate::partner::wire::invitation(&account, agreement))
                    .unwrap_or_default()
            }
            None => Value::Null,
        }
    }

    fn url(&self, rest: &str) -> String {
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
            None => Err(format!(
                "a new invitation must be answered 201 Created; it got no answer ({received})"
            )),
        };
        (
            Check::new("invitation.new", sent, received, verdict),
            Some(agreement),
        )
    }

    /// Takes every message the endpoint has sent so far.
    fn drain(&mut self) {
        while let Ok(message) = self.inbound.try_recv() {
            self.seen.push(message);
        }
    }

    /// The first message from the endpoint that `wanted` accepts, waiting until
    /// `deadline` for it.
    async fn await_inbound(
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

    fn deadline(&self) -> Instant {
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

    /// `ticket.*`: a ticket shared, commented on both ways, its status pushed, unshared,
    /// and the agreement deactivated.
    async fn tickets(&mut self, agreement: &Agreement) -> Vec<Check> {
        let mut checks = Vec::new();
        let token = agreement.token();
        let (created, _) = self
            .step(json!({"ticket": {"account": self.tester, "as": TICKET,
                                    "subject": "sharesim conform: printer on fire",
                                    "description": "Smoke from tray 2."}}))
            .await;
        let (_, events) = self
            .step(json!({"share": {"ticket": TICKET, "agreement": AGREEMENT}}))
            .await;
        let ticket = self
            .world
            .account(&self.tester)
            .and_then(|a| a.tickets().into_iter().next());
        let Some(ticket_uuid) = ticket
            .as_ref()
            .and_then(|t| t.sent.as_ref())
            .map(|s| s.uuid.clone())
        else {
            let reason = if created {
                "sharesim could not share its ticket".to_string()
            } else {
                "sharesim could not open its ticket".to_string()
            };
            checks.extend(
                TICKET_CHECKS
                    .iter()
                    .map(|name| Check::skipped(name, reason.clone())),
            );
            return checks;
        };
        let tickets = format!("/tickets/{ticket_uuid}");
        let (status, received) = self.answer_in(&events, "POST", "/sharing/tickets/");
        checks.push(Check::new(
            "ticket.share",
            format!(
                "POST {} with the agreement's token: the whole ticket and its first comment",
                self.url(&tickets)
            ),
            received,
            expect_status(
                status,
                &[201],
                "a newly shared ticket must be answered 201 Created",
            ),
        ));

        let (_, events) = self
            .step(json!({"comment": {"account": self.tester, "ticket": TICKET,
                                     "body": "Which tray? (sharesim conform)"}}))
            .await;
        let (status, received) = self.answer_in(&events, "PUT", "/sharing/tickets/");
        checks.push(Check::new(
            "ticket.comment_push",
            format!("PUT {} with a new comment", self.url(&tickets)),
            received,
            expect_status(
                status,
                &[200, 201, 204],
                "a pushed comment must be taken (2xx)",
            ),
        ));

        checks.push(self.repeated_comment(&ticket_uuid, &token).await);

        let (_, events) = self
            .step(json!({"set_status": {"account": self.tester, "ticket": TICKET, "status": "pending"}}))
            .await;
        let (status, received) = self.answer_in(&events, "PUT", "/sharing/tickets/");
        checks.push(Check::new(
            "ticket.status_push",
            format!("PUT {} with status pending", self.url(&tickets)),
            received,
            expect_status(
                status,
                &[200, 201, 204],
                "a pushed status must be taken (2xx)",
            ),
        ));

        let unknown = fresh();
        let exchange = self
            .prober
            .send(
                Method::PUT,
                &format!("/tickets/{unknown}"),
                Some(&token),
                &json!({"uuid": unknown, "status": "open"}),
            )
            .await;
        checks.push(probes::check(
            "ticket.unknown_uuid",
            &exchange,
            None,
            exchange.expect(
                404,
                "an update of a ticket the endpoint does not hold must be answered 404",
            ),
        ));

        checks.push(self.endpoint_comment(&ticket_uuid, &token).await);

        let (_, events) = self.step(json!({"unshare": {"ticket": TICKET}})).await;
        let (status, received) = self.answer_in(&events, "DELETE", "/sharing/tickets/");
        checks.push(Check::new(
            "ticket.unshare",
            format!("DELETE {}", self.url(&tickets)),
            received,
            expect_status(status, &[200, 204], "an unshare must be taken (2xx)"),
        ));

        let (_, events) = self
            .step(json!({"deactivate": {"account": self.tester, "agreement": AGREEMENT}}))
            .await;
        let (status, received) = self.answer_in(&events, "PUT", "/sharing/agreements/");
        let deactivated = expect_status(status, &[200], "a deactivation must be taken with 200");
        let went_through = deactivated.is_ok();
        checks.push(Check::new(
            "ticket.deactivation",
            format!(
                "PUT {} with status inactive and deactivated_by sender",
                self.url(&format!("/agreements/{}", agreement.uuid))
            ),
            received,
            deactivated,
        ));
        checks.push(self.push_after_deactivation(went_through, &token).await);
        checks.push(self.no_echo());
        checks
    }

    /// `ticket.comment_repeat`: the tester's last comment pushed again, same uuid.
    async fn repeated_comment(&mut self, ticket_uuid: &str, token: &str) -> Check {
        let comment = self
            .world
            .account(&self.tester)
            .and_then(|a| a.tickets().into_iter().next())
            .and_then(|t| t.comments.last().cloned());
        let Some(comment) = comment else {
            return Check::skipped(
                "ticket.comment_repeat",
                "sharesim's ticket has no comment".to_string(),
            );
        };
        let body = json!({
            "uuid": ticket_uuid,
            "comments": [{
                "uuid": comment.uuid,
                "author": {"uuid": fresh(), "name": format!("{} admin", self.tester), "role": "admin"},
                "body": comment.body,
                "authored_at": comment.authored_at,
                "public": comment.public,
            }],
        });
        let exchange = self
            .prober
            .send(
                Method::PUT,
                &format!("/tickets/{ticket_uuid}"),
                Some(token),
                &body,
            )
            .await;
        let verdict = match exchange.status {
            Some(status) if (200..300).contains(&status) => Ok(()),
            _ => Err("a comment pushed again (the same uuid) must be taken (2xx) and stored once: comments are deduplicated by uuid".to_string()),
        };
        probes::check("ticket.comment_repeat", &exchange, None, verdict)
    }

    /// `ticket.endpoint_comment`: the endpoint's own comment on the shared ticket.
    async fn endpoint_comment(&mut self, ticket_uuid: &str, token: &str) -> Check {
        let path = format!("/sharing/tickets/{ticket_uuid}");
        let deadline = self.deadline();
        let push = self
            .await_inbound(deadline, |m| {
                m.method == "PUT"
                    && m.path == path
                    && json_body(m)["comments"]
                        .as_array()
                        .is_some_and(|c| !c.is_empty())
            })
            .await;
        let Some(push) = push else {
            return Check::skipped(
                "ticket.endpoint_comment",
                format!(
                    "the endpoint pushed no comment on the shared ticket within {} s; comment on it on your side (or reply automatically) to run this check",
                    self.settings.answer_timeout.as_secs()
                ),
            );
        };
        let awaited = format!("waited for the endpoint's comment: PUT …{path}");
        let body = json_body(&push);
        let verdict = (|| {
            if push.header("x-ticket-sharing-token") != Some(token) {
                return Err(format!(
                    "a push must carry the agreement's token ({token}), not {:?}",
                    push.header("x-ticket-sharing-token")
                ));
            }
            for comment in body["comments"].as_array().into_iter().flatten() {
                for field in ["uuid", "body", "authored_at"] {
                    if !comment[field].is_string() {
                        return Err(format!(
                            "every pushed comment needs a `{field}` (comments are deduplicated by uuid)"
                        ));
                    }
                }
            }
            match push.status {
                Some(status) if (200..300).contains(&status) => Ok(()),
                other => Err(format!(
                    "sharesim refused the push ({}): {}",
                    other.map_or("no answer".to_string(), |s| s.to_string()),
                    push.answer.trim()
                )),
            }
        })();
        Check::new(
            "ticket.endpoint_comment",
            awaited,
            describe_inbound(&push),
            verdict,
        )
    }

    /// `ticket.not_accepted`: a share over the deactivated agreement.
    async fn push_after_deactivation(&mut self, deactivated: bool, token: &str) -> Check {
        if !deactivated {
            return Check::skipped(
                "ticket.not_accepted",
                "the endpoint did not take the deactivation, so no agreement is known to be inactive".to_string(),
            );
        }
        let uuid = fresh();
        let share = json!({
            "uuid": uuid,
            "subject": "sharesim conform: after deactivation",
            "requested_at": crate::model::ticket::protocol_time(chrono::Utc::now()),
            "status": "open",
            "comments": [{"uuid": fresh(), "body": "This share must be refused.",
                          "authored_at": crate::model::ticket::protocol_time(chrono::Utc::now()),
                          "public": true}],
        });
        let exchange = self
            .prober
            .send(
                Method::POST,
                &format!("/tickets/{uuid}"),
                Some(token),
                &share,
            )
            .await;
        probes::check(
            "ticket.not_accepted",
            &exchange,
            None,
            exchange.expect(403, "a ticket call over an agreement that is not accepted (here: inactive) must be refused with 403"),
        )
    }

    /// `ticket.no_echo`: the endpoint never pushed sharesim's own comments back.
    fn no_echo(&mut self) -> Check {
        self.drain();
        let ours: Vec<(String, String)> = self
            .world
            .account(&self.tester)
            .and_then(|a| a.tickets().into_iter().next())
            .map(|t| {
                t.comments
                    .iter()
                    .filter(|c| c.arrived_over.is_none())
                    .map(|c| (c.uuid.clone(), c.body.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut echoed = None;
        for message in self
            .seen
            .iter()
            .filter(|m| m.path.starts_with("/sharing/tickets/"))
        {
            for comment in json_body(message)["comments"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let uuid = comment["uuid"].as_str().unwrap_or_default();
                let body = comment["body"].as_str().unwrap_or_default();
                if ours.iter().any(|(u, b)| u == uuid || b == body) {
                    echoed = Some((message.clone(), uuid.to_string(), body.to_string()));
                }
            }
        }
        let sent = format!(
            "looked at every push from the endpoint for sharesim's own comments ({})",
            ours.iter()
                .map(|(_, b)| format!("{b:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match echoed {
            None => Check::new("ticket.no_echo", sent, "no echo".to_string(), Ok(())),
            Some((message, uuid, body)) => Check::new(
                "ticket.no_echo",
                sent,
                describe_inbound(&message),
                Err(format!(
                    "the endpoint pushed sharesim's own comment {body:?} back (uuid {uuid}): a comment never travels back to where it came from, and is recognised by its uuid"
                )),
            ),
        }
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

/// The ticket checks, skipped together when the agreement is not accepted.
const TICKET_CHECKS: [&str; 10] = [
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

fn expect_status(status: Option<u16>, allowed: &[u16], rule: &str) -> Result<(), String> {
    match status {
        Some(status) if allowed.contains(&status) => Ok(()),
        Some(status) => Err(format!("{rule}; the endpoint answered {status}")),
        None => Err(format!("{rule}; the endpoint gave no answer")),
    }
}

fn json_body(message: &Inbound) -> Value {
    serde_json::from_slice(&message.body).unwrap_or(Value::Null)
}

/// A message from the endpoint in words: its call, token, version and body, and what
/// sharesim answered.
fn describe_inbound(message: &Inbound) -> String {
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
