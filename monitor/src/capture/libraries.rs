//! Finds the TLS library files to probe: shared libraries of the known families (OpenSSL's
//! libssl, GnuTLS, NSPR for NSS) installed on the host or mapped by any process, and executables
//! that carry OpenSSL statically with its symbols (node, BoringSSL builds) or Go's `crypto/tls`
//! (every Go binary that makes TLS connections, stripped or not). Processes in
//! containers are reached through `/proc/<pid>/root` (libraries) and `/proc/<pid>/exe`
//! (executables), so paths resolve inside their mount namespace.
//!
//! Files are identified by device and inode: a uprobe is placed on an inode and fires in every
//! process that maps it, so a file is probed once wherever it appears (probing it twice would
//! report each call twice). The attacher keeps that set; this module only finds candidates.
use std::{
    collections::{BTreeMap, HashMap},
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use object::{Object as _, ObjectSymbol as _};

use super::{
    TlsLibraryKind,
    go_tls::{self, GoTlsProbes},
};

/// One file to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryFile {
    /// A path that opens the file from the monitor's mount namespace.
    pub path: PathBuf,
    /// The path as the process that maps it sees it (same as `path` for host files).
    pub display_path: String,
    pub dev: u64,
    pub ino: u64,
    pub kind: TlsLibraryKind,
    /// For Go binaries: the probe sites found by disassembly (no symbols to attach by name).
    pub go_tls: Option<Arc<GoTlsProbes>>,
}

/// Directories where distributions install shared libraries.
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

/// Executables larger than this are not read for symbols (nothing we know is that big).
const MAX_EXECUTABLE_BYTES: u64 = 1 << 30;

/// Is this file name a shared OpenSSL libssl? `libssl.so`, `libssl.so.3`, `libssl.so.1.1`, and
/// the copies Python wheels vendor under a hashed name (`libssl-3a880ada.so.1.1`, auditwheel).
pub fn is_libssl_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("libssl") else {
        return false;
    };
    rest == ".so" || rest.starts_with(".so.") || (rest.starts_with('-') && rest.contains(".so"))
}

/// The TLS family of a shared library, from its file name.
pub fn library_kind(name: &str) -> Option<TlsLibraryKind> {
    if is_libssl_name(name) {
        Some(TlsLibraryKind::Openssl)
    } else if name == "libgnutls.so" || name.starts_with("libgnutls.so.") {
        Some(TlsLibraryKind::Gnutls)
    } else if name == "libnspr4.so" || name.starts_with("libnspr4.so.") {
        Some(TlsLibraryKind::Nss)
    } else {
        None
    }
}

fn file_kind_of(path: &str) -> Option<TlsLibraryKind> {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(library_kind)
}

/// Candidate files, deduplicated by inode.
#[derive(Default)]
struct Found(BTreeMap<(u64, u64), LibraryFile>);

impl Found {
    fn add(&mut self, path: PathBuf, display_path: String, kind: TlsLibraryKind) {
        self.add_binary(path, display_path, kind, None);
    }

    fn add_binary(
        &mut self,
        path: PathBuf,
        display_path: String,
        kind: TlsLibraryKind,
        go_tls: Option<Arc<GoTlsProbes>>,
    ) {
        // `metadata` follows symlinks, so `libssl.so` -> `libssl.so.3` dedupes to one file.
        if let Ok(meta) = fs::metadata(&path)
            && meta.is_file()
        {
            self.0
                .entry((meta.dev(), meta.ino()))
                .or_insert(LibraryFile {
                    path,
                    display_path,
                    dev: meta.dev(),
                    ino: meta.ino(),
                    kind,
                    go_tls,
                });
        }
    }
}

/// What a binary file carries, as far as probing goes.
#[derive(Clone, Debug)]
pub enum BinaryVerdict {
    Nothing,
    /// OpenSSL or BoringSSL with its symbols.
    Openssl,
    Go(Arc<GoTlsProbes>),
    /// Go with `crypto/tls` that cannot be probed, and why.
    GoRefused(String),
}

/// Finds candidates; remembers which executables it already read for symbols.
pub struct Discovery {
    proc_root: PathBuf,
    /// Executable or shared-object inode → what it carries.
    symbol_verdicts: HashMap<(u64, u64), BinaryVerdict>,
}

