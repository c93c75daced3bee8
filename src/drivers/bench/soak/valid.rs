//! The soak's valid client: invite → accept → deactivate → delete cycles between acme
//! and globex that leave nothing behind, reading every id from the answers, retrying a
//! step that failed for a transient reason and counting it, and cleaning up a cycle it
//! had to give up on, so one slow answer on a loaded machine neither ends the client
//! nor leaves copies that grow the accounts.

use super::super::served::TOKEN;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How often one step is tried before its cycle is given up on.
const ATTEMPTS: u32 = 3;

/// What the valid client did.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tally {
    /// Cycles completed: invited, accepted, deactivated, and deleted on both sides.
    pub cycles: u64,
    /// Calls that failed (no answer, or not the status due) and were tried again.
    pub failed_calls: u64,
    /// Cycles given up on after a step failed every attempt; their copies were deleted.
    pub abandoned: u64,
}

/// One admin's calls to one account's REST API.
struct Admin<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    email: &'static str,
}

impl Admin<'_> {
    /// One call: its status and JSON body (null when the body is not JSON), or None
    /// when no answer came.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .basic_auth(format!("{}/token", self.email), Some(TOKEN));
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().await.ok()?;
        let status = answer.status().as_u16();
        Some((status, answer.json().await.unwrap_or(Value::Null)))
    }

    /// The account's agreement copies, or None when they could not be read.
    async fn agreements(&self) -> Option<Vec<Value>> {
        let (status, body) = self
            .call(Method::GET, "/sharing_agreements.json", None)
            .await?;
        if status != 200 {
            return None;
        }
        body["sharing_agreements"].as_array().cloned()
    }
}

/// Runs cycles until `until`; the cycle under way when it passes is finished.
pub(super) async fn run(http: &reqwest::Client, acme: &str, globex: &str, until: Instant) -> Tally {
    let ours = Admin {
        http,
        api: acme,
        email: "admin@acme.test",
    };
    let theirs = Admin {
        http,
        api: globex,
        email: "admin@globex.test",
    };
    let mut tally = Tally::default();
    while Instant::now() < until {
        let invitation = json!({"sharing_agreement": {"remote_subdomain": "globex"}});
        let id = match ours
            .call(Method::POST, "/sharing_agreements.json", Some(&invitation))
            .await
        {
            Some((201, created)) => created["sharing_agreement"]["id"].as_u64(),
            _ => None,
        };
        let Some(id) = id else {
            // Tried again as the next cycle.
            tally.failed_calls += 1;
            pause(1).await;
            continue;
        };
        match cycle(&ours, &theirs, id, &mut tally).await {
            Some(()) => tally.cycles += 1,
            None => {
                tally.abandoned += 1;
                clean_up(&ours, &theirs, id, &mut tally).await;
            }
        }
    }
    tally
}

/// The rest of one cycle after acme's invitation `id`: None when a step failed every
/// attempt.
async fn cycle(ours: &Admin<'_>, theirs: &Admin<'_>, id: u64, tally: &mut Tally) -> Option<()> {
    let received = received_copy(theirs, tally).await?;
    let status = |status: &str| json!({"sharing_agreement": {"status": status}});
    let (ours_path, theirs_path) = (
        format!("/sharing_agreements/{id}.json"),
        format!("/sharing_agreements/{received}.json"),
    );
    step(
        theirs,
        Method::PUT,
        &theirs_path,
        Some(&status("accepted")),
        200,
        tally,
    )
    .await?;
    step(
        ours,
        Method::PUT,
        &ours_path,
        Some(&status("inactive")),
        200,
        tally,
    )
    .await?;
    step(ours, Method::DELETE, &ours_path, None, 204, tally).await?;
    step(theirs, Method::DELETE, &theirs_path, None, 204, tally).await
}

/// globex's copy of the invitation just sent: its newest pending inbound copy from
/// acme (strangers write only to acme, and earlier cycles deleted theirs).
async fn received_copy(theirs: &Admin<'_>, tally: &mut Tally) -> Option<u64> {
    for attempt in 0..ATTEMPTS {
        let found = theirs.agreements().await.and_then(|copies| {
            copies
                .iter()
                .filter(|c| {
                    c["type"] == "inbound"
                        && c["remote_subdomain"] == "acme"
                        && c["status"] == "pending"
                })
                .filter_map(|c| c["id"].as_u64())
                .max()
        });
        if found.is_some() {
            return found;
        }
        tally.failed_calls += 1;
        pause(attempt + 1).await;
    }
    None
}

/// One call, tried up to [`ATTEMPTS`] times until it answers `expected`. A retried
/// DELETE that answers 404 succeeded: an earlier attempt did the work but its answer
/// was lost. A retried status change answers 200 when already made.
async fn step(
    admin: &Admin<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
    expected: u16,
    tally: &mut Tally,
) -> Option<()> {
    for attempt in 0..ATTEMPTS {
        match admin.call(method.clone(), path, body).await {
            Some((status, _)) if status == expected => return Some(()),
            Some((404, _)) if attempt > 0 && method == Method::DELETE => return Some(()),
            _ => {
                tally.failed_calls += 1;
                pause(attempt + 1).await;
            }
        }
    }
    None
}

/// Deletes what is left of an abandoned cycle: acme's copy (which tells globex it is
/// inactive when live) and every inbound copy from acme on globex (no other cycle is
/// under way, so none of them belongs to one).
async fn clean_up(ours: &Admin<'_>, theirs: &Admin<'_>, id: u64, tally: &mut Tally) {
    let path = format!("/sharing_agreements/{id}.json");
    match ours.call(Method::DELETE, &path, None).await {
        Some((204 | 404, _)) => {}
        _ => tally.failed_calls += 1,
    }
    let Some(copies) = theirs.agreements().await else {
        tally.failed_calls += 1;
        return;
    };
    for copy in copies
        .iter()
        .filter(|c| c["type"] == "inbound" && c["remote_subdomain"] == "acme")
    {
        if let Some(id) = copy["id"].as_u64() {
            let path = format!("/sharing_agreements/{id}.json");
            match theirs.call(Method::DELETE, &path, None).await {
                Some((204 | 404, _)) => {}
                _ => tally.failed_calls += 1,
            }
        }
    }
}

/// A short back-off before trying again, longer with each attempt.
async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
}

/// Live copies (pending or accepted) that have no partner copy in the same status:
/// acme's outbound copies to globex and globex's inbound copies from acme, counted by
/// status on each side (the REST view shows no shared uuid to pair them by). Copies
/// that ended (inactive, declined) on one side and were deleted on the other are not
/// apart. Also the copies both accounts retain. None when a list could not be read.
pub(super) async fn apart(http: &reqwest::Client, acme: &str, globex: &str) -> Option<(u64, u64)> {
    let sent = Admin {
        http,
        api: acme,
        email: "admin@acme.test",
    }
    .agreements()
    .await?;
    let received = Admin {
        http,
        api: globex,
        email: "admin@globex.test",
    }
    .agreements()
    .await?;
    let retained = (sent.len() + received.len()) as u64;
    let count = |copies: &[Value], direction: &str, remote: &str, status: &str| {
        copies
            .iter()
            .filter(|c| {
                c["type"] == direction && c["remote_subdomain"] == remote && c["status"] == status
            })
            .count()
    };
    let apart = ["pending", "accepted"]
        .iter()
        .map(|status| {
            count(&sent, "outbound", "globex", status)
                .abs_diff(count(&received, "inbound", "acme", status)) as u64
        })
        .sum();
    Some((apart, retained))
}
