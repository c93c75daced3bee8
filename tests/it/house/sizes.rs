//! Files a reader can hold: no Rust file in `src/` or `tests/` over [`MAX_FILE_LINES`]
//! lines, and no function over [`MAX_FN_LINES`] lines, from its `fn` to its closing
//! brace. Functions are found in the token tree (comments and strings cannot fool it),
//! nested ones and those inside `impl`, `mod` and test blocks included.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use std::path::Path;

/// Most lines in one source file, tests included.
const MAX_FILE_LINES: usize = 700;
/// Most lines in one function, signature to closing brace.
const MAX_FN_LINES: usize = 120;

/// Every `.rs` file under `src/` and `tests/`, as (path from the crate root, text).
fn rust_files() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("the folder is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let file = path.strip_prefix(root).expect("under the crate");
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.push((file.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for folder in ["src", "tests"] {
        walk(root, &root.join(folder), &mut out);
    }
    out.sort();
    out
}

/// Every function in `stream` as (name, first line, lines).
fn functions(stream: TokenStream, out: &mut Vec<(String, usize, usize)>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        if let TokenTree::Group(group) = token {
            functions(group.stream(), out);
        }
        let TokenTree::Ident(word) = token else {
            continue;
        };
        let Some(TokenTree::Ident(name)) = tokens.get(at + 1) else {
            continue;
        };
        if word != "fn" {
            continue;
        }
        // The body is the first brace group after the name; a `;` first means a
        // declaration without one (a trait method, an extern function).
        for next in &tokens[at + 2..] {
            match next {
                TokenTree::Punct(p) if p.as_char() == ';' => break,
                TokenTree::Group(body) if body.delimiter() == Delimiter::Brace => {
                    let first = word.span().start().line;
                    let last = body.span().end().line;
                    out.push((name.to_string(), first, last + 1 - first));
                    break;
                }
                _ => {}
            }
        }
    }
}

fn long_functions(file: &str, text: &str) -> Vec<String> {
    let stream: TokenStream = text
        .parse()
        .unwrap_or_else(|e| panic!("{file} does not tokenise: {e}"));
    let mut found = Vec::new();
    functions(stream, &mut found);
    found
        .into_iter()
        .filter(|(_, _, lines)| *lines > MAX_FN_LINES)
        .map(|(name, line, lines)| format!("{file}:{line} `{name}`: {lines} lines"))
        .collect()
}

#[test]
fn no_source_file_is_over_700_lines() {
    let files = rust_files();
    assert!(files.len() > 100, "found the files: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .map(|(file, text)| (file, text.lines().count()))
        .filter(|(_, lines)| *lines > MAX_FILE_LINES)
        .map(|(file, lines)| format!("{file}: {lines} lines"))
        .collect();
    assert!(
        long.is_empty(),
        "split these by topic (at most {MAX_FILE_LINES} lines):\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_is_over_120_lines() {
    let long: Vec<String> = rust_files()
        .iter()
        .flat_map(|(file, text)| long_functions(file, text))
        .collect();
    assert!(
        long.is_empty(),
        "split these by topic, into named phases (at most {MAX_FN_LINES} lines):\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_function_is_found_wherever_it_hides_and_a_declaration_is_not() {
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    let text = format!(
        "trait T {{ fn declared(&self); }}\n\
         impl S {{\n    fn short() {{ let s = \"{{ not a brace\"; }}\n\
         // fn in_a_comment() {{\n\
         #[cfg(test)]\n    mod tests {{\n    fn hidden() {{\n{body}    }}\n    }}\n}}\n"
    );
    let long = long_functions("probe.rs", &text);
    assert_eq!(long.len(), 1, "{long:?}");
    assert!(
        long[0].starts_with("probe.rs:7 `hidden`: 122 lines"),
        "{long:?}"
    );
}
