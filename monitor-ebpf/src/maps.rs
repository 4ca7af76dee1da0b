//! Maps shared by all probes, and the settings userspace writes at load time.
use crate::thread_slots::ThreadSlot;
use aya_ebpf::{
    Global,
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use monitor_common::{
    CHUNK_SIZE, DataRecord, LossKey, RecordHeader, SockKey, SockState, WideKey, counter,
};

/// Process id of the monitor itself: it is never traced, so that its own I/O cannot feed back.
#[unsafe(no_mangle)]
pub static MONITOR_TGID: Global<u32> = Global::new(0);

/// Bytes of one call copied at most; the rest is counted as truncated.
#[unsafe(no_mangle)]
pub static CALL_CAP: Global<u32> = Global::new(monitor_common::DEFAULT_CALL_CAP);

/// The per-call cap on HTTP/2 connections (`--http2-call-cap`, load-time).
#[unsafe(no_mangle)]
pub static HTTP2_CALL_CAP: Global<u32> = Global::new(64 * 1024);

/// Payload records to userspace. Userspace resizes it at load time (`--ring-buffer-size`).
#[map]
pub static RECORDS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Bytes waiting in `RECORDS` at which a producer wakes the reader at once; below it the reader
/// collects records on its own timer. Set by userspace at load time.
#[unsafe(no_mangle)]
pub static WAKEUP_BYTES: Global<u32> = Global::new(0);

/// `[0] != 0` while the reader sleeps on the ring buffer's fd with no timer running: the next
/// record must wake it. Written by userspace when it goes idle and when it wakes.
#[map]
pub static READER_ASLEEP: Array<u32> = Array::with_max_entries(1, 0);

/// `[0] != 0` once userspace has attached every socket program and is about to scan `/proc`
/// for established connections. Until then `connect`/`accept` track nothing: the programs are
/// loaded and attached one by one over some hundreds of milliseconds, and a connection tracked
/// from its `connect` while the read programs were not attached yet lost its first response,
/// which paired each later request with the response to the next one. A connection opened
/// before this is set is found by the scan instead, with every program in place.
#[map]
pub static TRACKING_ARMED: Array<u32> = Array::with_max_entries(1, 0);

/// One record under construction per CPU: too big for the 512-byte BPF stack.
#[map]
pub static SCRATCH: PerCpuArray<DataRecord> = PerCpuArray::with_max_entries(1, 0);

/// A vectored call being walked, one per CPU: the record being filled and where the walk is.
#[map]
pub static VECTORED: PerCpuArray<VectoredScratch> = PerCpuArray::with_max_entries(1, 0);

/// The record under construction for a vectored call, followed by the walk's state. The payload
/// area is two chunks long although a record carries at most one: a piece of up to
/// `CHUNK_SIZE` bytes written at any fill level below `CHUNK_SIZE` then provably stays inside
/// the value, which the verifier needs.
#[repr(C)]
pub struct VectoredScratch {
    pub header: RecordHeader,
    pub data: [u8; 2 * CHUNK_SIZE],
    pub walk: VectoredWalk,
}

/// Where a vectored call's walk is (see `emit::emit_vectored`).
#[repr(C)]
pub struct VectoredWalk {
    pub key: LossKey,
    /// Bytes lost before this call, still to be reported by its first record.
    pub lost_before: u64,
    /// The `iovec` array in user memory and its length.
    pub iov: u64,
    pub iov_count: u64,
    /// Next entry to read.
    pub next_iov: u64,
    /// The rest of the current entry still to copy (already cut to the call's cap).
    pub base: u64,
    pub left: u64,
    /// Bytes the call moved, and of them the ones to copy (the cap).
    pub call_len: u64,
    pub to_copy: u64,
    /// Bytes copied so far (== offset in the call of the next byte).
    pub copied: u64,
    /// Offset in the call of the chunk being filled, and its bytes so far.
    pub chunk_start: u64,
    pub fill: u64,
    /// Non-zero once the last record is out (or the walk failed).
    pub finished: u64,
    /// `iov_cache` holds entries `cached_from..cached_from + cached` (`struct iovec`: base, len).
    pub cached_from: u64,
    pub cached: u64,
    pub iov_cache: [[u64; 2]; crate::emit::IOV_BATCH],
}

/// Per-CPU counters of everything the kernel side loses or cuts (indexes in `counter`).
#[map]
pub static KERNEL_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Bytes lost per connection and direction since their last delivered record. LRU so that
/// connections that never deliver again cannot fill it.
#[map]
pub static LOSSES: LruHashMap<LossKey, u64> = LruHashMap::with_max_entries(16384, 0);

/// `[0]`: how many `LOSSES` entries there are (at least: an entry the LRU evicts is never
/// subtracted). While it is 0, which is always unless the ring filled, a record's sender skips
/// the `LOSSES` lookup.
#[map]
pub static LOSSES_OWED: Array<u64> = Array::with_max_entries(1, 0);

/// Connections userspace found to be HTTP/2: their calls are copied up to the cap stored here
/// (`--http2-call-cap`) instead of `CALL_CAP`. Looked up only for calls longer than `CALL_CAP`.
#[map]
pub static WIDE_CONNS: LruHashMap<WideKey, u32> =
    LruHashMap::with_max_entries(monitor_common::MAX_WIDE_CONNECTIONS, 0);

/// Arguments of a TLS call between its entry and its return, per thread: in the thread's slot
/// here (see `thread_slots`, `pending_calls`)...
#[map]
pub static CALL_SLOTS: Array<ThreadSlot<PendingCall>> =
    Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// Per slot of `tracked_slot(tid)`: how many threads of the slot have a `PENDING_CALLS` entry
/// (at least), so that the threads holding their own slot skip the hash lookup.
#[map]
pub static CALL_HASH_MARKS: Array<u64> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// ...or, for a thread whose slot another thread holds, here, keyed by `pid_tgid` (one call per
/// thread at a time). A thread's entry is written in place by each of its calls and marked
/// inactive at the return, not inserted and deleted per call (a hash update and delete each
/// take the bucket lock and cost more than the rest of the entry probe); it is deleted when the
/// thread exits, or when it runs `exec` from other than the leader and so takes the leader's id
/// (`probes::process`). So it holds one entry per live thread that made a TLS call:
/// a plain hash, as an LRU could recycle an entry while its thread writes it; when full, new
/// threads' calls are counted (`PENDING_TABLE_FULL`).
#[map]
pub static PENDING_CALLS: HashMap<u64, PendingCall> = HashMap::with_max_entries(32768, 0);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingCall {
    pub conn_id: u64,
    pub buf: u64,
    /// For the `_ex` variants: where the library writes the byte count; 0 otherwise.
    pub len_out: u64,
    pub direction: u8,
    pub source: u8,
    /// Probe-specific marker (Go: the bytes were emitted at the call's entry).
    pub flag: u8,
    /// 1 between the call's entry and its return (`PENDING_CALLS` entries outlive their call).
    pub active: u8,
    pub _pad: [u8; 4],
    /// The socket of the thread's last ciphertext read, taken at the call's entry (0: none):
    /// tied to the handle at its return if nothing better did (see `probes::openssl`).
    pub tie_socket: u64,
    pub tie_fd: u32,
    /// The thread's user and command, read when its entry was made (see `ThreadIdentity`).
    pub identity: ThreadIdentity,
    /// The socket the handle is tied to, as known at the call's entry or learnt by a syscall
    /// inside it (0: none yet): the syscalls and the return need no `SSL_SOCKETS` lookup.
    pub socket: u64,
}

/// The user and command a thread's data records carry, kept in the thread's per-call entry
/// (`PENDING_CALLS`, `PENDING_IO`) from its first call on instead of read by two helper calls for
/// every record (a fifth of a record's cost). Userspace names a process and a connection from
/// the first event it sees of them and keeps that name, so a `setuid` or thread rename after
/// the thread's first call shows only where a data record is that first event (a connection
/// older than the monitor, or a process seen again after its leader thread left), and then
/// with the identity the thread had at its first call. An `exec` (which userspace follows from
/// its own record) refreshes the entry, or drops it when a non-leader thread ran it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ThreadIdentity {
    pub uid: u32,
    pub comm: [u8; 16],
}

