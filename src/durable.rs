//! Durable state for `serve --state FILE`: the world's snapshot written whole after
//! every change, atomically (a temporary file in the same folder, fsync, rename, fsync
//! of the folder), so the file is always either the old state or the new one, never
//! torn, and every answer a client received is on disk before it left.

use crate::scenario::run::Handles;
use crate::snapshot::WorldSnapshot;
use crate::trace::lock;
use crate::world::World;
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
        crate::atomic_file::write(&self.path, &text)
            .map_err(|error| format!("could not write {}: {error}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
