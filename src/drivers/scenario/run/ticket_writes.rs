//! The runner's ticket steps, each a REST call as the step's user: create (with custom
//! fields by title, a custom status, as a follow-up), comment (HTML, attachments) and
//! change a status, either with `safe_update` and the `updated_at` its user read; share
//! and unshare, which write the ticket's `sharing_agreement_ids`.

use super::answers::check_answer;
use super::{Problem, Runner, TicketHandle};
use crate::drivers::scenario::format::{self, Action, Step};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Who read which copy: (account, ticket handle, user).
pub(super) type ReadKey = (String, String, &'static str);

impl Runner<'_> {
    /// Runs a ticket step: `ticket`, `share`, `unshare`, `comment` and `set_status`.
    pub(super) async fn ticket_step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Ticket(ticket) => self.create_ticket(step, ticket).await,
            Action::Share(share) => {
                let (account, ticket) =
                    self.ticket_action_target(&share.ticket, share.account.as_ref())?;
                let agreement = self.copy_id_on(&account, &share.agreement)?;
                let mut ids = ticket.sharing_agreement_ids();
                if !ids.contains(&agreement) {
                    ids.push(agreement);
                }
                self.update_ticket(
                    step,
                    &account,
                    ticket.id,
                    json!({ "sharing_agreement_ids": ids }),
                )
                .await
            }
            Action::Unshare(unshare) => {
                let (account, ticket) =
                    self.ticket_action_target(&unshare.ticket, unshare.account.as_ref())?;
                let sent = ticket.sent.as_ref().map(|share| share.agreement_id);
                let ids: Vec<u64> = ticket
                    .sharing_agreement_ids()
                    .into_iter()
                    .filter(|id| Some(*id) != sent)
                    .collect();
                self.update_ticket(
                    step,
                    &account,
                    ticket.id,
                    json!({ "sharing_agreement_ids": ids }),
                )
                .await
            }
            Action::Comment(comment) => self.comment(step, comment).await,
            Action::SetStatus(change) => self.set_status(step, change).await,
            other => Err(Problem::misrouted(other, "ticket")),
        }
    }

    pub(super) async fn create_ticket(
        &mut self,
        step: &Step,
        ticket: &format::NewTicket,
    ) -> Result<(), Problem> {
        let account = ticket.account.get_ref();
        let mut fields = Map::new();
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
        if !ticket.custom_fields.is_empty() {
            fields.insert(
                "custom_fields".into(),
                self.custom_field_values(account, &ticket.custom_fields)?,
            );
        }
        if let Some(label) = &ticket.custom_status {
            fields.insert("custom_status".into(), json!(label));
        }
        if let Some(source) = &ticket.follow_up {
            let closed = self.ticket_copy_required(account, source)?;
            fields.insert("via_followup_source_id".into(), json!(closed.id));
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

    pub(super) async fn comment(
        &self,
        step: &Step,
        comment: &format::Comment,
    ) -> Result<(), Problem> {
        let account = comment.account.get_ref();
        let mut body = json!({ "body": comment.body, "public": comment.public });
        if let Some(html) = &comment.html_body {
            body["html_body"] = json!(html);
        }
        if !comment.attachments.is_empty() {
            body["attachments"] = comment
                .attachments
                .iter()
                .map(|file| {
                    json!({ "url": file.url, "filename": file.filename, "content_type": file.content_type })
                })
                .collect();
        }
        let fields = json!({ "comment": body });
        self.write_ticket(
            step,
            account,
            &comment.ticket,
            comment.user,
            comment.safe_update,
            fields,
        )
        .await
    }

    pub(super) async fn set_status(
        &self,
        step: &Step,
        change: &format::SetStatus,
    ) -> Result<(), Problem> {
        let mut fields = json!({ "status": change.status.as_str() });
        if let Some(label) = &change.custom_status {
            fields["custom_status"] = json!(label);
        }
        let account = change.account.get_ref();
        self.write_ticket(
            step,
            account,
            &change.ticket,
            change.user,
            change.safe_update,
            fields,
        )
        .await
    }

    /// PUTs `fields` to the account's copy of the ticket as `user`; with `safe_update`,
    /// with the `updated_at` the user read (when the group began, or now).
    async fn write_ticket(
        &self,
        step: &Step,
        account: &str,
        handle: &format::Ref,
        user: format::User,
        safe_update: bool,
        mut fields: Value,
    ) -> Result<(), Problem> {
        let ticket = self.ticket_copy_required(account, handle)?;
        if safe_update {
            let key = (account.to_string(), handle.get_ref().clone(), user.as_str());
            let stamp = match self.read_stamps.get(&key) {
                Some(stamp) => stamp.clone(),
                None => self.read_stamp(account, user, ticket.id).await?,
            };
            fields["safe_update"] = json!(true);
            fields["updated_stamp"] = json!(stamp);
        }
        self.update_ticket_as(step, account, user, ticket.id, fields)
            .await
    }

    pub(super) async fn update_ticket(
        &self,
        step: &Step,
        account: &str,
        id: u64,
        fields: Value,
    ) -> Result<(), Problem> {
        self.update_ticket_as(step, account, format::User::Admin, id, fields)
            .await
    }

    async fn update_ticket_as(
        &self,
        step: &Step,
        account: &str,
        user: format::User,
        id: u64,
        fields: Value,
    ) -> Result<(), Problem> {
        let answer = self
            .call(
                account,
                user,
                "PUT",
                &format!("/api/v2/tickets/{id}.json"),
                Some(json!({ "ticket": fields })),
            )
            .await?;
        check_answer(step, &answer)
    }

    /// What a user reads before changing a ticket: its `updated_at`, through REST.
    async fn read_stamp(
        &self,
        account: &str,
        user: format::User,
        id: u64,
    ) -> Result<String, Problem> {
        let answer = self
            .call(
                account,
                user,
                "GET",
                &format!("/api/v2/tickets/{id}.json"),
                None,
            )
            .await?;
        answer.body["ticket"]["updated_at"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                Problem::new(format!(
                    "{account}'s ticket {id} could not be read ({})",
                    answer.status
                ))
            })
    }

    /// The `updated_at` of every ticket a `safe_update` in the group writes, read before
    /// any of the group's actions start.
    pub(super) async fn stamps_read_by(
        &self,
        group: &[Step],
    ) -> Result<BTreeMap<ReadKey, String>, Problem> {
        let mut stamps = BTreeMap::new();
        for step in group {
            let target = match &step.action {
                Action::Comment(c) if c.safe_update => Some((&c.account, &c.ticket, c.user)),
                Action::SetStatus(s) if s.safe_update => Some((&s.account, &s.ticket, s.user)),
                _ => None,
            };
            let Some((account, handle, user)) = target else {
                continue;
            };
            let key = (
                account.get_ref().clone(),
                handle.get_ref().clone(),
                user.as_str(),
            );
            if stamps.contains_key(&key) {
                continue;
            }
            let ticket = self.ticket_copy_required(account.get_ref(), handle)?;
            let stamp = self.read_stamp(account.get_ref(), user, ticket.id).await?;
            stamps.insert(key, stamp);
        }
        Ok(stamps)
    }

    /// `[{id, value}]` for values named by the account's field titles.
    fn custom_field_values(
        &self,
        account: &str,
        values: &format::FieldValues,
    ) -> Result<Value, Problem> {
        let fields = self.account(account)?.ticket_fields();
        values
            .iter()
            .map(|(title, value)| {
                let field = fields.iter().find(|f| &f.title == title).ok_or_else(|| {
                    let titles: Vec<&str> = fields.iter().map(|f| f.title.as_str()).collect();
                    Problem::new(format!(
                        "{account} has no ticket field titled {title:?}; its fields are [{}] (declare them with `ticket_fields` in [accounts.{account}])",
                        titles.join(", ")
                    ))
                })?;
                Ok(json!({ "id": field.id, "value": value }))
            })
            .collect::<Result<Vec<Value>, Problem>>()
            .map(Value::Array)
    }
}
