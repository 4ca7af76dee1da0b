//! Access to a thread's `THREAD_TIES` entry (what may tie a memory-BIO TLS handle to its
//! socket), behind the `THREAD_TIE_MARKS` filter. An entry exists only while it holds a
//! ciphertext read or an `SSL_write` handle waiting to be tied: once both are taken it is
//! removed, so a thread with nothing pending (every thread of a library that does its socket
//! I/O inside its calls, once its handshake read is taken) costs an array read per TLS call.
use monitor_common::tracked_slot;

use crate::maps::{THREAD_TIE_MARKS, THREAD_TIES, ThreadTie, slot_add};

#[inline(always)]
fn slot(pid_tgid: u64) -> u32 {
    tracked_slot(pid_tgid as u32)
}

/// False only when no thread of `pid_tgid`'s slot has an entry.
#[inline(always)]
pub fn may_exist(pid_tgid: u64) -> bool {
    THREAD_TIE_MARKS.get(slot(pid_tgid)).is_none_or(|n| *n != 0)
}

/// The thread's entry, if it has one.
#[inline(always)]
pub fn get(pid_tgid: u64) -> Option<*mut ThreadTie> {
    if !may_exist(pid_tgid) {
        return None;
    }
    THREAD_TIES.get_ptr_mut(&pid_tgid)
}

/// Creates the thread's entry (it had none).
#[inline(always)]
pub fn insert(pid_tgid: u64, tie: &ThreadTie) {
    // Marked first: the mark may say "maybe" before the entry exists, never the reverse.
    slot_add(&THREAD_TIE_MARKS, slot(pid_tgid), 1);
    if THREAD_TIES.insert(&pid_tgid, tie, 0).is_err() {
        slot_add(&THREAD_TIE_MARKS, slot(pid_tgid), u64::MAX);
    }
}

/// Removes the thread's entry when it holds nothing any more. Only this thread's programs touch
/// its entry, one at a time, so the check and the removal cannot race.
#[inline(always)]
pub fn release_if_empty(pid_tgid: u64, tie: &ThreadTie) {
    if tie.read_socket == 0 && tie.write_ssl == 0 && THREAD_TIES.remove(&pid_tgid).is_ok() {
        slot_add(&THREAD_TIE_MARKS, slot(pid_tgid), u64::MAX);
    }
}
