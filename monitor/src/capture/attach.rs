//! Attaches the TLS-library uprobes to library files and remembers, per attach cookie, which file
//! a record came from (so every API call can say which TLS library carried it).
//!
//! A library that cannot be probed (a symbol missing, the kernel refusing) is logged with the file
//! and the reason, and the monitor goes on with the others.
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use aya::programs::{
    UProbe,
    uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{LibraryFile, LoadedPrograms};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsLibraryKind {
    Openssl,
}

/// What a record's attach cookie stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryInfo {
    pub kind: TlsLibraryKind,
    /// The library path as the process that maps it sees it.
    pub path: String,
}

/// Cookie → library, shared between the attacher and the pipeline.
#[derive(Clone, Debug, Default)]
pub struct LibraryRegistry {
    inner: Arc<RwLock<HashMap<u64, Arc<LibraryInfo>>>>,
}

impl LibraryRegistry {
    pub fn register(&self, info: LibraryInfo) -> u64 {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Cookie 0 is what a record carries when no cookie was set: keep it meaning "unknown".
        let cookie = map.len() as u64 + 1;
        map.insert(cookie, Arc::new(info));
        cookie
    }

    pub fn get(&self, cookie: u64) -> Option<Arc<LibraryInfo>> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(&cookie).cloned()
    }

    /// Registers a library under a cookie chosen elsewhere (replay of a recording).
    pub fn insert(&self, cookie: u64, info: LibraryInfo) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.insert(cookie, Arc::new(info));
    }

    /// Every registered library, by cookie.
    pub fn entries(&self) -> Vec<(u64, Arc<LibraryInfo>)> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut entries: Vec<_> = map.iter().map(|(k, v)| (*k, v.clone())).collect();
        entries.sort_by_key(|(cookie, _)| *cookie);
        entries
    }
}

/// (function, program) pairs for OpenSSL: entry probes.
const OPENSSL_ENTRY: &[(&str, &str)] = &[
    ("SSL_write", "ssl_write"),
    ("SSL_write_ex", "ssl_write_ex"),
    ("SSL_read", "ssl_read"),
    ("SSL_read_ex", "ssl_read_ex"),
    ("SSL_free", "ssl_free"),
];
/// Functions that also get the return probe.
const OPENSSL_RETURN: &[&str] = &["SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex"];
/// Without these a library is useless to us; the `_ex` variants only exist from 1.1.1 on.
const OPENSSL_REQUIRED: &[&str] = &["SSL_write", "SSL_read"];

#[derive(Debug, Default)]
pub struct AttachReport {
    pub libraries: usize,
    pub probes: usize,
    /// `(library path, reason)` for every library that could not be probed.
    pub failures: Vec<(String, String)>,
}

pub fn attach_openssl(
    programs: &mut LoadedPrograms,
    libraries: &[LibraryFile],
    registry: &LibraryRegistry,
) -> AttachReport {
    let mut report = AttachReport::default();
    for library in libraries {
        let cookie = registry.register(LibraryInfo {
            kind: TlsLibraryKind::Openssl,
            path: library.display_path.clone(),
        });
        match attach_one(programs, library, cookie) {
            Ok(probes) => {
                info!(library = %library.display_path, probes, "probed TLS library");
                report.libraries += 1;
                report.probes += probes;
            }
            Err(reason) => {
                warn!(library = %library.display_path, %reason, "cannot probe TLS library");
                report.failures.push((library.display_path.clone(), reason));
            }
        }
    }
    report
}

fn attach_one(
    programs: &mut LoadedPrograms,
    library: &LibraryFile,
    cookie: u64,
) -> Result<usize, String> {
    let mut attached = 0;
    let mut missing = Vec::new();
    let mut attach = |program: &'static str, function: &'static str| -> Result<(), String> {
        let probe: &mut UProbe = programs.uprobe(program).map_err(|e| e.to_string())?;
        let point = UProbeAttachPoint {
            location: UProbeAttachLocation::Symbol(function),
            cookie: Some(cookie),
        };
        probe
            .attach(point, &library.path, UProbeScope::AllProcesses)
            .map(|_| ())
            .map_err(|e| format!("{function}: {e}"))
    };
    for &(function, program) in OPENSSL_ENTRY {
        match attach(program, function) {
            Ok(()) => attached += 1,
            Err(reason) if OPENSSL_REQUIRED.contains(&function) => return Err(reason),
            Err(_) => missing.push(function),
        }
    }
    for &function in OPENSSL_RETURN {
        if missing.contains(&function) {
            continue;
        }
        attach("ssl_return", function)?;
        attached += 1;
    }
    if !missing.is_empty() {
        info!(library = %library.display_path, ?missing, "optional OpenSSL functions not present");
    }
    Ok(attached)
}
