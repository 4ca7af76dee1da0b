//! Attaches the TLS-library uprobes to library files, once per file (inode), at start and
//! whenever a new file shows up, and detaches them from files nothing uses any more (a process
//! that exited, a library upgraded on disk); remembers, per attach cookie, which file a record
//! came from (so every API call can say which TLS library carried it).
//!
//! One set of kernel programs serves every family: each probed function has OpenSSL's
//! `SSL_read`/`SSL_write` shape (connection handle, buffer, length; returns the byte count) or
//! `_ex` shape, and a close function whose first argument is the handle. A library that cannot be
//! probed (a symbol missing, the kernel refusing) is logged with the file and the reason, and the
//! monitor goes on with the others.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use aya::programs::{
    ProgramError, UProbe,
    uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeLinkId, UProbeScope},
};
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use aya::sys::SyscallError;
use iced_x86::Register;
use object::Object as _;

use super::{
    LibraryFile, LoadedPrograms,
    go_tls::GoTlsProbes,
    placement::{self, Placement},
    privileges::{self, Operation, Refusal},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsLibraryKind {
    /// OpenSSL, LibreSSL or BoringSSL (`SSL_*`), shared or static.
    Openssl,
    /// GnuTLS (`gnutls_record_*`).
    Gnutls,
    /// NSS through NSPR (`PR_Read`/`PR_Write` on SSL file descriptors).
    Nss,
    /// Go's `crypto/tls`, compiled into a Go binary.
    Go,
}

impl TlsLibraryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openssl => "openssl",
            Self::Gnutls => "gnutls",
            Self::Nss => "nss",
            Self::Go => "go",
        }
    }
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
    inner: Arc<RwLock<crate::IdMap<u64, Arc<LibraryInfo>>>>,
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

/// How one family is probed.
struct Family {
    /// (function, entry program).
    entry: &'static [(&'static str, &'static str)],
    /// Functions that also get the return probe.
    returns: &'static [&'static str],
    /// Without these a file is useless to us.
    required: &'static [&'static str],
}

const OPENSSL: Family = Family {
    entry: &[
        ("SSL_write", "ssl_write"),
        ("SSL_write_ex", "ssl_write_ex"),
        ("SSL_read", "ssl_read"),
        ("SSL_read_ex", "ssl_read_ex"),
        ("SSL_free", "ssl_free"),
    ],
    returns: &["SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex"],
    // The `_ex` variants only exist from 1.1.1 on.
    required: &["SSL_write", "SSL_read"],
};

const GNUTLS: Family = Family {
    entry: &[
        ("gnutls_record_send", "ssl_write"),
        ("gnutls_record_recv", "ssl_read"),
        ("gnutls_deinit", "ssl_free"),
    ],
    returns: &["gnutls_record_send", "gnutls_record_recv"],
    required: &["gnutls_record_send", "gnutls_record_recv"],
};

const NSS: Family = Family {
    entry: &[
        ("PR_Write", "ssl_write"),
        ("PR_Send", "ssl_write"),
        ("PR_Read", "ssl_read"),
        ("PR_Recv", "ssl_read"),
        ("PR_Close", "ssl_free"),
    ],
    returns: &["PR_Write", "PR_Send", "PR_Read", "PR_Recv"],
    required: &["PR_Write", "PR_Read"],
};

fn family(kind: TlsLibraryKind) -> Option<&'static Family> {
    match kind {
        TlsLibraryKind::Openssl => Some(&OPENSSL),
        TlsLibraryKind::Gnutls => Some(&GNUTLS),
        TlsLibraryKind::Nss => Some(&NSS),
        // Attached by address, from the sites found in the binary.
        TlsLibraryKind::Go => None,
    }
}

#[derive(Debug, Default)]
pub struct AttachReport {
    pub libraries: usize,
    pub probes: usize,
    /// `(library path, reason)` for every library that could not be probed.
    pub failures: Vec<(String, String)>,
    /// Cookies registered by this round, for recordings.
    pub registered: Vec<(u64, LibraryInfo)>,
}

