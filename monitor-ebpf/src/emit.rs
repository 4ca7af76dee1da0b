//! Turns one captured call into ring-buffer records.
//!
//! A call's bytes are copied in chunks of `CHUNK_SIZE` into a per-CPU scratch record and each chunk
//! is copied into the ring buffer with only the bytes filled. Bytes past the per-call cap are
//! counted as truncated (the last chunk carries `LAST_CHUNK` and the call's real length, so
//! userspace knows exactly how many bytes it did not see). When the ring buffer is full the rest of
//! the call is dropped, counted, and remembered per connection and direction so that the next
//! delivered record says how many bytes went missing before it.
use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_ktime_get_ns,
    bpf_probe_read_user_buf,
};
use monitor_common::{
    CHUNK_SIZE, HEADER_LEN, LossKey, MAX_CALL_CAP, MAX_CHUNKS_PER_CALL, RecordHeader, counter,
    flags, record_kind,
};

use crate::maps::{CALL_CAP, LOSSES, READER_ASLEEP, RECORDS, SCRATCH, WAKEUP_BYTES, count};

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
pub struct Call {
    pub conn_id: u64,
    pub buf: u64,
    pub len: u64,
    pub direction: u8,
    pub source: u8,
    pub attach_cookie: u64,
    /// The TCP connection under the call, 0 if unknown.
    pub socket_id: u64,
}

#[inline(always)]
fn header(kind: u8, conn_id: u64, direction: u8, source: u8, attach_cookie: u64) -> RecordHeader {
    let pid_tgid = bpf_get_current_pid_tgid();
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
        uid: bpf_get_current_uid_gid() as u32,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    }
}

#[inline(always)]
fn add_loss(key: &LossKey, bytes: u64) {
    let previous = unsafe { LOSSES.get(key) }.copied().unwrap_or(0);
    let _ = LOSSES.insert(key, &(previous + bytes), 0);
}

#[inline(always)]
fn take_loss(key: &LossKey) -> u64 {
    match unsafe { LOSSES.get(key) }.copied() {
        Some(lost) => {
            let _ = LOSSES.remove(key);
            lost
        }
        None => 0,
    }
}

/// Emits a call with the configured per-call cap.
pub fn emit_call(call: &Call) {
    emit_call_capped(call, MAX_CALL_CAP);
}

/// Emits a call copying at most `ceiling` bytes whatever the configured cap: the verifier walks
/// every iteration of the chunk loop the cap allows, so callers that already loop (vectored
/// I/O) keep it small.
pub fn emit_call_capped(call: &Call, ceiling: u32) {
    let cap = {
        let configured = CALL_CAP.load();
        let configured = if configured < ceiling {
            configured
        } else {
            ceiling
        };
        (if configured < MAX_CALL_CAP {
            configured
        } else {
            MAX_CALL_CAP
        }) as u64
    };
    let to_copy = if call.len < cap { call.len } else { cap };
    if call.len > to_copy {
        count(counter::TRUNCATED_CALLS, 1);
        count(counter::TRUNCATED_BYTES, call.len - to_copy);
    }
    let Some(record) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: per-CPU scratch value; programs do not nest on one CPU for uprobes.
    let record = unsafe { &mut *record };
    let mut head = header(
        record_kind::DATA,
        call.conn_id,
        call.direction,
        call.source,
        call.attach_cookie,
    );
    head.call_len = call.len;
    head.socket_id = call.socket_id;
    let key = LossKey {
        conn_id: call.conn_id,
        tgid: head.tgid,
        direction: call.direction as u32,
    };
    head.lost_before = take_loss(&key);

    let mut offset: u64 = 0;
    for _ in 0..MAX_CHUNKS_PER_CALL {
        if offset >= to_copy {
            break;
        }
        let remaining = to_copy - offset;
        let len = if remaining < CHUNK_SIZE as u64 {
            remaining as usize
        } else {
            CHUNK_SIZE
        };
        head.offset = offset as u32;
        head.data_len = len as u32;
        head.flags = if offset + len as u64 >= to_copy {
            flags::LAST_CHUNK
        } else {
            0
        };
        record.header = head;
        let src = (call.buf + offset) as *const u8;
        // SAFETY: reads user memory through the helper, which fails cleanly on a bad address.
        if unsafe { bpf_probe_read_user_buf(src, &mut record.data[..len]) }.is_err() {
            count(counter::READ_FAULTS, 1);
            // `lost_before` is still set if no chunk went out: those bytes stay owed too.
            add_loss(&key, head.lost_before + call.len - offset);
            return;
        }
        // SAFETY: `record` is HEADER_LEN + CHUNK_SIZE bytes and len <= CHUNK_SIZE.
        let bytes = unsafe {
            core::slice::from_raw_parts((record as *const _) as *const u8, HEADER_LEN + len)
        };
        if RECORDS.output::<[u8]>(bytes, wakeup_flags()).is_err() {
            // Everything from here to the end of the call (copied or not) is missing.
            count(counter::RING_FULL_RECORDS, 1);
            count(counter::RING_FULL_BYTES, len as u64);
            add_loss(&key, head.lost_before + call.len - offset);
            return;
        }
        head.lost_before = 0;
        offset += len as u64;
    }
}

/// Bytes of a connection that will never be delivered (e.g. iovecs past the walk limit): the
/// next record of that connection and direction says so.
pub fn add_lost_bytes(conn_id: u64, tgid: u32, direction: u8, bytes: u64) {
    let key = LossKey {
        conn_id,
        tgid,
        direction: direction as u32,
    };
    add_loss(&key, bytes);
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
