//! Tickets after the share: comments, statuses, tags and fields syncing both ways,
//! unsharing, deactivation, reshares down a chain, and agents working tickets.

use crate::support::start;
use crate::tickets::*;
use serde_json::json;
use sharesim::core::model::Terms;

#[tokio::test]
async fn comments_sync_both_ways_and_never_echo() {
    let w = start(&["acme", "globex"]).await;
    let copy = shared_ticket(&w).await;
    let before = w.world.trace().last_seq();
    update(
        &w,
        "acme",
        1,
        json!({"comment": {"body": "Have you tried water?"}}),
    )
    .await;
    update(
        &w,
        "globex",
        copy,
        json!({"comment": {"body": "Internal: it is an inkjet", "public": false}}),
    )
    .await;
    let expected = vec![
        said("It is on fire", true),
        said("Have you tried water?", true),
        said("Internal: it is an inkjet", false),
    ];
    assert_eq!(comments(&w, "acme", 1).await, expected);
    assert_eq!(comments(&w, "globex", copy).await, expected);
    // One push each way; nothing came back to where it started.
    assert_eq!(
        partner_calls(&w, before),
        vec![
            ("PUT".to_string(), "acme".to_string(), "globex".to_string()),
            ("PUT".to_string(), "globex".to_string(), "acme".to_string())
        ]
    );
    // Authors: acme's comment on globex is by a partner person, globex's own by its admin.
    let listed = w
        .rest(
            "globex",
            "admin",
            "GET",
            &format!("/api/v2/tickets/{copy}/comments"),
            None,
        )
        .await;
    assert_eq!(listed.body["comments"][1]["author_id"], 3);
    assert_eq!(listed.body["comments"][2]["author_id"], 1);
    assert_eq!(
        listed.body["comments"].as_array().unwrap()[0]
            .as_object()
            .unwrap()
            .len(),
        8
    );
}

#[tokio::test]
async fn a_repeated_push_is_deduplicated_by_comment_uuid() {
    let w = start(&["acme", "globex"]).await;
    let copy = shared_ticket(&w).await;
    let token = w.account("acme").agreements()[0].token();
    let uuid = w.account("acme").ticket_by_id(1).unwrap().uuid;
    let body = json!({
        "uuid": uuid,
        "comments": [{
            "uuid": "c".repeat(40),
            "author": {"uuid": "a".repeat(40), "name": "Acme agent", "role": "agent"},
            "body": "Sent twice",
            "authored_at": "2011-01-02 13:01:01 -0500"
        }]
    })
    .to_string();
    for _ in 0..2 {
        let answer = w
            .partner(
                "globex",
                "PUT",
                &format!("/tickets/{uuid}"),
                &[
                    ("X-Ticket-Sharing-Token", &token),
                    ("X-Ticket-Sharing-Version", "1"),
                ],
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["uuid"], uuid);
    }
    assert_eq!(
        comments(&w, "globex", copy).await,
        vec![said("It is on fire", true), said("Sent twice", true)]
    );
    assert!(
        decisions(&w)
            .iter()
            .any(|d| d.contains("ignored 1 comment(s) it already had (same uuid)")),
        "{:?}",
        decisions(&w)
    );
    // The sender never heard of the hand-made comment: nothing was echoed back.
    assert_eq!(
        comments(&w, "acme", 1).await,
        vec![said("It is on fire", true)]
    );
}

#[tokio::test]
async fn without_public_comments_every_comment_arrives_private() {
    let w = start(&["acme", "globex"]).await;
    let (sent, _) = accepted_with(
        &w,
        "acme",
        "globex",
        Some(json!({"allows_public_comments": false})),
    )
    .await;
    create(
        &w,
        "acme",
        json!({"comment": {"body": "Public on acme"}, "sharing_agreement_ids": [sent]}),
    )
    .await;
    update(
        &w,
        "globex",
        1,
        json!({"comment": {"body": "Public on globex"}}),
    )
    .await;
    assert_eq!(
        comments(&w, "acme", 1).await,
        vec![
            said("Public on acme", true),
            said("Public on globex", false)
        ]
    );
    assert_eq!(
        comments(&w, "globex", 1).await,
        vec![
            said("Public on acme", false),
            said("Public on globex", true)
        ]
    );
    let terms = w.account("globex").agreements()[0].terms;
    assert_eq!(
        terms,
        Terms {
            allows_public_comments: false,
            ..Terms::default()
        }
    );
}

