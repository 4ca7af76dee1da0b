//! Turns one captured call into ring-buffer records.
//!
//! A call's bytes are copied in chunks of `CHUNK_SIZE`, each read from user memory straight into
//! its ring-buffer reservation (the smallest of a few sizes that holds it: a reservation's size
//! must be a constant, so a record may be longer than its header and `data_len` bytes). Bytes
//! past the per-call cap are counted as truncated (the last chunk carries `LAST_CHUNK` and the
//! call's real length, so userspace knows exactly how many bytes it did not see). When the ring buffer is full the rest of
//! the call is dropped, counted, and remembered per connection and direction so that the next
//! delivered record says how many bytes went missing before it.
//!
//! A vectored call (`writev`, `sendmsg`...) is walked iovec by iovec in a `bpf_loop` and comes out
//! as exactly the records a single buffer holding the concatenated bytes would.
use aya_ebpf::{
    cty::c_void,
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_loop, bpf_probe_read_user, generated,
    },
};
use monitor_common::{
    CHUNK_SIZE, HEADER_LEN, LossKey, MAX_CALL_CAP, MAX_CHUNKS_PER_CALL, RecordHeader, WideKey,
    counter, flags, record_kind,
};

use crate::maps::{
    CALL_CAP, HTTP2_CALL_CAP, LOSSES, LOSSES_OWED, READER_ASLEEP, RECORDS, SCRATCH, ThreadIdentity,
    VECTORED, VectoredScratch, WAKEUP_BYTES, WIDE_CONNS, count, slot_add,
};

/// How a record should notify the reader. By default the kernel wakes the reader for every
/// record that finds it caught up, which at a few thousand calls per second is nearly every
/// record: a wake-up (and a userspace round trip) each. Instead the reader polls on a short
/// timer while traffic flows, and is woken only when it sleeps or when enough bytes wait that
/// the ring should not be left to fill.
#[inline(always)]
fn wakeup_flags() -> u64 {
    const FORCE: u64 = aya_ebpf::bindings::BPF_RB_FORCE_WAKEUP as u64;
    const NO_WAKEUP: u64 = aya_ebpf::bindings::BPF_RB_NO_WAKEUP as u64;
    let threshold = WAKEUP_BYTES.load();
    if threshold == 0 {
        return 0;
    }
    if READER_ASLEEP.get(0).copied().unwrap_or(1) != 0 {
        return FORCE;
    }
    let waiting = RECORDS.query(aya_ebpf::bindings::BPF_RB_AVAIL_DATA as u64);
    if waiting >= threshold as u64 {
        FORCE
    } else {
        NO_WAKEUP
    }
}

/// A completed call whose bytes are in the traced process's memory.
#[derive(Clone, Copy)]
pub struct Call {
    pub conn_id: u64,
    pub buf: u64,
    pub len: u64,
    pub direction: u8,
    pub source: u8,
    pub attach_cookie: u64,
    /// The TCP connection under the call, 0 if unknown.
    pub socket_id: u64,
    /// Header flags every record of the call carries (`flags::TIE_PENDING`), besides
    /// `LAST_CHUNK`.
    pub flags: u8,
    /// The calling thread's `pid_tgid`, user and command, as its probe already has them.
    pub pid_tgid: u64,
    pub identity: ThreadIdentity,
}

/// The header of a record that is not a call's data (a marker, a tie, an exec): rare, so the
/// thread's identity is read here.
#[inline(always)]
fn header(kind: u8, conn_id: u64, direction: u8, source: u8, attach_cookie: u64) -> RecordHeader {
    header_of(
        kind,
        conn_id,
        direction,
        source,
        attach_cookie,
        bpf_get_current_pid_tgid(),
        &ThreadIdentity::current(),
    )
}

#[inline(always)]
fn header_of(
    kind: u8,
    conn_id: u64,
    direction: u8,
    source: u8,
    attach_cookie: u64,
    pid_tgid: u64,
    identity: &ThreadIdentity,
) -> RecordHeader {
    RecordHeader {
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        conn_id,
        call_len: 0,
        lost_before: 0,
        attach_cookie,
        socket_id: 0,
        tgid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        offset: 0,
        data_len: 0,
        kind,
        direction,
        source,
        flags: 0,
        uid: identity.uid,
        comm: identity.comm,
    }
}

