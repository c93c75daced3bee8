//! The receiver's first decisions on a partner message, before any account is asked:
//! which bodies are malformed (400), which are well-formed but not a valid message
//! (422), and what an accepted invitation carries into the account.

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef01234567";
const UUID: &str = "5f0e8b9c2d2a4e6f8a1b3c4d5e6f7a8b";

fn invitation_body(fields: Value) -> WireAgreement {
    let mut body = serde_json::json!({
        "uuid": UUID,
        "name": "Acme @ Zendesk",
        "sender_url": "https://acme.zendesk.test/sharing",
        "access_key": KEY,
        "status": "pending",
    });
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        for (key, value) in fields {
            if value.is_null() {
                body.remove(key);
            } else {
                body.insert(key.clone(), value.clone());
            }
        }
    }
    parse_agreement(body.to_string().as_bytes()).expect("a well-formed agreement")
}

fn refusal(result: Result<InvitationOffer, PartnerError>) -> PartnerError {
    result.expect_err("the invitation is refused")
}

#[test]
fn a_body_that_is_not_an_agreement_object_is_a_bad_request() {
    for body in [
        &b"not json"[..],
        b"[1, 2]",
        b"\"pending\"",
        b"{\"status\": 7}",
    ] {
        let error = parse_agreement(body).expect_err("refused");
        assert!(
            matches!(&error, PartnerError::BadRequest(text) if text.starts_with("the body is not a valid agreement")),
            "{}: {error:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(
        parse_agreement(b"{}").is_ok(),
        "every field is optional to parse"
    );
}

#[test]
fn a_ticket_id_may_come_as_a_number_or_digits_but_nothing_else() {
    for (body, id) in [
        (r#"{"original_id": 42}"#, Some(42)),
        (r#"{"original_id": " 42 "}"#, Some(42)),
        (r#"{"original_id": null}"#, None),
        ("{}", None),
    ] {
        let ticket = parse_ticket(body.as_bytes()).expect("a well-formed ticket");
        assert_eq!(ticket.original_id, id, "{body}");
    }
    for body in [
        r#"{"original_id": -1}"#,
        r#"{"original_id": "forty-two"}"#,
        r#"{"original_id": [42]}"#,
    ] {
        let error = parse_ticket(body.as_bytes()).expect_err("refused");
        assert!(
            matches!(&error, PartnerError::BadRequest(text) if text.contains("is not an id")),
            "{body}: {error:?}"
        );
    }
}

#[test]
fn a_stated_status_must_be_present_and_one_of_the_protocols() {
    assert_eq!(
        parse_status(Some("accepted")),
        Ok(AgreementStatus::Accepted)
    );
    assert_eq!(
        parse_status(None),
        Err(PartnerError::Invalid("status is required".to_string()))
    );
    assert!(matches!(
        parse_status(Some("approved")),
        Err(PartnerError::Invalid(text)) if text.contains("approved")
    ));
}

#[test]
fn a_body_uuid_must_name_the_paths_agreement() {
    assert_eq!(check_uuid(None, UUID), Ok(()));
    assert_eq!(check_uuid(Some(UUID), UUID), Ok(()));
    assert!(matches!(
        check_uuid(Some("other"), UUID),
        Err(PartnerError::Invalid(text)) if text.contains("differs")
    ));
}

#[test]
fn an_invitation_names_everything_missing_at_once() {
    let body = invitation_body(serde_json::json!({"access_key": null, "name": null}));
    assert_eq!(
        refusal(invitation_offer(UUID, body)),
        PartnerError::Invalid("an invitation needs access_key, name".to_string())
    );
}

#[test]
fn an_invitation_must_be_pending_with_a_40_hex_key_for_its_path() {
    let accepted = invitation_body(serde_json::json!({"status": "accepted"}));
    assert!(matches!(
        refusal(invitation_offer(UUID, accepted)),
        PartnerError::Invalid(text) if text.contains("must be pending")
    ));
    for key in ["0123", &KEY.replace('a', "z")] {
        let body = invitation_body(serde_json::json!({ "access_key": key }));
        assert_eq!(
            refusal(invitation_offer(UUID, body)),
            PartnerError::Invalid("access_key must be 40 hexadecimal characters".to_string()),
            "{key}"
        );
    }
    let elsewhere = invitation_body(serde_json::json!({}));
    assert!(matches!(
        refusal(invitation_offer("another-uuid", elsewhere)),
        PartnerError::Invalid(text) if text.contains("differs")
    ));
}

#[test]
fn an_accepted_invitation_keeps_the_senders_terms_and_fills_the_rest_with_defaults() {
    let body = invitation_body(serde_json::json!({"uuid": null, "sync_tags": true}));
    let offer = invitation_offer(UUID, body).expect("a valid invitation");
    let defaults = Terms::default();
    assert_eq!(
        offer.uuid, UUID,
        "the path's uuid stands in for a missing one"
    );
    assert_eq!(offer.access_key, KEY);
    assert_eq!(offer.sender_url, "https://acme.zendesk.test/sharing");
    assert!(!offer.verified, "only the endpoint can prove the sender");
    assert!(offer.terms.sync_tags);
    assert_eq!(offer.terms.sync_status, defaults.sync_status);
    assert_eq!(
        offer.terms.allows_public_comments,
        defaults.allows_public_comments
    );
}

#[test]
fn the_typed_agreement_check_refuses_what_the_json_walk_refuses_and_names_the_same_field() {
    let long = |n: usize| "x".repeat(n);
    let actor = |name: String| Actor {
        uuid: UUID.to_string(),
        name,
        role: "admin".to_string(),
    };
    let base = WireAgreement {
        uuid: Some(UUID.to_string()),
        name: Some("Acme @ Zendesk".to_string()),
        sender_url: Some("https://acme.zendesk.test/sharing".to_string()),
        access_key: Some(KEY.to_string()),
        status: Some("pending".to_string()),
        current_actor: Some(actor("Ann".to_string())),
        ..WireAgreement::default()
    };
    let cases = [
        base.clone(),
        WireAgreement {
            name: Some(long(256)),
            ..base.clone()
        },
        WireAgreement {
            name: Some(long(255)),
            ..base.clone()
        },
        WireAgreement {
            sender_url: Some(long(2_049)),
            receiver_url: Some(long(2_049)),
            ..base.clone()
        },
        WireAgreement {
            receiver_url: Some(long(2_049)),
            status: Some(long(65_537)),
            ..base.clone()
        },
        WireAgreement {
            current_actor: Some(actor(long(256))),
            deactivated_by: Some(long(256)),
            ..base.clone()
        },
        WireAgreement {
            deactivated_by: Some(long(256)),
            ..base.clone()
        },
        WireAgreement {
            uuid: Some(long(65_537)),
            name: Some(long(300)),
            ..base.clone()
        },
    ];
    let mut refused = 0;
    for case in &cases {
        let typed = agreement_within_limits(case).map_err(|e| e.to_string());
        let walked = within_limits(case).map_err(|e| e.to_string());
        assert_eq!(typed, walked, "{case:?}");
        refused += usize::from(typed.is_err());
    }
    assert_eq!(refused, 6, "the overlong cases are refused");
}

#[test]
fn the_word_at_a_time_escape_test_agrees_with_byte_by_byte() {
    let simple = |text: &[u8]| text.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    let mut checked = 0;
    for len in 0..20 {
        for at in 0..len {
            for byte in 0..=255u8 {
                let mut text = vec![b'a'; len];
                text[at] = byte;
                assert_eq!(needs_escape(&text), simple(&text), "{text:?}");
                // A byte just above or below the one tested, next to it.
                if at + 1 < len {
                    text[at + 1] = byte.wrapping_add(1);
                    assert_eq!(needs_escape(&text), simple(&text), "{text:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
    for text in ["Acme @ Zendesk", "é€ \u{1f600} ok", "x\u{7f}\u{80}"] {
        assert_eq!(needs_escape(text.as_bytes()), simple(text.as_bytes()));
    }
}

#[test]
fn an_agreement_message_is_written_as_serde_writes_it() {
    let texts = [
        "Acme @ Zendesk",
        "",
        "quote \" backslash \\ tab \t newline \n bell \u{7}",
        "Zoë ☃ 😀 \u{7f} \u{2028}",
        "http://globex.sharesim.test:8701/sharing",
    ];
    let actor = |i: usize| Actor {
        uuid: texts[i % texts.len()].to_string(),
        name: texts[(i + 1) % texts.len()].to_string(),
        role: texts[(i + 2) % texts.len()].to_string(),
    };
    let mut messages = vec![WireAgreement::default()];
    for i in 0..texts.len() {
        let text = |k: usize| Some(texts[(i + k) % texts.len()].to_string());
        let flag = |k: usize| Some((i + k).is_multiple_of(2));
        // Every field present…
        messages.push(WireAgreement {
            uuid: text(0),
            name: text(1),
            sender_url: text(2),
            receiver_url: text(3),
            access_key: text(4),
            status: text(0),
            current_actor: Some(actor(i)),
            sync_tags: flag(0),
            sync_custom_fields: flag(1),
            allows_public_comments: flag(2),
            sync_status: flag(3),
            deactivated_by: text(2),
        });
        // …and only some, first and last among them missing by turns.
        messages.push(WireAgreement {
            uuid: text(0).filter(|_| i.is_multiple_of(2)),
            status: text(1),
            current_actor: Some(actor(i)).filter(|_| i.is_multiple_of(3)),
            sync_status: flag(0).filter(|_| i % 2 == 1),
            deactivated_by: text(3).filter(|_| i.is_multiple_of(2)),
            ..WireAgreement::default()
        });
        messages.push(WireAgreement {
            sync_tags: flag(1),
            ..WireAgreement::default()
        });
    }
    for message in &messages {
        let mut written = Vec::new();
        message.write(&mut written);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            serde_json::to_string(message).unwrap(),
            "{message:?}"
        );
        // And the body carries the same bytes, with the shown fields.
        let body = agreement_body(message);
        assert_eq!(&body.bytes[..], serde_json::to_vec(message).unwrap());
        assert_eq!(body.shown.status.as_deref(), message.status.as_deref());
    }
}
