//! Files that readers see whole or not at all: written to a temporary file beside the
//! target, flushed to disk, then renamed over it. A client polling for `serve`'s ready
//! file can never read it half-written.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `contents` in one step (same-folder temporary file, fsync,
/// rename, then fsync of the folder so the rename itself survives a crash).
pub fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    // Best effort: not every file system lets a folder be opened for syncing.
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = std::env::temp_dir().join(format!("sharesim-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("ready.json");
        super::write(&path, b"{\"first\":1}\n").expect("first write");
        super::write(&path, b"{\"second\":2}\n").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"second\":2}\n");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["ready.json"]);
        assert!(super::write(&dir.join("missing/ready.json"), b"x").is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
