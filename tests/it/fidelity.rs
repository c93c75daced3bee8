//! Zendesk fidelity over real sockets: Zendesk's own `ticket_sharing` gem sharing a
//! ticket with every field, custom fields by title and type, closed tickets, safe
//! updates, paged lists, declining every invite, and what each answer's body says.

use crate::support::{TestWorld, start_with};
use serde_json::{Value, json};
use sharesim::core::account::AccountSettings;
use sharesim::core::model::ticket::fields::{FieldDefinition, FieldType};
use sharesim::world::{AccountSpec, WorldConfig};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn field(id: u64, title: &str, field_type: FieldType) -> FieldDefinition {
    FieldDefinition {
        id: Some(id),
        title: title.to_string(),
        field_type,
        options: Vec::new(),
    }
}

async fn world(specs: Vec<AccountSpec>) -> TestWorld {
    start_with(
        WorldConfig {
            timeout: Duration::from_millis(2_000),
            ..WorldConfig::default()
        },
        specs,
    )
    .await
}

/// acme shares with globex over an accepted agreement; returns (acme's, globex's) ids.
async fn accepted(w: &TestWorld, terms: Value) -> (u64, u64) {
    let sent = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/sharing_agreements.json",
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex", "terms": terms}})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let received = w.accept_only_agreement("globex").await;
    (
        sent.body["sharing_agreement"]["id"].as_u64().unwrap(),
        received["id"].as_u64().unwrap(),
    )
}

fn gem_lib() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vendor/ticket_sharing/lib")
}

/// Whether Debian's ruby and ruby-faraday and the vendored gem are here; `.ci/run`
/// installs them and sets SHARESIM_REQUIRE_TICKET_SHARING=1, making their absence a
/// failure.
fn ticket_sharing_gem_available() -> bool {
    let present = gem_lib().join("ticket_sharing.rb").exists()
        && Command::new("ruby")
            .args(["-e", "require 'faraday'"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var("SHARESIM_REQUIRE_TICKET_SHARING").as_deref() != Ok("1"),
            "Zendesk's ticket_sharing gem (ruby, ruby-faraday, ../shared/vendor) is required but missing"
        );
        eprintln!(
            "skipping: ruby, ruby-faraday or ../shared/vendor/ticket_sharing is missing (see .ci/run)"
        );
    }
    present
}

