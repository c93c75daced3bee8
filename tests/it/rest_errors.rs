//! Every REST error with Zendesk's exact body, roles, and both path spellings.

use crate::support::start;
use serde_json::json;

const RECORD_NOT_FOUND: &str = r#"{"error":"RecordNotFound","description":"Not found"}"#;
const UNAUTHORIZED: &str = r#"{"error":"Couldn't authenticate you"}"#;
const FORBIDDEN: &str = r#"{"error":"Forbidden","description":"You do not have access to this page. Please contact the account owner of this help desk for further help."}"#;

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_with_the_exact_body() {
    let w = start(&["acme"]).await;
    let cases = [
        None,
        Some(("admin@acme.test", "wrong-token")),
        Some(("nobody@acme.test", "sharesim-token")),
        Some(("admin@globex.test", "sharesim-token")),
    ];
    for credentials in cases {
        let answer = w
            .rest_as(
                "acme",
                credentials,
                "GET",
                "/api/v2/sharing_agreements.json",
                None,
            )
            .await;
        assert_eq!(answer.status, 401, "{credentials:?}");
        assert_eq!(answer.text, UNAUTHORIZED);
        assert_eq!(
            answer.headers["content-type"],
            "application/json; charset=utf-8"
        );
    }
    // Password authentication (no `/token`) is refused too.
    let answer = w
        .http
        .get(format!(
            "{}/sharing_agreements",
            w.account("acme").api_url()
        ))
        .basic_auth("admin@acme.test", Some("sharesim-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
}

#[tokio::test]
async fn agents_read_but_may_not_write() {
    let w = start(&["acme", "globex"]).await;
    let sent = w.invite("acme", "globex").await;
    let id = &sent["id"];
    for path in [
        "/api/v2/sharing_agreements",
        "/api/v2/sharing_agreements.json",
    ] {
        let answer = w.rest("acme", "agent", "GET", path, None).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(
            answer.body["sharing_agreements"].as_array().unwrap().len(),
            1
        );
    }
    let shown = w
        .rest(
            "acme",
            "agent",
            "GET",
            &format!("/api/v2/sharing_agreements/{id}"),
            None,
        )
        .await;
    assert_eq!(shown.status, 200);
    let writes = [
        (
            "POST",
            "/api/v2/sharing_agreements.json".to_string(),
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex"}})),
        ),
        (
            "PUT",
            format!("/api/v2/sharing_agreements/{id}.json"),
            Some(json!({"sharing_agreement": {"status": "inactive"}})),
        ),
        ("DELETE", format!("/api/v2/sharing_agreements/{id}"), None),
    ];
    for (method, path, body) in writes {
        let answer = w.rest("acme", "agent", method, &path, body).await;
        assert_eq!(answer.status, 403, "{method} {path}");
        assert_eq!(answer.text, FORBIDDEN);
    }
    // Nothing changed.
    assert_eq!(w.account("acme").agreements().len(), 1);
    assert_eq!(w.only_agreement("acme").await["status"], "pending");
}

#[tokio::test]
async fn both_path_spellings_work_for_every_call() {
    let w = start(&["acme", "globex"]).await;
    for suffix in ["", ".json"] {
        let created = w
            .rest(
                "acme",
                "admin",
                "POST",
                &format!("/api/v2/sharing_agreements{suffix}"),
                Some(json!({"sharing_agreement": {"remote_subdomain": "globex"}})),
            )
            .await;
        assert_eq!(created.status, 201, "{suffix}");
        let id = &created.body["sharing_agreement"]["id"];
        let shown = w
            .rest(
                "acme",
                "admin",
                "GET",
                &format!("/api/v2/sharing_agreements/{id}{suffix}"),
                None,
            )
            .await;
        assert_eq!(shown.status, 200, "{suffix}");
        assert_eq!(shown.body["sharing_agreement"]["id"], *id);
        let updated = w
            .rest(
                "acme",
                "admin",
                "PUT",
                &format!("/api/v2/sharing_agreements/{id}{suffix}"),
                Some(json!({"sharing_agreement": {"status": "inactive"}})),
            )
            .await;
        assert_eq!(updated.status, 200, "{suffix}: {}", updated.text);
        let deleted = w
            .rest(
                "acme",
                "admin",
                "DELETE",
                &format!("/api/v2/sharing_agreements/{id}{suffix}"),
                None,
            )
            .await;
        assert_eq!(deleted.status, 204, "{suffix}");
    }
}

#[tokio::test]
async fn unknown_ids_are_404_record_not_found() {
    let w = start(&["acme"]).await;
    for (method, body) in [
        ("GET", None),
        (
            "PUT",
            Some(json!({"sharing_agreement": {"status": "inactive"}})),
        ),
        ("DELETE", None),
    ] {
        for path in [
            "/api/v2/sharing_agreements/99",
            "/api/v2/sharing_agreements/99.json",
            "/api/v2/sharing_agreements/abc",
        ] {
            let answer = w.rest("acme", "admin", method, path, body.clone()).await;
            assert_eq!(answer.status, 404, "{method} {path}");
            assert_eq!(answer.text, RECORD_NOT_FOUND);
        }
    }
    let unknown = w
        .rest("acme", "admin", "GET", "/api/v2/nothing_here", None)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.text,
        r#"{"error":"InvalidEndpoint","description":"Not found"}"#
    );
}

#[tokio::test]
async fn invalid_create_bodies_are_422_naming_the_field_and_change_nothing() {
    let w = start(&["acme", "globex"]).await;
    let cases = [
        (
            json!({"sharing_agreement": {}}),
            "remote_subdomain",
            "cannot be blank",
        ),
        (
            json!({"sharing_agreement": {"remote_subdomain": "   "}}),
            "remote_subdomain",
            "cannot be blank",
        ),
        (
            json!({"sharing_agreement": {"remote_subdomain": "acme"}}),
            "remote_subdomain",
            "cannot share with itself",
        ),
        (
            json!({"sharing_agreement": {"remote_subdomain": " ACME "}}),
            "remote_subdomain",
            "cannot share with itself",
        ),
        (
            json!({"sharing_agreement": {"remote_subdomain": "not valid!"}}),
            "remote_subdomain",
            "not a valid subdomain",
        ),
        (
            json!({"sharing_agreement": {"remote_subdomain": 7}}),
            "remote_subdomain",
            "must be a string",
        ),
        (
            json!({"sharing_agreement": {"remote_subdomain": "globex", "terms": {"sync_tags": "yes"}}}),
            "terms",
            "true or false",
        ),
        (
            json!({"remote_subdomain": "globex"}),
            "sharing_agreement",
            "must be a JSON object like",
        ),
    ];
    for (body, field, words) in cases {
        let answer = w
            .rest(
                "acme",
                "admin",
                "POST",
                "/api/v2/sharing_agreements.json",
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, 422, "{body}");
        assert_eq!(answer.body["error"], "RecordInvalid");
        assert_eq!(answer.body["description"], "Record validation errors");
        let description = answer.body["details"][field][0]["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {}", answer.text));
        assert!(description.contains(words), "{description}");
    }
    let not_json = w
        .rest_as(
            "acme",
            Some(("admin@acme.test", "sharesim-token")),
            "POST",
            "/api/v2/sharing_agreements.json",
            Some("{not json".into()),
        )
        .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body["error"], "BadRequest");
    assert!(w.account("acme").agreements().is_empty());
    assert!(w.account("globex").agreements().is_empty());
}

