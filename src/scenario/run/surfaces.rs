//! The runner's check that each account's REST surface says what its state says:
//! after a step, `GET /api/v2/sharing_agreements.json` and `GET /api/v2/tickets.json`
//! must equal the state that expectations read, rendered through the same views.
//!
//! The stale listing (a cache that outlived a status change) was invisible to every
//! expectation because they read the state in-process; this check reads what a real
//! client reads. Its calls carry the world's surface-check key, so they leave no trace
//! and use no rate-limit allowance: checking changes nothing.

use super::{Problem, Runner};
use crate::account::Account;
use crate::api::agreements::AgreementView;
use crate::api::pagination::Paging;
use crate::api::ticket_views::ticket_listing;
use crate::scenario::outcome::FieldDiff;
use serde_json::{Value, json};

impl Runner<'_> {
    /// Compares every running account's listings with its state. An account whose state
    /// was not opened for a change since its listings last matched answers as it did then,
    /// so it is not read again.
    pub(super) async fn check_surfaces(&mut self, number: usize) -> Result<(), Problem> {
        for account in self.world.accounts() {
            if !self.world.is_running(account.subdomain()).unwrap_or(false) {
                continue;
            }
            let unchanged =
                self.session.surfaces_checked.get(account.subdomain()) == Some(&account.changes());
            if unchanged {
                continue;
            }
            let listing = self
                .read_surface(&account, "/api/v2/sharing_agreements.json")
                .await?;
            let subdomain = account.subdomain();
            let state = agreements_state(&account);
            if let Some(problem) =
                differences(number, subdomain, "sharing_agreements", &state, &listing)
            {
                return Err(problem);
            }
            let tickets = self.read_surface(&account, "/api/v2/tickets.json").await?;
            let state = tickets_state(&account);
            if let Some(problem) = differences(number, subdomain, "tickets", &state, &tickets) {
                return Err(problem);
            }
            self.session
                .surfaces_checked
                .insert(subdomain.to_string(), account.changes());
        }
        Ok(())
    }

    async fn read_surface(&self, account: &Account, path: &str) -> Result<Value, Problem> {
        let subdomain = account.subdomain();
        let call = super::rest::RestCall {
            method: "GET",
            path,
            email: account.admin_email(),
            body: None,
            surface_check: true,
        };
        let answer = super::rest::send(self.world, account, call)
            .await
            .map_err(|e| Problem::new(format!("could not read {subdomain}'s GET {path}: {e}")))?;
        let text = String::from_utf8_lossy(&answer.body);
        if answer.status != 200 {
            return Err(Problem::new(format!(
                "{subdomain}'s GET {path} answered {}: {text}",
                answer.status
            )));
        }
        serde_json::from_slice(&answer.body).map_err(|e| {
            Problem::new(format!(
                "{subdomain}'s GET {path} is not JSON ({e}): {text}"
            ))
        })
    }
}

/// The agreement listing as the account's state renders it.
fn agreements_state(account: &Account) -> Value {
    let api_url = account.api_url();
    let agreements = account.agreements();
    let views: Vec<AgreementView> = agreements
        .iter()
        .map(|agreement| AgreementView::new(agreement, &api_url))
        .collect();
    json!({ "sharing_agreements": views })
}

/// The ticket listing's first page as the account's state renders it.
fn tickets_state(account: &Account) -> Value {
    ticket_listing(account, &account.tickets(), Paging::default())
}

/// What differs between the state's rendering and the REST answer, field by field,
/// in both directions (a field missing on either side counts).
fn differences(
    number: usize,
    subdomain: &str,
    what: &str,
    state: &Value,
    surface: &Value,
) -> Option<Problem> {
    if state == surface {
        return None;
    }
    let mut diffs: Vec<FieldDiff> = Vec::new();
    let found = [
        super::subset_mismatch(state, surface, "body"),
        super::subset_mismatch(surface, state, "body")
            .map(|(field, on_surface, in_state)| (field, in_state, on_surface)),
    ];
    for (field, expected, actual) in found.into_iter().flatten() {
        if !diffs.iter().any(|d| d.field == field) {
            diffs.push(FieldDiff {
                field,
                expected,
                actual,
            });
        }
    }
    Some(Problem {
        message: format!(
            "after step {number}, {subdomain}'s GET /api/v2/{what}.json disagrees with its state (expected: the state; actual: what the REST API answered)"
        ),
        diffs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_listing_names_the_step_the_account_and_the_field() {
        let state = json!({"sharing_agreements": [{"id": 1, "status": "ssl_error"}]});
        let surface = json!({"sharing_agreements": [{"id": 1, "status": "accepted"}]});
        let problem = differences(7, "acme", "sharing_agreements", &state, &surface)
            .expect("a stale listing is a problem");
        assert_eq!(
            problem.message,
            "after step 7, acme's GET /api/v2/sharing_agreements.json disagrees with its state (expected: the state; actual: what the REST API answered)"
        );
        assert_eq!(problem.diffs.len(), 1);
        assert_eq!(problem.diffs[0].field, "body.sharing_agreements[0].status");
        assert_eq!(problem.diffs[0].expected, "\"ssl_error\"");
        assert_eq!(problem.diffs[0].actual, "\"accepted\"");
        assert!(differences(7, "acme", "tickets", &state, &state).is_none());
    }

    #[test]
    fn a_field_only_the_surface_has_is_a_difference_too() {
        let state = json!({"tickets": [{"id": 1}], "count": 1});
        let surface = json!({"tickets": [{"id": 1, "extra": true}], "count": 1});
        let problem = differences(2, "globex", "tickets", &state, &surface)
            .expect("an extra field is a problem");
        assert_eq!(problem.diffs[0].field, "body.tickets[0].extra");
        assert_eq!(problem.diffs[0].expected, "(missing)");
        assert_eq!(problem.diffs[0].actual, "true");
    }
}
