//! `--trace-dir DIR`: one JSON-lines file per scenario, one trace event per line, in
//! order. Events name accounts, never ports, so these files diff cleanly between runs.

use crate::drivers::scenario::outcome::Outcome;

/// The JSON-lines text of a scenario's trace.
pub fn jsonl(outcome: &Outcome) -> String {
    let mut out = String::new();
    for event in &outcome.trace {
        out.push_str(&serde_json::to_string(event).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// One file name per scenario for its report files, unique within the run: the source
/// file's stem (`a/b/accept.toml` → `accept`), qualified by as many parent folders as it
/// takes to tell apart two files of the same name (`agreements-accept`, `tickets-accept`),
/// so no scenario's files overwrite another's. Same order as `outcomes`.
pub fn file_stems(outcomes: &[Outcome]) -> Vec<String> {
    let parts: Vec<Vec<String>> = outcomes
        .iter()
        .map(|outcome| {
            let path = std::path::Path::new(&outcome.file).with_extension("");
            let mut parts: Vec<String> = path
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            if parts.is_empty() {
                parts.push("scenario".to_string());
            }
            parts
        })
        .collect();
    let name =
        |parts: &[String], depth: usize| parts[parts.len() - depth.min(parts.len())..].join("-");
    let mut depths = vec![1; parts.len()];
    loop {
        let names: Vec<String> = parts
            .iter()
            .zip(&depths)
            .map(|(p, d)| name(p, *d))
            .collect();
        let mut deepened = false;
        for (i, own) in names.iter().enumerate() {
            // Only another file of the same name needs a folder to tell them apart.
            let clashes = names
                .iter()
                .zip(&parts)
                .any(|(other, other_parts)| other == own && *other_parts != parts[i]);
            if clashes && depths[i] < parts[i].len() {
                depths[i] += 1;
                deepened = true;
            }
        }
        if !deepened {
            // Either all names differ, or one file ran more than once: under several
            // seeds (`--seeds`, `seeds = N`) each run is named by its seed, and a file
            // given twice under one seed is numbered.
            let runs = |name: &String| names.iter().filter(|other| *other == name).count();
            let named: Vec<String> = names
                .iter()
                .zip(outcomes)
                .map(|(name, outcome)| {
                    let seeds = names
                        .iter()
                        .zip(outcomes)
                        .filter(|(other, _)| *other == name)
                        .map(|(_, other)| other.seed)
                        .collect::<std::collections::BTreeSet<u64>>();
                    if runs(name) > 1 && seeds.len() == runs(name) {
                        format!("{name}-seed-{}", outcome.seed)
                    } else {
                        name.clone()
                    }
                })
                .collect();
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            return named
                .into_iter()
                .map(|n| {
                    let count = seen.entry(n.clone()).or_insert(0);
                    *count += 1;
                    if *count == 1 {
                        n
                    } else {
                        format!("{n}-{count}")
                    }
                })
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(file: &str) -> Outcome {
        Outcome {
            network: crate::core::network::NetworkKind::Simulated,
            name: file.to_string(),
            file: file.to_string(),
            seed: 0,
            duration: std::time::Duration::ZERO,
            failure: None,
            steps: Vec::new(),
            paused: None,
            tables_left_out_after: None,
            trace: Vec::new(),
        }
    }

    #[test]
    fn runs_of_one_file_under_several_seeds_are_named_by_seed() {
        let mut outcomes: Vec<Outcome> = (0..3)
            .map(|seed| Outcome {
                seed,
                ..outcome("scenarios/races/01-cross.toml")
            })
            .collect();
        outcomes.push(outcome("scenarios/agreements/01-accept.toml"));
        assert_eq!(
            file_stems(&outcomes),
            [
                "01-cross-seed-0",
                "01-cross-seed-1",
                "01-cross-seed-2",
                "01-accept",
            ]
        );
    }

    #[test]
    fn names_stay_short_until_two_files_share_one() {
        let outcomes: Vec<Outcome> = [
            "scenarios/agreements/01-accept.toml",
            "scenarios/tickets/01-accept.toml",
            "scenarios/failures/02-tls.toml",
            "x/same/01-accept.toml",
            "02-tls.toml",
            "02-tls.toml",
        ]
        .into_iter()
        .map(outcome)
        .collect();
        assert_eq!(
            file_stems(&outcomes),
            [
                "agreements-01-accept",
                "tickets-01-accept",
                "failures-02-tls",
                "same-01-accept",
                "02-tls",
                "02-tls-2",
            ]
        );
    }
}