impl ThreadIdentity {
    #[inline(always)]
    pub fn current() -> Self {
        Self {
            uid: aya_ebpf::helpers::bpf_get_current_uid_gid() as u32,
            comm: aya_ebpf::helpers::bpf_get_current_comm().unwrap_or([0; 16]),
        }
    }
}

/// Per thread: what may tie a TLS handle whose library does no socket I/O inside its calls
/// (memory BIOs, as in node) to its socket. Such an application reads ciphertext from the
/// socket and then calls `SSL_read`/`SSL_write` on the same thread, and sends the ciphertext
/// an `SSL_write` produced right after it returns. LRU: threads that end leave their entry.
#[map]
pub static THREAD_TIES: LruHashMap<u64, ThreadTie> = LruHashMap::with_max_entries(16384, 0);

/// Per slot of `tracked_slot(tid)`: how many `THREAD_TIES` entries the threads of that slot
/// have (at least). An entry lives only while it holds something to tie (see `thread_ties`), so
/// for nearly every TLS call this array read replaces the hash lookup.
#[map]
pub static THREAD_TIE_MARKS: Array<u64> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ThreadTie {
    /// The last read on a tracked socket of this thread, when it moved bytes on an untied
    /// socket whose traffic is TLS records and no TLS call has used it yet (0: none); its fd
    /// and when it ended.
    pub read_socket: u64,
    pub read_ns: u64,
    /// The handle of this thread's last `SSL_write` that moved bytes with no socket known
    /// (0: none), its attach cookie, and when it returned.
    pub write_ssl: u64,
    pub write_cookie: u64,
    pub write_ns: u64,
    pub read_fd: u32,
    pub _pad: u32,
}

