//! The ticket checks: a ticket shared with the endpoint through sharesim's own account,
//! commented on both ways, its status pushed, unshared, and the agreement deactivated;
//! and, by hand, a repeated comment, an unknown ticket and a share after deactivation.

use super::Check;
use super::flow::{
    AGREEMENT, Conformer, TICKET, TICKET_CHECKS, describe_inbound, expect_status, json_body,
};
use super::probes::{self, fresh};
use crate::core::model::Agreement;
use crate::core::trace::EventKind;
use axum::http::Method;
use serde_json::{Value, json};

impl Conformer<'_> {
    /// `ticket.*`: a ticket shared, commented on both ways, its status pushed, unshared,
    /// and the agreement deactivated.
    pub(super) async fn tickets(&mut self, agreement: &Agreement) -> Vec<Check> {
        let token = agreement.token();
        let (created, _) = self
            .step(json!({"ticket": {"account": self.tester, "as": TICKET,
                                    "subject": "sharesim conform: printer on fire",
                                    "description": "Smoke from tray 2."}}))
            .await;
        let share = self
            .pushed(
                "ticket.share",
                json!({"share": {"ticket": TICKET, "agreement": AGREEMENT}}),
                ("POST", "/sharing/tickets/"),
                &[201],
                "a newly shared ticket must be answered 201 Created",
            )
            .await;
        let ticket_uuid = self
            .world
            .account(&self.tester)
            .and_then(|a| a.tickets().into_iter().next())
            .and_then(|t| t.sent.map(|s| s.uuid));
        let Some(ticket_uuid) = ticket_uuid else {
            let reason = if created {
                "sharesim could not share its ticket"
            } else {
                "sharesim could not open its ticket"
            };
            return TICKET_CHECKS
                .iter()
                .map(|name| Check::skipped(name, reason.to_string()))
                .collect();
        };
        let mut checks = vec![share];
        checks.push(
            self.pushed(
                "ticket.comment_push",
                json!({"comment": {"account": self.tester, "ticket": TICKET,
                                   "body": "Which tray? (sharesim conform)"}}),
                ("PUT", "/sharing/tickets/"),
                &[200, 201, 204],
                "a pushed comment must be taken (2xx)",
            )
            .await,
        );
        checks.push(self.repeated_comment(&ticket_uuid, &token).await);
        checks.push(
            self.pushed(
                "ticket.status_push",
                json!({"set_status": {"account": self.tester, "ticket": TICKET, "status": "pending"}}),
                ("PUT", "/sharing/tickets/"),
                &[200, 201, 204],
                "a pushed status must be taken (2xx)",
            )
            .await,
        );
        checks.push(self.unknown_ticket(&token).await);
        checks.push(self.endpoint_comment(&ticket_uuid, &token).await);
        checks.push(
            self.pushed(
                "ticket.unshare",
                json!({"unshare": {"ticket": TICKET}}),
                ("DELETE", "/sharing/tickets/"),
                &[200, 204],
                "an unshare must be taken (2xx)",
            )
            .await,
        );
        let deactivation = self
            .pushed(
                "ticket.deactivation",
                json!({"deactivate": {"account": self.tester, "agreement": AGREEMENT}}),
                ("PUT", "/sharing/agreements/"),
                &[200],
                "a deactivation must be taken with 200",
            )
            .await;
        let went_through = deactivation.passed;
        checks.push(deactivation);
        checks.push(self.push_after_deactivation(went_through, &token).await);
        checks.push(self.no_echo());
        checks
    }

    /// Runs `step` on the tester and grades what the endpoint answered the message it
    /// caused (`method` under `path`).
    async fn pushed(
        &mut self,
        name: &'static str,
        step: Value,
        (method, path): (&str, &str),
        allowed: &[u16],
        rule: &str,
    ) -> Check {
        let (_, events) = self.step(step).await;
        let sent = events
            .iter()
            .find(|e| {
                e.kind == EventKind::Request
                    && e.to == self.partner
                    && e.method.as_deref() == Some(method)
                    && e.path.as_deref().is_some_and(|p| p.starts_with(path))
            })
            .map_or_else(
                || "nothing: sharesim sent no message".to_string(),
                |e| {
                    let rest = e.path.as_deref().unwrap_or_default();
                    let rest = rest.strip_prefix("/sharing").unwrap_or(rest);
                    match e.detail.is_empty() {
                        true => format!("{method} {}", self.url(rest)),
                        false => format!("{method} {} ({})", self.url(rest), e.detail),
                    }
                },
            );
        let (status, received) = self.answer_in(&events, method, path);
        Check::new(name, sent, received, expect_status(status, allowed, rule))
    }

    /// `ticket.unknown_uuid`: an update of a ticket nobody shared.
    async fn unknown_ticket(&mut self, token: &str) -> Check {
        let unknown = fresh();
        let exchange = self
            .prober
            .send(
                Method::PUT,
                &format!("/tickets/{unknown}"),
                Some(token),
                &json!({"uuid": unknown, "status": "open"}),
            )
            .await;
        probes::check(
            "ticket.unknown_uuid",
            &exchange,
            None,
            exchange.expect(
                404,
                "an update of a ticket the endpoint does not hold must be answered 404",
            ),
        )
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
            "requested_at": crate::core::model::ticket::protocol_time(chrono::Utc::now()),
            "status": "open",
            "comments": [{"uuid": fresh(), "body": "This share must be refused.",
                          "authored_at": crate::core::model::ticket::protocol_time(chrono::Utc::now()),
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
}
