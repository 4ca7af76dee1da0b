//! The policy in force for `run` and `replay`: loaded from a file (or the built-in default), and
//! told when that file changed. Kubernetes updates a mounted ConfigMap by swapping a symlink, so
//! "changed" compares what the path resolves to (inode, size, mtime), not the link.
use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use monitor::policy::Policy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileSignature {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn signature(path: &Path) -> Option<FileSignature> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileSignature {
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    })
}

pub struct PolicyFile {
    path: Option<PathBuf>,
    loaded: Option<FileSignature>,
}

impl PolicyFile {
    pub fn new(path: Option<PathBuf>) -> Self {
        Self { path, loaded: None }
    }

    /// Loads the policy; errors are the text `monitor policy check` would print.
    pub fn load(&mut self) -> Result<Policy, String> {
        let Some(path) = &self.path else {
            return Ok(Policy::builtin_default());
        };
        let before = signature(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read policy {}: {e}", path.display()))?;
        // Remember what was read even if it is invalid: a broken file is reported once, not
        // every poll, and the next edit is picked up.
        self.loaded = before;
        Policy::from_yaml(&text).map_err(|errors| format!("{}:\n{errors}", path.display()))
    }

    /// Whether the file changed since the last load.
    pub fn changed(&self) -> bool {
        match &self.path {
            Some(path) => signature(path) != self.loaded,
            None => false,
        }
    }

    pub fn describe(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => "built-in default".to_owned(),
        }
    }
}
