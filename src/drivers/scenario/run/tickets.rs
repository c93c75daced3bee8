//! The runner's view of tickets: which copy a handle names on any account (following
//! re-shares down a chain), and the `expect_ticket` check. The writes are in
//! `ticket_writes.rs`.

use super::{Problem, Runner, TicketHandle};
use crate::core::model::ticket::Ticket;
use crate::drivers::scenario::format;
use crate::drivers::scenario::outcome::{FieldDiff, TicketRow};
use crate::world::TicketView;
use std::collections::BTreeSet;

impl Runner<'_> {
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
        subdomain: &str,
        tickets: &[TicketView],
        names: &[(BTreeSet<String>, String)],
    ) -> Vec<TicketRow> {
        tickets
            .iter()
            .map(|ticket| {
                let handle = names
                    .iter()
                    .find(|(uuids, _)| {
                        uuids.contains(&ticket.uuid)
                            || ticket
                                .received_share
                                .as_ref()
                                .is_some_and(|share| uuids.contains(share))
                    })
                    .map(|(_, name)| name.clone());
                TicketRow {
                    handle,
                    id: ticket.id,
                    subject: ticket.subject.clone(),
                    status: ticket.status.clone(),
                    shared_with: self.agreement_handles_for(subdomain, &ticket.sharing_agreements),
                    comments: ticket.comments,
                    orphan: ticket.orphan,
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
            let (expected, actual) = compared_comments(comments, &ticket);
            differ("comments", expected, actual);
        }
        if let Some(label) = &check.custom_status {
            differ(
                "custom_status",
                label.clone(),
                ticket
                    .custom_status
                    .clone()
                    .unwrap_or_else(|| "(none)".into()),
            );
        }
        if let Some(values) = &check.custom_fields {
            let fields = self.account(account_name)?.ticket_fields();
            for (title, expected) in values {
                let held = fields
                    .iter()
                    .find(|field| &field.title == title)
                    .and_then(|field| ticket.custom_fields.get(&field.id));
                differ(
                    &format!("custom_fields.{title}"),
                    expected.to_string(),
                    held.map_or_else(|| "(no value)".to_string(), ToString::to_string),
                );
            }
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

/// The expected and actual comments, each written as far as the check states it:
/// publicity, HTML and files are compared only where stated.
fn compared_comments(comments: &[format::ExpectedComment], ticket: &Ticket) -> (String, String) {
    let expected: Vec<String> = comments
        .iter()
        .map(|c| {
            describe_comment(
                &c.body,
                c.public,
                c.html_body.as_deref(),
                c.attachments.clone(),
            )
        })
        .collect();
    let actual: Vec<String> = ticket
        .comments
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let stated = comments.get(i);
            describe_comment(
                &c.body,
                stated.and_then(|e| e.public).map(|_| c.public),
                stated
                    .and_then(|e| e.html_body.as_ref())
                    .map(|_| c.html_body.as_deref().unwrap_or("")),
                stated
                    .and_then(|e| e.attachments.as_ref())
                    .map(|_| c.attachments.iter().map(|a| a.filename.clone()).collect()),
            )
        })
        .collect();
    (expected.join(", "), actual.join(", "))
}

/// `"Body" (public, html "<p>…</p>", files a.png)`: a comment as far as a check states it.
fn describe_comment(
    body: &str,
    public: Option<bool>,
    html: Option<&str>,
    files: Option<Vec<String>>,
) -> String {
    let mut notes = Vec::new();
    match public {
        Some(true) => notes.push("public".to_string()),
        Some(false) => notes.push("private".to_string()),
        None => {}
    }
    if let Some(html) = html {
        notes.push(format!("html {html:?}"));
    }
    if let Some(files) = files {
        notes.push(format!("files [{}]", files.join(", ")));
    }
    if notes.is_empty() {
        format!("{body:?}")
    } else {
        format!("{body:?} ({})", notes.join(", "))
    }
}