#[inline(always)]
fn add_loss(key: &LossKey, bytes: u64) {
    let previous = unsafe { LOSSES.get(key) }.copied();
    if previous.is_none() {
        // Counted before the entry exists, so that a sender on another CPU that sees the entry
        // also sees the count.
        slot_add(&LOSSES_OWED, 0, 1);
    }
    let _ = LOSSES.insert(key, &(previous.unwrap_or(0) + bytes), 0);
}

/// The bytes owed to `key`'s next record. One array read while nothing is owed anywhere: the
/// hash lookup is made only after the ring buffer was full.
#[inline(always)]
fn take_loss(key: &LossKey) -> u64 {
    if LOSSES_OWED.get(0).is_some_and(|owed| *owed == 0) {
        return 0;
    }
    match unsafe { LOSSES.get(key) }.copied() {
        Some(lost) => {
            if LOSSES.remove(key).is_ok() {
                slot_add(&LOSSES_OWED, 0, u64::MAX);
            }
            lost
        }
        None => 0,
    }
}

/// The per-call cap in force: `--call-cap`, never above what the chunk loop can walk.
#[inline(always)]
fn call_cap() -> u64 {
    let configured = CALL_CAP.load();
    (if configured < MAX_CALL_CAP {
        configured
    } else {
        MAX_CALL_CAP
    }) as u64
}

/// The connection's own cap when userspace widened it (HTTP/2) and this call needs it: one map
/// lookup, made only for calls longer than `CALL_CAP`.
#[inline(always)]
fn wide_cap(call: &Call, tgid: u32) -> Option<u64> {
    if call.len <= call_cap() {
        return None;
    }
    let key = WideKey {
        conn_id: call.conn_id,
        tgid,
        source: u32::from(call.source),
    };
    // SAFETY: map value read by copy.
    let wide = unsafe { WIDE_CONNS.get(&key) }.copied()?;
    let wide = u64::from(if wide < MAX_CALL_CAP {
        wide
    } else {
        MAX_CALL_CAP
    });
    (wide > call_cap()).then_some(wide)
}

/// The first 8 bytes of a call (0 when shorter than a frame header or unreadable).
#[inline(always)]
fn first_word(buf: u64, len: u64) -> u64 {
    if len < 9 {
        return 0;
    }
    // SAFETY: user memory through the helper.
    unsafe { bpf_probe_read_user(buf as *const u64) }.unwrap_or(0)
}

/// A connection's first HTTP/2 bytes (the client preface, or a server's SETTINGS frame) mark it
/// wide at once, from the kernel: waiting for userspace to say so would let the calls that
/// follow the preface within the same millisecond (a large first header block) be cut.
#[inline(always)]
fn mark_if_http2(call: &Call, tgid: u32, first: u64) {
    let byte = |i: u32| (first >> (8 * i)) as u8;
    let preface = first as u32 == u32::from_le_bytes(*b"PRI ");
    // Length a multiple of 6 below 64 KiB, type 4, flags 0, stream 0.
    let settings = byte(0) == 0
        && (u32::from(byte(1)) << 8 | u32::from(byte(2))) % 6 == 0
        && byte(3) == 4
        && first >> 32 == 0;
    if preface || settings {
        let key = WideKey {
            conn_id: call.conn_id,
            tgid,
            source: u32::from(call.source),
        };
        let _ = WIDE_CONNS.insert(&key, &HTTP2_CALL_CAP.load(), 0);
    }
}

/// A call that starts with a DATA frame is bulk payload (a download, an upload): the per-call
/// cap cuts it inside DATA, which the parser skips exactly, so it is not worth copying wide.
#[inline(always)]
fn starts_with_data_frame(first: u64) -> bool {
    first != 0 && (first >> 24) as u8 == 0
}

/// Bytes of `call` to copy under `cap`; the rest is counted as truncated.
#[inline(always)]
fn bytes_to_copy(call: &Call, cap: u64) -> u64 {
    let to_copy = if call.len < cap { call.len } else { cap };
    if call.len > to_copy {
        count(counter::TRUNCATED_CALLS, 1);
        count(counter::TRUNCATED_BYTES, call.len - to_copy);
    }
    to_copy
}

