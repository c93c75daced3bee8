//! Reading the crate's imports from its sources, tokenised: every path that starts
//! with `crate`, `super`, `self` or a child module, followed through re-exports to the
//! module that defines the name; and the circles and face loops they form.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};

/// One import: the module that names another, the module it reaches, and where.
#[derive(Clone, Debug)]
pub(super) struct Import {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) at: String,
    /// Written in a `pub use`: the face presenting a child, not using it.
    pub(super) reexport: bool,
}

/// What the crate is made of, read from its sources.
#[derive(Default)]
pub(super) struct Crate {
    /// Module path (`transport::scheduler`) → its file under `src/`.
    pub(super) modules: BTreeMap<String, String>,
    /// Names each module defines at its top level.
    defines: BTreeMap<String, BTreeSet<String>>,
    /// Names each module re-exports → the path it re-exports.
    reexports: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The glob paths each module re-exports (`pub use x::*`).
    globs: BTreeMap<String, Vec<Vec<String>>>,
    pub(super) imports: Vec<Import>,
}

/// The module a file under `src/` holds; `None` for the crate root files.
fn module_of(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".rs")?;
    if stem == "lib" || stem == "main" {
        return None;
    }
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    Some(stem.replace('/', "::"))
}

fn parent(module: &str) -> &str {
    module.rsplit_once("::").map_or("", |(parent, _)| parent)
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_string()
    } else {
        format!("{module}::{name}")
    }
}

fn punct(token: Option<&TokenTree>, c: char) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

fn ident(token: Option<&TokenTree>, word: &str) -> bool {
    matches!(token, Some(TokenTree::Ident(i)) if i == word)
}

/// A `::` at `at`.
fn separator(tokens: &[TokenTree], at: usize) -> bool {
    matches!(tokens.get(at), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && punct(tokens.get(at + 1), ':')
}

/// A written path and the line it starts on.
type Written = (Vec<String>, usize);

/// Reads the path starting at the identifier `tokens[0]` (after `prefix`), with each
/// branch of a `{a, b::C}` group; returns how many tokens it took.
fn read_path(tokens: &[TokenTree], mut segments: Vec<String>, out: &mut Vec<Written>) -> usize {
    let Some(TokenTree::Ident(first)) = tokens.first() else {
        return 1;
    };
    let line = first.span().start().line;
    segments.push(first.to_string());
    let mut at = 1;
    while separator(tokens, at) {
        match tokens.get(at + 2) {
            Some(TokenTree::Ident(next)) => {
                segments.push(next.to_string());
                at += 3;
            }
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                for branch in inner.split(|t| punct(Some(t), ',')) {
                    if punct(branch.first(), '*') {
                        let mut glob = segments.clone();
                        glob.push("*".into());
                        out.push((glob, line));
                    } else {
                        read_path(branch, segments.clone(), out);
                    }
                }
                return at + 3;
            }
            Some(TokenTree::Punct(p)) if p.as_char() == '*' => {
                segments.push("*".into());
                at += 3;
                break;
            }
            _ => break,
        }
    }
    out.push((segments, line));
    at
}

/// `#[cfg(test)]` at `at`.
fn test_only(tokens: &[TokenTree], at: usize) -> bool {
    punct(tokens.get(at), '#')
        && matches!(tokens.get(at + 1), Some(TokenTree::Group(g))
            if g.delimiter() == Delimiter::Bracket
                && g.stream().to_string().replace(' ', "") == "cfg(test)")
}

/// Where the item after the attribute at `at` ends: past its body or its `;`.
fn skip_item(tokens: &[TokenTree], mut at: usize) -> usize {
    while punct(tokens.get(at), '#') {
        at += 2;
    }
    while let Some(token) = tokens.get(at) {
        at += 1;
        match token {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => break,
            TokenTree::Punct(p) if p.as_char() == ';' => break,
            _ => {}
        }
    }
    at
}

