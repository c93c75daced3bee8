//! The HTML report in a real browser: headless Chromium (Debian's `chromium`) loads the
//! page the binary wrote; the tests read the DOM Chromium built and its console log, and
//! keep screenshots under `target/tmp/browser/` (wide, phone-width and dark).
//!
//! `.ci/run` installs Chromium and sets SHARESIM_REQUIRE_BROWSER=1. Elsewhere, without
//! Chromium the tests say so and skip, unless that variable makes its absence a failure.
//!
//! Chromium is driven as plain subprocesses: `--dump-dom` gives the DOM after the load
//! event, `--screenshot` the picture, and `--enable-logging=stderr` prints every console
//! message (script errors, blocked loads, CSP violations) as a `CONSOLE` line.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// The flags every run uses: no sandbox (CI runs as root), no GPU, no network chatter.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
];

/// The longest one Chromium run may take on a loaded 2-core machine.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn required() -> bool {
    std::env::var("SHARESIM_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// Chromium's executable on PATH, or None after saying why the test skips.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            !required(),
            "Chromium is required (SHARESIM_REQUIRE_BROWSER=1) but `chromium` is not on PATH"
        );
        eprintln!("skipping: Chromium is not installed (apt-get install chromium; see .ci/run)");
    }
    found
}

/// Where the screenshots are kept after the test.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("the artifacts folder can be made");
    dir
}

/// What one Chromium run left: stdout (the DOM for `--dump-dom`) and its console lines.
struct Visit {
    stdout: String,
    console: Vec<String>,
}

/// Opens `page` in a fresh headless Chromium with `extra` flags and waits for it to end.
async fn visit(chromium: &Path, page: &Path, extra: &[String]) -> Visit {
    let profile = tempfile::tempdir().expect("a profile folder");
    let url = format!("file://{}", page.display());
    let child = Command::new(chromium)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BROWSER_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("Chromium did not finish {url} within {BROWSER_TIMEOUT:?}"))
        .expect("Chromium starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Chromium failed on {url}: {}\n{stderr}",
        output.status
    );
    Visit {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|line| line.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// Takes a screenshot of `page` at `width`×`height` into the artifacts folder and
/// returns its path.
async fn screenshot(
    chromium: &Path,
    page: &Path,
    name: &str,
    (width, height): (u32, u32),
    dark: bool,
) -> PathBuf {
    let path = artifacts().join(name);
    let _ = std::fs::remove_file(&path);
    let mut extra = vec![
        format!("--window-size={width},{height}"),
        format!("--screenshot={}", path.display()),
    ];
    if dark {
        extra.push("--force-dark-mode".to_string());
    }
    let visit = visit(chromium, page, &extra).await;
    assert!(visit.console.is_empty(), "{name}: {:#?}", visit.console);
    assert!(
        path.is_file(),
        "Chromium wrote no screenshot {}",
        path.display()
    );
    path
}

/// The RGB colour of the pixel at (`x`, `y`) of a PNG screenshot, with its size.
pub fn pixel(path: &Path, x: u32, y: u32) -> ((u32, u32), [u8; 3]) {
    let file = std::fs::File::open(path).expect("the screenshot opens");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    let channels = info.color_type.samples();
    let at = y as usize * info.line_size + x as usize * channels;
    let rgb = if channels >= 3 {
        [buffer[at], buffer[at + 1], buffer[at + 2]]
    } else {
        [buffer[at]; 3]
    };
    ((info.width, info.height), rgb)
}

pub fn brightness([r, g, b]: [u8; 3]) -> u32 {
    (u32::from(r) + u32::from(g) + u32::from(b)) / 3
}

/// A scenario that fails at step 2 with a status diff; its name carries markup that the
/// page must show as text.
const FAILING: &str = r#"
name = "expects <b>accepted</b> & gets pending"
description = "acme invites globex, then expects the answer before globex has given one."
[accounts.acme]
[accounts.globex]
[[steps]]
invite = { from = "acme", to = "globex", as = "esc" }
note = "acme invites globex."
[[steps]]
expect = { account = "acme", agreement = "esc", status = "accepted" }
"#;

/// The number of partner messages (requests and answers) in a JSON-lines trace.
fn partner_messages(jsonl: &str) -> usize {
    jsonl
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .filter(|event| event["surface"] == "partner")
        .filter(|event| event["kind"] == "request" || event["kind"] == "response")
        .count()
}

/// The DOM of one scenario's section, found by the file stem its id ends with.
fn section<'a>(dom: &'a str, stem: &str) -> &'a str {
    // The player adds attributes to the tag in the live DOM; the id ends with the stem.
    let suffix = format!("-{stem}\"");
    dom.split("<section ")
        .skip(1)
        .find(|part| part.lines().next().is_some_and(|tag| tag.contains(&suffix)))
        .map(|part| part.split("</section>").next().unwrap_or(part))
        .unwrap_or_else(|| panic!("no section for {stem}"))
}

