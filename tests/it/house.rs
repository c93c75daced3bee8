//! The house's structure: imports between top-level modules flow one way, down the
//! layers of DESIGN.md §4, so no import circle can come back unnoticed.
//!
//! Read from the sources: every `crate::<module>` a file names outside its tests and
//! comments is an edge from the file's top-level module to that one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A module may import only from layers below its own.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["learn"],
    &["bench", "report", "openapi"],
    &["explore", "control", "durable", "conform"],
    &["snapshot"],
    &["scenario"],
    &["world"],
    &["api"],
    &["partner", "external"],
    &["listener", "consistency"],
    &["account"],
    &["transport"],
    &["network"],
    &["faults", "tls", "rate_limit"],
    &["directory"],
    &["model", "trace", "atomic_file"],
    &["clock"],
    &["spelling", "limits", "host"],
];

/// One import: where it is written and what it names.
#[derive(Debug)]
struct Import {
    from: String,
    to: String,
    at: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `crate::a`, `crate::a::b`, and each name in `crate::{a, b::c}`.
fn named_modules(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

fn imports() -> (BTreeSet<String>, Vec<Import>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut modules = BTreeSet::new();
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        modules.insert(module.clone());
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in named_modules(line) {
                if to != module {
                    found.push(Import {
                        from: module.clone(),
                        to,
                        at: format!("src/{}:{}", relative.display(), number + 1),
                    });
                }
            }
        }
    }
    (modules, found)
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let (modules, _) = imports();
    let unplaced: Vec<&String> = modules.iter().filter(|m| rank(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place {unplaced:?} in LAYERS (tests/it/house.rs): which modules may it import, and which may import it?"
    );
    assert!(modules.len() >= 15, "found the modules: {modules:?}");
}

#[test]
fn imports_flow_down_the_layers_so_there_is_no_circle() {
    let (_, found) = imports();
    assert!(found.len() > 50, "found the imports: {}", found.len());
    let upward: Vec<String> = found
        .iter()
        .filter(|import| match (rank(&import.from), rank(&import.to)) {
            (Some(from), Some(to)) => to <= from,
            _ => false,
        })
        .map(|import| format!("{} imports {} at {}", import.from, import.to, import.at))
        .collect();
    assert!(
        upward.is_empty(),
        "imports must flow down the layers (DESIGN.md §4); these go up or sideways:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_module_graph_has_no_circle() {
    // Independent of the layer table: a depth-first search for a back edge.
    let (modules, found) = imports();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for import in &found {
        if modules.contains(&import.to) {
            edges.entry(&import.from).or_default().insert(&import.to);
        }
    }
    fn visit<'a>(
        module: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module);
            return Some(circle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in edges.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        let circle = visit(module, &edges, &mut Vec::new(), &mut done);
        assert!(
            circle.is_none(),
            "import circle: {}",
            circle.unwrap_or_default().join(" → ")
        );
    }
}

#[test]
fn the_reader_finds_grouped_and_nested_imports() {
    assert_eq!(
        named_modules("use crate::{account::Account, model, trace::lock};"),
        ["account", "model", "trace"]
    );
    assert_eq!(
        named_modules("let x = crate::directory::host_name(&s); crate::faults::X"),
        ["directory", "faults"]
    );
    assert!(named_modules("use super::Thing;").is_empty());
}