/// The header every record of `call` starts from, and the key of its connection's losses.
#[inline(always)]
fn data_header(call: &Call) -> (RecordHeader, LossKey) {
    let mut head = header_of(
        record_kind::DATA,
        call.conn_id,
        call.direction,
        call.source,
        call.attach_cookie,
        call.pid_tgid,
        &call.identity,
    );
    head.call_len = call.len;
    head.socket_id = call.socket_id;
    head.flags = call.flags;
    let key = LossKey {
        conn_id: call.conn_id,
        tgid: head.tgid,
        direction: call.direction as u32,
    };
    (head, key)
}

/// Emits a call copying at most the per-call cap.
pub fn emit_call(call: &Call) {
    let tgid = (call.pid_tgid >> 32) as u32;
    let cap = call_cap();
    if call.len > cap {
        // Only a call past the cap may take the wide walk, which its first bytes decide: read
        // them first. Shorter calls (nearly all) take them from their first record instead of
        // a helper call of their own.
        let first = first_word(call.buf, call.len);
        mark_if_http2(call, tgid, first);
        // A widened call takes the `bpf_loop` walk (as one buffer): the unrolled chunk loop
        // below is verified for the constant `CALL_CAP` only.
        if !starts_with_data_frame(first)
            && let Some(wide) = wide_cap(call, tgid)
        {
            walk_call(call, call.buf, 0, wide, true);
            return;
        }
    }
    let first = emit_chunks(call, cap);
    if call.len <= cap {
        mark_if_http2(call, tgid, first);
    }
}

/// Copies `call` up to `cap` in chunks; returns the first 8 bytes of the call as its first
/// record carried them (read by `first_word` if no record went out).
#[inline(always)]
fn emit_chunks(call: &Call, cap: u64) -> u64 {
    let to_copy = bytes_to_copy(call, cap);
    let (mut head, key) = data_header(call);
    head.lost_before = take_loss(&key);

    // Every chunk but the last is full: one reservation size in the loop, and the size classes
    // only once, for the last chunk (classes inside the loop multiply the paths the verifier
    // walks past its limit).
    let mut offset: u64 = 0;
    let mut first = 0;
    for _ in 0..MAX_CHUNKS_PER_CALL {
        if to_copy - offset <= CHUNK_SIZE as u64 {
            break;
        }
        head.offset = offset as u32;
        head.data_len = CHUNK_SIZE as u32;
        head.flags = call.flags;
        let sent = send_record::<CHUNK_SIZE>(&head, call.buf + offset, CHUNK_SIZE as u64);
        let Some(word) = chunk_sent(sent, call, &key, &head, offset, CHUNK_SIZE as u64) else {
            return if offset == 0 {
                fallback_first(call)
            } else {
                first
            };
        };
        if offset == 0 {
            first = word;
        }
        head.lost_before = 0;
        offset += CHUNK_SIZE as u64;
    }
    if offset >= to_copy {
        return first;
    }
    let len = to_copy - offset;
    head.offset = offset as u32;
    head.data_len = len as u32;
    head.flags = call.flags | flags::LAST_CHUNK;
    let src = call.buf + offset;
    // One branch per size class (the reservation's size must be a constant), powers of two so
    // that a record takes at most about twice the ring space its bytes need: ring space decides
    // when the reader is woken early and when the ring is full.
    let sent = if len <= 64 {
        send_record::<64>(&head, src, len)
    } else if len <= 128 {
        send_record::<128>(&head, src, len)
    } else if len <= 256 {
        send_record::<256>(&head, src, len)
    } else if len <= 512 {
        send_record::<512>(&head, src, len)
    } else if len <= 1024 {
        send_record::<1024>(&head, src, len)
    } else if len <= 2048 {
        send_record::<2048>(&head, src, len)
    } else {
        send_record::<CHUNK_SIZE>(&head, src, len)
    };
    match chunk_sent(sent, call, &key, &head, offset, len) {
        Some(word) if offset == 0 => word,
        None if offset == 0 => fallback_first(call),
        _ => first,
    }
}

/// A call's first 8 bytes when its first record could not be sent: the HTTP/2 mark must not
/// depend on the ring's room.
#[inline(always)]
fn fallback_first(call: &Call) -> u64 {
    first_word(call.buf, call.len)
}

