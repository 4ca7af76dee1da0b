//! Finds the OpenSSL library files to probe: the system's, and every one mapped by a running
//! process, including processes in containers (reached through `/proc/<pid>/root`, so the path
//! resolves inside the process's mount namespace). Files are deduplicated by device and inode:
//! a uprobe is placed on an inode and fires in every process that maps it, so probing one file
//! twice would report each call twice.
use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// One library file to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryFile {
    /// A path that opens the file from the monitor's mount namespace.
    pub path: PathBuf,
    /// The path as the process that maps it sees it (same as `path` for host files).
    pub display_path: String,
    pub dev: u64,
    pub ino: u64,
}

/// Directories where distributions install the system libssl.
const SYSTEM_LIBRARY_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib",
    "/usr/local/lib",
    "/usr/local/lib64",
];

/// Is this file name a shared OpenSSL libssl? `libssl.so`, `libssl.so.3`, `libssl.so.1.1`, and
/// the copies Python wheels vendor under a hashed name (`libssl-3a880ada.so.1.1`, auditwheel).
pub fn is_libssl_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("libssl") else {
        return false;
    };
    rest == ".so" || rest.starts_with(".so.") || (rest.starts_with('-') && rest.contains(".so"))
}

/// The system's libssl files and those mapped by running processes, one entry per inode.
/// `proc_root` is `/proc` except in tests.
pub fn discover_openssl_libraries(proc_root: &Path) -> Vec<LibraryFile> {
    let mut found: BTreeMap<(u64, u64), LibraryFile> = BTreeMap::new();
    let mut add = |path: PathBuf, display_path: String| {
        // `metadata` follows symlinks, so `libssl.so` -> `libssl.so.3` dedupes to one file.
        if let Ok(meta) = fs::metadata(&path)
            && meta.is_file()
        {
            found
                .entry((meta.dev(), meta.ino()))
                .or_insert(LibraryFile {
                    path,
                    display_path,
                    dev: meta.dev(),
                    ino: meta.ino(),
                });
        }
    };

    for dir in SYSTEM_LIBRARY_DIRS {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && is_libssl_name(name)
            {
                // Report the real file (`libssl.so.3`), not the `libssl.so` dev symlink.
                let path = fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path());
                let display = path.display().to_string();
                add(path, display);
            }
        }
    }

    let Ok(procs) = fs::read_dir(proc_root) else {
        return found.into_values().collect();
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit while we read: every error just skips it.
        let Ok(maps) = fs::read_to_string(proc_root.join(pid.to_string()).join("maps")) else {
            continue;
        };
        for mapped in libssl_paths_in_maps(&maps) {
            let through_root = proc_root
                .join(pid.to_string())
                .join("root")
                .join(mapped.trim_start_matches('/'));
            add(through_root, mapped.to_owned());
        }
    }
    found.into_values().collect()
}

/// Paths of libssl files in the text of a `/proc/<pid>/maps`, each once.
fn libssl_paths_in_maps(maps: &str) -> Vec<&str> {
    let mut paths: Vec<&str> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/'))
        .filter(|path| {
            Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_libssl_name)
        })
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_libssl_names() {
        assert!(is_libssl_name("libssl.so.3"));
        assert!(is_libssl_name("libssl.so.1.1"));
        assert!(is_libssl_name("libssl.so"));
        assert!(is_libssl_name("libssl-3a880ada.so.1.1"));
        assert!(!is_libssl_name("libssl3.so")); // NSS, not OpenSSL
        assert!(!is_libssl_name("libssl.a"));
        assert!(!is_libssl_name("libcrypto.so.3"));
    }

    #[test]
    fn finds_libssl_in_maps_once() {
        let maps = "\
7f00-7f01 r--p 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f01-7f02 r-xp 00001000 fe:01 123 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f02-7f03 r-xp 00001000 fe:01 124 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f03-7f04 rw-p 00000000 00:00 0 [heap]
7f04-7f05 r-xp 00000000 fe:01 125 /opt/app/lib/libssl.so.1.1 (deleted)
";
        assert_eq!(
            libssl_paths_in_maps(maps),
            vec![
                "/opt/app/lib/libssl.so.1.1",
                "/usr/lib/x86_64-linux-gnu/libssl.so.3"
            ]
        );
    }

    #[test]
    fn discovers_the_system_libssl_and_dedupes_by_inode() {
        let found = discover_openssl_libraries(Path::new("/proc"));
        let mut inodes: Vec<_> = found.iter().map(|l| (l.dev, l.ino)).collect();
        let before = inodes.len();
        inodes.dedup();
        assert_eq!(before, inodes.len(), "one entry per inode: {found:?}");
        assert!(
            found.iter().any(|l| l.display_path.contains("libssl.so")),
            "libssl3 is installed on our machines, so the system libssl must be found: {found:?}"
        );
    }
}