/// The probes placed on one file: (program, link), to detach them.
type Links = Vec<(&'static str, UProbeLinkId)>;

/// One file handled by the attacher.
struct AttachedFile {
    display_path: String,
    /// Empty when probing it failed (it is not retried while it stays in use).
    links: Links,
}

/// Attaches each file once, however often it is found.
#[derive(Default)]
pub struct Attacher {
    /// Files handled (probed or failed), by (device, inode).
    files: HashMap<(u64, u64), AttachedFile>,
    /// Keep every probe at its function's start (see `placement`): for comparisons.
    probes_at_start: bool,
    /// A refusal by the kernel was logged as an error: it holds for every file, so once is
    /// enough (the others are logged at debug level).
    refusal_logged: bool,
}

impl Attacher {
    /// `probes_at_start`: never move probes off a function's first instruction.
    pub fn new(probes_at_start: bool) -> Self {
        Self {
            files: HashMap::new(),
            probes_at_start,
            refusal_logged: false,
        }
    }

    pub fn attach(
        &mut self,
        programs: &mut LoadedPrograms,
        libraries: &[LibraryFile],
        registry: &LibraryRegistry,
    ) -> AttachReport {
        let mut report = AttachReport::default();
        for library in libraries {
            if self.files.contains_key(&(library.dev, library.ino)) {
                continue;
            }
            let info = LibraryInfo {
                kind: library.kind,
                path: library.display_path.clone(),
            };
            let cookie = registry.register(info.clone());
            report.registered.push((cookie, info));
            let mut links = Links::new();
            match attach_one(programs, library, cookie, self.probes_at_start, &mut links) {
                Ok(()) => {
                    info!(library = %library.display_path, kind = library.kind.as_str(), probes = links.len(), "probed TLS library");
                    report.libraries += 1;
                    report.probes += links.len();
                }
                Err(Failure { reason, refusal }) => {
                    match refusal {
                        // Not a problem of this file: no uprobe will attach anywhere. One clear
                        // line that names the missing privilege, not one warning per library.
                        Some(refusal) if !self.refusal_logged => {
                            self.refusal_logged = true;
                            error!(library = %library.display_path, %reason, "cannot attach uprobes, TLS calls will not be seen: {refusal}");
                        }
                        Some(_) => {
                            debug!(library = %library.display_path, %reason, "cannot probe TLS library (refused, see the error above)");
                        }
                        None => {
                            warn!(library = %library.display_path, %reason, "cannot probe TLS library");
                        }
                    }
                    report.failures.push((library.display_path.clone(), reason));
                    // A file half probed would report some calls and miss others.
                    detach_links(programs, &mut links);
                }
            }
            self.files.insert(
                (library.dev, library.ino),
                AttachedFile {
                    display_path: library.display_path.clone(),
                    links,
                },
            );
        }
        report
    }

    /// Detaches the probes of every handled file not in `in_use` (the complete set of candidate
    /// files that processes map now, plus the installed system libraries); returns their paths.
    /// A file that comes back later is probed again.
    pub fn detach_unused(
        &mut self,
        programs: &mut LoadedPrograms,
        in_use: &HashSet<(u64, u64)>,
    ) -> Vec<String> {
        let unused: Vec<(u64, u64)> = self
            .files
            .keys()
            .filter(|file| !in_use.contains(file))
            .copied()
            .collect();
        let mut detached = Vec::new();
        for key in unused {
            if let Some(mut file) = self.files.remove(&key) {
                let probes = file.links.len();
                detach_links(programs, &mut file.links);
                info!(library = %file.display_path, probes, "detached probes from a file no longer in use");
                detached.push(file.display_path);
            }
        }
        detached
    }

    /// Files with probes attached now.
    pub fn probed_files(&self) -> usize {
        self.files.values().filter(|f| !f.links.is_empty()).count()
    }
}

fn detach_links(programs: &mut LoadedPrograms, links: &mut Links) {
    for (program, link) in links.drain(..) {
        let result = programs
            .uprobe(program)
            .map_err(|e| e.to_string())
            .and_then(|probe| probe.detach(link).map_err(|e| e.to_string()));
        if let Err(error) = result {
            warn!(program, %error, "cannot detach a probe");
        }
    }
}

/// Why a file could not be probed.
#[derive(Debug)]
struct Failure {
    reason: String,
    /// Set when the kernel refused for lack of a privilege (the same for every file).
    refusal: Option<Refusal>,
}

impl Failure {
    /// The same failure, with what was being probed in front.
    fn context(self, what: impl std::fmt::Display) -> Self {
        Self {
            reason: format!("{what}: {}", self.reason),
            ..self
        }
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            refusal: None,
        }
    }
}

impl From<ProgramError> for Failure {
    fn from(error: ProgramError) -> Self {
        // Only the syscalls' refusals are about privileges; an EACCES reading the file (a
        // process's root we may not enter) is about that file.
        let operation = match &error {
            ProgramError::SyscallError(SyscallError {
                call: "perf_event_open",
                ..
            }) => Some(Operation::AttachUprobe),
            ProgramError::SyscallError(_) => Some(Operation::LoadPrograms),
            _ => None,
        };
        let refusal = operation.and_then(|op| privileges::explain_error(op, &error));
        Self {
            reason: with_causes(&error),
            refusal,
        }
    }
}

/// An error and its causes on one line (aya's syscall errors keep the errno in the cause).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// One probe: `program` at `location` of the library file.
fn attach_at(
    programs: &mut LoadedPrograms,
    library: &LibraryFile,
    cookie: u64,
    program: &'static str,
    location: UProbeAttachLocation<'_>,
    links: &mut Links,
) -> Result<(), Failure> {
    let probe: &mut UProbe = programs.uprobe(program).map_err(|e| Failure {
        reason: e.to_string(),
        refusal: None,
    })?;
    let point = UProbeAttachPoint {
        location,
        cookie: Some(cookie),
    };
    let link = probe.attach(point, &library.path, UProbeScope::AllProcesses)?;
    links.push((program, link));
    Ok(())
}

