//! Scenario files that must load, together covering every action of the format.

use std::collections::BTreeSet;
use std::path::Path;

use sharesim::drivers::scenario::{Action, discover, load};

#[test]
fn every_valid_file_loads_and_together_they_use_every_action() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid");
    let files = discover(&[folder]).unwrap();
    assert!(files.len() >= 3);
    let mut used = BTreeSet::new();
    for path in files {
        let scenario = load(&path).unwrap_or_else(|error| panic!("{error}"));
        for (index, step) in scenario.steps.iter().enumerate() {
            used.insert(step.action.key());
            assert!(scenario.step_line(index).is_some_and(|line| line > 1));
        }
    }
    let all: BTreeSet<&str> = Action::KEYS.iter().copied().collect();
    let missing: Vec<&&str> = all.difference(&used).collect();
    assert!(missing.is_empty(), "no valid file uses {missing:?}");
}
