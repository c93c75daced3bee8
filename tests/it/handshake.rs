//! The invitation handshake between real accounts, with both sides checked.

use crate::support::start;
use serde_json::json;

#[tokio::test]
async fn invite_then_accept_reaches_both_sides() {
    let w = start(&["acme", "globex"]).await;
    let sent = w.invite("acme", "Globex").await;
    assert_eq!(sent["type"], "outbound");
    assert_eq!(sent["status"], "pending");
    assert_eq!(sent["remote_subdomain"], "globex");
    assert_eq!(sent["name"], "Globex @ Zendesk");
    assert_eq!(sent["partner_name"], serde_json::Value::Null);
    let url = sent["url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/api/v2/sharing_agreements/{}.json", sent["id"])),
        "{url}"
    );
    for field in ["created_at", "updated_at"] {
        let stamp = sent[field].as_str().unwrap();
        assert!(
            stamp.ends_with('Z') && stamp.len() == 20,
            "{field}: {stamp}"
        );
    }
    assert_eq!(
        sent.as_object().unwrap().len(),
        9,
        "all nine documented fields: {sent}"
    );

    let received = w.only_agreement("globex").await;
    assert_eq!(received["type"], "inbound");
    assert_eq!(received["status"], "pending");
    assert_eq!(received["remote_subdomain"], "acme");
    assert_eq!(received["name"], "Acme @ Zendesk");

    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["sharing_agreement"]["status"], "accepted");
    assert_eq!(w.only_agreement("acme").await["status"], "accepted");
    assert_eq!(w.only_agreement("globex").await["status"], "accepted");

    // Both copies share one uuid and key, the protocol's identity of the agreement.
    let acme = w.account("acme").agreements();
    let globex = w.account("globex").agreements();
    assert_eq!(acme[0].uuid, globex[0].uuid);
    assert_eq!(acme[0].access_key, globex[0].access_key);
    assert_eq!(acme[0].access_key.len(), 40);
}

#[tokio::test]
async fn invite_then_decline_is_final_on_both_sides() {
    let w = start(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    let received = w.only_agreement("globex").await;
    let answer = w.set_status("globex", &received["id"], "declined").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.only_agreement("acme").await["status"], "declined");
    assert_eq!(w.only_agreement("globex").await["status"], "declined");

    let again = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(again.status, 422);
    let description = again.body["details"]["status"][0]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.contains("from declined to accepted"),
        "{description}"
    );
    assert!(description.contains("new invitation"), "{description}");
    assert_eq!(w.only_agreement("acme").await["status"], "declined");
}

#[tokio::test]
async fn a_named_invitation_names_only_the_senders_copy() {
    let w = start(&["acme", "globex"]).await;
    let answer = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/sharing_agreements",
            Some(
                json!({"sharing_agreement": {"remote_subdomain": "globex", "name": "Escalations"}}),
            ),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.body["sharing_agreement"]["name"], "Escalations");
    assert_eq!(w.only_agreement("globex").await["name"], "Acme @ Zendesk");
}

#[tokio::test]
async fn the_receiver_deactivates_and_the_sender_follows() {
    let w = start(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    let received = w.only_agreement("globex").await;
    w.set_status("globex", &received["id"], "accepted").await;
    let answer = w.set_status("globex", &received["id"], "inactive").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.only_agreement("acme").await["status"], "inactive");
    assert_eq!(w.only_agreement("globex").await["status"], "inactive");
    assert_eq!(
        w.account("acme").agreements()[0].deactivated_by.as_deref(),
        Some("receiver")
    );

    let revive = w
        .set_status("acme", &w.only_agreement("acme").await["id"], "pending")
        .await;
    assert_eq!(revive.status, 422);
    assert!(
        revive.text.contains("never be reactivated"),
        "{}",
        revive.text
    );
}