/// The issue's first "done when": Zendesk's gem, unmodified, shares a ticket with an
/// attachment, custom fields, an HTML comment and a custom status, then updates it,
/// and globex's REST API shows all of it.
#[tokio::test]
async fn zendesks_own_client_shares_a_ticket_with_every_field_and_rest_shows_them() {
    if !ticket_sharing_gem_available() {
        return;
    }
    let w = world(vec![
        AccountSpec::new("acme"),
        AccountSpec {
            ticket_fields: vec![
                field(31, "Serial", FieldType::Text),
                field(32, "Under warranty", FieldType::Checkbox),
            ],
            ..AccountSpec::new("globex")
        },
    ])
    .await;
    let (sent, received) = accepted(&w, json!({})).await;
    let agreement = w.account("acme").agreement_by_id(sent).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ticket_sharing_check.rb");
    let sharing_url = w.account("globex").loopback_sharing_url();
    let output = tokio::process::Command::new("ruby")
        .arg("-I")
        .arg(gem_lib())
        .arg(script)
        .args([
            &sharing_url,
            &agreement.uuid.to_string(),
            &agreement.access_key.to_string(),
        ])
        .output()
        .await
        .expect("ruby runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    assert_eq!(answers, json!({"shared": 201, "updated": 200}));

    let ticket = w
        .read("globex", "/api/v2/tickets/1.json?include=users")
        .await;
    let shown = &ticket["ticket"];
    assert_eq!(shown["subject"], "Cracked screen");
    assert_eq!(shown["status"], "open");
    assert_eq!(shown["tags"], json!(["hardware"]));
    assert_eq!(shown["custom_status"], "Parts ordered");
    assert_eq!(
        shown["custom_fields"],
        json!([{"id": 31, "value": "SN-123"}, {"id": 32, "value": true}]),
        "a typed and a bare value, each in globex's field with that title"
    );
    assert_eq!(shown["sharing_agreement_ids"], json!([received]));
    assert_eq!(
        shown["via"],
        json!({"channel": "ticket_sharing", "source": {"from": {"subdomain": "acme", "sharing_agreement_id": received, "ticket_id": 42}, "to": {}, "rel": null}})
    );
    let requester = shown["requester_id"].as_u64().unwrap();
    let users = ticket["users"].as_array().unwrap();
    let rita = users.iter().find(|u| u["id"] == requester).unwrap();
    assert_eq!(rita["name"], "Rita Requester");
    assert_eq!(
        rita["role"], "end-user",
        "the gem sent no role: not an agent"
    );
    let abe = users.iter().find(|u| u["name"] == "Abe Agent").unwrap();
    assert_eq!(abe["shared_agent"], true);

    let comments = w.read("globex", "/api/v2/tickets/1/comments.json").await;
    let first = &comments["comments"][0];
    assert_eq!(first["body"], "The screen is cracked.");
    assert_eq!(first["html_body"], "<p>The screen is <b>cracked</b>.</p>");
    assert_eq!(first["public"], true);
    assert_eq!(
        first["attachments"],
        json!([{"content_type": "image/png", "content_url": "https://files.example.test/screen.png", "file_name": "Cracked screen.png"}])
    );
    assert_eq!(first["custom_fields"], json!({"channel": "phone"}));
    assert_eq!(first["author_id"], requester);
    let second = &comments["comments"][1];
    assert_eq!(second["html_body"], "<p>Parts are <i>on their way</i>.</p>");
    assert_eq!(second["public"], false);
    assert_eq!(second["author_id"], abe["id"]);
    // The current actor of each message is the author of its audit.
    let audits = w.read("globex", "/api/v2/tickets/1/audits.json").await;
    assert_eq!(audits["audits"][1]["author_id"], abe["id"]);
    // The state says the same as the REST API: stored, not only shown.
    let stored = w.account("globex").ticket_by_id(1).unwrap();
    assert_eq!(stored.comments[0].attachments[0].filename, "screen.png");
    assert_eq!(stored.custom_status.as_deref(), Some("Parts ordered"));
}

/// Values that match no field are dropped, and the trace names each reason.
#[tokio::test]
async fn synced_custom_fields_that_do_not_match_are_dropped_with_a_reason() {
    let w = world(vec![
        AccountSpec {
            ticket_fields: vec![
                field(1, "Serial", FieldType::Text),
                field(2, "Seats", FieldType::Integer),
                field(3, "Colour", FieldType::Text),
            ],
            ..AccountSpec::new("acme")
        },
        AccountSpec {
            ticket_fields: vec![
                field(9, "Serial", FieldType::Textarea),
                field(8, "Seats", FieldType::Integer),
            ],
            ..AccountSpec::new("globex")
        },
    ])
    .await;
    let (sent, _) = accepted(&w, json!({})).await;
    w.create_ticket(
        "acme",
        json!({"comment": {"body": "Help"}, "sharing_agreement_ids": [sent],
               "custom_fields": [{"id": 1, "value": "X"}, {"id": 2, "value": 4}, {"id": 3, "value": "red"}]}),
    )
    .await;
    assert_eq!(
        w.read("globex", "/api/v2/tickets/1").await["ticket"]["custom_fields"],
        json!([{"id": 8, "value": 4}])
    );
    let stored = w
        .decisions()
        .into_iter()
        .find(|d| d.starts_with("globex stored ticket 1"))
        .unwrap();
    assert!(
        stored.ends_with(
            "; dropped custom field \"Colour\": no ticket field has that title here; dropped custom field \"Serial\": it is a text field on the sender but a textarea field here; fields match by title and type"
        ),
        "{stored}"
    );
    // A REST value must fit its own account's field.
    let refused = w
        .rest(
            "acme",
            "admin",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"custom_fields": [{"id": 2, "value": "four"}]}})),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.body["details"]["custom_fields"][0]["description"],
        "Custom fields: Seats is an integer field: its value must be a whole number, not \"four\""
    );
    // Fields are made through REST too (admins), and listed for agents.
    let made = w
        .rest("globex", "admin", "POST", "/api/v2/ticket_fields.json",
              Some(json!({"ticket_field": {"type": "tagger", "title": "Product", "custom_field_options": [{"name": "Printer", "value": "printer"}]}})))
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(
        made.body["ticket_field"]["id"], 10,
        "after globex's highest id, 9"
    );
    assert_eq!(
        made.body["ticket_field"]["custom_field_options"],
        json!([{"name": "printer", "value": "printer"}])
    );
    let twice = w
        .rest(
            "globex",
            "admin",
            "POST",
            "/api/v2/ticket_fields.json",
            Some(json!({"ticket_field": {"type": "text", "title": "Product"}})),
        )
        .await;
    assert_eq!(twice.status, 422);
    let by_agent = w
        .rest(
            "globex",
            "agent",
            "POST",
            "/api/v2/ticket_fields.json",
            Some(json!({"ticket_field": {"type": "text", "title": "Other"}})),
        )
        .await;
    assert_eq!(by_agent.status, 403);
    let listed = w.read("globex", "/api/v2/ticket_fields").await;
    let titles: Vec<&str> = listed["ticket_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Serial", "Seats", "Product"]);
}