/// Per thread: the socket addresses `tcp_rcv_space_adjust` gave during the read in progress
/// (see `probes::socket`), reported at the read's exit.
#[map]
pub static ADDR_SEEN: LruHashMap<u64, AddrSeen> = LruHashMap::with_max_entries(16384, 0);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct AddrSeen {
    /// The kernel socket (`struct sock *`) the addresses are of.
    pub sk: u64,
    /// 1 when the tracepoint fired for another socket too during the same read (it then came
    /// from an interrupt, not from this read): nothing is reported.
    pub conflict: u32,
    pub _pad: u32,
    pub open: monitor_common::SocketOpen,
}

/// How long after a ciphertext read (or an `SSL_write`'s return) a TLS call (or a socket write)
/// may still be tied to it. Node makes the two within microseconds, in one C++ call chain; the
/// bound only keeps a stale entry from tying anything.
pub const MAX_TIE_GAP_NS: u64 = 50_000_000;

#[inline(always)]
pub fn count(index: u32, by: u64) {
    if let Some(slot) = KERNEL_COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, so no other program writes it concurrently.
        unsafe { *slot += by };
    }
}

/// TCP connections being tracked: a process's fd → its connection id, role and protocol.
/// A plain hash (not LRU): evicting a live connection silently would lose its calls; a full table
/// is counted instead (`SOCKET_TABLE_FULL`).
#[map]
pub static SOCKETS: HashMap<SockKey, SockState> = HashMap::with_max_entries(65536, 0);

/// Per slot of `tracked_slot(tgid)`: how many `SOCKETS` entries the processes of that slot have
/// (at least: stale counts are harmless). A plain array, whose lookup the verifier inlines: the
/// read/write tracepoints run for every process on the host, and most have no tracked socket.
#[map]
pub static TRACKED_TGIDS: Array<u64> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// Per slot of `tracked_slot(tid)`: the socket the thread's TLS call in progress is tied to
/// (see `tls_call_fds`).
#[map]
pub static TLS_CALLS: Array<TlsSlot> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// Per slot of a hash of (process, fd): the connection tracked on that fd, and whether the
/// syscalls of TLS calls tied to it need nothing more (see `tls_call_fds`).
#[map]
pub static TLS_FDS: Array<TlsSlot> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct TlsSlot {
    /// Whose slot it is (thread id, or process id and fd) and a flag (see `tls_call_fds`).
    pub word: u64,
    pub socket: u64,
}

/// Per slot of `tracked_slot(tid)`: how many `PENDING_IO` entries the threads of that slot have
/// (at least), so that a syscall exit with nothing pending skips the hash lookup.
#[map]
pub static PENDING_MARKS: Array<u64> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// Per slot of `tracked_slot(tid)`: how many active `PENDING_IO` entries of its threads wait
/// for their socket's addresses (`PendingIo::addrs`, at least), so that the TCP tracepoint
/// inside every read skips the hash lookup once a connection's ends are known (nearly always).
#[map]
pub static ADDR_MARKS: Array<u64> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// Adds `by` (two's complement for a decrement) to a filter slot, atomically: two CPUs may
/// update one slot at once, and a lost increment would hide a tracked socket.
#[inline(always)]
pub fn slot_add(map: &Array<u64>, slot: u32, by: u64) {
    if let Some(value) = map.get_ptr_mut(slot) {
        // `AtomicU64::fetch_add` is not offered on BPF (no compare-and-swap): the instruction
        // itself, an atomic add whose old value is not fetched (any BPF CPU version has it).
        // SAFETY: an 8-byte aligned map value, valid for this program run.
        unsafe {
            core::arch::asm!(
                "lock *(u64 *)({value} + 0) += {by}",
                value = in(reg) value,
                by = in(reg) by,
            )
        };
    }
}