/// Every path written outside `#[cfg(test)]` items, at any depth.
fn written_paths(stream: TokenStream, out: &mut Vec<Written>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut at = 0;
    while at < tokens.len() {
        if test_only(&tokens, at) {
            at = skip_item(&tokens, at);
            continue;
        }
        match &tokens[at] {
            // `pub(super)`, `pub(in crate::x)`: who may see an item, not an import.
            TokenTree::Ident(word) if word == "pub" => {
                at += 1;
                if matches!(tokens.get(at), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
                {
                    at += 1;
                }
            }
            TokenTree::Group(group) => {
                written_paths(group.stream(), out);
                at += 1;
            }
            TokenTree::Ident(_) if !(at >= 2 && separator(&tokens, at - 2)) => {
                at += read_path(&tokens[at..], Vec::new(), out);
            }
            _ => at += 1,
        }
    }
}

/// The names a file defines at its top level, and the paths of its `pub use`s.
fn top_level(stream: TokenStream) -> (BTreeSet<String>, Vec<Written>) {
    const DEFINING: &[&str] = &[
        "struct", "enum", "fn", "const", "static", "type", "trait", "mod", "union",
    ];
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut defines = BTreeSet::new();
    let mut reexports = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        if test_only(&tokens, at) {
            at = skip_item(&tokens, at);
            continue;
        }
        let keyword = DEFINING.iter().any(|k| ident(tokens.get(at), k))
            || (ident(tokens.get(at), "macro_rules") && punct(tokens.get(at + 1), '!'));
        if keyword {
            let name_at = if punct(tokens.get(at + 1), '!') {
                at + 2
            } else {
                at + 1
            };
            if let Some(TokenTree::Ident(name)) = tokens.get(name_at) {
                defines.insert(name.to_string());
            }
        }
        if ident(tokens.get(at), "pub") {
            let mut next = at + 1;
            if matches!(tokens.get(next), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
            {
                next += 1;
            }
            if ident(tokens.get(next), "use") {
                let end = (next..tokens.len())
                    .find(|&i| punct(tokens.get(i), ';'))
                    .unwrap_or(tokens.len());
                let mut i = next + 1;
                while i < end {
                    i += read_path(&tokens[i..end], Vec::new(), &mut reexports);
                }
                at = end;
                continue;
            }
        }
        at += 1;
    }
    (defines, reexports)
}

/// The modules a file declares only for tests: `#[cfg(test)] mod name;`.
fn test_modules(stream: TokenStream) -> Vec<String> {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut names = Vec::new();
    for at in 0..tokens.len() {
        if test_only(&tokens, at) {
            let mut item = at + 2;
            while punct(tokens.get(item), '#') {
                item += 2;
            }
            if ident(tokens.get(item), "pub") {
                item += 1;
            }
            if ident(tokens.get(item), "mod")
                && let Some(TokenTree::Ident(name)) = tokens.get(item + 1)
                && punct(tokens.get(item + 2), ';')
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

impl Crate {
    /// Reads a set of sources, each `(path under src/, text)`.
    pub(super) fn read(sources: &[(String, String)]) -> Crate {
        let mut krate = Crate::default();
        let mut parsed = Vec::new();
        let streams: Vec<(Option<String>, &String, TokenStream)> = sources
            .iter()
            .map(|(file, text)| {
                let stream = text
                    .parse()
                    .unwrap_or_else(|e| panic!("src/{file} does not tokenise: {e:?}"));
                (module_of(file), file, stream)
            })
            .collect();
        // Files that hold only tests (`#[cfg(test)] mod tests;`) import nothing.
        let tests: Vec<String> = streams
            .iter()
            .flat_map(|(module, _, stream)| {
                let parent = module.clone().unwrap_or_default();
                test_modules(stream.clone())
                    .into_iter()
                    .map(move |name| join(&parent, &name))
            })
            .collect();
        for (module, file, stream) in streams {
            let Some(module) = module else {
                continue;
            };
            if tests
                .iter()
                .any(|t| module == *t || module.starts_with(&format!("{t}::")))
            {
                continue;
            }
            let (defines, reexports) = top_level(stream.clone());
            for (path, _) in &reexports {
                if let Some((name, _)) = path.split_last() {
                    if name == "*" {
                        krate
                            .globs
                            .entry(module.clone())
                            .or_default()
                            .push(path.clone());
                    } else {
                        krate
                            .reexports
                            .entry(module.clone())
                            .or_default()
                            .insert(name.clone(), path.clone());
                    }
                }
            }
            krate.defines.insert(module.clone(), defines);
            krate.modules.insert(module.clone(), file.to_string());
            let mut paths = Vec::new();
            written_paths(stream, &mut paths);
            parsed.push((module, file.clone(), paths, reexports));
        }
        for (module, file, paths, reexports) in parsed {
            for (path, line) in paths {
                let Some(to) = krate.resolve(&module, &path, 0) else {
                    continue;
                };
                if to.is_empty() || to == module {
                    continue;
                }
                let reexport = reexports.iter().any(|(p, l)| *p == path && *l == line);
                krate.imports.push(Import {
                    from: module.clone(),
                    to,
                    at: format!("src/{file}:{line}"),
                    reexport,
                });
            }
        }
        krate
    }

    /// The module a path written in `from` reaches, through re-exports to the module
    /// that defines the name; `None` for paths outside the crate.
    fn resolve(&self, from: &str, path: &[String], depth: usize) -> Option<String> {
        let first = path.first()?;
        let (mut module, mut rest) = match first.as_str() {
            "crate" => (String::new(), &path[1..]),
            "self" => (from.to_string(), &path[1..]),
            "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                let mut module = from;
                for _ in 0..ups {
                    module = parent(module);
                }
                (module.to_string(), &path[ups..])
            }
            child if path.len() >= 2 && self.modules.contains_key(&join(from, child)) => {
                (from.to_string(), path)
            }
            _ => return None,
        };
        while let Some(segment) = rest.first() {
            let next = join(&module, segment);
            if !self.modules.contains_key(&next) {
                break;
            }
            module = next;
            rest = &rest[1..];
        }
        match rest.first() {
            Some(name) if name != "self" && name != "*" => Some(self.owner(&module, name, depth)),
            _ => Some(module),
        }
    }

    /// The module that defines `name` as `module` presents it.
    fn owner(&self, module: &str, name: &str, depth: usize) -> String {
        if depth > 8 || self.defines.get(module).is_some_and(|d| d.contains(name)) {
            return module.to_string();
        }
        if let Some(path) = self.reexports.get(module).and_then(|r| r.get(name))
            && let Some(owner) = self.resolve(module, path, depth + 1)
        {
            return owner;
        }
        for glob in self.globs.get(module).into_iter().flatten() {
            if let Some(source) = self.resolve(module, glob, depth + 1) {
                let owner = self.owner(&source, name, depth + 1);
                if self.defines.get(&owner).is_some_and(|d| d.contains(name)) {
                    return owner;
                }
            }
        }
        module.to_string()
    }

    /// Circles among the children of one folder, at every depth: each as its chain of
    /// imports.
    pub(super) fn sibling_circles(&self) -> Vec<String> {
        // Folder → child → child → the first import that makes the edge.
        let mut graphs: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> =
            BTreeMap::new();
        for import in &self.imports {
            let from: Vec<&str> = import.from.split("::").collect();
            let to: Vec<&str> = import.to.split("::").collect();
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            let (Some(a), Some(b)) = (from.get(common), to.get(common)) else {
                continue; // one is the other's face: the third rule's business.
            };
            graphs
                .entry(from[..common].join("::"))
                .or_default()
                .entry(a.to_string())
                .or_default()
                .entry(b.to_string())
                .or_insert_with(|| import.at.clone());
        }
        let mut circles = Vec::new();
        for (folder, edges) in &graphs {
            for circle in circles_of(edges) {
                let name = |child: &str| join(folder, child);
                let steps: Vec<String> = circle
                    .windows(2)
                    .map(|pair| {
                        format!(
                            "{} imports {} at {}",
                            name(&pair[0]),
                            name(&pair[1]),
                            edges[&pair[0]][&pair[1]]
                        )
                    })
                    .collect();
                circles.push(steps.join("; "));
            }
        }
        circles
    }

    /// Faces that use a child which uses them back: `(face, "…down…; …up…")`.
    pub(super) fn face_loops(&self) -> BTreeMap<String, String> {
        let mut loops = BTreeMap::new();
        for face in self.modules.keys() {
            let child_of = |module: &str| -> Option<String> {
                let rest = module.strip_prefix(face.as_str())?.strip_prefix("::")?;
                Some(join(face, rest.split("::").next()?))
            };
            let down: BTreeMap<String, &Import> = self
                .imports
                .iter()
                .filter(|i| i.from == *face && !i.reexport)
                .filter_map(|i| Some((child_of(&i.to)?, i)))
                .collect();
            let up = self
                .imports
                .iter()
                .filter(|i| i.to == *face)
                .find_map(|i| Some((down.get(&child_of(&i.from)?)?, i)));
            if let Some((down, up)) = up {
                loops.insert(
                    face.clone(),
                    format!(
                        "{} uses {} at {}; {} uses {} at {}",
                        down.from, down.to, down.at, up.from, up.to, up.at
                    ),
                );
            }
        }
        loops
    }
}

/// Every circle in a directed graph, one per strongly connected part, each written as
/// its nodes with the first repeated at the end.
fn circles_of(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    fn reach<'a>(
        from: &'a str,
        target: &str,
        edges: &'a BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<&'a str>,
        seen: &mut BTreeSet<&'a str>,
    ) -> bool {
        for next in edges.get(from).into_iter().flat_map(|e| e.keys()) {
            if next == target {
                path.push(next);
                return true;
            }
            if seen.insert(next) {
                path.push(next);
                if reach(next, target, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut circles: Vec<Vec<String>> = Vec::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for start in edges.keys() {
        if covered.contains(start) {
            continue;
        }
        let mut path = vec![start.as_str()];
        if reach(start, start, edges, &mut path, &mut BTreeSet::new()) {
            covered.extend(path.iter().map(|s| s.to_string()));
            circles.push(path.iter().map(|s| s.to_string()).collect());
        }
    }
    circles
}

// Probes: the reader on synthetic file sets, each able to fail.

fn synthetic(files: &[(&str, &str)]) -> Crate {
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|(file, text)| (file.to_string(), text.to_string()))
        .collect();
    Crate::read(&sources)
}

#[test]
fn a_probe_circle_between_nested_siblings_is_named_with_its_files_and_lines() {
    let krate = synthetic(&[
        ("lib.rs", "pub mod outer;"),
        ("outer/mod.rs", "pub mod inner;"),
        ("outer/inner/mod.rs", "mod a;\nmod b;"),
        ("outer/inner/a.rs", "use super::b::Bee;\npub struct Ay;"),
        (
            "outer/inner/b.rs",
            "pub struct Bee;\n\nfn f() { let _ = super::a::Ay; }",
        ),
    ]);
    assert_eq!(
        krate.sibling_circles(),
        [
            "outer::inner::a imports outer::inner::b at src/outer/inner/a.rs:1; \
             outer::inner::b imports outer::inner::a at src/outer/inner/b.rs:3"
        ]
    );
    // Without the probe import the folder is clean.
    let clean = synthetic(&[
        ("outer/inner/mod.rs", "mod a;\nmod b;"),
        ("outer/inner/a.rs", "use super::b::Bee;\npub struct Ay;"),
        ("outer/inner/b.rs", "pub struct Bee;"),
    ]);
    assert!(clean.sibling_circles().is_empty());
}

#[test]
fn a_circle_through_a_face_s_re_export_or_between_cousins_is_found() {
    let through_face = synthetic(&[
        (
            "k/mod.rs",
            "mod p;\nmod q;\npub use p::Push;\npub use q::*;",
        ),
        (
            "k/p.rs",
            "pub struct Push;\nfn f() { crate::k::Thing::new(); }",
        ),
        ("k/q.rs", "use super::{Push, p};\npub struct Thing;"),
    ]);
    let circles = through_face.sibling_circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(
        circles[0].contains("k::p imports k::q at src/k/p.rs:2"),
        "{circles:?}"
    );
    assert!(
        circles[0].contains("k::q imports k::p at src/k/q.rs:1"),
        "{circles:?}"
    );
    let cousins = synthetic(&[
        ("x/mod.rs", "mod one;\nmod two;"),
        ("x/one/mod.rs", "mod deep;"),
        ("x/one/deep.rs", "use crate::x::two::Two;"),
        ("x/two.rs", "pub struct Two;\nuse crate::x::one::deep;"),
    ]);
    assert_eq!(cousins.sibling_circles().len(), 1);
}

#[test]
fn a_face_loop_is_found_and_test_code_comments_and_strings_are_not_imports() {
    let krate = synthetic(&[
        (
            "t/mod.rs",
            "mod m;\npub use m::go;\npub struct Message;\nfn f() { m::go(); }",
        ),
        ("t/m.rs", "use super::Message;\npub fn go() {}"),
    ]);
    assert_eq!(
        krate.face_loops().get("t").map(String::as_str),
        Some("t uses t::m at src/t/mod.rs:4; t::m uses t at src/t/m.rs:1")
    );
    let presented_only = synthetic(&[
        ("t/mod.rs", "mod m;\npub use m::go;\npub struct Message;"),
        ("t/m.rs", "use super::Message;\npub fn go() {}"),
    ]);
    assert!(presented_only.face_loops().is_empty());
    let quiet = synthetic(&[
        ("q/mod.rs", "mod a;\nmod b;"),
        (
            "q/a.rs",
            "pub(super) struct A;\n// super::b::B\npub(in crate::q) const S: &str = \"super::b::B\";",
        ),
        (
            "q/b.rs",
            "pub struct B;\nuse super::a::A;\n#[cfg(test)]\nmod tests { use super::super::a::A; }",
        ),
        (
            "q/c.rs",
            "#[cfg(test)]\nfn only() { super::b::B; }\n#[cfg(test)]\nmod tests;",
        ),
        ("q/c/tests.rs", "use crate::q::b::B;\nuse crate::q::a::A;"),
    ]);
    assert!(quiet.sibling_circles().is_empty());
    assert_eq!(quiet.imports.len(), 1, "{:?}", quiet.imports);
}