/// Counts a chunk that could not be sent, and owes everything from it to the end of the call
/// (copied or not) to the connection's next record. `None` when the call's capture is over,
/// else the chunk's first 8 bytes.
#[inline(always)]
fn chunk_sent(
    sent: Result<u64, ChunkFailure>,
    call: &Call,
    key: &LossKey,
    head: &RecordHeader,
    offset: u64,
    len: u64,
) -> Option<u64> {
    let failure = match sent {
        Ok(word) => return Some(word),
        Err(failure) => failure,
    };
    match failure {
        ChunkFailure::ReadFault => count(counter::READ_FAULTS, 1),
        ChunkFailure::RingFull => {
            count(counter::RING_FULL_RECORDS, 1);
            count(counter::RING_FULL_BYTES, len);
        }
    }
    // `lost_before` is still set if no chunk went out: those bytes stay owed too.
    add_loss(key, head.lost_before + call.len - offset);
    None
}

/// A ring-buffer record with room for `N` payload bytes, of which `header.data_len` are valid.
#[repr(C)]
struct SizedRecord<const N: usize> {
    header: RecordHeader,
    data: [u8; N],
}

const NO_WAKEUP: u64 = aya_ebpf::bindings::BPF_RB_NO_WAKEUP as u64;

enum ChunkFailure {
    RingFull,
    ReadFault,
}

/// Sends one chunk of `len` (at most `N`) bytes at `src`: reserved in the ring buffer and read
/// from user memory straight into the reservation, with no copy through a scratch record.
/// Returns the chunk's first 8 bytes (0 when it has fewer than 9, as `first_word`).
#[inline(always)]
fn send_record<const N: usize>(
    head: &RecordHeader,
    src: u64,
    len: u64,
) -> Result<u64, ChunkFailure> {
    let Some(mut entry) = RECORDS.reserve::<SizedRecord<N>>(0) else {
        return Err(ChunkFailure::RingFull);
    };
    let record = entry.as_mut_ptr();
    // The verifier must see `len <= N` on the value passed to the helper itself.
    let len = core::hint::black_box(len);
    if len > N as u64 {
        entry.discard(NO_WAKEUP);
        return Err(ChunkFailure::ReadFault);
    }
    // SAFETY: `record` is a live reservation of `SizedRecord<N>`; user memory is read through
    // the helper (which fails cleanly on a bad address) into at most its `N` payload bytes.
    let read = unsafe {
        (*record).header = *head;
        generated::bpf_probe_read_user(
            (*record).data.as_mut_ptr() as *mut c_void,
            len as u32,
            src as *const c_void,
        )
    };
    if read != 0 {
        // A discarded record carries nothing for the reader to wake up for.
        entry.discard(NO_WAKEUP);
        return Err(ChunkFailure::ReadFault);
    }
    let first = if len >= 9 {
        // SAFETY: the reservation's first payload bytes, just written; 8-byte aligned (ring
        // records are, and the header is 88 bytes).
        unsafe { *((*record).data.as_ptr() as *const u64) }
    } else {
        0
    };
    entry.submit(wakeup_flags());
    Ok(first)
}

/// Vectored calls of at most this many bytes and two buffers take `emit_pair`: an HTTP/1
/// server's head and body (nginx, node), most of its responses.
const MAX_PAIR_BYTES: u64 = 2048;

/// A vectored call of two buffers (`iov`, as `[base, len]`), within the cap and
/// `MAX_PAIR_BYTES`: both copied straight into one ring-buffer reservation, the same record a
/// single buffer would make. The `bpf_loop` walk costs two and a half times a plain call's
/// record (a scratch copy, a step per piece, helper calls for the first bytes).
#[inline(always)]
fn emit_pair(call: &Call, iov: [[u64; 2]; 2]) {
    let tgid = (call.pid_tgid >> 32) as u32;
    let first_len = if iov[0][1] < call.len {
        iov[0][1]
    } else {
        call.len
    };
    let second_len = call.len - first_len;
    let (mut head, key) = data_header(call);
    head.lost_before = take_loss(&key);
    head.data_len = call.len as u32;
    head.flags = call.flags | flags::LAST_CHUNK;
    let (a, b) = ((iov[0][0], first_len), (iov[1][0], second_len));
    // A reservation twice the size class: the verifier bounds the second copy's offset and
    // length each by the class, not their sum.
    let sent = if call.len <= 64 {
        send_pair::<128>(&head, a, b)
    } else if call.len <= 128 {
        send_pair::<256>(&head, a, b)
    } else if call.len <= 256 {
        send_pair::<512>(&head, a, b)
    } else if call.len <= 512 {
        send_pair::<1024>(&head, a, b)
    } else if call.len <= 1024 {
        send_pair::<2048>(&head, a, b)
    } else {
        send_pair::<4096>(&head, a, b)
    };
    let first = match chunk_sent(sent, call, &key, &head, 0, call.len) {
        Some(word) => word,
        None => first_word(iov[0][0], call.len),
    };
    mark_if_http2(call, tgid, first);
}