impl Discovery {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            symbol_verdicts: HashMap::new(),
        }
    }

    /// Libraries installed on the host, whether or not anything uses them yet.
    pub fn system_libraries(&self) -> Vec<LibraryFile> {
        let mut found = Found::default();
        for dir in SYSTEM_LIBRARY_DIRS {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Some(kind) = entry.file_name().to_str().and_then(library_kind) {
                    // Report the real file (`libssl.so.3`), not the `libssl.so` dev symlink.
                    let path = fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path());
                    let display = path.display().to_string();
                    found.add(path, display, kind);
                }
            }
        }
        found.0.into_values().collect()
    }

    /// Every candidate used by every running process.
    pub fn all_processes(&mut self) -> Vec<LibraryFile> {
        let mut found = Found::default();
        let Ok(procs) = fs::read_dir(&self.proc_root) else {
            return Vec::new();
        };
        let pids: Vec<u32> = procs
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .collect();
        for pid in pids {
            self.scan_process(pid, &mut found);
        }
        found.0.into_values().collect()
    }

    /// The candidates one process uses now (its executable and its mapped libraries).
    pub fn process(&mut self, pid: u32) -> Vec<LibraryFile> {
        let mut found = Found::default();
        self.scan_process(pid, &mut found);
        found.0.into_values().collect()
    }

    fn scan_process(&mut self, pid: u32, found: &mut Found) {
        if pid == std::process::id() {
            return;
        }
        let dir = self.proc_root.join(pid.to_string());
        // A process may exit while we read: every error just skips it.
        if let Ok(maps) = fs::read_to_string(dir.join("maps")) {
            for (mapped, kind) in tls_paths_in_maps(&maps) {
                let through_root = dir.join("root").join(mapped.trim_start_matches('/'));
                found.add(through_root, mapped.to_owned(), kind);
            }
            // Shared objects with OpenSSL or BoringSSL linked in statically (Python wheels such as
            // curl_cffi, language runtimes): read once per inode.
            for mapped in other_shared_objects_in_maps(&maps) {
                let through_root = dir.join("root").join(mapped.trim_start_matches('/'));
                let verdict = self.verdict(&through_root);
                add_verdict(found, through_root, mapped.to_owned(), verdict);
            }
        }
        let exe = dir.join("exe");
        let verdict = self.verdict(&exe);
        if !matches!(verdict, BinaryVerdict::Nothing) {
            let display = fs::read_link(&exe)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| exe.display().to_string());
            add_verdict(found, exe, display, verdict);
        }
    }
}

fn add_verdict(found: &mut Found, path: PathBuf, display: String, verdict: BinaryVerdict) {
    match verdict {
        BinaryVerdict::Openssl => found.add(path, display, TlsLibraryKind::Openssl),
        BinaryVerdict::Go(probes) => {
            found.add_binary(path, display, TlsLibraryKind::Go, Some(probes))
        }
        BinaryVerdict::Nothing | BinaryVerdict::GoRefused(_) => {}
    }
}

impl Discovery {
    /// What the file carries; answered from the cache after the first time.
    pub fn verdict(&mut self, path: &Path) -> BinaryVerdict {
        let Ok(meta) = fs::metadata(path) else {
            return BinaryVerdict::Nothing;
        };
        self.symbol_verdicts
            .entry((meta.dev(), meta.ino()))
            .or_insert_with(|| {
                if meta.len() <= MAX_EXECUTABLE_BYTES {
                    inspect_binary(path)
                } else {
                    BinaryVerdict::Nothing
                }
            })
            .clone()
    }
}

/// Reads a binary once for everything we look for in it.
fn inspect_binary(path: &Path) -> BinaryVerdict {
    let Ok(file) = fs::File::open(path) else {
        return BinaryVerdict::Nothing;
    };
    // Mapped, not read: only the headers, symbol tables and a few functions are touched, so
    // checking a 100 MB executable costs a few milliseconds, in time to probe a new process
    // before its first call.
    // SAFETY: the mapping is read-only and dropped before returning; a file truncated meanwhile
    // would fault, which executables in use cannot be (the kernel refuses writes: ETXTBSY).
    let Ok(data) = (unsafe { memmap2::Mmap::map(&file) }) else {
        return BinaryVerdict::Nothing;
    };
    let Ok(elf) = object::File::parse(&*data) else {
        return BinaryVerdict::Nothing;
    };
    if go_tls::is_go(&elf) {
        return match go_tls::analyze(&data) {
            Ok(Some(probes)) => BinaryVerdict::Go(Arc::new(probes)),
            Ok(None) => BinaryVerdict::Nothing,
            Err(reason) => BinaryVerdict::GoRefused(reason.to_string()),
        };
    }
    if defines_openssl_symbols(&elf) {
        BinaryVerdict::Openssl
    } else {
        BinaryVerdict::Nothing
    }
}

