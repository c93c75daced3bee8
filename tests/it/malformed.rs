//! Golden tests for refused scenario files: every `tests/malformed/NAME.toml` must fail
//! with exactly the line in `NAME.expected`. Set `SHARESIM_BLESS=1` to rewrite the
//! expected files on purpose, then review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use sharesim::drivers::scenario::{discover, load, parse};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn cases() -> Vec<PathBuf> {
    discover(&[corpus()]).expect("the malformed corpus is readable")
}

#[test]
fn every_malformed_file_is_refused_with_its_expected_message() {
    let bless = std::env::var_os("SHARESIM_BLESS").is_some();
    let mut mismatches = Vec::new();
    for path in cases() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = fs::read_to_string(&path).unwrap();
        let actual = match parse(&source, &name) {
            Ok(_) => format!("{name}: parsed without error"),
            Err(error) => error.to_string(),
        };
        let expected_path = path.with_extension("expected");
        if bless {
            fs::write(&expected_path, format!("{actual}\n")).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} is missing", expected_path.display()));
        if expected.trim_end() != actual {
            mismatches.push(format!(
                "expected: {}\n  actual: {actual}",
                expected.trim_end()
            ));
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn the_corpus_is_large_and_every_case_has_an_expected_line() {
    if std::env::var_os("SHARESIM_BLESS").is_some() {
        return; // the expected files are being written concurrently
    }
    let cases = cases();
    assert!(cases.len() >= 18, "only {} malformed files", cases.len());
    for path in &cases {
        assert!(
            path.with_extension("expected").is_file(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn discover_returns_every_toml_file_of_the_folder_sorted() {
    let mut expected: Vec<PathBuf> = fs::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    expected.sort();
    let found = cases();
    assert_eq!(found, expected);
    assert!(found.windows(2).all(|pair| pair[0] < pair[1]));
}

#[test]
fn discover_takes_files_as_given_and_searches_nested_folders() {
    let root = tempfile::tempdir().unwrap();
    let nested = root.path().join("b/deeper");
    fs::create_dir_all(&nested).unwrap();
    for file in [
        "z.toml",
        "a.toml",
        "notes.md",
        "b/deeper/m.toml",
        "b/c.toml",
    ] {
        fs::write(root.path().join(file), "").unwrap();
    }
    let explicit = root.path().join("notes.md");
    let found = discover(&[root.path().to_path_buf(), explicit.clone()]).unwrap();
    let relative: Vec<String> = found
        .iter()
        .map(|path| {
            path.strip_prefix(root.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        relative,
        [
            "a.toml",
            "b/c.toml",
            "b/deeper/m.toml",
            "notes.md",
            "z.toml"
        ]
    );
}

#[test]
fn discover_and_load_name_a_missing_path() {
    let missing = corpus().join("no-such-file.toml");
    let error = discover(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!(error.file, missing.display().to_string());
    let error = load(&missing).unwrap_err();
    assert!(
        error.message.starts_with("cannot read the scenario file"),
        "{error}"
    );
}

#[test]
fn load_names_the_file_as_given() {
    let path = corpus().join("invite_self.toml");
    let error = load(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:", path.display())),
        "{error}"
    );
}