#[tokio::test]
async fn status_syncs_both_ways_by_default() {
    let w = start(&["acme", "globex"]).await;
    let copy = shared_ticket(&w).await;
    assert_eq!(show(&w, "globex", copy).await["status"], "new");
    update(&w, "acme", 1, json!({"status": "pending"})).await;
    assert_eq!(show(&w, "globex", copy).await["status"], "pending");
    update(&w, "globex", copy, json!({"status": "solved"})).await;
    assert_eq!(show(&w, "acme", 1).await["status"], "solved");
    assert_eq!(show(&w, "globex", copy).await["status"], "solved");
}

#[tokio::test]
async fn status_stays_local_when_the_terms_say_so() {
    let w = start_with_colour().await;
    let (sent, _) = accepted_with(
        &w,
        "acme",
        "globex",
        Some(json!({"sync_status": false, "sync_tags": false, "sync_custom_fields": false})),
    )
    .await;
    create(
        &w,
        "acme",
        json!({
            "comment": {"body": "Help"},
            "status": "open",
            "tags": ["vip"],
            "custom_fields": [{"id": 7, "value": "red"}],
            "sharing_agreement_ids": [sent]
        }),
    )
    .await;
    let copy = show(&w, "globex", 1).await;
    assert_eq!(copy["status"], "new");
    assert_eq!(copy["tags"], json!([]));
    assert_eq!(copy["custom_fields"], json!([]));
    let before = w.world.trace().last_seq();
    update(&w, "acme", 1, json!({"status": "solved"})).await;
    update(
        &w,
        "globex",
        1,
        json!({"status": "hold", "comment": {"body": "On it"}}),
    )
    .await;
    assert_eq!(show(&w, "acme", 1).await["status"], "solved");
    assert_eq!(show(&w, "globex", 1).await["status"], "hold");
    // The comment still travels; the status change alone is skipped, and the trace says why.
    assert_eq!(
        comments(&w, "acme", 1).await,
        vec![said("Help", true), said("On it", true)]
    );
    assert_eq!(
        partner_calls(&w, before),
        vec![("PUT".to_string(), "globex".to_string(), "acme".to_string())]
    );
    assert!(
        decisions(&w).contains(&format!(
            "acme did not push status solved of ticket 1 to globex: the terms of agreement {sent} keep it local"
        )),
        "{:?}",
        decisions(&w)
    );
}

#[tokio::test]
async fn unsharing_leaves_an_orphan_that_no_longer_syncs() {
    let w = start(&["acme", "globex"]).await;
    let copy = shared_ticket(&w).await;
    let sent = w.account("acme").agreements()[0].id;
    let received = w.account("globex").agreements()[0].id;
    let unshared = update(&w, "acme", 1, json!({"sharing_agreement_ids": []})).await;
    assert_eq!(unshared["sharing_agreement_ids"], json!([]));
    let orphan = show(&w, "globex", copy).await;
    assert_eq!(orphan["sharing_agreement_ids"], json!([]));
    assert_eq!(orphan["subject"], "Printer on fire");
    assert_eq!(
        sharing_events(&w, "acme", 1).await,
        vec![(sent, "shared".into()), (sent, "unshared".into())]
    );
    assert_eq!(
        sharing_events(&w, "globex", copy).await,
        vec![(received, "shared".into()), (received, "unshared".into())]
    );
    assert!(
        decisions(&w)
            .iter()
            .any(|d| d.contains("keeps ticket 1 as an orphan"))
    );

    let before = w.world.trace().last_seq();
    update(&w, "acme", 1, json!({"comment": {"body": "acme only"}})).await;
    update(
        &w,
        "globex",
        copy,
        json!({"comment": {"body": "globex only"}, "status": "solved"}),
    )
    .await;
    assert!(partner_calls(&w, before).is_empty());
    assert_eq!(
        comments(&w, "acme", 1).await,
        vec![said("It is on fire", true), said("acme only", true)]
    );
    assert_eq!(
        comments(&w, "globex", copy).await,
        vec![said("It is on fire", true), said("globex only", true)]
    );
    assert_eq!(show(&w, "acme", 1).await["status"], "new");
    // The orphan cannot be re-linked by the receiver.
    let relink = put(
        &w,
        "globex",
        copy,
        json!({"sharing_agreement_ids": [received]}),
    )
    .await;
    assert_eq!(relink.status, 422, "{}", relink.text);

    // Sharing again over the same agreement re-links the orphan (no second copy) and
    // brings it what it missed; what globex wrote meanwhile stays on globex.
    update(&w, "acme", 1, json!({"sharing_agreement_ids": [sent]})).await;
    assert_eq!(w.account("globex").tickets().len(), 1);
    assert_eq!(
        show(&w, "globex", copy).await["sharing_agreement_ids"],
        json!([received])
    );
    assert_eq!(
        comments(&w, "globex", copy).await,
        vec![
            said("It is on fire", true),
            said("globex only", true),
            said("acme only", true)
        ]
    );
    assert_eq!(
        sharing_events(&w, "globex", copy).await,
        vec![
            (received, "shared".into()),
            (received, "unshared".into()),
            (received, "shared".into())
        ]
    );
}

