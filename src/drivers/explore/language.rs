//! The one list of what explore draws from the scenario language. Every action of the
//! language is either drawable ([`DRAWN`]) or left out with a reason (`NOT_DRAWN`);
//! `drawn` matches every action without a wildcard, so a new action is a compile error
//! in the test build until someone decides which list it joins, and a unit test checks
//! the two lists against `Action::KEYS`.

#[cfg(test)]
use crate::drivers::scenario::Action;

/// Every action key explore draws, in the order coverage reports list them.
pub(crate) const DRAWN: &[&str] = &[
    "invite",
    "respond",
    "deactivate",
    "delete",
    "resend",
    "certificate",
    "fault",
    "heal",
    "stop",
    "start",
    "restart",
    "ticket",
    "share",
    "unshare",
    "comment",
    "set_status",
    "concurrently",
    "hold",
    "release",
    "duplicate",
    "lose_reply",
];

/// Every action key explore never draws, with the reason (read by the test that fails
/// when the language gains an action neither list places).
#[cfg(test)]
pub(crate) const NOT_DRAWN: &[(&str, &str)] = &[
    (
        "request",
        "a raw REST call: what it can change, the named actions change; its refusals are checked by the REST error tests",
    ),
    (
        "wait",
        "a check, not an action: explore checks its invariants after every step",
    ),
    (
        "expect",
        "a check, not an action: explore checks its invariants after every step",
    ),
    (
        "expect_ticket",
        "a check, not an action: explore checks its invariants after every step",
    ),
];

/// Whether explore draws `action`. No wildcard: a new action does not compile (in the
/// test build, which CI runs) until it is placed.
#[cfg(test)]
pub(crate) fn drawn(action: &Action) -> bool {
    match action {
        Action::Invite(_)
        | Action::Respond(_)
        | Action::Deactivate(_)
        | Action::Delete(_)
        | Action::Resend(_)
        | Action::Certificate(_)
        | Action::Fault(_)
        | Action::Heal(_)
        | Action::Stop(_)
        | Action::Start(_)
        | Action::Restart(_)
        | Action::Ticket(_)
        | Action::Share(_)
        | Action::Unshare(_)
        | Action::Comment(_)
        | Action::SetStatus(_)
        | Action::Concurrently(_)
        | Action::Hold(_)
        | Action::Release(_)
        | Action::Duplicate(_)
        | Action::LoseReply(_) => true,
        Action::Request(_) | Action::Wait(_) | Action::Expect(_) | Action::ExpectTicket(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_action_of_the_language_is_drawn_or_left_out_with_a_reason() {
        let drawn: BTreeSet<&str> = DRAWN.iter().copied().collect();
        let left: BTreeSet<&str> = NOT_DRAWN.iter().map(|(key, _)| *key).collect();
        assert_eq!(drawn.len(), DRAWN.len(), "DRAWN repeats a key");
        assert!(drawn.is_disjoint(&left), "a key is in both lists");
        let placed: BTreeSet<&str> = drawn.union(&left).copied().collect();
        let language: BTreeSet<&str> = Action::KEYS.iter().copied().collect();
        assert_eq!(
            placed, language,
            "the scenario language and explore's lists differ: add the new action to DRAWN (and the drawer) or to NOT_DRAWN with a reason"
        );
        assert!(NOT_DRAWN.iter().all(|(_, why)| why.len() > 20));
    }

    #[test]
    fn the_match_agrees_with_the_lists() {
        let header = "name = \"x\"\n[accounts.acme]\n[accounts.globex]\n[[steps]]\ninvite = { from = \"acme\", to = \"globex\", as = \"a\" }\n[[steps]]\n";
        let examples = [
            "request = { account = \"acme\", method = \"GET\", path = \"/x\" }",
            "expect = { account = \"acme\", count = 1 }",
            "wait = { until = { account = \"acme\", count = 1 } }",
            "resend = { agreement = \"a\" }",
            "stop = { account = \"acme\" }",
        ];
        for example in examples {
            let scenario =
                crate::drivers::scenario::parse(&format!("{header}{example}\n"), "x.toml")
                    .unwrap_or_else(|e| panic!("{e}"));
            let action = &scenario.steps[1].action;
            assert_eq!(drawn(action), DRAWN.contains(&action.key()), "{example}");
        }
    }
}
