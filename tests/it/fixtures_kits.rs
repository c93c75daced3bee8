//! The fixtures integrators use in their own suites, run as they would run them against the
//! built binary: the pytest plugin (clients/python, with zenpy) and the node:test module
//! (clients/node, with node-zendesk). `.ci/run` installs both; where they are missing the
//! tests say so and skip, unless SHARESIM_REQUIRE_CLIENTS=1 makes their absence a failure.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var("SHARESIM_REQUIRE_CLIENTS").as_deref() != Ok("1"),
            "{what} is required (SHARESIM_REQUIRE_CLIENTS=1) but not installed"
        );
        eprintln!("skipping: {what} is not installed (see .ci/run)");
    }
    present
}

fn passes(command: &mut Command) -> String {
    let output = command
        .current_dir(root())
        .env("SHARESIM_BIN", env!("CARGO_BIN_EXE_sharesim"))
        .output()
        .expect("the runner starts");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

#[test]
fn the_pytest_plugin_drives_zenpy_against_serve() {
    let installed = Command::new("python3")
        .args(["-c", "import pytest_sharesim, zenpy, pytest"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available(
        "pytest-sharesim (pip install ./clients/python) with zenpy",
        installed,
    ) {
        return;
    }
    let text = passes(Command::new("python3").args([
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/clients/pytest_example",
    ]));
    assert!(text.contains("4 passed"), "{text}");
}

#[test]
fn the_node_test_module_drives_node_zendesk_against_serve() {
    let modules = root().join("tests/clients/node_modules");
    let installed = Command::new("node").arg("--version").output().is_ok()
        && modules.join("node-zendesk").exists()
        && modules.join("sharesim-fixtures").exists();
    if !available(
        "sharesim-fixtures and node-zendesk (npm install --prefix tests/clients)",
        installed,
    ) {
        return;
    }
    let text =
        passes(Command::new("node").args(["--test", "tests/clients/node_test_example.test.mjs"]));
    assert!(
        text.contains("# pass 4") && text.contains("# fail 0"),
        "{text}"
    );
}