#[tokio::test]
async fn the_html_report_renders_in_chromium_with_an_arrow_per_partner_message() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The page shows the scenarios as a user runs them: a folder, relative paths, the
    // failing one first (files run in name order).
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(scenarios.join("00-expects-accepted.toml"), FAILING).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for bundled in [
        "agreements/01-invite-and-accept.toml",
        "failures/15-crash-after-store.toml",
    ] {
        let name = Path::new(bundled).file_name().unwrap();
        std::fs::copy(root.join(bundled), scenarios.join(name)).unwrap();
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(["run", "scenarios", "--jobs", "1"])
        .args(["--html", "report.html", "--trace-dir", "traces"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "one scenario fails: {output:?}"
    );
    let page = dir.path().join("report.html");

    let visit = visit(&chromium, &page, &["--dump-dom".to_string()]).await;
    assert!(
        visit.console.is_empty(),
        "the page logs nothing: {:#?}",
        visit.console
    );
    let dom = visit.stdout;
    assert!(dom.contains("<h1>sharesim report</h1>"), "{dom}");
    assert!(dom.contains("<span class=\"badge pass\">2 passed</span>"));
    assert!(dom.contains("<span class=\"badge fail\">1 failed</span>"));

    // One drawn arrow per partner message, scenario by scenario.
    for stem in [
        "00-expects-accepted",
        "01-invite-and-accept",
        "15-crash-after-store",
    ] {
        let trace = std::fs::read_to_string(dir.path().join(format!("traces/{stem}.jsonl")))
            .expect("the trace was written");
        let expected = partner_messages(&trace);
        assert!(expected >= 2, "{stem} sends partner messages");
        let drawn = section(&dom, stem)
            .matches("<g class=\"sd-msg sd-partner ")
            .count();
        assert_eq!(drawn, expected, "{stem}: arrows drawn vs partner messages");
    }
    let crash_section = section(&dom, "15-crash-after-store");
    assert!(crash_section.contains("<g class=\"sd-msg sd-partner sd-failed"));
    assert!(crash_section.contains("<g class=\"sd-note sd-divergence"));

    // The failing step and its diff, with the scenario's markup shown as text.
    let failing = section(&dom, "00-expects-accepted");
    assert!(failing.starts_with("class=\"scenario fail"));
    assert!(
        failing.contains("expects &lt;b&gt;accepted&lt;/b&gt; &amp; gets pending"),
        "{failing}"
    );
    assert!(!failing.contains("<b>accepted</b>"), "markup stays text");
    assert!(
        failing.contains(
            "<h3>Failed at <a href=\"#s1-00-expects-accepted-step-2\">step 2</a> (<code>expect</code>"
        ),
        "{failing}"
    );
    assert!(
        failing.contains(
            "<tr><td>status</td><td class=\"expected\">accepted</td><td class=\"actual\">pending</td></tr>"
        ),
        "{failing}"
    );
    assert!(failing.contains("<li class=\"step fail\" id=\"s1-00-expects-accepted-step-2\">"));
    assert!(failing.contains("<h4>Last events</h4>"));

    // Screenshots: wide, phone-width and dark. The page background follows the scheme.
    let wide = screenshot(&chromium, &page, "report-wide.png", (1280, 1800), false).await;
    let narrow = screenshot(&chromium, &page, "report-phone.png", (390, 1600), false).await;
    let dark = screenshot(&chromium, &page, "report-dark.png", (1280, 1800), true).await;
    let ((width, _), light_corner) = pixel(&wide, 2, 2);
    assert_eq!(width, 1280);
    assert!(
        brightness(light_corner) > 200,
        "light page: {light_corner:?}"
    );
    let ((width, _), _) = pixel(&narrow, 2, 2);
    assert_eq!(width, 390);
    let (_, dark_corner) = pixel(&dark, 2, 2);
    assert!(brightness(dark_corner) < 60, "dark page: {dark_corner:?}");
}

#[tokio::test]
async fn the_console_check_sees_a_page_that_breaks_the_rules() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    // The report's own policy, and an external image that it must block.
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"></head><body><img src=\"http://192.0.2.1/x.png\"></body></html>",
    )
    .unwrap();
    let visit = visit(&chromium, &page, &["--dump-dom".to_string()]).await;
    assert!(
        visit
            .console
            .iter()
            .any(|line| line.contains("Content Security Policy")),
        "the blocked load is logged: {:#?}",
        visit.console
    );
}

/// `sharesim explore --html`: Chromium renders the coverage page without a console
/// message; the grid has a cell for every (sender, receiver) pair, allowed pairs
/// marked, unreached cells shown as `never`, and the violations labelled.
#[tokio::test]
async fn the_explore_coverage_page_renders_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(["explore", "--seed", "0", "--schedules", "24", "--jobs", "2"])
        .args(["--tickets", "--accounts", "3", "--out", "found"])
        .args(["--html", "explore.html"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{output:?}");
    let page = dir.path().join("explore.html");
    let visit = visit(&chromium, &page, &["--dump-dom".to_string()]).await;
    assert!(visit.console.is_empty(), "{:#?}", visit.console);
    let dom = visit.stdout;
    assert!(dom.contains("<h1>sharesim explore, seed 0</h1>"), "{dom}");
    let cells = dom.matches("data-pair=\"").count();
    assert_eq!(
        cells, 64,
        "8 sender statuses (none included) × 8 receiver ones"
    );
    assert!(
        dom.contains("class=\"allowed reached\" data-pair=\"pending/pending\""),
        "{dom}"
    );
    assert!(
        dom.contains("class=\"forbidden unreached\" data-pair=\"accepted/declined\""),
        "a pair no schedule can reach shows as never: {dom}"
    );
    assert!(
        dom.contains("class=\"allowed unreached\"") || dom.contains("class=\"allowed reached\"")
    );
    for section in ["transitions", "faults", "actions", "tickets", "violations"] {
        assert!(dom.contains(&format!("id=\"{section}\"")), "{section}");
    }
    assert!(
        dom.contains("<td>known</td>") || dom.contains("<td>new</td>"),
        "{dom}"
    );
    let shot = screenshot(&chromium, &page, "explore.png", (1200, 900), false).await;
    let ((width, _), _) = pixel(&shot, 0, 0);
    assert_eq!(width, 1200);
}