#[tokio::test]
async fn tags_and_custom_fields_travel_on_updates() {
    let w = start_with_colour().await;
    let copy = shared_ticket(&w).await;
    update(
        &w,
        "acme",
        1,
        json!({"tags": ["Urgent"], "custom_fields": [{"id": 7, "value": "blue"}]}),
    )
    .await;
    let seen = show(&w, "globex", copy).await;
    assert_eq!(seen["tags"], json!(["urgent"]));
    assert_eq!(seen["custom_fields"], json!([{"id": 42, "value": "blue"}]));
    update(&w, "globex", copy, json!({"tags": ["urgent", "escalated"]})).await;
    assert_eq!(
        show(&w, "acme", 1).await["tags"],
        json!(["urgent", "escalated"])
    );
    assert_eq!(
        show(&w, "acme", 1).await["custom_fields"],
        json!([{"id": 7, "value": "blue"}])
    );
}

#[tokio::test]
async fn deactivation_stops_sync_both_ways_and_the_trace_says_why() {
    let w = start(&["acme", "globex"]).await;
    let copy = shared_ticket(&w).await;
    let sent = w.account("acme").agreements()[0].id;
    let received = w.account("globex").agreements()[0].id;
    assert_eq!(
        w.set_status("globex", &json!(received), "inactive")
            .await
            .status,
        200
    );
    assert_eq!(w.only_agreement("acme").await["status"], "inactive");

    let before = w.world.trace().last_seq();
    update(&w, "acme", 1, json!({"comment": {"body": "Anyone there?"}})).await;
    update(&w, "globex", copy, json!({"status": "solved"})).await;
    assert!(partner_calls(&w, before).is_empty());
    let said_why = decisions(&w);
    assert!(
        said_why.contains(&format!(
            "acme did not push comment 2 of ticket 1 to globex: agreement {sent} is inactive (deactivated by the receiver), so shared tickets no longer sync"
        )),
        "{said_why:?}"
    );
    assert!(
        said_why.contains(&format!(
            "globex did not push status solved of ticket {copy} to acme: agreement {received} is inactive (deactivated by the receiver), so shared tickets no longer sync"
        )),
        "{said_why:?}"
    );
    assert_eq!(
        comments(&w, "globex", copy).await,
        vec![said("It is on fire", true)]
    );
    assert_eq!(show(&w, "acme", 1).await["status"], "new");

    // No new ticket can be shared over it.
    create(&w, "acme", json!({"comment": {"body": "Second"}})).await;
    let refused = put(&w, "acme", 2, json!({"sharing_agreement_ids": [sent]})).await;
    assert_eq!(refused.status, 422);
    assert!(
        description(&refused, "sharing_agreement_ids")
            .starts_with(&format!("agreement {sent} is inactive")),
        "{}",
        refused.text
    );
    assert_eq!(w.account("globex").tickets().len(), 1);
}

