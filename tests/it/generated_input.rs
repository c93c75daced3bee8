//! Generated input (proptest) for the scenario parser, the REST bodies and the partner
//! bodies: nothing panics, every refusal is a 4xx or an error with a position, and a
//! refused call changes nothing.

use crate::support::{TestWorld, start};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// Few cases a property, so the suite stays fast; failures are not persisted to files.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Keys the surfaces know, mixed with arbitrary ones, so generated bodies reach deep
/// into the parsers instead of stopping at the envelope.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "sharing_agreement",
            "ticket",
            "remote_subdomain",
            "name",
            "status",
            "terms",
            "sync_tags",
            "subject",
            "comment",
            "body",
            "public",
            "tags",
            "sharing_agreement_ids",
            "uuid",
            "sender_url",
            "receiver_url",
            "access_key",
            "deactivated_by",
            "comments",
            "requester",
            "custom_fields",
            "original_id",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(vec![
            "accepted", "pending", "declined", "inactive", "acme", "globex", "Globex", "\u{212A}",
            "open", "solved", "", " ",
        ])
        .prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::from),
        "[0-9a-f]{40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A request body: JSON under a known envelope, bare JSON, or arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| json!({"sharing_agreement": v}).to_string().into_bytes()),
        4 => json_value().prop_map(|v| json!({"ticket": v}).to_string().into_bytes()),
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Everything both accounts show: agreements and tickets, as their REST APIs answer.
async fn visible_state(w: &TestWorld) -> Vec<String> {
    let mut state = Vec::new();
    for subdomain in ["acme", "globex"] {
        for path in ["/api/v2/sharing_agreements.json", "/api/v2/tickets.json"] {
            let answer = w.rest(subdomain, "admin", "GET", path, None).await;
            state.push(answer.text);
        }
    }
    state
}

#[test]
fn the_scenario_parser_refuses_any_text_with_a_position() {
    let valid = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid/agreements.toml"),
    )
    .expect("a valid scenario");
    let mutated = (0..valid.len(), "\\PC{0,3}", 0usize..4).prop_map({
        let valid = valid.clone();
        move |(at, insert, cut)| {
            let mut at = at;
            while !valid.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(valid.len());
            while !valid.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{insert}{}", &valid[..at], &valid[end..])
        }
    });
    let lines = prop::collection::vec(
        prop_oneof![
            Just("[[steps]]".to_string()),
            Just("[accounts.acme]".to_string()),
            Just("name = \"x\"".to_string()),
            (key(), json_value()).prop_map(|(k, v)| format!("{k} = {v}")),
            "\\PC{0,40}",
        ],
        0..12,
    )
    .prop_map(|lines| lines.join("\n"));
    let text = prop_oneof![mutated, lines, "\\PC{0,200}"];
    runner(400)
        .run(&text, |source| {
            if let Err(error) = sharesim::drivers::scenario::parse(&source, "generated.toml") {
                let last_line = source.split('\n').count().max(1);
                prop_assert!(error.line >= 1 && error.line <= last_line, "{error}");
                prop_assert!(error.col >= 1, "{error}");
                prop_assert!(!error.message.is_empty());
                let rendered = error.render(&source, false);
                prop_assert!(rendered.contains(&error.message), "{rendered}");
            }
            Ok(())
        })
        .expect("every generated scenario is parsed or refused with a position");
}

#[test]
fn rest_bodies_are_answered_below_500_and_refusals_change_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let w = runtime.block_on(async {
        let w = start(&["acme", "globex"]).await;
        w.invite("acme", "globex").await;
        w
    });
    let paths = prop::sample::select(vec![
        ("POST", "/api/v2/sharing_agreements.json"),
        ("PUT", "/api/v2/sharing_agreements/1.json"),
        ("POST", "/api/v2/tickets.json"),
        ("PUT", "/api/v2/tickets/1.json"),
        ("PUT", "/api/v2/tickets/2"),
    ]);
    let calls = (prop::sample::select(vec!["acme", "globex"]), paths, body());
    runner(64)
        .run(&calls, |(subdomain, (method, path), body)| {
            runtime.block_on(async {
                let before = visible_state(&w).await;
                let answer = w
                    .rest_as(
                        subdomain,
                        Some((&format!("admin@{subdomain}.test"), "sharesim-token")),
                        method,
                        path,
                        Some(String::from_utf8_lossy(&body).into_owned()),
                    )
                    .await;
                prop_assert!(answer.status < 500, "{} {}", answer.status, answer.text);
                if answer.status >= 400 {
                    prop_assert!(answer.status >= 400 && answer.status < 500);
                    prop_assert!(answer.body["error"].is_string(), "{}", answer.text);
                    prop_assert_eq!(visible_state(&w).await, before, "{}", answer.text);
                }
                Ok::<(), TestCaseError>(())
            })
        })
        .expect("every generated REST body is answered without harm");
    runtime.block_on(w.world.shutdown());
}

#[test]
fn partner_bodies_are_answered_below_500_and_refusals_change_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (w, uuid, token) = runtime.block_on(async {
        let w = start(&["acme", "globex"]).await;
        w.invite("acme", "globex").await;
        let copy = w.account("acme").agreements().remove(0);
        let token = format!("{}:{}", copy.uuid, copy.access_key);
        (w, copy.uuid.to_string(), token)
    });
    let uuids = prop::sample::select(vec![uuid.clone(), "f".repeat(40), "x".to_string()]);
    let tokens = prop::sample::select(vec![
        Some(token.clone()),
        Some(format!("{uuid}:{}", "0".repeat(40))),
        None,
    ]);
    let methods = prop::sample::select(vec!["POST", "PUT", "GET", "DELETE"]);
    let kinds = prop::sample::select(vec!["agreements", "tickets"]);
    let calls = (
        prop::sample::select(vec!["acme", "globex"]),
        methods,
        kinds,
        uuids,
        tokens,
        body(),
    );
    runner(64)
        .run(&calls, |(subdomain, method, kind, uuid, token, body)| {
            runtime.block_on(async {
                let before = visible_state(&w).await;
                let mut headers = vec![("Content-Type", "application/json")];
                if let Some(token) = &token {
                    headers.push(("X-Ticket-Sharing-Token", token.as_str()));
                }
                let answer = w
                    .partner(
                        subdomain,
                        method,
                        &format!("/{kind}/{uuid}"),
                        &headers,
                        Some(String::from_utf8_lossy(&body).into_owned()),
                    )
                    .await;
                prop_assert!(answer.status < 500, "{} {}", answer.status, answer.text);
                if answer.status >= 400 {
                    prop_assert_eq!(visible_state(&w).await, before, "{}", answer.text);
                }
                Ok::<(), TestCaseError>(())
            })
        })
        .expect("every generated partner body is answered without harm");
    runtime.block_on(w.world.shutdown());
}