/// Replaces `*value` with `new` if it holds `current`; returns what it held. A full barrier.
#[inline(always)]
pub fn compare_exchange(value: *mut u64, current: u64, new: u64) -> u64 {
    let previous: u64;
    // `AtomicU64::compare_exchange` is not offered on BPF: the instruction itself (BPF_CMPXCHG,
    // kernel 5.12 and later; the verifier allows it on map values).
    // SAFETY: an 8-byte aligned map value, valid for this program run.
    unsafe {
        core::arch::asm!(
            "r0 = cmpxchg_64({value} + 0, r0, {new})",
            value = in(reg) value,
            new = in(reg) new,
            inout("r0") current => previous,
        )
    };
    previous
}

/// False only when no process of `tgid`'s slot has a tracked socket.
#[inline(always)]
pub fn may_be_tracked(tgid: u32) -> bool {
    TRACKED_TGIDS
        .get(monitor_common::tracked_slot(tgid))
        .is_none_or(|n| *n != 0)
}

/// False only when no thread of `pid_tgid`'s slot has an active `PENDING_IO` entry waiting for
/// its socket's addresses.
#[inline(always)]
pub fn may_await_addrs(pid_tgid: u64) -> bool {
    ADDR_MARKS
        .get(monitor_common::tracked_slot(pid_tgid as u32))
        .is_none_or(|n| *n != 0)
}

/// False only when no thread of `pid_tgid`'s slot has a `PENDING_IO` entry.
#[inline(always)]
pub fn may_be_pending(pid_tgid: u64) -> bool {
    PENDING_MARKS
        .get(monitor_common::tracked_slot(pid_tgid as u32))
        .is_none_or(|n| *n != 0)
}

/// `connect`/`accept` arguments between syscall entry and exit, per thread.
#[map]
pub static PENDING_SOCKET_OPS: HashMap<u64, PendingSocketOp> = HashMap::with_max_entries(16384, 0);

/// Read/write arguments between syscall entry and exit, per thread: in the thread's slot here
/// (see `thread_slots`, `pending_io`)...
#[map]
pub static IO_SLOTS: Array<ThreadSlot<PendingIo>> =
    Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// ...or, for a thread whose slot another thread holds, here. As with `PENDING_CALLS`, a
/// thread's entry is reused in place by each of its calls (marked inactive at the exit) and
/// deleted when the thread exits (or changes id at `exec`, as there): an update and a delete
/// per syscall cost more than the rest of the probes on a tracked socket.
#[map]
pub static PENDING_IO: HashMap<u64, PendingIo> = HashMap::with_max_entries(32768, 0);

/// Per slot of `tracked_slot(tid)`: how many threads of the slot have a `PENDING_IO` entry (at
/// least), so that the threads holding their own slot skip the hash lookup.
#[map]
pub static IO_HASH_MARKS: Array<u64> = Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

/// The socket under each `SSL*` (learnt from the syscall the library makes inside a call). Read and
/// written through `ssl_sockets`, which keeps `SSL_SOCKET_CACHE` in front of it.
#[map]
pub static SSL_SOCKETS: LruHashMap<SslKey, u64> = LruHashMap::with_max_entries(65536, 0);

/// A direct-mapped cache of `SSL_SOCKETS` (see `ssl_sockets`).
#[map]
pub static SSL_SOCKET_CACHE: Array<SslSocketSlot> =
    Array::with_max_entries(monitor_common::TRACKED_SLOTS, 0);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct SslSocketSlot {
    pub ssl: u64,
    pub socket: u64,
    /// A mix of the handle, its process and the socket (see `ssl_sockets`).
    pub check: u64,
}

/// Per-CPU counter that makes connection ids unique.
#[map]
pub static NEXT_SOCKET_ID: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingSocketOp {
    pub fd: u64,
    pub sockaddr: u64,
    pub role: u8,
    pub _pad: [u8; 7],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PendingIo {
    pub id: u64,
    /// The buffer, or for vectored calls the `iovec` array.
    pub buf: u64,
    pub iov_count: u64,
    pub fd: u32,
    pub direction: u8,
    pub vectored: u8,
    /// 1: a read of ciphertext on an untied TLS socket, followed only to learn whether it
    /// moved bytes (nothing is copied).
    pub cipher: u8,
    /// 1: a read on a socket whose addresses the kernel has not reported yet: the TCP
    /// tracepoint inside the read reports them (see `probes::socket`).
    pub addrs: u8,
    /// 1 between the syscall's entry and its exit (`PENDING_IO` entries outlive their call).
    pub active: u8,
    /// 1: the socket was known to carry HTTP at the entry, so the exit copies the bytes without
    /// looking the socket up again (the syscall moves the bytes of the file it was given).
    pub http: u8,
    pub _pad: [u8; 2],
    /// The thread's user and command, read when its entry was made (see `ThreadIdentity`).
    pub identity: ThreadIdentity,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct SslKey {
    pub ssl: u64,
    pub tgid: u32,
    pub _pad: u32,
}
