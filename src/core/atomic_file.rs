//! Files that readers see whole or not at all, and that only their owner can read:
//! written to a temporary file beside the target, flushed to disk, then renamed over it.
//! A client polling for `serve`'s ready file can never read it half-written, and no
//! other user of a shared host can read the secrets in it.
//!
//! The temporary file is created exclusively (`O_CREAT|O_EXCL`, so a planted symlink or
//! file is never followed or reused) with mode 0600 and a random name; leftovers of a
//! process that was killed are removed by [`remove_leftovers`] at the next start.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder `path` lives in (`.` for a bare file name).
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned())
}

/// Creates `path` for writing, exclusively (`create_new` fails on an existing file and
/// on a symlink, dangling or not, so none is ever followed) and readable by its owner
/// only.
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Refuses a folder another user owns or may write to: a file of secrets there could be
/// swapped or read by them.
pub(crate) fn check_folder(folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(folder)?;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the folder {} belongs to another user (uid {}); secrets are only written in a folder you own",
                    folder.display(),
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the folder {} can be written by other users (mode {:o}); secrets are only written in a folder only you can change",
                    folder.display(),
                    meta.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// Replaces `path` with `contents` in one step (same-folder temporary file, fsync,
/// rename, then fsync of the folder so the rename itself survives a crash). The file
/// ends up mode 0600, in a folder checked by [`check_folder`].
pub(crate) fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = folder_of(path);
    check_folder(folder)?;
    let temporary = temporary_path(path);
    let written = (|| {
        let mut file = create_private(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    sync_folder(folder);
    Ok(())
}

/// Flushes a folder's entries (a rename or a new file) to disk. Best effort: not every
/// file system lets a folder be opened for syncing.
pub(crate) fn sync_folder(folder: &Path) {
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
}

/// A fresh temporary name beside `path`: `.NAME.PID.RANDOM.tmp`.
fn temporary_path(path: &Path) -> PathBuf {
    let random: u64 = rand::random();
    folder_of(path).join(format!(
        ".{}.{}.{random:016x}.tmp",
        file_name(path),
        std::process::id()
    ))
}

/// Removes temporary files a killed process left beside `path`; returns how many.
/// Only regular files and symlinks named like ours are removed (a symlink is removed,
/// never followed).
pub(crate) fn remove_leftovers(path: &Path) -> usize {
    let prefix = format!(".{}.", file_name(path));
    let Ok(entries) = std::fs::read_dir(folder_of(path)) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix)
            && name.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| !t.is_dir())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_file_is_replaced_whole_private_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ready.json");
        super::write(&path, b"{\"first\":1}\n").expect("first write");
        super::write(&path, b"{\"second\":2}\n").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"second\":2}\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner may read secrets");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["ready.json"]);
        assert!(super::write(&dir.path().join("missing/ready.json"), b"x").is_err());
    }

    #[test]
    fn a_planted_symlink_is_never_followed_and_leftovers_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("state.json");
        let planted = dir.path().join(".state.json.1.planted.tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(super::create_private(&planted).is_err(), "no O_EXCL bypass");
        super::write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(super::remove_leftovers(&path), 1);
        assert!(!planted.exists() && victim.exists() && path.exists());
    }

    #[test]
    fn a_folder_others_may_write_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = super::write(&shared.join("ready.json"), b"secret").unwrap_err();
        assert!(error.to_string().contains("other users"), "{error}");
        assert!(!shared.join("ready.json").exists());
    }
}