/// Sends one record of the bytes `a` then `b` (`(address, length)`, at most `N / 2` each).
/// Returns the record's first 8 bytes (0 when it has fewer than 9), as `send_record`.
#[inline(always)]
fn send_pair<const N: usize>(
    head: &RecordHeader,
    a: (u64, u64),
    b: (u64, u64),
) -> Result<u64, ChunkFailure> {
    let Some(mut entry) = RECORDS.reserve::<SizedRecord<N>>(0) else {
        return Err(ChunkFailure::RingFull);
    };
    let record = entry.as_mut_ptr();
    // The verifier must see each bound on the values passed to the helpers themselves.
    let a_len = core::hint::black_box(a.1);
    let b_len = core::hint::black_box(b.1);
    if a_len > (N / 2) as u64 || b_len > (N / 2) as u64 {
        entry.discard(NO_WAKEUP);
        return Err(ChunkFailure::ReadFault);
    }
    // SAFETY: `record` is a live reservation of `SizedRecord<N>`; `a_len + b_len <= N` bytes
    // of its payload are written, from user memory through the helper.
    let read = unsafe {
        (*record).header = *head;
        let data = (*record).data.as_mut_ptr();
        let first =
            generated::bpf_probe_read_user(data as *mut c_void, a_len as u32, a.0 as *const c_void);
        if first != 0 {
            first
        } else {
            generated::bpf_probe_read_user(
                data.add(a_len as usize) as *mut c_void,
                b_len as u32,
                b.0 as *const c_void,
            )
        }
    };
    if read != 0 {
        entry.discard(NO_WAKEUP);
        return Err(ChunkFailure::ReadFault);
    }
    let first = if a_len + b_len >= 9 {
        // SAFETY: the reservation's first payload bytes, just written; 8-byte aligned.
        unsafe { *((*record).data.as_ptr() as *const u64) }
    } else {
        0
    };
    entry.submit(wakeup_flags());
    Ok(first)
}

/// Iovec entries walked per vectored call at most: the kernel's own limit (`UIO_MAXIOV`), past
/// which `writev`/`sendmsg` fail, so a successful call is always walked whole.
pub const MAX_IOVECS: u64 = 1024;

/// Iovec entries read from user memory per helper call.
pub const IOV_BATCH: usize = 16;

/// `bpf_loop` iterations for one vectored call. A step either reads an iovec entry (and starts
/// copying it) or copies one piece; a piece ends an iovec or fills a chunk, so a walk takes at
/// most one step per entry and per chunk, plus the final one.
const VECTORED_STEPS: u32 = MAX_IOVECS as u32 + MAX_CHUNKS_PER_CALL + 2;

/// A vectored call (`writev`, `sendmsg`...) becomes exactly the records one `write` of the
/// concatenated bytes would: chunks of `CHUNK_SIZE` filled across iovec boundaries, offsets
/// within the call, the call's real length, the same cap and the same loss accounting.
///
/// The walk runs in a `bpf_loop` callback, one small step per iteration, so the verifier checks
/// the step once instead of every iovec times every chunk. Its state lives in a per-CPU map
/// value rather than on the stack, so the callback always starts from unknown values and its
/// verification converges at once.
///
/// Calls of one or two buffers within `MAX_PAIR_BYTES` (nearly all HTTP/1 writes) skip the walk.
pub fn emit_vectored(call: &Call, iov_count: u64) {
    let small = call.len <= call_cap() && call.len <= MAX_PAIR_BYTES;
    if small && iov_count == 1 {
        // SAFETY: user memory through the helper: the one iovec entry.
        if let Ok([base, _]) = unsafe { bpf_probe_read_user(call.buf as *const [u64; 2]) } {
            // `call.len` (what the call moved) is at most the entry's length.
            emit_call(&Call { buf: base, ..*call });
            return;
        }
    } else if small && iov_count == 2 {
        // SAFETY: as above, both entries.
        if let Ok(iov) = unsafe { bpf_probe_read_user(call.buf as *const [[u64; 2]; 2]) } {
            emit_pair(call, iov);
            return;
        }
    }
    let tgid = (call.pid_tgid >> 32) as u32;
    // SAFETY: user memory through the helper: iov[0].iov_base.
    let base = unsafe { bpf_probe_read_user(call.buf as *const u64) }.unwrap_or(0);
    let first = first_word(base, call.len);
    mark_if_http2(call, tgid, first);
    let wide = if starts_with_data_frame(first) {
        None
    } else {
        wide_cap(call, tgid)
    };
    walk_call(call, call.buf, iov_count, wide.unwrap_or(call_cap()), false);
}