/// Mapped shared objects that are not of a known TLS family by name.
fn other_shared_objects_in_maps(maps: &str) -> Vec<&str> {
    let mut paths: Vec<&str> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/') && (path.ends_with(".so") || path.contains(".so.")))
        .filter(|path| file_kind_of(path).is_none())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// Whether an ELF file defines `SSL_read` and `SSL_write` (exported or in its symbol table).
pub fn has_openssl_symbols(path: &Path) -> bool {
    matches!(inspect_binary(path), BinaryVerdict::Openssl)
}

fn defines_openssl_symbols(file: &object::File<'_>) -> bool {
    let (mut read, mut write) = (false, false);
    for symbol in file.dynamic_symbols().chain(file.symbols()) {
        if symbol.is_definition() {
            match symbol.name() {
                Ok("SSL_read") => read = true,
                Ok("SSL_write") => write = true,
                _ => {}
            }
        }
        if read && write {
            return true;
        }
    }
    false
}

/// Paths of TLS libraries in the text of a `/proc/<pid>/maps`, each once.
fn tls_paths_in_maps(maps: &str) -> Vec<(&str, TlsLibraryKind)> {
    let mut paths: Vec<(&str, TlsLibraryKind)> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/'))
        .filter_map(|path| file_kind_of(path).map(|kind| (path, kind)))
        .collect();
    paths.sort_unstable_by_key(|(p, _)| *p);
    paths.dedup_by_key(|(p, _)| *p);
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_library_families_by_name() {
        assert!(is_libssl_name("libssl.so.3"));
        assert!(is_libssl_name("libssl.so.1.1"));
        assert!(is_libssl_name("libssl.so"));
        assert!(is_libssl_name("libssl-3a880ada.so.1.1"));
        assert!(!is_libssl_name("libssl3.so")); // NSS, not OpenSSL
        assert!(!is_libssl_name("libssl.a"));
        assert!(!is_libssl_name("libcrypto.so.3"));
        assert_eq!(
            library_kind("libgnutls.so.30"),
            Some(TlsLibraryKind::Gnutls)
        );
        assert_eq!(library_kind("libgnutls-openssl.so.27"), None);
        assert_eq!(library_kind("libgnutls-dane.so.0"), None);
        assert_eq!(library_kind("libnspr4.so"), Some(TlsLibraryKind::Nss));
        assert_eq!(library_kind("libc.so.6"), None);
    }

    #[test]
    fn finds_tls_libraries_in_maps_once() {
        let maps = "\
7f00-7f01 r--p 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f01-7f02 r-xp 00001000 fe:01 123 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f02-7f03 r-xp 00001000 fe:01 124 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f03-7f04 rw-p 00000000 00:00 0 [heap]
7f04-7f05 r-xp 00000000 fe:01 125 /opt/app/lib/libssl.so.1.1 (deleted)
7f05-7f06 r-xp 00000000 fe:01 126 /usr/lib/x86_64-linux-gnu/libgnutls.so.30
";
        assert_eq!(
            tls_paths_in_maps(maps),
            vec![
                ("/opt/app/lib/libssl.so.1.1", TlsLibraryKind::Openssl),
                (
                    "/usr/lib/x86_64-linux-gnu/libgnutls.so.30",
                    TlsLibraryKind::Gnutls
                ),
                (
                    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                    TlsLibraryKind::Openssl
                ),
            ]
        );
    }

    #[test]
    fn discovers_the_system_libraries_once_per_inode() {
        let found = Discovery::new("/proc").system_libraries();
        let mut inodes: Vec<_> = found.iter().map(|l| (l.dev, l.ino)).collect();
        let before = inodes.len();
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(before, inodes.len(), "one entry per inode: {found:?}");
        assert!(
            found
                .iter()
                .any(|l| l.kind == TlsLibraryKind::Openssl && l.display_path.contains("libssl.so")),
            "libssl3 is installed on our machines: {found:?}"
        );
    }

    #[test]
    fn reads_static_openssl_symbols_from_executables() {
        // node carries OpenSSL statically with exported symbols; the test binary does not.
        if let Ok(node) = which_node() {
            assert!(has_openssl_symbols(&node), "{}", node.display());
        }
        assert!(!has_openssl_symbols(&std::env::current_exe().unwrap()));
        assert!(!has_openssl_symbols(Path::new("/nonexistent")));
    }

    fn which_node() -> Result<PathBuf, ()> {
        ["/usr/bin/node", "/usr/local/bin/node"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or(())
    }
}
