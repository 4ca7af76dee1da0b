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
    /// OpenSSL / LibreSSL / BoringSSL `SSL_*` functions; `conn_id` is the `SSL*`.
    pub const OPENSSL: u8 = 1;
}

/// Bits of [`RecordHeader::flags`].
pub mod flags {
    /// This chunk is the last one emitted for its call. Bytes of the call past
    /// `offset + data_len` (up to `call_len`) were not captured: the call was longer than the
    /// per-call cap.
    pub const LAST_CHUNK: u8 = 1 << 0;
}

/// Common header of every ring-buffer record. A `DATA` record is followed by `data_len` payload
/// bytes; the ring-buffer entry is exactly `size_of::<RecordHeader>() + data_len` long.
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
const _: () = assert!(HEADER_LEN == 80);

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
    /// Entries that could not be remembered until their return (pending-call table full).
    pub const PENDING_TABLE_FULL: u32 = 6;
    /// Number of counters.
    pub const COUNT: u32 = 8;

    /// Metric-friendly names, indexed by counter.
    pub const NAMES: [&str; COUNT as usize] = [
        "ring_full_records",
        "ring_full_bytes",
        "truncated_calls",
        "truncated_bytes",
        "read_faults",
        "orphan_returns",
        "pending_table_full",
        "unused",
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

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, every bit pattern valid, no padding the kernel leaves uninitialised
    // that userspace reads as anything but bytes.
    unsafe impl aya::Pod for super::LossKey {}
}
