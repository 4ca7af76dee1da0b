//! Records that cross the ring buffer from the kernel programs to the daemon, and the limits both
//! sides must agree on.
//!
//! Everything here is `#[repr(C)]` with explicit padding and plain integer fields (no `bool`, no
//! Rust enums): the kernel writes these bytes, and userspace must be able to read any bit pattern
//! without undefined behaviour. Kind/direction/source values are `u8` constants that userspace
//! validates when it decodes a record.
#![no_std]

/// Payload bytes carried by one ring-buffer record. A call moving more bytes is split into
/// several records ("chunks") with increasing `offset`.
pub const CHUNK_SIZE: usize = 4096;

/// Upper bound of chunks per call: it bounds the kernel loop the verifier has to walk, and so the
/// largest per-call capture cap userspace may configure (`MAX_CHUNKS_PER_CALL * CHUNK_SIZE`).
pub const MAX_CHUNKS_PER_CALL: u32 = 64;

/// Largest configurable per-call capture cap, in bytes.
pub const MAX_CALL_CAP: u32 = MAX_CHUNKS_PER_CALL * CHUNK_SIZE as u32;

/// Default per-call capture cap: one full TLS record, so an HTTP head is never cut.
pub const DEFAULT_CALL_CAP: u32 = 16 * 1024;

/// Length of a task's command name (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;

/// What a record says happened.
pub mod record_kind {
    /// Payload bytes of a read or write call.
    pub const DATA: u8 = 1;
    /// The connection object was freed (e.g. `SSL_free`): userspace may drop its state.
    pub const CLOSE: u8 = 2;
    /// A whole process (thread-group leader) exited: drop everything keyed by its pid.
    pub const PROCESS_EXIT: u8 = 3;
    /// A process called `execve`; the payload is the file name it executed (as passed to exec).
    pub const PROCESS_EXEC: u8 = 4;
    /// A TCP connection got an id (`conn_id`); the payload is a [`super::SocketOpen`].
    pub const SOCKET_OPEN: u8 = 5;
    /// A TCP connection's first bytes are a TLS record (`conn_id` is the socket id). Userspace
    /// pairs it with the TLS library calls tied to the socket: none means TLS it cannot read.
    pub const TLS_HANDSHAKE: u8 = 6;
    /// A process mapped a file with execute permission (`mmap` with `PROT_EXEC`): the dynamic
    /// loader loading a shared object, at start or on `dlopen`. No payload.
    pub const CODE_MAPPED: u8 = 7;
    /// A TLS connection handle (`conn_id`, an `SSL*`) was tied to its socket (`socket_id`) after
    /// one of its calls had already been emitted without it (a `TIE_PENDING` record): the
    /// library writes its ciphertext through a memory BIO, and the application sends it on the
    /// socket only after the call returned (node). No payload. Userspace applies it to the
    /// records it held back for it and never passes it on as an event.
    pub const SSL_TIE: u8 = 8;
}

/// Which way the bytes went, from the point of view of the traced process.
pub mod direction {
    pub const NONE: u8 = 0;
    /// Written by the process (sent to its peer).
    pub const EGRESS: u8 = 1;
    /// Read by the process (received from its peer).
    pub const INGRESS: u8 = 2;
}

/// Which hook family produced a record; it also says what `conn_id` means.
pub mod source {
    pub const NONE: u8 = 0;
    /// A TLS library's read/write functions (OpenSSL, LibreSSL, BoringSSL, GnuTLS, NSS, Go
    /// `crypto/tls`); `conn_id` is the library's connection handle (`SSL*`, `*tls.Conn`...).
    pub const OPENSSL: u8 = 1;
    /// Plaintext on a TCP socket (read/write syscalls); `conn_id` is the socket's id.
    pub const SOCKET: u8 = 2;
}

/// Which side of a TCP connection the process is on.
pub mod role {
    pub const UNKNOWN: u8 = 0;
    /// It called `connect`.
    pub const CLIENT: u8 = 1;
    /// It got the connection from `accept`.
    pub const SERVER: u8 = 2;
}

/// What the kernel decided a socket's first bytes are.
pub mod protocol {
    pub const UNKNOWN: u8 = 0;
    pub const HTTP1: u8 = 1;
    pub const HTTP2: u8 = 2;
    /// Neither: no payload is copied any more.
    pub const OTHER: u8 = 3;
    /// TLS ciphertext under a probed TLS library: its plaintext comes from the uprobes.
    pub const TLS: u8 = 4;
}

