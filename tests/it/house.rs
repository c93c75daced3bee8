//! The house's structure: `src/` shows the groups (drivers, world, surfaces, core),
//! imports between modules flow one way, down the layers of docs/design.md (*The
//! layers*), and no import circle hides at any depth.
//!
//! Read from the sources, tokenised (comments and strings cannot fool it), leaving out
//! `#[cfg(test)]` items. A path that starts with `crate`, `super`, `self` or a child
//! module is an import of the module it reaches; a name a folder's own file re-exports
//! (`pub use child::Name`, or a glob) counts as an import of the child that defines it,
//! so going through the folder's file does not hide an edge.
//!
//! Three rules, each naming the file and line of every import involved:
//! - between the modules of the groups (`core::account`, `world`, …), imports go down
//!   `LAYERS`, whose rows keep each group together, so groups import downwards too;
//! - the children of one folder never form a circle, at any depth (an import between
//!   cousins counts between the children of their nearest common folder);
//! - a folder's own file (`x.rs` or `x/mod.rs`, its face) and a child never use each
//!   other: either the face assembles its children, or the children build on the face.
//!   The folders in `FACES_STILL_SHARED` predate the rule; the list may only shrink.

mod reader;
mod sizes;

use reader::Crate;
use std::collections::BTreeSet;
use std::path::Path;

/// The groups the tree shows under `src/`, top first: a group's modules sit in a run of
/// `LAYERS` rows of their own, so imports between groups flow down this list too.
const GROUPS: &[&str] = &["drivers", "world", "surfaces", "core"];

/// The layers, top first. A module may import only from layers below its own.
const LAYERS: &[&[&str]] = &[
    &["drivers::cli"],
    &["drivers::learn"],
    &["drivers::bench", "drivers::report", "drivers::openapi"],
    &[
        "drivers::explore",
        "drivers::control",
        "drivers::durable",
        "drivers::conform",
    ],
    &["drivers::snapshot"],
    &["drivers::scenario"],
    &["world"],
    &["surfaces::api"],
    &["surfaces::partner", "surfaces::external"],
    &["surfaces::listener"],
    &["core::consistency"],
    &["core::account"],
    &["core::transport"],
    &["core::network"],
    &["core::faults", "core::tls", "core::rate_limit"],
    &["core::directory"],
    &["core::model", "core::trace", "core::atomic_file"],
    &["core::clock"],
    &[
        "core::spelling",
        "core::limits",
        "core::host",
        "core::text",
        "core::json",
    ],
];

/// Folders whose face both uses a child and defines what that child uses. Each is a
/// loop still to untie (move what the children share into a child of its own, as
/// `transport/message.rs` did); the test fails when one is untied and still listed.
const FACES_STILL_SHARED: &[&str] = &[
    "drivers::bench",
    "drivers::cli",
    "drivers::conform",
    "drivers::control",
    "drivers::explore",
    "drivers::openapi",
    "drivers::scenario::format",
    "drivers::scenario::run",
    "surfaces::api",
    "surfaces::partner",
    "world",
];

fn sources() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let file = path.strip_prefix(root).expect("under src");
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.push((file.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&src, &src, &mut out);
    out.sort();
    out
}

/// The layer unit a module belongs to: the top-level module, or under a group folder
/// (`core`, `surfaces`, `drivers`) the group's child (`core::account`).
fn top(module: &str) -> &str {
    let mut ends = module.match_indices("::").map(|(at, _)| at);
    let first = ends.next().unwrap_or(module.len());
    if GROUPS.contains(&&module[..first]) && module[..first] != *"world" {
        &module[..ends.next().unwrap_or(module.len())]
    } else {
        &module[..first]
    }
}

fn group(unit: &str) -> &str {
    unit.split("::").next().unwrap_or(unit)
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top(module)))
}

#[test]
fn every_module_has_a_layer() {
    let krate = Crate::read(&sources());
    // A group's own file (`src/core.rs`) only declares its children.
    let tops: BTreeSet<&str> = krate
        .modules
        .keys()
        .map(|m| top(m))
        .filter(|unit| *unit == "world" || !GROUPS.contains(unit))
        .collect();
    let unplaced: Vec<&&str> = tops.iter().filter(|m| rank(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place {unplaced:?} in LAYERS (tests/it/house.rs): which modules may it import, and which may import it?"
    );
    assert!(tops.len() >= 15, "found the modules: {tops:?}");
}

#[test]
fn the_tree_shows_the_layers_group_by_group() {
    let rows: Vec<usize> = LAYERS
        .iter()
        .map(|row| {
            let groups: BTreeSet<&str> = row.iter().map(|unit| group(unit)).collect();
            assert_eq!(groups.len(), 1, "a LAYERS row mixes groups: {row:?}");
            let name = groups.into_iter().next().expect("one group");
            GROUPS
                .iter()
                .position(|g| *g == name)
                .unwrap_or_else(|| panic!("{name} is not a group of GROUPS"))
        })
        .collect();
    assert!(
        rows.windows(2).all(|pair| pair[0] <= pair[1]),
        "a group's rows must follow each other, in the order of GROUPS: {rows:?}"
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut listed: Vec<String> = std::fs::read_dir(&src)
        .expect("src is readable")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "lib.rs" && name != "main.rs")
        .map(|name| name.trim_end_matches(".rs").to_owned())
        .collect();
    listed.sort();
    listed.dedup();
    let mut groups: Vec<String> = GROUPS.iter().map(|g| g.to_string()).collect();
    groups.sort();
    assert_eq!(listed, groups, "src/ holds the groups and nothing else");
}

#[test]
fn imports_flow_down_the_layers_so_there_is_no_circle() {
    let krate = Crate::read(&sources());
    assert!(
        krate.imports.len() > 50,
        "found the imports: {}",
        krate.imports.len()
    );
    let upward: Vec<String> = krate
        .imports
        .iter()
        .filter(|import| top(&import.from) != top(&import.to))
        .filter(|import| match (rank(&import.from), rank(&import.to)) {
            (Some(from), Some(to)) => to <= from,
            _ => false,
        })
        .map(|import| format!("{} imports {} at {}", import.from, import.to, import.at))
        .collect();
    assert!(
        upward.is_empty(),
        "imports must flow down the layers (docs/design.md, *The layers*); these go up or sideways:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_folder_holds_an_import_circle_at_any_depth() {
    let krate = Crate::read(&sources());
    let nested = krate
        .imports
        .iter()
        .filter(|i| i.from.contains("::"))
        .count();
    assert!(nested > 50, "found the nested imports: {nested}");
    let circles = krate.sibling_circles();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn faces_and_children_do_not_use_each_other() {
    let krate = Crate::read(&sources());
    let loops = krate.face_loops();
    let new: Vec<String> = loops
        .iter()
        .filter(|(face, _)| !FACES_STILL_SHARED.contains(&face.as_str()))
        .map(|(face, how)| format!("{face}: {how}"))
        .collect();
    assert!(
        new.is_empty(),
        "a folder's face and a child use each other (move what the children share into a child):\n{}",
        new.join("\n")
    );
    let untied: Vec<&&str> = FACES_STILL_SHARED
        .iter()
        .filter(|face| !loops.contains_key(**face))
        .collect();
    assert!(
        untied.is_empty(),
        "untied: remove {untied:?} from FACES_STILL_SHARED"
    );
}