/// Closed is final on REST (Zendesk's 422) and for partners (a refused push that is
/// dropped, not kept, and breaks nothing).
#[tokio::test]
async fn a_closed_ticket_refuses_rest_changes_and_partner_pushes() {
    let w = world(vec![AccountSpec::new("acme"), AccountSpec::new("globex")]).await;
    let (sent, _) = accepted(&w, json!({"sync_status": false})).await;
    w.create_ticket(
        "acme",
        json!({"comment": {"body": "Old"}, "sharing_agreement_ids": [sent]}),
    )
    .await;
    let closed = w
        .rest(
            "globex",
            "admin",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"status": "closed"}})),
        )
        .await;
    assert_eq!(closed.status, 200);
    let again = w
        .rest(
            "globex",
            "admin",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"comment": {"body": "Reopen?"}}})),
        )
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(
        again.text,
        r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"status":[{"description":"Status: closed prevents ticket update","error":"InvalidValue"}]}}"#
    );
    let pushed = w
        .rest(
            "acme",
            "admin",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"comment": {"body": "News?"}}})),
        )
        .await;
    assert_eq!(pushed.status, 200, "acme's own copy is open");
    let said = w.decisions();
    assert!(
        said.iter()
            .any(|d| d.starts_with("globex refused an update of ticket ")
                && d.ends_with(": ticket 1 is closed: Status: closed prevents ticket update")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|d| d.starts_with(&format!("acme dropped its update (comment \"News?\") of ticket 1 over agreement {sent}: the partner refused it (partner answered 422 Unprocessable Entity"))),
        "{said:?}"
    );
    assert_eq!(w.only_agreement("acme").await["status"], "accepted");
    assert!(w.account("acme").waiting_pushes().is_empty());
    assert_eq!(
        w.account("globex").ticket_by_id(1).unwrap().comments.len(),
        1
    );
}

#[tokio::test]
async fn safe_update_refuses_a_stale_stamp_with_zendesks_409() {
    let w = world(vec![AccountSpec::new("acme")]).await;
    let ticket = w
        .create_ticket("acme", json!({"comment": {"body": "Hi"}}))
        .await;
    let read = ticket["updated_at"].as_str().unwrap().to_string();
    let first = w
        .rest(
            "acme",
            "admin",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"status": "open", "safe_update": true, "updated_stamp": read}})),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_ne!(first.body["ticket"]["updated_at"], json!(read));
    let stale = w
        .rest(
            "acme",
            "agent",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(
                json!({"ticket": {"status": "solved", "safe_update": true, "updated_stamp": read}}),
            ),
        )
        .await;
    assert_eq!(stale.status, 409);
    assert_eq!(
        stale.text,
        r#"{"error":"UpdateConflict","description":"Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again."}"#
    );
    assert_eq!(
        w.account("acme").ticket_by_id(1).unwrap().status.as_str(),
        "open",
        "nothing changed"
    );
    let missing = w
        .rest(
            "acme",
            "agent",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"status": "solved", "safe_update": true}})),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(
        missing.body["details"]["updated_stamp"].is_array(),
        "{}",
        missing.text
    );
    // Without safe_update the same write goes through, as on Zendesk.
    let plain = w
        .rest(
            "acme",
            "agent",
            "PUT",
            "/api/v2/tickets/1.json",
            Some(json!({"ticket": {"status": "solved", "updated_stamp": read}})),
        )
        .await;
    assert_eq!(plain.status, 200);
}

