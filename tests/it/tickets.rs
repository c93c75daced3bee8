//! Tickets over real sockets: REST calls on each account, shares and pushes between
//! them, and the protocol's answers sent by hand. Every test checks both sides.

use crate::support::{Answer, TestWorld, start, start_with};
use serde_json::{Value, json};
use sharesim::core::trace::EventKind;
use sharesim::world::{AccountSpec, WorldConfig};
use std::time::Duration;

/// Invites `to` from `from` (with `terms`, when given) and accepts as `to`.
/// Returns (sender's agreement id, receiver's agreement id).
pub(crate) async fn accepted_with(
    w: &TestWorld,
    from: &str,
    to: &str,
    terms: Option<Value>,
) -> (u64, u64) {
    let mut body = json!({"remote_subdomain": to});
    if let Some(terms) = terms {
        body["terms"] = terms;
    }
    let sent = w
        .rest(
            from,
            "admin",
            "POST",
            "/api/v2/sharing_agreements.json",
            Some(json!({ "sharing_agreement": body })),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let sent_id = sent.body["sharing_agreement"]["id"].as_u64().unwrap();
    let uuid = w.account(from).agreement_by_id(sent_id).unwrap().uuid;
    let received = w.account(to).agreement_by_uuid(&uuid).unwrap();
    let answer = w.set_status(to, &json!(received.id), "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    (sent_id, received.id)
}

/// acme and globex, each with a text field titled "Colour" under its own id (7 on
/// acme, 42 on globex): values travel by title and type, never by id.
pub(crate) async fn start_with_colour() -> TestWorld {
    let colour = |id: u64| sharesim::core::model::ticket::fields::FieldDefinition {
        id: Some(id),
        title: "Colour".to_string(),
        field_type: sharesim::core::model::ticket::fields::FieldType::Text,
        options: Vec::new(),
    };
    start_with(
        WorldConfig {
            timeout: Duration::from_millis(2_000),
            ..WorldConfig::default()
        },
        vec![
            AccountSpec {
                ticket_fields: vec![colour(7)],
                ..AccountSpec::new("acme")
            },
            AccountSpec {
                ticket_fields: vec![colour(42)],
                ..AccountSpec::new("globex")
            },
        ],
    )
    .await
}

pub(crate) async fn accepted(w: &TestWorld, from: &str, to: &str) -> (u64, u64) {
    accepted_with(w, from, to, None).await
}

pub(crate) async fn create(w: &TestWorld, sub: &str, ticket: Value) -> Value {
    w.create_ticket(sub, ticket).await
}

pub(crate) async fn put(w: &TestWorld, sub: &str, id: u64, ticket: Value) -> Answer {
    w.rest(
        sub,
        "admin",
        "PUT",
        &format!("/api/v2/tickets/{id}.json"),
        Some(json!({ "ticket": ticket })),
    )
    .await
}

/// PUTs and asserts 200.
pub(crate) async fn update(w: &TestWorld, sub: &str, id: u64, ticket: Value) -> Value {
    let answer = put(w, sub, id, ticket).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["ticket"].clone()
}

pub(crate) async fn get(w: &TestWorld, sub: &str, path: &str) -> Value {
    w.read(sub, path).await
}

pub(crate) async fn show(w: &TestWorld, sub: &str, id: u64) -> Value {
    get(w, sub, &format!("/api/v2/tickets/{id}")).await["ticket"].clone()
}

/// The comments of a ticket as (body, public) pairs, oldest first.
pub(crate) async fn comments(w: &TestWorld, sub: &str, id: u64) -> Vec<(String, bool)> {
    get(w, sub, &format!("/api/v2/tickets/{id}/comments.json")).await["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["body"].as_str().unwrap().to_string(),
                c["public"].as_bool().unwrap(),
            )
        })
        .collect()
}

pub(crate) fn said(body: &str, public: bool) -> (String, bool) {
    (body.to_string(), public)
}

