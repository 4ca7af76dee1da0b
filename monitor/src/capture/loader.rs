//! The embedded kernel object: load-time settings, loading every program, and the maps userspace
//! reads. Attaching uprobes to library files is `attach`'s job; this module attaches only the
//! host-wide process tracepoints.
use std::{fs, path::Path};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, MapData, RingBuf},
    programs::{ProgramError, TracePoint, UProbe},
};
use thiserror::Error;
use tracing::{debug, info, warn};

use super::{
    kernel_counters::KernelCounters,
    privileges::{self, Operation},
};

/// The object built by `build.rs` from `monitor-ebpf`.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor"));

/// Uprobe programs (entry and return) defined in `monitor-ebpf`.
pub const UPROBE_PROGRAMS: &[&str] = &[
    "ssl_write",
    "ssl_write_ex",
    "ssl_read",
    "ssl_read_ex",
    "ssl_return",
    "ssl_return_site",
    "ssl_free",
    "go_tls_write",
    "go_tls_read",
    "go_tls_return",
    "go_tls_close",
    EMPTY_UPROBE,
    EMPTY_URETPROBE,
];

/// Programs that do nothing, attached instead of the real ones with `empty_probes`.
const EMPTY_UPROBE: &str = "empty_uprobe";
const EMPTY_URETPROBE: &str = "empty_uretprobe";
const EMPTY_TRACEPOINT: &str = "empty_tracepoint";

/// Host-wide tracepoints: (program, category, name).
const TRACEPOINTS: &[(&str, &str, &str)] = &[
    ("sched_process_exec", "sched", "sched_process_exec"),
    ("sched_process_exit", "sched", "sched_process_exit"),
];

/// Reports a connection's addresses from its first read (see `probes::socket`); without it
/// they come from `/proc` lookups only.
const ADDRESS_TRACEPOINT: (&str, &str, &str) =
    ("tcp_rcv_space_adjust", "tcp", "tcp_rcv_space_adjust");

/// Syscall tracepoints of the socket probes (program name = tracepoint name).
const SOCKET_TRACEPOINTS: &[&str] = &[
    "sys_enter_connect",
    "sys_exit_connect",
    "sys_enter_accept",
    "sys_exit_accept",
    "sys_enter_accept4",
    "sys_exit_accept4",
    "sys_enter_close",
    "sys_enter_write",
    "sys_exit_write",
    "sys_enter_read",
    "sys_exit_read",
    "sys_enter_sendto",
    "sys_exit_sendto",
    "sys_enter_recvfrom",
    "sys_exit_recvfrom",
    "sys_enter_writev",
    "sys_exit_writev",
    "sys_enter_readv",
    "sys_exit_readv",
    "sys_enter_sendmsg",
    "sys_exit_sendmsg",
    "sys_enter_recvmsg",
    "sys_exit_recvmsg",
];

const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(Clone, Copy, Debug)]
pub struct CaptureSettings {
    /// Ring-buffer size in bytes: a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Bytes of one call copied at most.
    pub call_cap: u32,
    /// Bytes copied per call on HTTP/2 connections (clamped to `call_cap..=MAX_CALL_CAP`).
    pub http2_call_cap: u32,
    /// Records wake the reader only when it sleeps or when this many bytes wait (see
    /// `ring::Wakeups`); 0 keeps the kernel's default of a wake-up per record.
    pub wakeup_bytes: u32,
    /// Attach programs that do nothing, at exactly the places the real ones go: the cost of the
    /// probes themselves (the floor under the monitor's own cost), for the overhead benchmark.
    pub empty_probes: bool,
}