fn attach_one(
    programs: &mut LoadedPrograms,
    library: &LibraryFile,
    cookie: u64,
    probes_at_start: bool,
    links: &mut Links,
) -> Result<(), Failure> {
    let Some(family) = family(library.kind) else {
        let probes = library
            .go_tls
            .as_deref()
            .ok_or("a Go binary without its probe sites")?;
        return attach_go(programs, library, probes, cookie, links);
    };
    let planned = if probes_at_start {
        Vec::new()
    } else {
        cheap_placements(library, family)
    };
    let mut missing = Vec::new();
    for &(function, program) in family.entry {
        let location = match planned.iter().find(|(f, _, _)| *f == function) {
            Some((_, start, placement)) => {
                UProbeAttachLocation::AbsoluteOffset(start + placement.entry)
            }
            None => UProbeAttachLocation::Symbol(function),
        };
        match attach_at(programs, library, cookie, program, location, links) {
            Ok(()) => {}
            Err(failure) if family.required.contains(&function) => {
                return Err(failure.context(function));
            }
            Err(_) => missing.push(function),
        }
    }
    for &function in family.returns {
        if missing.contains(&function) {
            continue;
        }
        if let Some((_, start, placement)) = planned.iter().find(|(f, _, _)| *f == function) {
            for &site in &placement.returns {
                let location = UProbeAttachLocation::AbsoluteOffset(start + site);
                attach_at(
                    programs,
                    library,
                    cookie,
                    "ssl_return_site",
                    location,
                    links,
                )
                .map_err(|failure| failure.context(format_args!("{function} return site")))?;
            }
            continue;
        }
        let location = UProbeAttachLocation::Symbol(function);
        attach_at(programs, library, cookie, "ssl_return", location, links)
            .map_err(|failure| failure.context(function))?;
    }
    if !missing.is_empty() {
        debug!(library = %library.display_path, ?missing, "optional functions not present");
    }
    if !planned.is_empty() {
        let functions: Vec<&str> = planned.iter().map(|(f, _, _)| *f).collect();
        info!(library = %library.display_path, ?functions, "probes moved off single-stepped first instructions");
    }
    Ok(())
}

/// The functions of a family whose probes can move to emulated instructions (see `placement`):
/// (function, file offset of its start, placement). Empty when the file cannot be read.
fn cheap_placements(library: &LibraryFile, family: &Family) -> Vec<(&'static str, u64, Placement)> {
    // Arguments our entry programs read: the handle, the buffer, the length, `_ex`'s out-pointer.
    const ARGUMENTS: &[Register] = &[Register::RDI, Register::RSI, Register::RDX, Register::RCX];
    let Ok(file) = std::fs::File::open(&library.path) else {
        return Vec::new();
    };
    // SAFETY: read-only mapping of a library in use (writes to it fail with ETXTBSY), dropped
    // before returning.
    let Ok(data) = (unsafe { memmap2::Mmap::map(&file) }) else {
        return Vec::new();
    };
    let Ok(elf) = object::File::parse(&*data) else {
        return Vec::new();
    };
    if elf.architecture() != object::Architecture::X86_64 {
        return Vec::new();
    }
    family
        .returns
        .iter()
        .filter_map(|&function| {
            let (code, start) = placement::function_code(&elf, function)?;
            Some((function, start, placement::plan(code, ARGUMENTS)?))
        })
        .collect()
}

/// Go `crypto/tls`: entry probes on Write, Read and Close, and a plain uprobe on every return
/// instruction of Write and Read (see `go_tls` for why not uretprobes).
fn attach_go(
    programs: &mut LoadedPrograms,
    library: &LibraryFile,
    probes: &GoTlsProbes,
    cookie: u64,
    links: &mut Links,
) -> Result<(), Failure> {
    let mut sites: Vec<(&'static str, u64)> = vec![
        ("go_tls_write", probes.write.entry),
        ("go_tls_read", probes.read.entry),
    ];
    sites.extend(probes.close.map(|at| ("go_tls_close", at)));
    for function in [&probes.write, &probes.read] {
        sites.extend(function.returns.iter().map(|&at| ("go_tls_return", at)));
    }
    for &(program, offset) in &sites {
        let location = UProbeAttachLocation::AbsoluteOffset(offset);
        attach_at(programs, library, cookie, program, location, links).map_err(|failure| {
            failure.context(format_args!("{program} at file offset {offset:#x}"))
        })?;
    }
    debug!(library = %library.display_path, version = ?probes.version, sites = sites.len(), "Go crypto/tls probe sites");
    Ok(())
}
