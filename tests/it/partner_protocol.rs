//! The partner protocol's answers, sent by hand the way a foreign help desk would.

use crate::support::{TestWorld, start};
use serde_json::json;

const KEY: &str = "0123456789abcdef0123456789abcdef01234567";
const UUID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn invitation(uuid: &str, key: &str) -> String {
    json!({
        "uuid": uuid,
        "name": "Acme @ Zendesk",
        "sender_url": "http://acme.sharesim.test/sharing",
        "receiver_url": "http://globex.sharesim.test/sharing",
        "access_key": key,
        "status": "pending",
    })
    .to_string()
}

async fn invite_by_hand(w: &TestWorld) -> u16 {
    w.partner(
        "globex",
        "POST",
        &format!("/agreements/{UUID}"),
        &[
            ("X-Ticket-Sharing-Version", "1"),
            ("Content-Type", "application/json"),
        ],
        Some(invitation(UUID, KEY)),
    )
    .await
    .status
}

#[tokio::test]
async fn an_invitation_is_stored_once_and_repeats_are_idempotent() {
    let w = start(&["acme", "globex"]).await;
    assert_eq!(invite_by_hand(&w).await, 201);
    assert_eq!(invite_by_hand(&w).await, 200);
    let copies = w.account("globex").agreements();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].remote_subdomain.as_deref(), Some("acme"));
    // The same uuid with another key is a different agreement claiming the same name.
    let other_key = "f".repeat(40);
    let clash = w
        .partner(
            "globex",
            "POST",
            &format!("/agreements/{UUID}"),
            &[],
            Some(invitation(UUID, &other_key)),
        )
        .await;
    assert_eq!(clash.status, 422, "{}", clash.text);
    assert!(clash.text.contains("different access key"));
    assert_eq!(w.account("globex").agreements().len(), 1);
}

#[tokio::test]
async fn malformed_invitations_are_refused() {
    let w = start(&["globex"]).await;
    let path = format!("/agreements/{UUID}");
    let unparsable = w
        .partner("globex", "POST", &path, &[], Some("{nope".into()))
        .await;
    assert_eq!(unparsable.status, 400);
    let wrong_uuid = w
        .partner(
            "globex",
            "POST",
            &path,
            &[],
            Some(invitation(&"b".repeat(40), KEY)),
        )
        .await;
    assert_eq!(wrong_uuid.status, 422);
    assert!(wrong_uuid.text.contains("differs"), "{}", wrong_uuid.text);
    let missing = w
        .partner(
            "globex",
            "POST",
            &path,
            &[],
            Some(json!({"uuid": UUID}).to_string()),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(
        missing.text.contains("access_key, sender_url, name"),
        "{}",
        missing.text
    );
    let bad_key = w
        .partner(
            "globex",
            "POST",
            &path,
            &[],
            Some(invitation(UUID, "short")),
        )
        .await;
    assert_eq!(bad_key.status, 422);
    let version = w
        .partner(
            "globex",
            "POST",
            &path,
            &[("X-Ticket-Sharing-Version", "2")],
            Some(invitation(UUID, KEY)),
        )
        .await;
    assert_eq!(version.status, 412);
    assert!(w.account("globex").agreements().is_empty());
}

#[tokio::test]
async fn updates_need_the_right_token() {
    let w = start(&["acme", "globex"]).await;
    assert_eq!(invite_by_hand(&w).await, 201);
    let path = format!("/agreements/{UUID}");
    let body = Some(json!({"status": "inactive", "deactivated_by": "sender"}).to_string());

    let missing = w.partner("globex", "PUT", &path, &[], body.clone()).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers["www-authenticate"], "X-Ticket-Sharing");

    let wrong = format!("{UUID}:{}", "0".repeat(40));
    let forbidden = w
        .partner(
            "globex",
            "PUT",
            &path,
            &[("X-Ticket-Sharing-Token", &wrong)],
            body.clone(),
        )
        .await;
    assert_eq!(forbidden.status, 403);

    let unknown = format!("/agreements/{}", "c".repeat(40));
    let token = format!("{UUID}:{KEY}");
    let not_found = w
        .partner(
            "globex",
            "PUT",
            &unknown,
            &[("X-Ticket-Sharing-Token", &token)],
            body.clone(),
        )
        .await;
    assert_eq!(not_found.status, 404);

    let bad_status = w
        .partner(
            "globex",
            "PUT",
            &path,
            &[("X-Ticket-Sharing-Token", &token)],
            Some(json!({"status": "accepted"}).to_string()),
        )
        .await;
    assert_eq!(
        bad_status.status, 422,
        "the sender cannot accept its own invitation: {}",
        bad_status.text
    );

    let unparsable = w
        .partner(
            "globex",
            "PUT",
            &path,
            &[("X-Ticket-Sharing-Token", &token)],
            Some("[".into()),
        )
        .await;
    assert_eq!(unparsable.status, 400);

    assert_eq!(
        w.account("globex").agreements()[0].status.as_str(),
        "pending"
    );

    let ok = w
        .partner(
            "globex",
            "PUT",
            &path,
            &[("X-Ticket-Sharing-Token", &token)],
            body,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["status"], "inactive");
    assert_eq!(
        w.account("globex").agreements()[0].status.as_str(),
        "inactive"
    );
}

#[tokio::test]
async fn inspection_and_wrong_methods() {
    let w = start(&["acme", "globex"]).await;
    assert_eq!(invite_by_hand(&w).await, 201);
    let path = format!("/agreements/{UUID}");
    let token = format!("{UUID}:{KEY}");
    let shown = w
        .partner(
            "globex",
            "GET",
            &path,
            &[("X-Ticket-Sharing-Token", &token)],
            None,
        )
        .await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["uuid"], UUID);
    assert_eq!(shown.body["status"], "pending");
    assert!(
        shown.body.get("access_key").is_none(),
        "the key is never echoed"
    );
    let no_token = w.partner("globex", "GET", &path, &[], None).await;
    assert_eq!(no_token.status, 401);
    let delete = w
        .partner(
            "globex",
            "DELETE",
            &path,
            &[("X-Ticket-Sharing-Token", &token)],
            None,
        )
        .await;
    assert_eq!(delete.status, 405);
    let patch = w.partner("globex", "PATCH", &path, &[], None).await;
    assert_eq!(patch.status, 405);
}