/// The `TicketSharingEvent`s of a ticket's audits, as (agreement_id, action).
pub(crate) async fn sharing_events(w: &TestWorld, sub: &str, id: u64) -> Vec<(u64, String)> {
    get(w, sub, &format!("/api/v2/tickets/{id}/audits")).await["audits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|audit| audit["events"].as_array().unwrap().clone())
        .filter(|event| event["type"] == "TicketSharingEvent")
        .map(|event| {
            (
                event["agreement_id"].as_u64().unwrap(),
                event["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub(crate) fn decisions(w: &TestWorld) -> Vec<String> {
    w.decisions()
}

/// Partner requests (method, from, to) recorded after sequence number `after`.
pub(crate) fn partner_calls(w: &TestWorld, after: u64) -> Vec<(String, String, String)> {
    w.world
        .trace()
        .events_since(after)
        .into_iter()
        .filter(|e| {
            e.kind == EventKind::Request
                && e.path
                    .as_deref()
                    .is_some_and(|p| p.starts_with("/sharing/tickets/"))
        })
        .map(|e| (e.method.unwrap_or_default(), e.from, e.to))
        .collect()
}

pub(crate) fn description(answer: &Answer, field: &str) -> String {
    answer.body["details"][field][0]["description"]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} details: {}", answer.text))
        .to_string()
}

/// acme and globex with an accepted agreement and acme's ticket 1 shared over it.
/// Returns globex's ticket id.
pub(crate) async fn shared_ticket(w: &TestWorld) -> u64 {
    let (sent, _) = accepted(w, "acme", "globex").await;
    create(
        w,
        "acme",
        json!({"subject": "Printer on fire", "comment": {"body": "It is on fire"}, "sharing_agreement_ids": [sent]}),
    )
    .await;
    w.account("globex").tickets()[0].id
}

#[tokio::test]
async fn sharing_after_accept_gives_the_receiver_its_own_linked_ticket() {
    let w = start_with_colour().await;
    let (sent, received) = accepted(&w, "acme", "globex").await;
    // globex already has a ticket, so the shared copy gets globex's next id, not acme's.
    create(&w, "globex", json!({"comment": {"body": "Local only"}})).await;
    let ticket = create(
        &w,
        "acme",
        json!({
            "subject": "Printer on fire",
            "comment": {"body": "It is on fire"},
            "status": "open",
            "tags": ["VIP", "printer"],
            "custom_fields": [{"id": 7, "value": "red"}]
        }),
    )
    .await;
    assert_eq!(ticket["id"], 1);
    assert_eq!(ticket["sharing_agreement_ids"], json!([]));
    assert_eq!(ticket["requester_id"], 1);
    assert_eq!(ticket["description"], "It is on fire");
    assert_eq!(ticket["tags"], json!(["vip", "printer"]));
    assert!(
        ticket["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/v2/tickets/1.json"),
        "{ticket}"
    );
    assert_eq!(ticket.as_object().unwrap().len(), 13, "{ticket}");
    assert_eq!(ticket["via"]["channel"], "api");

    let shared = update(&w, "acme", 1, json!({"sharing_agreement_ids": [sent]})).await;
    assert_eq!(shared["sharing_agreement_ids"], json!([sent]));

    let globex = w.account("globex").tickets();
    assert_eq!(globex.len(), 2);
    let copy = show(&w, "globex", 2).await;
    assert_eq!(copy["subject"], "Printer on fire");
    assert_eq!(copy["description"], "It is on fire");
    assert_eq!(copy["status"], "open");
    assert_eq!(copy["tags"], json!(["vip", "printer"]));
    // The value lands in globex's own field with the same title and type.
    assert_eq!(copy["custom_fields"], json!([{"id": 42, "value": "red"}]));
    assert_eq!(copy["sharing_agreement_ids"], json!([received]));
    assert_eq!(
        copy["via"],
        json!({"channel": "ticket_sharing", "source": {"from": {"subdomain": "acme", "sharing_agreement_id": received, "ticket_id": 1}, "to": {}, "rel": null}})
    );
    // acme's admin is a new person on globex: ids 1 and 2 are globex's own users.
    assert_eq!(copy["requester_id"], 3);
    assert_eq!(
        comments(&w, "globex", 2).await,
        vec![said("It is on fire", true)]
    );

    // The protocol identity: globex knows the copy by acme's ticket uuid.
    let acme_uuid = w.account("acme").ticket_by_id(1).unwrap().uuid;
    assert_eq!(
        w.account("globex").ticket_by_uuid(&acme_uuid).unwrap().id,
        2
    );
    assert_eq!(
        sharing_events(&w, "acme", 1).await,
        vec![(sent, "shared".into())]
    );
    assert_eq!(
        sharing_events(&w, "globex", 2).await,
        vec![(received, "shared".into())]
    );
    // The bare path works as well as `.json`.
    let bare = w
        .rest("globex", "admin", "GET", "/api/v2/tickets", None)
        .await;
    assert_eq!(bare.status, 200);
    assert_eq!(bare.body["tickets"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_receiver_cannot_share_back_over_its_inbound_agreement() {
    let w = start(&["acme", "globex"]).await;
    let (_, received) = accepted(&w, "acme", "globex").await;
    create(&w, "globex", json!({"comment": {"body": "Ours"}})).await;
    let refused = put(
        &w,
        "globex",
        1,
        json!({"sharing_agreement_ids": [received]}),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.body["error"], "RecordInvalid");
    assert_eq!(
        description(&refused, "sharing_agreement_ids"),
        format!(
            "agreement {received} is inbound: only its sender may share tickets over it; globex needs its own agreement with acme"
        )
    );
    assert_eq!(
        show(&w, "globex", 1).await["sharing_agreement_ids"],
        json!([])
    );
    assert!(w.account("acme").tickets().is_empty());
    assert!(sharing_events(&w, "globex", 1).await.is_empty());
}

#[tokio::test]
async fn only_an_accepted_agreement_carries_a_share() {
    let w = start(&["acme", "globex", "initech", "hooli", "umbrella"]).await;
    // pending: invited, never answered.
    let pending = w.invite("acme", "globex").await["id"].as_u64().unwrap();
    // declined.
    let declined = w.invite("acme", "initech").await["id"].as_u64().unwrap();
    let copy = w.only_agreement("initech").await;
    assert_eq!(
        w.set_status("initech", &copy["id"], "declined")
            .await
            .status,
        200
    );
    // inactive: accepted, then deactivated by the sender.
    let (inactive, _) = accepted(&w, "acme", "hooli").await;
    assert_eq!(
        w.set_status("acme", &json!(inactive), "inactive")
            .await
            .status,
        200
    );
    // failed: the receiver was down when invited.
    w.world.stop_account("umbrella").await.unwrap();
    let failed = w.invite("acme", "umbrella").await;
    assert_eq!(failed["status"], "failed");
    let failed = failed["id"].as_u64().unwrap();

    create(&w, "acme", json!({"comment": {"body": "Help"}})).await;
    for (id, status, hint) in [
        (pending, "pending", "wait for globex to accept it"),
        (declined, "declined", "initech declined it"),
        (inactive, "inactive", "can never be reactivated"),
        (failed, "failed", "re-send the invitation"),
    ] {
        let refused = put(&w, "acme", 1, json!({"sharing_agreement_ids": [id]})).await;
        assert_eq!(refused.status, 422, "{status}: {}", refused.text);
        let text = description(&refused, "sharing_agreement_ids");
        assert!(
            text.starts_with(&format!(
                "agreement {id} is {status}: tickets can only be shared over an accepted agreement"
            )),
            "{text}"
        );
        assert!(text.contains(hint), "{text}");
    }
    let unknown = put(&w, "acme", 1, json!({"sharing_agreement_ids": [99]})).await;
    assert_eq!(unknown.status, 422);
    assert_eq!(
        description(&unknown, "sharing_agreement_ids"),
        "agreement 99 does not exist on this account"
    );
    assert_eq!(
        show(&w, "acme", 1).await["sharing_agreement_ids"],
        json!([])
    );
    for sub in ["globex", "initech", "hooli", "umbrella"] {
        assert!(w.account(sub).tickets().is_empty(), "{sub}");
    }
}

#[tokio::test]
async fn a_ticket_is_shared_over_at_most_one_agreement_at_a_time() {
    let w = start(&["acme", "globex", "initech"]).await;
    let (to_globex, at_globex) = accepted(&w, "acme", "globex").await;
    let (to_initech, at_initech) = accepted(&w, "acme", "initech").await;
    create(&w, "acme", json!({"comment": {"body": "Help"}})).await;
    let both = put(
        &w,
        "acme",
        1,
        json!({"sharing_agreement_ids": [to_globex, to_initech]}),
    )
    .await;
    assert_eq!(both.status, 422, "{}", both.text);
    assert_eq!(
        description(&both, "sharing_agreement_ids"),
        format!(
            "a ticket is shared over at most one agreement at a time, but agreements {to_globex} and {to_initech} were given; keep one"
        )
    );
    assert!(w.account("globex").tickets().is_empty());
    assert!(w.account("initech").tickets().is_empty());

    update(&w, "acme", 1, json!({"sharing_agreement_ids": [to_globex]})).await;
    // Switching in one write: globex's copy is orphaned, initech gets one.
    let switched = update(
        &w,
        "acme",
        1,
        json!({"sharing_agreement_ids": [to_initech]}),
    )
    .await;
    assert_eq!(switched["sharing_agreement_ids"], json!([to_initech]));
    assert_eq!(
        sharing_events(&w, "acme", 1).await,
        vec![
            (to_globex, "shared".into()),
            (to_globex, "unshared".into()),
            (to_initech, "shared".into())
        ]
    );
    assert_eq!(
        show(&w, "globex", 1).await["sharing_agreement_ids"],
        json!([])
    );
    assert_eq!(
        sharing_events(&w, "globex", 1).await,
        vec![(at_globex, "shared".into()), (at_globex, "unshared".into())]
    );
    assert_eq!(
        show(&w, "initech", 1).await["sharing_agreement_ids"],
        json!([at_initech])
    );
}