/// Address families, as in `<sys/socket.h>`.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Payload of a `SOCKET_OPEN` record. Addresses are in network byte order as in `sockaddr`; an
/// IPv4 address takes the first 4 bytes. Family 0: the kernel could not see the addresses
/// (userspace looks them up).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketOpen {
    /// The process's file descriptor (for userspace's `/proc` lookups).
    pub fd: u32,
    pub family: u16,
    /// Host byte order.
    pub local_port: u16,
    pub remote_port: u16,
    pub role: u8,
    /// 1 when userspace recovered a connection that existed before the monitor started.
    pub recovered: u8,
    /// For an accepted connection, the listening socket's fd: its address is our local end
    /// when the connection itself is gone before userspace can look.
    pub listen_fd: u32,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}

/// Key of the kernel's socket table: a file descriptor of a process.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockKey {
    pub tgid: u32,
    pub fd: u32,
}

/// Value of the kernel's socket table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SockState {
    /// Unique id of the connection (fds are reused; ids are not).
    pub id: u64,
    pub role: u8,
    /// `protocol::*`
    pub protocol: u8,
    /// 1 when the connection's first bytes were a TLS record: the only sockets whose traffic
    /// may tie a TLS library call made outside any syscall (memory BIOs) to them.
    pub tls_records: u8,
    /// 1 once a TLS connection handle is tied to this socket: a socket carries one TLS
    /// session, so no other handle may be tied to it by proximity.
    pub tied: u8,
    /// 1 once both ends' addresses were reported (a second `SOCKET_OPEN` from the connection's
    /// first read, see `probes::socket`) or known from the start (recovered connections).
    pub addrs: u8,
    pub _pad: [u8; 3],
}

/// Slots of the kernel's "has tracked sockets" filter (`TRACKED_TGIDS`), indexed by
/// [`tracked_slot`] of a process id. A slot counts the tracked sockets of every process that hashes
/// to it (or is pinned high by userspace): 0 means none of them has one, so a read or write there
/// needs no socket-table lookup. Collisions and stale counts only cost that lookup.
pub const TRACKED_SLOTS: u32 = 16384;

/// Value userspace adds to a process's slot when it puts a connection in the socket table
/// itself (recovered connections): far above any count the kernel's decrements could undo.
pub const TRACKED_PINNED: u64 = 1 << 40;

/// The filter slot of process `tgid` (Fibonacci hashing: consecutive pids spread out).
#[inline(always)]
pub const fn tracked_slot(tgid: u32) -> u32 {
    tgid.wrapping_mul(0x9e37_79b1) >> (32 - TRACKED_SLOTS.trailing_zeros())
}

/// Ids userspace gives to connections it recovers have this bit set, so they never collide with
/// the kernel's.
pub const RECOVERED_ID_BIT: u64 = 1 << 63;

/// Bits of [`RecordHeader::flags`].
pub mod flags {
    /// This chunk is the last one emitted for its call. Bytes of the call past
    /// `offset + data_len` (up to `call_len`) were not captured: the call was longer than the
    /// per-call cap.
    pub const LAST_CHUNK: u8 = 1 << 0;
    /// A TLS library call that moved bytes without a known socket, on a thread that is about
    /// to send its ciphertext (memory BIO): an `SSL_TIE` record for the same handle may follow
    /// within microseconds. Userspace holds the call briefly for it.
    pub const TIE_PENDING: u8 = 1 << 1;
}

/// Common header of every ring-buffer record. A `DATA` record is followed by `data_len` payload
/// bytes; the ring-buffer entry is at least `size_of::<RecordHeader>() + data_len` long (the
/// kernel reserves records in a few fixed sizes) and what follows the payload is meaningless.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RecordHeader {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub timestamp_ns: u64,
    /// Identifies the connection inside its process (meaning set by `source`).
    pub conn_id: u64,
    /// Bytes the whole call moved (its successful return value).
    pub call_len: u64,
    /// Bytes of this connection and direction that the kernel failed to deliver (ring buffer
    /// full) since the previous record of the same connection and direction. They sit between
    /// that record and this one.
    pub lost_before: u64,
    /// Cookie given at attach time: identifies the probed library file.
    pub attach_cookie: u64,
    /// The TCP connection (its `SOCKET_OPEN` id) these bytes travelled on, when known: for a TLS
    /// record, the socket the library read or wrote inside the call; 0 when not known (yet).
    pub socket_id: u64,
    /// Process id (thread-group id).
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// Offset of this chunk's first byte within its call.
    pub offset: u32,
    /// Payload bytes following this header.
    pub data_len: u32,
    pub kind: u8,
    pub direction: u8,
    pub source: u8,
    pub flags: u8,
    /// Real user id of the task.
    pub uid: u32,
    pub comm: [u8; COMM_LEN],
}