#[tokio::test]
async fn ticket_lists_page_by_offset_and_by_cursor_with_working_links() {
    let w = world(vec![AccountSpec::new("acme")]).await;
    for n in 1..=5 {
        w.create_ticket("acme", json!({"comment": {"body": format!("Ticket {n}")}}))
            .await;
    }
    let api = w.account("acme").api_url();
    let ids = |body: &Value| -> Vec<u64> {
        body["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    let first = w.read("acme", "/api/v2/tickets.json?per_page=2").await;
    assert_eq!(ids(&first), [1, 2]);
    assert_eq!(first["count"], 5);
    assert_eq!(
        first["next_page"],
        format!("{api}/tickets.json?page=2&per_page=2")
    );
    assert_eq!(first["previous_page"], Value::Null);
    let last = w
        .read("acme", "/api/v2/tickets.json?per_page=2&page=3")
        .await;
    assert_eq!(ids(&last), [5]);
    assert_eq!(last["next_page"], Value::Null);
    assert_eq!(
        last["previous_page"],
        format!("{api}/tickets.json?page=2&per_page=2")
    );
    // Cursor style: follow links.next until has_more is false; links.prev walks back.
    let mut page = w.read("acme", "/api/v2/tickets.json?page[size]=2").await;
    let mut seen = ids(&page);
    let mut pages = 1;
    while page["meta"]["has_more"] == true {
        let next = page["links"]["next"].as_str().unwrap();
        let path = next
            .strip_prefix(api.trim_end_matches("/api/v2"))
            .unwrap()
            .to_string();
        page = w.read("acme", &path).await;
        seen.extend(ids(&page));
        pages += 1;
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    assert_eq!(pages, 3);
    assert_eq!(
        page["links"]["next"],
        Value::Null,
        "node-zendesk stops where links.next is null"
    );
    let prev = page["links"]["prev"].as_str().unwrap();
    let back = w
        .read(
            "acme",
            prev.strip_prefix(api.trim_end_matches("/api/v2")).unwrap(),
        )
        .await;
    assert_eq!(ids(&back), [3, 4]);
    for bad in [
        "page[size]=101",
        "page[size]=0",
        "per_page=zero",
        "page[after]=not-a-cursor",
    ] {
        let refused = w
            .rest(
                "acme",
                "agent",
                "GET",
                &format!("/api/v2/tickets.json?{bad}"),
                None,
            )
            .await;
        assert_eq!(refused.status, 400, "{bad}");
        assert_eq!(refused.body["error"]["title"], "Invalid attribute", "{bad}");
    }
    let over = w
        .rest(
            "acme",
            "agent",
            "GET",
            "/api/v2/tickets.json?page[size]=101",
            None,
        )
        .await;
    assert_eq!(
        over.text,
        r#"{"error":{"title":"Invalid attribute","message":"You passed an invalid value for the page.size attribute. Invalid parameter: page.size must be less than or equal to 100 from api/v2/tickets/index"}}"#
    );
    // Agreements are not paged, as Zendesk documents them: paging parameters change nothing.
    let agreements = w
        .rest(
            "acme",
            "agent",
            "GET",
            "/api/v2/sharing_agreements.json?per_page=1&page[size]=1",
            None,
        )
        .await;
    assert_eq!(agreements.status, 200);
    assert_eq!(agreements.body, json!({"sharing_agreements": []}));
}

#[tokio::test]
async fn an_account_that_declines_all_invites_declines_each_at_once() {
    let w = world(vec![
        AccountSpec::new("acme"),
        AccountSpec {
            settings: AccountSettings {
                decline_all_invites: true,
            },
            ..AccountSpec::new("globex")
        },
    ])
    .await;
    let sent = w.invite("acme", "globex").await;
    assert_eq!(
        sent["status"], "declined",
        "the invitation's answer says declined"
    );
    assert_eq!(w.only_agreement("globex").await["status"], "declined");
    assert!(w.decisions().contains(
        &"globex stored inbound agreement 1 from acme declined at once: the account declines all sharing agreement invites".to_string()
    ));
    let settings = w.read("globex", "/api/v2/account/settings.json").await;
    assert_eq!(
        settings,
        json!({"settings": {"ticket_sharing": {"decline_all_invites": true}}})
    );
    let bad = w
        .rest(
            "globex",
            "admin",
            "PUT",
            "/api/v2/account/settings.json",
            Some(json!({"settings": {"ticket_sharing": {"decline_all_invites": "yes"}}})),
        )
        .await;
    assert_eq!(bad.status, 422);
    let off = w
        .rest(
            "globex",
            "admin",
            "PUT",
            "/api/v2/account/settings",
            Some(json!({"settings": {"ticket_sharing": {"decline_all_invites": false}}})),
        )
        .await;
    assert_eq!(off.status, 200);
    assert_eq!(w.invite("acme", "globex").await["status"], "pending");
    assert_eq!(w.account("globex").settings(), AccountSettings::default());
}

/// The agreement list is answered without the router (the route clients poll most):
/// every change shows in the very next GET, under both spellings of the path, with the
/// headers a routed answer has, and the trace records the call as before.
#[tokio::test]
async fn api_list_shows_each_change_in_the_next_get_with_the_routed_headers() {
    let w = world(vec![AccountSpec::new("acme"), AccountSpec::new("globex")]).await;
    let list = "/api/v2/sharing_agreements.json";
    let empty = w.rest("acme", "admin", "GET", list, None).await;
    assert_eq!(empty.body, json!({"sharing_agreements": []}));
    let sent = w
        .rest(
            "acme",
            "admin",
            "POST",
            list,
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex"}})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let id = sent.body["sharing_agreement"]["id"].clone();
    let listed = w.rest("acme", "admin", "GET", list, None).await;
    let shown = w
        .rest(
            "acme",
            "admin",
            "GET",
            &format!("/api/v2/sharing_agreements/{id}.json"),
            None,
        )
        .await;
    assert_eq!(
        listed.body["sharing_agreements"],
        json!([shown.body["sharing_agreement"]])
    );
    assert_eq!(listed.body["sharing_agreements"][0]["status"], "pending");
    let names = |answer: &crate::support::Answer| -> Vec<String> {
        answer.headers.keys().map(|name| name.to_string()).collect()
    };
    assert_eq!(
        names(&listed),
        names(&shown),
        "the same headers in the same order"
    );
    assert_eq!(
        listed.headers["content-length"].to_str().unwrap(),
        listed.text.len().to_string()
    );
    assert_eq!(
        listed.headers["x-rate-limit"],
        shown.headers["x-rate-limit"]
    );
    let recorded = w.world.trace().events();
    let answer = recorded.last().expect("the show was recorded");
    assert_eq!(
        answer.detail,
        format!("id={id} type=outbound status=pending")
    );
    let list_answer = &recorded[recorded.len() - 3];
    assert_eq!(list_answer.detail, "1 agreements");
    assert_eq!(list_answer.path.as_deref(), Some(list));
    // A change the partner makes is in acme's next GET.
    w.accept_only_agreement("globex").await;
    let after = w
        .rest("acme", "agent", "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["sharing_agreements"][0]["status"], "accepted");
    // HEAD still goes through the router: no body, the same length.
    let head = w.rest("acme", "admin", "HEAD", list, None).await;
    assert_eq!(head.status, 200);
    assert!(head.text.is_empty());
    assert_eq!(
        head.headers["content-length"],
        after.headers["content-length"]
    );
    // No credentials: still 401 before any list is built.
    let anonymous = w.rest_as("acme", None, "GET", list, None).await;
    assert_eq!(anonymous.status, 401);
}
