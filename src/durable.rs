//! Durable state for `serve --state FILE`: the world's snapshot written whole after
//! every change, atomically (a temporary file in the same folder, fsync, rename, fsync
//! of the folder), so the file is always either the old state or the new one, never
//! torn, and every answer a client received is on disk before it left.

use crate::scenario::run::Handles;
use crate::snapshot::WorldSnapshot;
use crate::trace::lock;
use crate::world::World;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// The state file of one served world.
pub struct StateFile {
    path: PathBuf,
    world: Weak<World>,
    /// The handles the control API last reported (REST calls never change them); the
    /// lock also makes writes one at a time, each taking the state after the last.
    handles: Mutex<Handles>,
}

impl StateFile {
    /// Reads a state file; None when it does not exist yet (the first run).
    pub fn read(path: &Path) -> Result<Option<WorldSnapshot>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(format!(
                    "could not read the state file {}: {error}",
                    path.display()
                ));
            }
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|error| format!("the state file {} is not JSON: {error}", path.display()))?;
        WorldSnapshot::from_json(&value).map(Some).map_err(|error| {
            format!(
                "the state file {} is not a snapshot: {error}",
                path.display()
            )
        })
    }

    /// Keeps `path` current for `world`, starting from `handles`.
    pub fn new(path: PathBuf, world: &Arc<World>, handles: Handles) -> StateFile {
        StateFile {
            path,
            world: Arc::downgrade(world),
            handles: Mutex::new(handles),
        }
    }

    /// Writes the world's state now; `handles` replaces the known handles when given.
    /// Blocking: call it from a blocking task.
    pub fn save(&self, handles: Option<Handles>) -> Result<(), String> {
        let mut known = lock(&self.handles);
        if let Some(handles) = handles {
            *known = handles;
        }
        let Some(world) = self.world.upgrade() else {
            return Ok(());
        };
        let snapshot = WorldSnapshot::capture(&world, known.clone());
        let mut text = serde_json::to_vec_pretty(&snapshot).map_err(|e| e.to_string())?;
        text.push(b'\n');
        write_atomically(&self.path, &text)
            .map_err(|error| format!("could not write {}: {error}", self.path.display()))
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old file
/// or the new one: write a temporary file beside it, fsync it, rename it over `path`,
/// fsync the folder so the rename itself is durable.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_string());
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(&folder)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"{\"old\": true}").unwrap();
        write_atomically(&path, b"{\"new\": true}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"new\": true}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_missing_state_file_is_a_first_run_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(StateFile::read(&path), Ok(None));
        std::fs::write(&path, "{\"format\": 1}").unwrap();
        let error = StateFile::read(&path).unwrap_err();
        assert!(error.contains("accounts"), "{error}");
    }
}