/// Header plus the largest payload: the per-CPU scratch value the kernel assembles a record in
/// before copying `size_of::<RecordHeader>() + data_len` bytes of it into the ring buffer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DataRecord {
    pub header: RecordHeader,
    pub data: [u8; CHUNK_SIZE],
}

pub const HEADER_LEN: usize = core::mem::size_of::<RecordHeader>();

// The header layout is part of the recording format (docs/recording-format.md): changing it
// means a new format version.
const _: () = assert!(HEADER_LEN == 88);

/// Indexes of the per-CPU kernel counters (`KERNEL_COUNTERS` map). Every way the kernel side can
/// lose or cut data has one, so that userspace can export them.
pub mod counter {
    /// Records that did not fit in the ring buffer.
    pub const RING_FULL_RECORDS: u32 = 0;
    /// Payload bytes those records would have carried.
    pub const RING_FULL_BYTES: u32 = 1;
    /// Calls longer than the per-call cap.
    pub const TRUNCATED_CALLS: u32 = 2;
    /// Bytes beyond the cap that were not copied.
    pub const TRUNCATED_BYTES: u32 = 3;
    /// `bpf_probe_read_user` failures (the chunk is sent with `data_len` 0 bytes lost).
    pub const READ_FAULTS: u32 = 4;
    /// Returns whose entry was never seen (probe attached mid-call, or the pending-call table full).
    pub const ORPHAN_RETURNS: u32 = 5;
    /// Calls (TLS library or socket syscall) that could not be remembered from entry to return
    /// because a pending-call table was full: not captured.
    pub const PENDING_TABLE_FULL: u32 = 6;
    /// TCP connections whose first bytes are neither HTTP/1 nor HTTP/2: no payload copied.
    pub const SOCKETS_NOT_HTTP: u32 = 7;
    /// Connections that could not be tracked (socket table full).
    pub const SOCKET_TABLE_FULL: u32 = 8;
    /// Socket reads/writes skipped because they carry TLS ciphertext of a probed library.
    pub const TLS_SOCKET_CALLS_SKIPPED: u32 = 9;
    /// Iovec entries of a vectored call left unwalked while bytes of the call remained: past
    /// the walk limit (1024, the kernel's `UIO_MAXIOV`, so never for a successful call). Their
    /// bytes are the call's uncaptured tail, as past the cap: an exact gap.
    pub const IOVECS_SKIPPED: u32 = 10;
    /// Calls whose per-thread entry went to a hash map because another thread inside a call
    /// held the thread's array slot (see the kernel's `thread_slots`): a cost, not a loss.
    pub const THREAD_SLOT_FALLBACKS: u32 = 11;
    /// Number of counters.
    pub const COUNT: u32 = 12;

    /// Metric-friendly names, indexed by counter.
    pub const NAMES: [&str; COUNT as usize] = [
        "ring_full_records",
        "ring_full_bytes",
        "truncated_calls",
        "truncated_bytes",
        "read_faults",
        "orphan_returns",
        "pending_table_full",
        "sockets_not_http",
        "socket_table_full",
        "tls_socket_calls_skipped",
        "iovecs_skipped",
        "thread_slot_fallbacks",
    ];
}

/// Key of the kernel's lost-bytes table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LossKey {
    pub conn_id: u64,
    pub tgid: u32,
    pub direction: u32,
}

/// Key of the kernel's table of connections copied past the per-call cap (HTTP/2: a header
/// block cut short would make the rest of the connection's headers unknown).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WideKey {
    pub conn_id: u64,
    pub tgid: u32,
    /// `source::*`
    pub source: u32,
}

/// Connections in that table at most (least recently used dropped first).
pub const MAX_WIDE_CONNECTIONS: u32 = 8192;

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, every bit pattern valid, no padding the kernel leaves uninitialised
    // that userspace reads as anything but bytes.
    unsafe impl aya::Pod for super::LossKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::WideKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SockKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SockState {}
}