/// Copies a call through the `bpf_loop` walk: the iovec array at `buf` with `iov_count`
/// entries, or (`single`) the one buffer at `buf`.
#[inline(always)]
fn walk_call(call: &Call, buf: u64, iov_count: u64, cap: u64, single: bool) {
    let to_copy = bytes_to_copy(call, cap);
    let Some(scratch) = VECTORED.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: per-CPU scratch value; programs do not nest on one CPU.
    let scratch = unsafe { &mut *scratch };
    let (head, key) = data_header(call);
    scratch.header = head;
    // Field by field: the whole state (with its entry cache) would not fit well on the stack.
    let walk = &mut scratch.walk;
    walk.lost_before = take_loss(&key);
    walk.key = key;
    if single {
        // No entries to read: the one buffer is already the current piece.
        walk.iov = 0;
        walk.iov_count = 0;
        walk.base = buf;
        walk.left = to_copy;
    } else {
        walk.iov = buf;
        walk.iov_count = iov_count;
        walk.base = 0;
        walk.left = 0;
    }
    walk.next_iov = 0;
    walk.call_len = call.len;
    walk.to_copy = to_copy;
    walk.copied = 0;
    walk.chunk_start = 0;
    walk.fill = 0;
    walk.finished = 0;
    walk.cached_from = 0;
    walk.cached = 0;
    // SAFETY: the helper calls `vectored_step` at most VECTORED_STEPS times; no context.
    unsafe {
        bpf_loop(
            VECTORED_STEPS,
            vectored_step as *mut c_void,
            core::ptr::null_mut(),
            0,
        )
    };
    if scratch.walk.finished == 0 {
        // Out of steps (cannot happen by the bound above): what is left is an exact gap.
        finish_walk(scratch);
    }
}

/// One `bpf_loop` iteration of a vectored walk: 0 to go on, 1 to stop.
#[inline(never)]
extern "C" fn vectored_step(_index: u64, _ctx: *mut c_void) -> i64 {
    let Some(scratch) = VECTORED.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: per-CPU scratch value, filled by `emit_vectored` on this CPU.
    let scratch = unsafe { &mut *scratch };
    if walk_step(scratch) { 0 } else { 1 }
}

