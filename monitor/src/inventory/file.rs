//! The inventory file: written whole and atomically, so that a reader (`monitor inventory
//! --file`, a collector tailing it) sees the previous inventory or the new one, never a torn mix.
//!
//! The new document goes to a temporary file in the same directory (a rename is atomic only
//! within one file system), is flushed to disk, then renamed over the old one. A failure removes
//! the temporary file, so none is left behind.
//!
//! The daemon runs as root and the directory may be writable by others: the temporary file is
//! created exclusively (`O_CREAT|O_EXCL`, which also refuses a symlink), so a link planted under
//! its name cannot make the daemon overwrite another file; a leftover is removed first (that
//! removes a link, never its target). The rename replaces whatever is at `path` without following
//! it.
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use super::{InventoryError, InventorySnapshot};

/// Replaces `path` with `snap` as JSON (pretty, one field a line: the file is for people too).
pub fn write_atomically(path: &Path, snap: &InventorySnapshot) -> Result<(), InventoryError> {
    let json = serde_json::to_vec_pretty(snap).map_err(InventoryError::Encode)?;
    let tmp = temp_path(path);
    let written = write_file(&tmp, &json).and_then(|()| fs::rename(&tmp, path));
    written.map_err(|source| {
        // Best effort: the temporary file may not even exist.
        let _ = fs::remove_file(&tmp);
        InventoryError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Reads an inventory file written by [`write_atomically`] (or saved from `/inventory`).
pub fn read_file(path: &Path) -> Result<InventorySnapshot, InventoryError> {
    let text = fs::read(path).map_err(|source| InventoryError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| InventoryError::Parse {
        origin: path.display().to_string(),
        source,
    })
}

/// `dir/.name.tmp.PID` beside `path`: hidden, and unique per process, so that two daemons
/// pointed at the same file cannot write into each other's temporary file.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "inventory".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "monitor-inventory-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn snap(evicted: u64) -> InventorySnapshot {
        InventorySnapshot {
            generated_at: "2023-11-14T22:13:20Z".into(),
            entries: Vec::new(),
            evicted,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = TempDir::new("replace");
        let path = dir.0.join("inventory.json");
        fs::write(&path, "old").unwrap();
        write_atomically(&path, &snap(1)).unwrap();
        assert_eq!(read_file(&path).unwrap(), snap(1));
        write_atomically(&path, &snap(2)).unwrap();
        assert_eq!(read_file(&path).unwrap(), snap(2));
        assert_eq!(names(&dir.0), ["inventory.json"]);
    }

    #[test]
    fn a_failed_write_is_an_error_and_leaves_nothing() {
        let dir = TempDir::new("fail");
        // The target is a directory: the rename fails after the temporary file was written.
        let path = dir.0.join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let err = write_atomically(&path, &snap(1)).unwrap_err();
        assert!(matches!(err, InventoryError::Write { .. }), "{err}");
        assert_eq!(names(&dir.0), ["taken"]);
        // A missing directory too.
        let missing = dir.0.join("no/such/dir/inventory.json");
        assert!(write_atomically(&missing, &snap(1)).is_err());
    }

    #[test]
    fn a_link_planted_as_the_temporary_file_is_not_followed() {
        let dir = TempDir::new("link");
        let victim = dir.0.join("victim");
        fs::write(&victim, "precious").unwrap();
        let path = dir.0.join("inventory.json");
        std::os::unix::fs::symlink(&victim, temp_path(&path)).unwrap();
        write_atomically(&path, &snap(1)).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(read_file(&path).unwrap(), snap(1));
        assert_eq!(names(&dir.0), ["inventory.json", "victim"]);
    }

    #[test]
    fn reading_something_else_is_a_clear_error() {
        let dir = TempDir::new("read");
        let path = dir.0.join("x.json");
        fs::write(&path, "{\"not\": \"an inventory\"}").unwrap();
        let err = read_file(&path).unwrap_err();
        assert!(err.to_string().contains("is not an inventory"), "{err}");
        let err = read_file(&dir.0.join("missing.json")).unwrap_err();
        assert!(matches!(err, InventoryError::Read { .. }), "{err}");
    }
}
