//! Capture: loads the kernel programs, attaches them, and turns ring-buffer records into
//! [`CaptureEvent`]s on a bounded channel.
//!
//! - `loader`: the embedded eBPF object, load-time settings, program lookup.
//! - `libraries`: finds the TLS library files to probe (system, every process, executables with
//!   static OpenSSL).
//! - `go_tls`: where to probe Go's `crypto/tls` in a Go binary (function table, disassembly).
//! - `attach`: attaches the uprobes to each library file, once per file, at start and later.
//! - `ring`: drains the ring buffer under tokio's `AsyncFd`.
//! - `record`: decodes and validates one raw record.
//! - `kernel_counters`: reads the per-CPU loss counters.
//! - `recover`: connections that existed before the monitor started.
//! - `watch`: TLS libraries that appear later (new processes, `dlopen`).
//! - `privileges`: which missing privilege an EPERM/EACCES from the kernel points at.
//! - `tie`: holds TLS calls emitted before their socket was known until the kernel ties them.
mod arena;
mod attach;
mod comm;
mod event_queue;
mod go_tls;
mod kernel_counters;
mod libraries;
mod loader;
mod placement;
mod privileges;
mod record;
mod recover;
mod ring;
mod tie;
mod watch;

pub use arena::PayloadArena;
pub use attach::{AttachReport, Attacher, LibraryInfo, LibraryRegistry, TlsLibraryKind};
pub use comm::Comm;
pub use event_queue::{EventBatch, EventReceiver, EventSender, QueueClosed, event_queue};
pub use go_tls::{GoTlsError, GoTlsProbes, analyze as analyze_go_tls};
pub use kernel_counters::KernelCounters;
pub use libraries::{BinaryVerdict, Discovery, LibraryFile, has_openssl_symbols, library_kind};
pub use loader::{CaptureSettings, LoadError, LoadedPrograms};
pub use privileges::{Privileges, explain_nothing_found};
pub use record::{
    CaptureEvent, ConnKey, DataChunk, DecodeError, EventKind, SocketOpened, decode, decode_into,
    encode, filled,
};
pub use recover::recover_connections;
pub use ring::{EVENT_BATCH, Wakeups, spawn_ring_reader};
pub use tie::TieResolver;
pub use watch::{ScanResult, TlsWatcher};