/// Reads the next iovec entry if the current one is used up, then copies one piece of it into
/// the chunk being filled (sending the chunk first if it is full). False when the walk is over.
#[inline(always)]
fn walk_step(s: &mut VectoredScratch) -> bool {
    if s.walk.finished != 0 {
        return false;
    }
    if s.walk.copied >= s.walk.to_copy {
        finish_walk(s);
        return false;
    }
    if s.walk.left == 0 {
        if s.walk.next_iov >= s.walk.iov_count || s.walk.next_iov >= MAX_IOVECS {
            finish_walk(s);
            return false;
        }
        // Entries are read from user memory `IOV_BATCH` at a time (one helper call instead of
        // one per entry: with many small buffers, those calls are most of the cost).
        let index = s.walk.next_iov;
        if index < s.walk.cached_from || index >= s.walk.cached_from + s.walk.cached {
            let left = s.walk.iov_count - index;
            // The check is for the verifier, which cannot see `n <= IOV_BATCH` through `min`.
            let n = core::hint::black_box(if left < IOV_BATCH as u64 {
                left as usize
            } else {
                IOV_BATCH
            });
            if n > IOV_BATCH {
                fail_walk(s);
                return false;
            }
            // SAFETY: `n` entries (at most the cache) from user memory through the helper.
            let read = unsafe {
                generated::bpf_probe_read_user(
                    s.walk.iov_cache.as_mut_ptr() as *mut c_void,
                    n as u32 * 16,
                    (s.walk.iov + index * 16) as *const c_void,
                )
            };
            if read != 0 {
                count(counter::READ_FAULTS, 1);
                fail_walk(s);
                return false;
            }
            s.walk.cached_from = index;
            s.walk.cached = n as u64;
        }
        let slot = ((index - s.walk.cached_from) as usize) & (IOV_BATCH - 1);
        let [base, len] = s.walk.iov_cache[slot];
        s.walk.next_iov += 1;
        let wanted = s.walk.to_copy - s.walk.copied;
        s.walk.base = base;
        s.walk.left = if len < wanted { len } else { wanted };
        if s.walk.left == 0 {
            return true;
        }
    }
    if s.walk.fill >= CHUNK_SIZE as u64 && !send_chunk(s, false) {
        return false;
    }
    // Bounds the verifier can see: fill < CHUNK_SIZE, piece <= CHUNK_SIZE, and the payload
    // area is two chunks long, so the write stays inside the map value whatever the values.
    let fill = (s.walk.fill as usize) & (CHUNK_SIZE - 1);
    let room = (CHUNK_SIZE - fill) as u64;
    let piece = core::hint::black_box(if s.walk.left < room {
        s.walk.left
    } else {
        room
    });
    if piece > CHUNK_SIZE as u64 {
        fail_walk(s);
        return false;
    }
    // SAFETY: `fill + piece <= 2 * CHUNK_SIZE` bytes of `data`; user memory read through the
    // helper, which fails cleanly on a bad address.
    let read = unsafe {
        generated::bpf_probe_read_user(
            s.data.as_mut_ptr().add(fill) as *mut c_void,
            piece as u32,
            s.walk.base as *const c_void,
        )
    };
    if read != 0 {
        count(counter::READ_FAULTS, 1);
        fail_walk(s);
        return false;
    }
    s.walk.fill = fill as u64 + piece;
    s.walk.copied += piece;
    s.walk.base += piece;
    s.walk.left -= piece;
    if s.walk.copied >= s.walk.to_copy {
        finish_walk(s);
        return false;
    }
    true
}

/// Sends the chunk being filled. On a full ring buffer the rest of the call is lost (counted,
/// owed to the connection's next record) and the walk is over.
#[inline(always)]
fn send_chunk(s: &mut VectoredScratch, last: bool) -> bool {
    let len = s.walk.fill as usize;
    if len > CHUNK_SIZE {
        fail_walk(s);
        return false;
    }
    s.header.offset = s.walk.chunk_start as u32;
    s.header.data_len = len as u32;
    s.header.lost_before = s.walk.lost_before;
    s.header.flags =
        (s.header.flags & !flags::LAST_CHUNK) | if last { flags::LAST_CHUNK } else { 0 };
    // SAFETY: the header is followed by `data` (`#[repr(C)]`) and len <= CHUNK_SIZE.
    let bytes = unsafe {
        core::slice::from_raw_parts((s as *const VectoredScratch) as *const u8, HEADER_LEN + len)
    };
    if RECORDS.output::<[u8]>(bytes, wakeup_flags()).is_err() {
        count(counter::RING_FULL_RECORDS, 1);
        count(counter::RING_FULL_BYTES, len as u64);
        fail_walk(s);
        return false;
    }
    s.walk.lost_before = 0;
    s.walk.chunk_start += len as u64;
    s.walk.fill = 0;
    true
}

/// The walk is over with no error: send the last chunk. Bytes of the call past it (the cap, or
/// iovec entries past `MAX_IOVECS`) are its exact uncaptured tail, as for a single buffer.
#[inline(always)]
fn finish_walk(s: &mut VectoredScratch) {
    s.walk.finished = 1;
    if s.walk.copied < s.walk.to_copy {
        let unwalked = s.walk.iov_count.saturating_sub(s.walk.next_iov);
        count(
            counter::IOVECS_SKIPPED,
            if unwalked > 0 { unwalked } else { 1 },
        );
    }
    if s.walk.chunk_start == 0 && s.walk.fill == 0 {
        // Nothing copied: no record carries this call, so its bytes are owed to the next one.
        let owed = s.walk.lost_before + s.walk.call_len;
        if owed > 0 {
            add_loss(&s.walk.key, owed);
        }
        return;
    }
    send_chunk(s, true);
}