#[tokio::test]
async fn the_sender_deactivates_and_the_receiver_follows() {
    let w = start(&["acme", "globex"]).await;
    let sent = w.invite("acme", "globex").await;
    let answer = w.set_status("acme", &sent["id"], "inactive").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.only_agreement("globex").await["status"], "inactive");
    assert_eq!(
        w.account("globex").agreements()[0]
            .deactivated_by
            .as_deref(),
        Some("sender")
    );
}

#[tokio::test]
async fn deleting_a_pending_invitation_makes_the_receivers_copy_inactive() {
    let w = start(&["acme", "globex"]).await;
    let sent = w.invite("acme", "globex").await;
    let deleted = w
        .rest(
            "acme",
            "admin",
            "DELETE",
            &format!("/api/v2/sharing_agreements/{}", sent["id"]),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.text, "");
    let list = w
        .rest("acme", "admin", "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(list.body, json!({"sharing_agreements": []}));
    assert_eq!(w.only_agreement("globex").await["status"], "inactive");
    let gone = w
        .rest(
            "acme",
            "admin",
            "GET",
            &format!("/api/v2/sharing_agreements/{}.json", sent["id"]),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn an_unknown_subdomain_ends_in_configuration_error_and_can_be_resent() {
    let w = start(&["acme"]).await;
    let sent = w.invite("acme", "nowhere").await;
    assert_eq!(sent["status"], "configuration_error");
    let events = w.world.trace().events();
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("unknown subdomain \"nowhere\"")),
        "the trace names the cause: {events:#?}"
    );
    // Re-sending is allowed from a failure status, and fails again the same way.
    let resent = w.set_status("acme", &sent["id"], "pending").await;
    assert_eq!(resent.status, 200, "{}", resent.text);
    assert_eq!(
        resent.body["sharing_agreement"]["status"],
        "configuration_error"
    );
}

#[tokio::test]
async fn an_answer_that_cannot_be_delivered_is_rolled_back() {
    let w = start(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    let received = w.only_agreement("globex").await;
    w.world.stop_account("acme").await.unwrap();
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    let description = answer.body["details"]["status"][0]["description"]
        .as_str()
        .unwrap();
    assert!(description.contains("rolled back"), "{description}");
    assert!(
        description.contains("refused") || description.contains("not running"),
        "{description}"
    );
    assert_eq!(w.only_agreement("globex").await["status"], "pending");
    assert!(
        w.world
            .trace()
            .events()
            .iter()
            .any(|e| e.detail.contains("rolled agreement 1 back to pending"))
    );

    // Once the sender is back, the same answer goes through.
    w.world.start_account("acme").await.unwrap();
    let answer = w.set_status("globex", &received["id"], "accepted").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(w.only_agreement("acme").await["status"], "accepted");
}

#[tokio::test]
async fn two_way_sharing_needs_two_agreements() {
    let w = start(&["acme", "globex"]).await;
    w.invite("acme", "globex").await;
    w.invite("globex", "acme").await;
    let acme = w.account("acme").agreements();
    let globex = w.account("globex").agreements();
    assert_eq!(acme.len(), 2);
    assert_eq!(globex.len(), 2);
    let directions = |list: &[sharesim::core::model::Agreement]| {
        let mut d: Vec<_> = list.iter().map(|a| a.direction.as_str()).collect();
        d.sort();
        d
    };
    assert_eq!(directions(&acme), ["inbound", "outbound"]);
    assert_eq!(directions(&globex), ["inbound", "outbound"]);
    assert_ne!(acme[0].uuid, acme[1].uuid);
}

#[tokio::test]
async fn the_same_seed_draws_the_same_keys() {
    let first = start(&["acme", "globex"]).await;
    first.invite("acme", "globex").await;
    let second = start(&["acme", "globex"]).await;
    second.invite("acme", "globex").await;
    assert_eq!(
        first.account("acme").agreements()[0].access_key,
        second.account("acme").agreements()[0].access_key
    );
    assert_eq!(
        first.account("acme").agreements()[0].uuid,
        second.account("acme").agreements()[0].uuid
    );
}
