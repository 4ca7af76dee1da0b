//! A thread's read/write in progress (`PendingIo`) between the syscall's entry and its exit:
//! in the thread's `IO_SLOTS` slot, or in `PENDING_IO` when another thread holds that slot
//! (see `thread_slots`). The filters that let the exits and the TCP tracepoint skip all of
//! this (`PENDING_MARKS`, `ADDR_MARKS`: per slot, how many active entries, and how many of
//! them wait for addresses) count entries in either place.
use monitor_common::{counter, tracked_slot};

use crate::{
    maps::{
        ADDR_MARKS, IO_HASH_MARKS, IO_SLOTS, PENDING_IO, PENDING_MARKS, PendingIo, ThreadIdentity,
        count, slot_add,
    },
    thread_slots::{self, Claim},
};

/// Records the thread's read/write starting now, built by `io` from the thread's identity;
/// `addrs` is its `PendingIo::addrs`. False when it has nowhere to go (the hash map is full).
#[inline(always)]
pub fn begin(pid_tgid: u64, addrs: bool, io: impl Fn(ThreadIdentity) -> PendingIo) -> bool {
    let (was_active, was_awaiting_addrs) = match thread_slots::claim(&IO_SLOTS, pid_tgid) {
        Claim::Slot {
            value,
            kept,
            was_active,
        } => {
            retire_hash_entry(pid_tgid);
            // SAFETY: the slot's value, this thread's alone while it holds the slot as active.
            let value = unsafe { &mut *value };
            let was = (was_active, was_active && value.addrs != 0);
            let identity = if kept {
                value.identity
            } else {
                ThreadIdentity::current()
            };
            *value = io(identity);
            was
        }
        Claim::Hash => {
            count(counter::THREAD_SLOT_FALLBACKS, 1);
            let Some(was) = begin_in_hash(pid_tgid, &io) else {
                return false;
            };
            was
        }
    };
    // The marks count active entries: an entry still active (its exit was missed) is counted.
    let slot = tracked_slot(pid_tgid as u32);
    if !was_active {
        slot_add(&PENDING_MARKS, slot, 1);
    }
    if addrs != was_awaiting_addrs {
        slot_add(&ADDR_MARKS, slot, if addrs { 1 } else { u64::MAX });
    }
    true
}

/// The thread is back in its slot: an entry it left in the hash map (while another thread held
/// the slot) must not stay active, or a later exit with nothing of its own pending would take it
/// and the TCP tracepoint would follow it. Active there only if that call's exit was missed.
#[inline(always)]
fn retire_hash_entry(pid_tgid: u64) {
    let Some(entry) = thread_slots::hash_entry(&PENDING_IO, &IO_HASH_MARKS, pid_tgid) else {
        return;
    };
    // SAFETY: map value pointer, valid for this program run, written only by this thread.
    let entry = unsafe { &mut *entry };
    if entry.active != 0 {
        entry.active = 0;
        unmark(pid_tgid, entry);
    }
}

/// One active entry less for the thread's slot.
#[inline(always)]
fn unmark(pid_tgid: u64, io: &PendingIo) {
    let slot = tracked_slot(pid_tgid as u32);
    slot_add(&PENDING_MARKS, slot, u64::MAX);
    if io.addrs != 0 {
        slot_add(&ADDR_MARKS, slot, u64::MAX);
    }
}

/// As `begin`, in the hash map: whether the thread's entry was active, and waiting for
/// addresses. None when the map is full.
#[inline(always)]
fn begin_in_hash(pid_tgid: u64, io: &impl Fn(ThreadIdentity) -> PendingIo) -> Option<(bool, bool)> {
    if let Some(entry) = thread_slots::hash_entry(&PENDING_IO, &IO_HASH_MARKS, pid_tgid) {
        // SAFETY: map value pointer, valid for this program run; only this thread writes it (a
        // plain hash recycles an entry only after its delete).
        let entry = unsafe { &mut *entry };
        let was = (entry.active != 0, entry.active != 0 && entry.addrs != 0);
        *entry = io(entry.identity);
        return Some(was);
    }
    thread_slots::hash_insert(
        &PENDING_IO,
        &IO_HASH_MARKS,
        pid_tgid,
        &io(ThreadIdentity::current()),
    )
    .ok()?;
    Some((false, false))
}

/// Takes the thread's read/write in progress at the syscall's exit.
#[inline(always)]
pub fn take(pid_tgid: u64) -> Option<PendingIo> {
    let io = match thread_slots::end(&IO_SLOTS, pid_tgid) {
        Some(io) => io,
        None => {
            let entry = thread_slots::hash_entry(&PENDING_IO, &IO_HASH_MARKS, pid_tgid)?;
            // SAFETY: map value pointer, valid for this program run, written only by this thread.
            let entry = unsafe { &mut *entry };
            if entry.active == 0 {
                return None;
            }
            entry.active = 0;
            *entry
        }
    };
    unmark(pid_tgid, &io);
    Some(io)
}

/// Whether the thread is inside a read that waits for its socket's addresses.
#[inline(always)]
pub fn awaits_addrs(pid_tgid: u64) -> bool {
    // SAFETY (both): a map value read in place, this thread's own.
    if let Some(io) = thread_slots::active(&IO_SLOTS, pid_tgid) {
        return unsafe { (*io).addrs } != 0;
    }
    thread_slots::hash_entry(&PENDING_IO, &IO_HASH_MARKS, pid_tgid)
        .is_some_and(|io| unsafe { (*io).active != 0 && (*io).addrs != 0 })
}

/// The thread ran `exec`: its entries keep the new image's user and command.
#[inline(always)]
pub fn refresh_identity(pid_tgid: u64, identity: &ThreadIdentity) {
    // SAFETY (both): map value pointers, valid for this program run; a slot value only while the
    // thread holds it as active (see `active_or_drop`), a hash entry is the thread's own.
    if let Some(io) = thread_slots::active_or_drop(&IO_SLOTS, pid_tgid) {
        unsafe { (*io).identity = *identity };
    }
    if let Some(io) = thread_slots::hash_entry(&PENDING_IO, &IO_HASH_MARKS, pid_tgid) {
        unsafe { (*io).identity = *identity };
    }
}

/// A thread ends: its entries go (and its marks, if a syscall was in progress).
#[inline(always)]
pub fn forget(pid_tgid: u64) {
    if let Some((io, true)) = thread_slots::release(&IO_SLOTS, pid_tgid) {
        unmark(pid_tgid, &io);
    }
    if let Some(io) = thread_slots::hash_remove(&PENDING_IO, &IO_HASH_MARKS, pid_tgid)
        && io.active != 0
    {
        unmark(pid_tgid, &io);
    }
}