/// The walk stops on an error: everything not yet sent is lost, and owed to the next record.
#[inline(always)]
fn fail_walk(s: &mut VectoredScratch) {
    s.walk.finished = 1;
    let owed = s.walk.lost_before + s.walk.call_len - s.walk.chunk_start;
    add_loss(&s.walk.key, owed);
}

/// A `SOCKET_OPEN` record: the connection's id and addresses.
pub fn emit_socket_open(id: u64, open: &monitor_common::SocketOpen) {
    let Some(record) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: per-CPU scratch value.
    let record = unsafe { &mut *record };
    let mut head = header(
        record_kind::SOCKET_OPEN,
        id,
        0,
        monitor_common::source::SOCKET,
        0,
    );
    const LEN: usize = core::mem::size_of::<monitor_common::SocketOpen>();
    head.socket_id = id;
    head.data_len = LEN as u32;
    head.call_len = LEN as u64;
    head.flags = flags::LAST_CHUNK;
    record.header = head;
    // SAFETY: `SocketOpen` is plain data smaller than the chunk.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (open as *const monitor_common::SocketOpen) as *const u8,
            LEN,
        )
    };
    record.data[..LEN].copy_from_slice(bytes);
    // SAFETY: HEADER_LEN + LEN bytes of the record are initialised.
    let out =
        unsafe { core::slice::from_raw_parts((record as *const _) as *const u8, HEADER_LEN + LEN) };
    if RECORDS.output::<[u8]>(out, wakeup_flags()).is_err() {
        count(counter::RING_FULL_RECORDS, 1);
    }
}

/// A record with no payload (`CLOSE`, `PROCESS_EXIT`).
pub fn emit_marker(kind: u8, conn_id: u64, source: u8, attach_cookie: u64) {
    let mut head = header(kind, conn_id, 0, source, attach_cookie);
    if source == monitor_common::source::SOCKET {
        head.socket_id = conn_id;
    }
    // SAFETY: a `RecordHeader` is plain data.
    let bytes = unsafe {
        core::slice::from_raw_parts((&head as *const RecordHeader) as *const u8, HEADER_LEN)
    };
    if RECORDS.output::<[u8]>(bytes, wakeup_flags()).is_err() {
        count(counter::RING_FULL_RECORDS, 1);
    }
}

/// An `SSL_TIE` record: the handle `ssl` (of the library file `attach_cookie`) is over the
/// socket `socket_id`.
pub fn emit_tie(ssl: u64, socket_id: u64, attach_cookie: u64) {
    let mut head = header(
        record_kind::SSL_TIE,
        ssl,
        0,
        monitor_common::source::OPENSSL,
        attach_cookie,
    );
    head.socket_id = socket_id;
    // SAFETY: a `RecordHeader` is plain data.
    let bytes = unsafe {
        core::slice::from_raw_parts((&head as *const RecordHeader) as *const u8, HEADER_LEN)
    };
    if RECORDS.output::<[u8]>(bytes, wakeup_flags()).is_err() {
        count(counter::RING_FULL_RECORDS, 1);
    }
}

/// A `PROCESS_EXEC` record whose payload is the NUL-free file name read from kernel memory at
/// `filename` (a tracepoint's `__data_loc` string).
pub fn emit_exec(filename: *const u8) {
    let Some(record) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: per-CPU scratch value.
    let record = unsafe { &mut *record };
    let mut head = header(record_kind::PROCESS_EXEC, 0, 0, 0, 0);
    // SAFETY: kernel string read through the helper, bounded by the destination.
    let len = match unsafe {
        aya_ebpf::helpers::bpf_probe_read_kernel_str_bytes(filename, &mut record.data)
    } {
        Ok(name) => name.len(),
        Err(_) => 0,
    };
    if len > CHUNK_SIZE {
        return;
    }
    head.data_len = len as u32;
    head.call_len = len as u64;
    head.flags = flags::LAST_CHUNK;
    record.header = head;
    // SAFETY: len <= CHUNK_SIZE.
    let bytes =
        unsafe { core::slice::from_raw_parts((record as *const _) as *const u8, HEADER_LEN + len) };
    if RECORDS.output::<[u8]>(bytes, wakeup_flags()).is_err() {
        count(counter::RING_FULL_RECORDS, 1);
    }
}
