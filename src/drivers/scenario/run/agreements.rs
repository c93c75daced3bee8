//! The runner's agreement steps, each a REST call as the step's user: `invite`,
//! `respond`, `deactivate`, `delete`, `resend`, and any raw `request`.

use super::answers::check_answer;
use super::{AgreementHandle, Problem, Runner};
use crate::drivers::scenario::format::{self, Action, Step};
use serde_json::{Value, json};

impl Runner<'_> {
    /// Runs an agreement step (see the module's list).
    pub(super) async fn agreement_step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Invite(invite) => self.invite(step, invite).await,
            Action::Respond(respond) => {
                let status = respond.status.as_str();
                self.put_status(
                    step,
                    &respond.account,
                    &respond.agreement,
                    respond.user,
                    status,
                )
                .await
            }
            Action::Deactivate(target) => {
                self.put_status(
                    step,
                    &target.account,
                    &target.agreement,
                    target.user,
                    "inactive",
                )
                .await
            }
            Action::Delete(target) => {
                let id = self.copy_id(&target.account, &target.agreement)?;
                let answer = self
                    .call(
                        target.account.get_ref(),
                        target.user,
                        "DELETE",
                        &format!("/api/v2/sharing_agreements/{id}.json"),
                        None,
                    )
                    .await?;
                check_answer(step, &answer)
            }
            Action::Resend(resend) => {
                let handle = self.handle(&resend.agreement)?;
                let account = resend
                    .account
                    .as_ref()
                    .map(|a| a.get_ref().clone())
                    .unwrap_or(handle.sender);
                let id = self.copy_id_on(&account, &resend.agreement)?;
                let answer = self
                    .call(
                        &account,
                        resend.user,
                        "PUT",
                        &format!("/api/v2/sharing_agreements/{id}.json"),
                        Some(json!({"sharing_agreement": {"status": "pending"}})),
                    )
                    .await?;
                check_answer(step, &answer)
            }
            Action::Request(request) => {
                let answer = self
                    .call(
                        request.account.get_ref(),
                        request.user,
                        request.method.as_str(),
                        &request.path,
                        request.body.clone(),
                    )
                    .await?;
                check_answer(step, &answer)
            }
            other => Err(Problem::misrouted(other, "agreement")),
        }
    }

    async fn invite(&mut self, step: &Step, invite: &format::Invite) -> Result<(), Problem> {
        let mut fields = serde_json::Map::new();
        fields.insert("remote_subdomain".into(), json!(invite.to.get_ref()));
        if let Some(name) = &invite.name {
            fields.insert("name".into(), json!(name));
        }
        let term_fields: serde_json::Map<String, Value> = invite
            .terms
            .set()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect();
        if !term_fields.is_empty() {
            fields.insert("terms".into(), Value::Object(term_fields));
        }
        let from = invite.from.get_ref();
        let answer = self
            .call(
                from,
                invite.user,
                "POST",
                "/api/v2/sharing_agreements.json",
                Some(json!({ "sharing_agreement": fields })),
            )
            .await?;
        check_answer(step, &answer)?;
        if let Some(id) = answer.body["sharing_agreement"]["id"].as_u64() {
            let account = self.account(from)?;
            if let Some(copy) = account.agreement_by_id(id) {
                self.session
                    .handles_by_uuid
                    .insert(copy.uuid.to_string(), invite.handle.get_ref().clone());
                self.session.agreements.insert(
                    invite.handle.get_ref().clone(),
                    AgreementHandle {
                        sender: from.clone(),
                        receiver: invite.to.get_ref().clone(),
                        uuid: copy.uuid.to_string(),
                    },
                );
            }
        }
        Ok(())
    }

    async fn put_status(
        &mut self,
        step: &Step,
        account: &format::Ref,
        agreement: &format::Ref,
        user: format::User,
        status: &str,
    ) -> Result<(), Problem> {
        let id = self.copy_id(account, agreement)?;
        let answer = self
            .call(
                account.get_ref(),
                user,
                "PUT",
                &format!("/api/v2/sharing_agreements/{id}.json"),
                Some(json!({"sharing_agreement": {"status": status}})),
            )
            .await?;
        check_answer(step, &answer)
    }
}