#[tokio::test]
async fn invalid_status_changes_are_422_saying_from_what_to_what_and_why() {
    let w = start(&["acme", "globex"]).await;
    let sent = w.invite("acme", "globex").await;
    let id = &sent["id"];
    let cases = [
        (
            json!({"sharing_agreement": {"status": "accepted"}}),
            "from pending to accepted",
            "only the receiver answers",
        ),
        (
            json!({"sharing_agreement": {"status": "failed"}}),
            "from pending to failed",
            "cannot be set",
        ),
        (
            json!({"sharing_agreement": {"status": "sideways"}}),
            "\"sideways\" is not a status",
            "configuration_error",
        ),
        (
            json!({"sharing_agreement": {"name": "renamed"}}),
            "cannot be blank",
            "only status",
        ),
    ];
    for (body, first, second) in cases {
        let answer = w
            .rest(
                "acme",
                "admin",
                "PUT",
                &format!("/api/v2/sharing_agreements/{id}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, 422, "{body}");
        let description = answer.body["details"]["status"][0]["description"]
            .as_str()
            .unwrap();
        assert!(
            description.contains(first) && description.contains(second),
            "{description}"
        );
    }
    // Only status may change: a name in the body is ignored.
    let answer = w
        .rest(
            "acme",
            "admin",
            "PUT",
            &format!("/api/v2/sharing_agreements/{id}"),
            Some(json!({"sharing_agreement": {"status": "inactive", "name": "renamed"}})),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["sharing_agreement"]["name"], "Globex @ Zendesk");
}

#[tokio::test]
async fn every_answer_carries_rate_limit_headers() {
    let w = start(&["acme"]).await;
    let answer = w
        .rest("acme", "admin", "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(answer.headers["x-rate-limit"], "700");
    assert_eq!(answer.headers["x-rate-limit-remaining"], "699");
}

#[tokio::test]
async fn past_the_allowance_the_api_answers_429_with_retry_after() {
    let w = crate::support::start_with(
        sharesim::world::WorldConfig {
            rate_limit: Some(2),
            ..sharesim::world::WorldConfig::default()
        },
        vec![
            sharesim::world::AccountSpec::new("acme"),
            sharesim::world::AccountSpec::new("globex"),
        ],
    )
    .await;
    let first = w
        .rest("acme", "admin", "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["x-rate-limit"], "2");
    assert_eq!(first.headers["x-rate-limit-remaining"], "1");
    // A call without credentials does not count (our model: strangers cannot spend an
    // account's allowance); a refused authenticated call does.
    let anonymous = w
        .rest_as("acme", None, "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.headers["x-rate-limit-remaining"], "1");
    let refused = w
        .rest(
            "acme",
            "agent",
            "DELETE",
            "/api/v2/sharing_agreements/1",
            None,
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.headers["x-rate-limit-remaining"], "0");
    let limited = w
        .rest("acme", "admin", "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.text,
        "Number of allowed API requests per minute exceeded"
    );
    assert_eq!(limited.headers["content-type"], "text/plain; charset=utf-8");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Writes are refused before they change anything, and other accounts are unaffected.
    let write = w
        .rest(
            "acme",
            "admin",
            "POST",
            "/api/v2/sharing_agreements",
            Some(json!({"sharing_agreement": {"remote_subdomain": "globex"}})),
        )
        .await;
    assert_eq!(write.status, 429);
    assert!(w.account("acme").agreements().is_empty());
    assert!(w.account("globex").agreements().is_empty());
    let other = w
        .rest("globex", "admin", "GET", "/api/v2/sharing_agreements", None)
        .await;
    assert_eq!(other.status, 200);
}
