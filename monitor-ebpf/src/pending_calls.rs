//! A thread's TLS library call in progress (`PendingCall`) between its entry probe and its
//! return probe: in the thread's `CALL_SLOTS` slot, or in `PENDING_CALLS` when another thread
//! holds that slot (see `thread_slots`). The socket probes read it too, to tell a syscall made
//! inside a TLS call.
use monitor_common::counter;

use crate::{
    maps::{CALL_HASH_MARKS, CALL_SLOTS, PENDING_CALLS, PendingCall, ThreadIdentity, count},
    thread_slots::{self, Claim},
};

/// Records the thread's call starting now, built by `call` from the thread's identity. False
/// when it has nowhere to go (the hash map is full).
#[inline(always)]
pub fn begin(pid_tgid: u64, call: impl Fn(ThreadIdentity) -> PendingCall) -> bool {
    if let Claim::Slot { value, kept, .. } = thread_slots::claim(&CALL_SLOTS, pid_tgid) {
        // Back in its slot: an entry the thread left in the hash map (while another thread held
        // the slot) must not stay active, or its syscalls would look inside that old call. Active
        // there only if that call's return was missed.
        if let Some(entry) = thread_slots::hash_entry(&PENDING_CALLS, &CALL_HASH_MARKS, pid_tgid) {
            // SAFETY: map value pointer, valid for this program run, written only by this thread.
            unsafe { (*entry).active = 0 };
        }
        // SAFETY: the slot's value, this thread's alone while it holds the slot as active.
        let value = unsafe { &mut *value };
        let identity = if kept {
            value.identity
        } else {
            ThreadIdentity::current()
        };
        *value = call(identity);
        return true;
    }
    count(counter::THREAD_SLOT_FALLBACKS, 1);
    if let Some(entry) = thread_slots::hash_entry(&PENDING_CALLS, &CALL_HASH_MARKS, pid_tgid) {
        // SAFETY: map value pointer, valid for this program run; only this thread writes it (a
        // plain hash recycles an entry only after its delete, at the thread's exit).
        let entry = unsafe { &mut *entry };
        *entry = call(entry.identity);
        return true;
    }
    thread_slots::hash_insert(
        &PENDING_CALLS,
        &CALL_HASH_MARKS,
        pid_tgid,
        &call(ThreadIdentity::current()),
    )
    .is_ok()
}

/// The thread's call in progress, if any (its value may be updated in place).
#[inline(always)]
pub fn active(pid_tgid: u64) -> Option<*mut PendingCall> {
    if let Some(call) = thread_slots::active(&CALL_SLOTS, pid_tgid) {
        return Some(call);
    }
    // SAFETY: map value pointer, valid for this program run.
    thread_slots::hash_entry(&PENDING_CALLS, &CALL_HASH_MARKS, pid_tgid)
        .filter(|call| unsafe { (**call).active } != 0)
}

/// Takes the thread's call in progress at its return.
#[inline(always)]
pub fn take(pid_tgid: u64) -> Option<PendingCall> {
    if let Some(call) = thread_slots::end(&CALL_SLOTS, pid_tgid) {
        return Some(call);
    }
    let entry = thread_slots::hash_entry(&PENDING_CALLS, &CALL_HASH_MARKS, pid_tgid)?;
    // SAFETY: map value pointer, valid for this program run, written only by this thread.
    let entry = unsafe { &mut *entry };
    if entry.active == 0 {
        return None;
    }
    entry.active = 0;
    Some(*entry)
}

/// The thread ran `exec`: its entries keep the new image's user and command.
#[inline(always)]
pub fn refresh_identity(pid_tgid: u64, identity: &ThreadIdentity) {
    // SAFETY (both): map value pointers, valid for this program run; a slot value only while the
    // thread holds it as active (see `active_or_drop`), a hash entry is the thread's own.
    if let Some(call) = thread_slots::active_or_drop(&CALL_SLOTS, pid_tgid) {
        unsafe { (*call).identity = *identity };
    }
    if let Some(call) = thread_slots::hash_entry(&PENDING_CALLS, &CALL_HASH_MARKS, pid_tgid) {
        unsafe { (*call).identity = *identity };
    }
}

/// A thread ends: its entries go.
#[inline(always)]
pub fn forget(pid_tgid: u64) {
    let _ = thread_slots::release(&CALL_SLOTS, pid_tgid);
    let _ = thread_slots::hash_remove(&PENDING_CALLS, &CALL_HASH_MARKS, pid_tgid);
}