#[derive(Debug, Error)]
pub enum LoadError {
    #[error(
        "this binary was built with AYA_BUILD_SKIP: it carries no kernel programs; rebuild without it"
    )]
    NoObject,
    #[error("ring buffer size {bytes} must be a power of two and at least one page ({page} bytes)")]
    RingBufferSize { bytes: u32, page: usize },
    #[error("per-call capture cap {bytes} must be between 1 and {max}")]
    CallCap { bytes: u32, max: u32 },
    /// `reason` names the missing privilege when the kernel refused (see `privileges`).
    #[error("loading the kernel programs failed{reason}")]
    Load {
        reason: Reason,
        #[source]
        source: aya::EbpfError,
    },
    #[error("the kernel object has no program or map named {name}")]
    Missing { name: &'static str },
    #[error("kernel program {name} failed to load or attach{reason}")]
    Program {
        name: &'static str,
        reason: Reason,
        #[source]
        source: ProgramError,
    },
    #[error("map {name} has an unexpected type")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

/// The loaded kernel side. Dropping it detaches every probe.
pub struct LoadedPrograms {
    ebpf: Ebpf,
    empty_probes: bool,
}

impl LoadedPrograms {
    pub fn load(settings: CaptureSettings) -> Result<Self, LoadError> {
        if EBPF_OBJECT.is_empty() {
            return Err(LoadError::NoObject);
        }
        let page = page_size();
        let bytes = settings.ring_buffer_bytes;
        if !bytes.is_power_of_two() || (bytes as usize) < page {
            return Err(LoadError::RingBufferSize { bytes, page });
        }
        let max = monitor_common::MAX_CALL_CAP;
        if settings.call_cap == 0 || settings.call_cap > max {
            return Err(LoadError::CallCap {
                bytes: settings.call_cap,
                max,
            });
        }
        raise_memlock_limit();
        ensure_tracefs();

        let own_tgid = std::process::id();
        let mut ebpf = EbpfLoader::new()
            .override_global("MONITOR_TGID", &own_tgid, true)
            .override_global("CALL_CAP", &settings.call_cap, true)
            .override_global("HTTP2_CALL_CAP", &settings.http2_call_cap, true)
            .override_global("WAKEUP_BYTES", &settings.wakeup_bytes, true)
            .map_max_entries("RECORDS", bytes)
            .load(EBPF_OBJECT)
            .map_err(|source| LoadError::Load {
                reason: Reason::of(Operation::LoadPrograms, &source),
                source,
            })?;

        for &name in UPROBE_PROGRAMS {
            let program: &mut UProbe = program_mut(&mut ebpf, name)?;
            program
                .load()
                .map_err(|source| LoadError::program(name, Operation::LoadPrograms, source))?;
        }
        if settings.empty_probes {
            let program: &mut TracePoint = program_mut(&mut ebpf, EMPTY_TRACEPOINT)?;
            program.load().map_err(|source| {
                LoadError::program(EMPTY_TRACEPOINT, Operation::LoadPrograms, source)
            })?;
        }
        let mut attach_tracepoint =
            |name: &'static str, category: &str, event: &str| -> Result<(), LoadError> {
                let name = if settings.empty_probes {
                    EMPTY_TRACEPOINT
                } else {
                    name
                };
                let program: &mut TracePoint = program_mut(&mut ebpf, name)?;
                if !settings.empty_probes {
                    program.load().map_err(|source| {
                        LoadError::program(name, Operation::LoadPrograms, source)
                    })?;
                }
                program
                    .attach(category, event)
                    .map(|_| ())
                    .map_err(|source| LoadError::program(name, Operation::AttachTracepoint, source))
            };
        for &(name, category, event) in TRACEPOINTS {
            attach_tracepoint(name, category, event)?;
        }
        // Socket syscalls: a kernel without one of them (an architecture without `accept`, a
        // kernel built without syscall tracepoints) loses plaintext capture, not TLS capture.
        let mut socket_failures = 0;
        for &name in SOCKET_TRACEPOINTS {
            if let Err(e) = attach_tracepoint(name, "syscalls", name) {
                socket_failures += 1;
                warn!(tracepoint = name, error = %e, "cannot attach a socket tracepoint: plaintext capture is incomplete");
            }
        }
        let (name, category, event) = ADDRESS_TRACEPOINT;
        if let Err(e) = attach_tracepoint(name, category, event) {
            warn!(error = %e, "cannot attach tcp:tcp_rcv_space_adjust: connection addresses come from /proc lookups only (short connections may have none)");
        }
        // Without it, a library `dlopen`ed late is found by the periodic rescan instead.
        if let Err(e) = attach_tracepoint("sys_enter_mmap", "syscalls", "sys_enter_mmap") {
            warn!(error = %e, "cannot attach sys_enter_mmap: libraries loaded late are found by the periodic rescan only");
        }
        if socket_failures == SOCKET_TRACEPOINTS.len() {
            warn!("no socket tracepoint attached: plaintext HTTP will not be seen");
        }
        info!(
            ring_buffer_bytes = bytes,
            call_cap = settings.call_cap,
            "kernel programs loaded"
        );
        Ok(Self {
            ebpf,
            empty_probes: settings.empty_probes,
        })
    }

    /// A uprobe program by name (its empty stand-in with `empty_probes`).
    pub fn uprobe(&mut self, name: &'static str) -> Result<&mut UProbe, LoadError> {
        let name = match (self.empty_probes, name) {
            (false, name) => name,
            (true, "ssl_return") => EMPTY_URETPROBE,
            (true, _) => EMPTY_UPROBE,
        };
        program_mut(&mut self.ebpf, name)
    }

    pub fn take_ring_buffer(&mut self) -> Result<RingBuf<MapData>, LoadError> {
        self.take_map_as("RECORDS")
    }

    /// The flag that tells the kernel programs the reader sleeps (batched wake-ups).
    pub fn take_reader_asleep_flag(&mut self) -> Result<Array<MapData, u32>, LoadError> {
        self.take_map_as("READER_ASLEEP")
    }

    /// The kernel's table of connections copied past `--call-cap` (HTTP/2).
    pub fn take_wide_connections(
        &mut self,
    ) -> Result<aya::maps::HashMap<MapData, monitor_common::WideKey, u32>, LoadError> {
        self.take_map_as("WIDE_CONNS")
    }

    /// The kernel's socket table and its per-process filter, for userspace to add connections
    /// that predate the monitor.
    pub fn take_socket_table(&mut self) -> Result<super::recover::SocketTable, LoadError> {
        Ok(super::recover::SocketTable {
            sockets: self.take_map_as("SOCKETS")?,
            tracked: self.take_map_as("TRACKED_TGIDS")?,
            armed: self.take_map_as("TRACKING_ARMED")?,
        })
    }

    pub fn take_kernel_counters(&mut self) -> Result<KernelCounters, LoadError> {
        let name = "KERNEL_COUNTERS";
        KernelCounters::new(self.take_map(name)?).map_err(|source| LoadError::Map { name, source })
    }

    /// The map `name`, taken out of the loaded object (each is taken once).
    fn take_map(&mut self, name: &'static str) -> Result<aya::maps::Map, LoadError> {
        self.ebpf.take_map(name).ok_or(LoadError::Missing { name })
    }

    /// The map `name` as the map type userspace reads it through.
    fn take_map_as<T>(&mut self, name: &'static str) -> Result<T, LoadError>
    where
        T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
    {
        T::try_from(self.take_map(name)?).map_err(|source| LoadError::Map { name, source })
    }
}

fn program_mut<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P, LoadError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or(LoadError::Missing { name })?;
    program.try_into().map_err(|source| LoadError::Program {
        name,
        reason: Reason::default(),
        source,
    })
}

