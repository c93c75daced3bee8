//! Reading scenario files: bounded reads, TOML through serde, the step limit, then the
//! checker; and finding the files under folders.

use super::checker::{check_file, check_scenario};
use super::error::ScenarioError;
use crate::core::limits::{MAX_SCENARIO_BYTES, MAX_SCENARIO_STEPS};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::drivers::scenario::format::Scenario;

/// Reads and checks one scenario file; errors name the file as `path` is written.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = read_source(path)?;
    parse(&source, &path.display().to_string())
}

/// Reads a scenario file's text, at most [`MAX_SCENARIO_BYTES`] (and one byte more, to
/// tell a larger file): `/dev/zero` or a runaway generated file is refused at once
/// instead of filling memory.
pub fn read_source(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let unreadable = |error: std::io::Error| {
        ScenarioError::about_file(path, format!("cannot read the scenario file: {error}"))
    };
    // Opening a FIFO waits for a writer, maybe for ever: refuse it before opening.
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = fs::metadata(path)
            && (meta.file_type().is_fifo() || meta.file_type().is_socket())
        {
            return Err(ScenarioError::about_file(
                path,
                "cannot read the scenario file: it is a FIFO or a socket, not a file".to_string(),
            ));
        }
    }
    let file = fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(ScenarioError::about_file(
            path,
            format!(
                "the scenario file is larger than {} MiB, the most sharesim reads; split it into several files",
                MAX_SCENARIO_BYTES / (1024 * 1024)
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        ScenarioError::about_file(
            path,
            format!(
                "the scenario file is not UTF-8 text (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses and checks scenario text; `file_name` is only used in messages.
pub fn parse(source: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
    let mut scenario: Scenario = toml::from_str(source)
        .map_err(|error| ScenarioError::from_toml(file_name, source, &error))?;
    if let Some(first_extra) = scenario.steps.get(MAX_SCENARIO_STEPS) {
        return Err(ScenarioError::at(
            file_name,
            source,
            first_extra.span.clone(),
            format!(
                "this scenario has {} steps; at most {MAX_SCENARIO_STEPS} are allowed, so split it into several files",
                scenario.steps.len()
            ),
        ));
    }
    scenario.locate(file_name, source);
    check_file(&scenario)
        .map_err(|invalid| ScenarioError::at(file_name, source, invalid.span, invalid.message))?;
    Ok(scenario)
}

/// Checks a scenario built from values (`Scenario::built`) exactly as a file is
/// checked; its steps have no place in a file, so a refusal names the step's action.
pub fn check_built(mut scenario: Scenario, file_name: &str) -> Result<Scenario, ScenarioError> {
    scenario.locate(file_name, "");
    let place = |_: &Range<usize>| "an earlier step".to_string();
    check_scenario(&scenario, &place)
        .map_err(|invalid| ScenarioError::at(file_name, "", invalid.span, invalid.message))?;
    Ok(scenario)
}

/// Finds scenario files: files are taken as given, folders are searched recursively for
/// `*.toml` (symbolic links to folders are not followed). Sorted, without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = fs::metadata(path).map_err(|error| {
            ScenarioError::about_file(path, format!("cannot find scenarios here: {error}"))
        })?;
        if metadata.is_dir() {
            collect_toml_files(path, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn collect_toml_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let unreadable = |error: std::io::Error| {
        ScenarioError::about_file(dir, format!("cannot list the folder: {error}"))
    };
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        if entry.file_type().map_err(unreadable)?.is_dir() {
            collect_toml_files(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
    Ok(())
}
