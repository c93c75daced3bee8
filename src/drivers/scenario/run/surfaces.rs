//! The runner's check that each account's REST surface says what its state says:
//! after a step, `GET /api/v2/sharing_agreements.json` and `GET /api/v2/tickets.json`
//! must equal the state that expectations read, rendered through the same views.
//!
//! The stale listing (a cache that outlived a status change) was invisible to every
//! expectation because they read the state in-process; this check reads what a real
//! client reads. Its calls carry the world's surface-check key, so they leave no trace
//! and use no rate-limit allowance: checking changes nothing.

use super::{Problem, Runner};
use crate::core::account::Account;
use crate::drivers::scenario::outcome::FieldDiff;
use crate::surfaces::api::agreements::AgreementView;
use crate::surfaces::api::pagination::Paging;
use crate::surfaces::api::ticket_views::ticket_listing;
use bytes::Bytes;
use serde_json::{Value, json};

impl Runner<'_> {
    /// Compares every running account's listings with its state. A listing whose part of
    /// the state did not change since it last matched answers as it did then, so it is
    /// not read again: an account whose state was not opened for a change is skipped
    /// whole, and of the others only the listings whose version moved are read.
    pub(super) async fn check_surfaces(&mut self, number: usize) -> Result<(), Problem> {
        for account in self.world.accounts() {
            if !self.world.is_running(account.subdomain()).unwrap_or(false) {
                continue;
            }
            let subdomain = account.subdomain();
            let last = self.session.surfaces_checked.get(subdomain).copied();
            if last.is_some_and(|last| last.changes == account.changes()) {
                continue;
            }
            let (agreements, tickets) = account.read_state(|state| state.versions());
            if last.is_none_or(|last| last.agreements != agreements) {
                let listing = self
                    .read_surface(&account, "/api/v2/sharing_agreements.json")
                    .await?;
                let state = agreements_state(&account);
                compare(number, subdomain, "sharing_agreements", &state, &listing)?;
            }
            if last.is_none_or(|last| last.tickets != tickets) {
                let listing = self.read_surface(&account, "/api/v2/tickets.json").await?;
                let state = tickets_state(&account);
                compare(number, subdomain, "tickets", &state, &listing)?;
            }
            let checked = Checked {
                changes: account.changes(),
                agreements,
                tickets,
            };
            self.session
                .surfaces_checked
                .insert(subdomain.to_string(), checked);
        }
        Ok(())
    }

    /// The body of a 200 answer to the admin's `GET path`.
    async fn read_surface(&self, account: &Account, path: &str) -> Result<Bytes, Problem> {
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
        Ok(answer.body)
    }
}

/// Where an account stood when its listings last matched its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Checked {
    /// [`Account::changes`] then.
    changes: u64,
    /// The state's agreements version then.
    agreements: u64,
    /// The state's tickets version then.
    tickets: u64,
}

/// Compares the state's rendering with the REST body: the same bytes (the API renders
/// through the same views, so this is the usual case, and it needs no parsing), or
/// else the same JSON value; otherwise the differences, field by field.
fn compare(
    number: usize,
    subdomain: &str,
    what: &str,
    state: &Value,
    body: &[u8],
) -> Result<(), Problem> {
    if serde_json::to_vec(state).is_ok_and(|rendered| rendered == body) {
        return Ok(());
    }
    let surface: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::new(format!(
            "{subdomain}'s GET /api/v2/{what}.json is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        ))
    })?;
    match differences(number, subdomain, what, state, &surface) {
        Some(problem) => Err(problem),
        None => Ok(()),
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
        super::answers::subset_mismatch(state, surface, "body"),
        super::answers::subset_mismatch(surface, state, "body")
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
        let body = serde_json::to_vec(&surface).unwrap();
        assert!(compare(7, "acme", "sharing_agreements", &surface, &body).is_ok());
        // The same value written otherwise (spaces, key order) is no difference.
        let spaced = br#"{ "sharing_agreements": [ { "status": "accepted", "id": 1 } ] }"#;
        assert!(compare(7, "acme", "sharing_agreements", &surface, spaced).is_ok());
        let stale = compare(7, "acme", "sharing_agreements", &state, &body).unwrap_err();
        assert_eq!(stale.diffs[0].field, "body.sharing_agreements[0].status");
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