impl LoadError {
    fn program(name: &'static str, operation: Operation, source: ProgramError) -> Self {
        Self::Program {
            name,
            reason: Reason::of(operation, &source),
            source,
        }
    }
}

/// Why the kernel refused, as `": <refusal>"` (empty for errors that are not refusals): the
/// cause printed after it (anyhow's `{:#}`) carries the errno.
#[derive(Debug, Default)]
pub struct Reason(Option<Box<privileges::Refusal>>);

impl Reason {
    fn of(operation: Operation, error: &(dyn std::error::Error + 'static)) -> Self {
        Self(privileges::explain_error(operation, error).map(Box::new))
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(refusal) => write!(f, ": {refusal}"),
            None => Ok(()),
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK. Newer ones use memcg accounting and
/// some sandboxes refuse the call (EPERM): neither is an error.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        debug!(
            error = %std::io::Error::last_os_error(),
            "could not raise RLIMIT_MEMLOCK (not needed on kernels with memcg accounting)"
        );
    }
}

/// Tracepoint attachment reads event ids from tracefs. Hosts (and containers with /sys mounted
/// from the host) do not always mount it; mount it if we can, like the DaemonSet's hostPath does.
fn ensure_tracefs() {
    if Path::new(TRACEFS).join("events").is_dir()
        || Path::new("/sys/kernel/debug/tracing/events").is_dir()
    {
        return;
    }
    let _ = fs::create_dir_all(TRACEFS);
    let target = std::ffi::CString::new(TRACEFS).expect("no NUL in a constant");
    let fstype = std::ffi::CString::new("tracefs").expect("no NUL in a constant");
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        info!(path = TRACEFS, "mounted tracefs");
    } else {
        warn!(
            path = TRACEFS,
            error = %std::io::Error::last_os_error(),
            "tracefs is not mounted and could not be mounted: process tracepoints will fail to attach"
        );
    }
}