#[tokio::test]
async fn a_received_ticket_can_be_reshared_down_a_chain() {
    let w = start(&["acme", "globex", "initech"]).await;
    let copy = shared_ticket(&w).await;
    let from_acme = w.account("globex").agreements()[0].id;
    let (to_initech, at_initech) = accepted(&w, "globex", "initech").await;
    // Dropping the inbound agreement from the set is refused: only acme unshares.
    let dropped = put(
        &w,
        "globex",
        copy,
        json!({"sharing_agreement_ids": [to_initech]}),
    )
    .await;
    assert_eq!(dropped.status, 422);
    assert!(
        description(&dropped, "sharing_agreement_ids").contains("only acme can unshare it"),
        "{}",
        dropped.text
    );
    let chained = update(
        &w,
        "globex",
        copy,
        json!({"sharing_agreement_ids": [from_acme, to_initech]}),
    )
    .await;
    assert_eq!(
        chained["sharing_agreement_ids"],
        json!([from_acme, to_initech])
    );
    let end = show(&w, "initech", 1).await;
    assert_eq!(end["subject"], "Printer on fire");
    assert_eq!(end["sharing_agreement_ids"], json!([at_initech]));

    // A comment at either end travels the whole chain, once, and never comes back.
    update(&w, "acme", 1, json!({"comment": {"body": "From acme"}})).await;
    update(
        &w,
        "initech",
        1,
        json!({"comment": {"body": "From initech"}}),
    )
    .await;
    let expected = vec![
        said("It is on fire", true),
        said("From acme", true),
        said("From initech", true),
    ];
    assert_eq!(comments(&w, "acme", 1).await, expected);
    assert_eq!(comments(&w, "globex", copy).await, expected);
    assert_eq!(comments(&w, "initech", 1).await, expected);
}

#[tokio::test]
async fn agents_work_tickets_and_rest_errors_keep_zendesk_shapes() {
    let w = start(&["acme"]).await;
    let created = w
        .rest(
            "acme",
            "agent",
            "POST",
            "/api/v2/tickets",
            Some(json!({"ticket": {"description": "Agent wrote this"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["ticket"]["requester_id"], 2);
    assert_eq!(created.body["ticket"]["subject"], "Agent wrote this");
    let listed = w
        .rest("acme", "admin", "GET", "/api/v2/tickets/1/comments", None)
        .await;
    assert_eq!(listed.body["comments"][0]["author_id"], 2);

    let blank = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/tickets.json",
            Some(json!({"ticket": {"subject": "x"}})),
        )
        .await;
    assert_eq!(blank.status, 422);
    assert_eq!(
        blank.body["details"]["description"][0]["error"],
        "BlankValue"
    );
    let bad_status = put(&w, "acme", 1, json!({"status": "active"})).await;
    assert_eq!(bad_status.status, 422);
    assert_eq!(
        description(&bad_status, "status"),
        "Status: \"active\" is not a status; expected one of new, open, pending, hold, solved, closed"
    );
    let missing = put(&w, "acme", 9, json!({"status": "open"})).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"error": "RecordNotFound", "description": "Not found"})
    );
    for path in [
        "/api/v2/tickets/9/comments",
        "/api/v2/tickets/9/audits.json",
        "/api/v2/tickets/x",
    ] {
        assert_eq!(
            w.rest("acme", "agent", "GET", path, None).await.status,
            404,
            "{path}"
        );
    }
    let unparsable = w
        .rest_as(
            "acme",
            Some(("admin@acme.test", sharesim::world::DEFAULT_API_TOKEN)),
            "PUT",
            "/api/v2/tickets/1",
            Some("{nope".into()),
        )
        .await;
    assert_eq!(unparsable.status, 400);
    let anonymous = w
        .rest_as("acme", None, "GET", "/api/v2/tickets.json", None)
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.body,
        json!({"error": "Couldn't authenticate you"})
    );
    // Nothing above changed the ticket.
    let ticket = show(&w, "acme", 1).await;
    assert_eq!(ticket["status"], "new");
    assert_eq!(w.account("acme").tickets().len(), 1);
    let audits = w
        .rest(
            "acme",
            "agent",
            "GET",
            "/api/v2/tickets/1/audits.json",
            None,
        )
        .await;
    assert_eq!(audits.body["audits"].as_array().unwrap().len(), 1);
}
