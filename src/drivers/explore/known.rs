//! Known limits: each file in `scenarios/found/` keeps one protocol limit explore found,
//! with a `[signature]` (the invariants it breaks, the final pair of copies, the kinds
//! of step it needs). The files are bundled into the binary, so explore recognises them
//! wherever it runs, and labels every violation known (it matches one) or new.

use crate::core::model::AgreementStatus;
use crate::drivers::scenario::format::Concurrently;
use crate::drivers::scenario::format::Signature;
use crate::drivers::scenario::{Action, Step};
use serde::Serialize;
use std::collections::BTreeSet;

/// The files of `scenarios/found/`, by name.
pub(crate) const FOUND: &[(&str, &str)] = &[
    (
        "01-lost-reply-after-accept.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/found/01-lost-reply-after-accept.toml"
        )),
    ),
    (
        "02-lost-reply-after-deactivation.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/found/02-lost-reply-after-deactivation.toml"
        )),
    ),
    (
        "03-untold-deletion.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/found/03-untold-deletion.toml"
        )),
    ),
    (
        "05-failed-push-waits-for-the-next.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/found/05-failed-push-waits-for-the-next.toml"
        )),
    ),
    (
        "06-orphan-comments-stay-when-shared-again.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/found/06-orphan-comments-stay-when-shared-again.toml"
        )),
    ),
    (
        "07-update-of-a-refused-share-blocks-the-queue.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/found/07-update-of-a-refused-share-blocks-the-queue.toml"
        )),
    ),
];

/// A signature as reports and the corpus write it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Seen {
    /// The invariant broken.
    pub invariant: String,
    /// The final pair of copies (`accepted/pending`, `pending/none`), or `-`.
    pub pair: String,
    /// The kinds of step the schedule needs, sorted.
    pub steps: Vec<String>,
}

/// One kept limit.
#[derive(Clone, Debug)]
pub(crate) struct KnownLimit {
    /// Its file name in `scenarios/found/`.
    pub file: &'static str,
    /// Its text, copied into a corpus.
    pub text: &'static str,
    /// How explore recognises it.
    pub signature: Signature,
}

impl KnownLimit {
    /// Whether a violation of `invariant` ending in `pair`, in a schedule whose steps
    /// are of `kinds`, is this limit: same invariant, one of its pairs, and every kind
    /// of step the limit needs is there (`a|b`: either).
    pub(crate) fn matches(&self, invariant: &str, pair: &str, kinds: &BTreeSet<String>) -> bool {
        self.signature.invariants.iter().any(|i| i == invariant)
            && self.signature.pair.split('|').any(|p| p == pair)
            && self
                .signature
                .steps
                .iter()
                .all(|need| need.split('|').any(|kind| kinds.contains(kind)))
    }
}

/// The bundled limits (a file without a signature is a bug the unit test catches).
pub(crate) fn known_limits() -> Vec<KnownLimit> {
    FOUND
        .iter()
        .filter_map(|(file, text)| {
            let scenario = crate::drivers::scenario::parse(text, file).ok()?;
            Some(KnownLimit {
                file,
                text,
                signature: scenario.signature?,
            })
        })
        .collect()
}

/// The limit a violation matches, if any.
pub(crate) fn match_known<'a>(
    limits: &'a [KnownLimit],
    invariant: &str,
    pair: &str,
    kinds: &BTreeSet<String>,
) -> Option<&'a KnownLimit> {
    limits.iter().find(|l| l.matches(invariant, pair, kinds))
}

/// The kinds of a step: its action key, a fault as its kind, a group as `concurrently`
/// and each of its actions.
pub(crate) fn step_kinds(step: &Step) -> Vec<String> {
    match &step.action {
        Action::Fault(fault) => {
            let written = fault.rule.fault.toml();
            vec![written.split(' ').next().unwrap_or("fault").to_string()]
        }
        Action::Concurrently(Concurrently(group)) => {
            let mut kinds = vec!["concurrently".to_string()];
            kinds.extend(group.iter().flat_map(step_kinds));
            kinds
        }
        other => vec![other.key().to_string()],
    }
}

/// The kinds of every step, sorted and distinct.
pub(crate) fn kinds(steps: &[Step]) -> BTreeSet<String> {
    steps.iter().flat_map(step_kinds).collect()
}

/// A pair of copies as a signature writes it.
pub(crate) fn pair_text(
    sender: Option<AgreementStatus>,
    receiver: Option<AgreementStatus>,
) -> String {
    let side = |copy: Option<AgreementStatus>| copy.map_or("none".to_string(), |s| s.to_string());
    format!("{}/{}", side(sender), side(receiver))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::explore::invariants::Invariant;

    #[test]
    fn every_found_file_is_bundled_and_carries_a_signature() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/found");
        let mut on_disk: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let bundled: Vec<String> = FOUND.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(
            bundled, on_disk,
            "bundle every file of scenarios/found in FOUND"
        );
        let limits = known_limits();
        assert_eq!(
            limits.len(),
            FOUND.len(),
            "a found file lacks a [signature]"
        );
        let names: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
        for limit in limits {
            for invariant in &limit.signature.invariants {
                assert!(
                    names.contains(&invariant.as_str()),
                    "{}: {invariant}",
                    limit.file
                );
            }
            assert!(!limit.signature.steps.is_empty(), "{}", limit.file);
        }
    }

    #[test]
    fn a_violation_is_known_when_invariant_pair_and_needed_steps_match() {
        let limit = KnownLimit {
            file: "x.toml",
            text: "",
            signature: Signature {
                invariants: vec!["copies_agree".into()],
                pair: "accepted/pending".into(),
                steps: vec!["invite".into(), "crash|lose_reply".into()],
            },
        };
        let kinds = |list: &[&str]| list.iter().map(|k| k.to_string()).collect();
        assert!(limit.matches(
            "copies_agree",
            "accepted/pending",
            &kinds(&["invite", "respond", "lose_reply"])
        ));
        assert!(!limit.matches(
            "copies_agree",
            "accepted/pending",
            &kinds(&["invite", "respond"])
        ));
        assert!(!limit.matches("copies_agree", "pending/none", &kinds(&["invite", "crash"])));
        assert!(!limit.matches(
            "final_status_kept",
            "accepted/pending",
            &kinds(&["invite", "crash"])
        ));
    }
}
