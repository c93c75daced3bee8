//! The runner's ticket steps: create, share, unshare, comment, change status, and check
//! a ticket's copy on any account (following re-shares down a chain).

use super::{Problem, Runner, TicketHandle, check_answer};
use crate::account::Account;
use crate::model::ticket::Ticket;
use crate::scenario::format::{self, Step};
use crate::scenario::outcome::{FieldDiff, TicketRow};
use serde_json::{Value, json};
use std::collections::BTreeSet;

impl Runner<'_> {
    pub(super) async fn create_ticket(
        &mut self,
        step: &Step,
        ticket: &format::NewTicket,
    ) -> Result<(), Problem> {
        let account = ticket.account.get_ref();
        let mut fields = serde_json::Map::new();
        fields.insert("subject".into(), json!(ticket.subject));
        // Zendesk requires a first comment; a scenario that gives none opens the ticket
        // with its subject as the description.
        let description = ticket.description.as_deref().unwrap_or(&ticket.subject);
        fields.insert("comment".into(), json!({ "body": description }));
        if let Some(status) = ticket.status {
            fields.insert("status".into(), json!(status.as_str()));
        }
        if !ticket.tags.is_empty() {
            fields.insert("tags".into(), json!(ticket.tags));
        }
        let answer = self
            .call(
                account,
                ticket.user,
                "POST",
                "/api/v2/tickets.json",
                Some(json!({ "ticket": fields })),
            )
            .await?;
        check_answer(step, &answer)?;
        if let Some(id) = answer.body["ticket"]["id"].as_u64()
            && let Some(created) = self.account(account)?.ticket_by_id(id)
        {
            self.session.tickets.insert(
                ticket.handle.get_ref().clone(),
                TicketHandle {
                    origin: account.clone(),
                    uuid: created.uuid,
                },
            );
        }
        Ok(())
    }

    pub(super) async fn update_ticket(
        &self,
        step: &Step,
        account: &str,
        id: u64,
        fields: Value,
    ) -> Result<(), Problem> {
        let answer = self
            .call(
                account,
                format::User::Admin,
                "PUT",
                &format!("/api/v2/tickets/{id}.json"),
                Some(json!({ "ticket": fields })),
            )
            .await?;
        check_answer(step, &answer)
    }

    /// The account a share/unshare acts on (default: where the ticket was created) and its copy.
    pub(super) fn ticket_action_target(
        &self,
        handle: &format::Ref,
        account: Option<&format::Ref>,
    ) -> Result<(String, Ticket), Problem> {
        let known = self.ticket_handle(handle)?;
        let account = account.map(|a| a.get_ref().clone()).unwrap_or(known.origin);
        let ticket = self.ticket_copy_required(&account, handle)?;
        Ok((account, ticket))
    }

    pub(super) fn ticket_handle(&self, handle: &format::Ref) -> Result<TicketHandle, Problem> {
        self.session
            .tickets
            .get(handle.get_ref())
            .cloned()
            .ok_or_else(|| {
                Problem::new(format!(
                    "ticket {:?} does not exist: the step that defines it did not create a ticket",
                    handle.get_ref()
                ))
            })
    }

    /// The copy of a ticket on `account`: the original where it was created, otherwise
    /// the ticket received from the original or, down a chain, from another copy.
    pub(super) fn ticket_copy(
        &self,
        account: &str,
        handle: &format::Ref,
    ) -> Result<Option<Ticket>, Problem> {
        let known = self.ticket_handle(handle)?;
        let uuids = self.chain_uuids(&known);
        let target = self.account(account)?;
        Ok(target.tickets().into_iter().find(|ticket| {
            if account == known.origin {
                ticket.uuid == known.uuid
            } else {
                ticket
                    .received
                    .as_ref()
                    .is_some_and(|received| uuids.contains(&received.share.uuid))
            }
        }))
    }

    /// Every uuid the ticket travels under: the original's, and that of each copy that
    /// re-shared it down a chain.
    fn chain_uuids(&self, known: &TicketHandle) -> BTreeSet<String> {
        let accounts = self.world.accounts();
        let mut uuids: BTreeSet<String> = BTreeSet::from([known.uuid.clone()]);
        loop {
            let before = uuids.len();
            for other in &accounts {
                for ticket in other.tickets() {
                    if ticket
                        .received
                        .as_ref()
                        .is_some_and(|received| uuids.contains(&received.share.uuid))
                    {
                        uuids.insert(ticket.uuid.clone());
                    }
                }
            }
            if uuids.len() == before {
                return uuids;
            }
        }
    }

    /// Each ticket handle with every uuid its copies travel under, to name copies in tables.
    pub(super) fn ticket_handle_names(&self) -> Vec<(BTreeSet<String>, String)> {
        self.session
            .tickets
            .iter()
            .map(|(name, known)| (self.chain_uuids(known), name.clone()))
            .collect()
    }

    /// One account's tickets as rows of `explain`'s tables.
    pub(super) fn ticket_rows(
        &self,
        account: &Account,
        names: &[(BTreeSet<String>, String)],
    ) -> Vec<TicketRow> {
        account
            .tickets()
            .into_iter()
            .map(|ticket| {
                let handle = names
                    .iter()
                    .find(|(uuids, _)| {
                        uuids.contains(&ticket.uuid)
                            || ticket
                                .received
                                .as_ref()
                                .is_some_and(|received| uuids.contains(&received.share.uuid))
                    })
                    .map(|(_, name)| name.clone());
                TicketRow {
                    handle,
                    id: ticket.id,
                    subject: ticket.subject.clone(),
                    status: ticket.status.as_str().to_string(),
                    shared_with: self.agreement_handles_for(
                        account.subdomain(),
                        &ticket.sharing_agreement_ids(),
                    ),
                    comments: ticket.comments.len(),
                    orphan: ticket.received.as_ref().is_some_and(|r| r.orphaned),
                }
            })
            .collect()
    }

    pub(super) fn ticket_copy_required(
        &self,
        account: &str,
        handle: &format::Ref,
    ) -> Result<Ticket, Problem> {
        self.ticket_copy(account, handle)?.ok_or_else(|| {
            Problem::new(format!(
                "{account} holds no copy of ticket {:?}",
                handle.get_ref()
            ))
        })
    }

    pub(super) fn expect_ticket(&self, check: &format::ExpectTicket) -> Result<(), Problem> {
        let account_name = check.account.get_ref();
        let handle = check.ticket.get_ref();
        let copy = self.ticket_copy(account_name, &check.ticket)?;
        let Some(ticket) = copy else {
            return if check.is_absent() {
                Ok(())
            } else {
                Err(Problem {
                    message: format!("{account_name} holds no copy of ticket {handle:?}"),
                    diffs: vec![FieldDiff {
                        field: "copy".into(),
                        expected: "present".into(),
                        actual: "absent".into(),
                    }],
                })
            };
        };
        let mut diffs = Vec::new();
        let mut differ = |field: &str, expected: String, actual: String| {
            if expected != actual {
                diffs.push(FieldDiff {
                    field: field.to_string(),
                    expected,
                    actual,
                });
            }
        };
        if check.is_absent() {
            differ(
                "copy",
                "absent".into(),
                format!("present (id {})", ticket.id),
            );
        }
        if let Some(subject) = &check.subject {
            differ("subject", subject.clone(), ticket.subject.clone());
        }
        if let Some(status) = check.status {
            differ(
                "status",
                status.as_str().to_string(),
                ticket.status.as_str().to_string(),
            );
        }
        if let Some(tags) = &check.tags {
            differ("tags", tags.join(", "), ticket.tags.join(", "));
        }
        if let Some(comments) = &check.comments {
            let describe = |body: &str, public: Option<bool>| match public {
                Some(true) => format!("{body:?} (public)"),
                Some(false) => format!("{body:?} (private)"),
                None => format!("{body:?}"),
            };
            let expected: Vec<String> = comments
                .iter()
                .map(|c| describe(&c.body, c.public))
                .collect();
            let actual: Vec<String> = ticket
                .comments
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    // Publicity is compared only where the scenario states it.
                    let stated = comments.get(i).and_then(|e| e.public).map(|_| c.public);
                    describe(&c.body, stated)
                })
                .collect();
            differ("comments", expected.join(", "), actual.join(", "));
        }
        if let Some(shared_with) = &check.shared_with {
            let expected = shared_with.get_ref();
            let ids = ticket.sharing_agreement_ids();
            let actual = self.agreement_handles_for(account_name, &ids);
            if expected.is_empty() {
                differ(
                    "shared_with",
                    "(not shared)".into(),
                    if actual.is_empty() {
                        "(not shared)".into()
                    } else {
                        actual.join(", ")
                    },
                );
            } else if !actual.iter().any(|h| h == expected) {
                differ(
                    "shared_with",
                    expected.clone(),
                    if actual.is_empty() {
                        "(not shared)".into()
                    } else {
                        actual.join(", ")
                    },
                );
            }
        }
        if let Some(orphan) = check.orphan {
            let actual = ticket.received.as_ref().is_some_and(|r| r.orphaned);
            differ("orphan", orphan.to_string(), actual.to_string());
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(Problem {
                message: format!(
                    "{account_name}'s copy of ticket {handle:?} (id {}) does not match",
                    ticket.id
                ),
                diffs,
            })
        }
    }

    /// The scenario handles of the agreements with these local ids on `account`.
    pub(super) fn agreement_handles_for(&self, account: &str, ids: &[u64]) -> Vec<String> {
        let Some(holder) = self.world.account(account) else {
            return Vec::new();
        };
        ids.iter()
            .map(|id| {
                holder
                    .agreement_by_id(*id)
                    .and_then(|copy| {
                        self.session
                            .agreements
                            .iter()
                            .find(|(_, handle)| handle.uuid == copy.uuid)
                            .map(|(name, _)| name.clone())
                    })
                    .unwrap_or_else(|| format!("agreement {id}"))
            })
            .collect()
    }
}
