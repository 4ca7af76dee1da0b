//! Per-thread entries (a syscall's or a TLS call's arguments between its entry and its exit)
//! kept in an array slot the thread claims with a compare-and-swap, in front of a hash map
//! keyed by `pid_tgid` for the threads whose slot another thread holds.
//!
//! Why: a hash lookup costs 40–50 ns here (the bucket walk and the key hash, measured with
//! `perf` under BPF frames), and a traced syscall made two or three of them between its entry
//! and its exit, more than the rest of its entry probe. An array slot's lookup is inlined by
//! the verifier; the claim and the release are one `lock cmpxchg` each.
//!
//! A slot (`tracked_slot(tid)`) is shared by every thread that hashes to it. Its `owner` word
//! says whose value it holds and whether that thread is inside a call:
//! - 0: nobody's;
//! - `pid_tgid << 2 | HELD`: the thread's last call ended; its value stays (its identity is
//!   reused by its next call) but any thread of the slot may take the slot over;
//! - `pid_tgid << 2 | ACTIVE`: the thread is inside a call. Nobody else takes the slot, and only
//!   that thread writes its value, so the value needs no lock.
//!
//! Every change of owner or state is a compare-and-swap from the word just read, so two
//! threads of one slot cannot both believe they hold it: the loser uses the hash map. A thread
//! reads its value only while its word says so. `pid_tgid` is below 2^54 (pids are below
//! 2^22), so the shifted word is exact.
use aya_ebpf::maps::{Array, HashMap};
use monitor_common::tracked_slot;

use crate::maps::{compare_exchange, slot_add};

const HELD: u64 = 1;
const ACTIVE: u64 = 2;
const STATE: u64 = HELD | ACTIVE;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ThreadSlot<T> {
    pub owner: u64,
    pub value: T,
}

#[inline(always)]
fn word(pid_tgid: u64, state: u64) -> u64 {
    (pid_tgid << 2) | state
}

#[inline(always)]
fn slot<T>(slots: &Array<ThreadSlot<T>>, pid_tgid: u64) -> Option<*mut ThreadSlot<T>> {
    slots.get_ptr_mut(tracked_slot(pid_tgid as u32))
}

#[inline(always)]
fn owner<T>(slot: *mut ThreadSlot<T>) -> u64 {
    // SAFETY: array value pointer, valid for this program run; read once (other CPUs write it).
    unsafe { core::ptr::read_volatile(&(*slot).owner) }
}

/// Where the thread's entry for a new call is.
pub enum Claim<T> {
    /// Its slot, which it now holds as inside a call. `kept`: the value is the thread's own
    /// from an earlier call (its identity is valid), otherwise another thread's;
    /// `was_active`: that earlier call's exit was missed (the slot was still held as inside it).
    Slot {
        value: *mut T,
        kept: bool,
        was_active: bool,
    },
    /// Its slot is another thread's: the hash map, where it may have an entry.
    Hash,
}

/// Claims the thread's slot for a call starting now.
#[inline(always)]
pub fn claim<T>(slots: &Array<ThreadSlot<T>>, pid_tgid: u64) -> Claim<T> {
    let Some(slot) = slot(slots, pid_tgid) else {
        return Claim::Hash;
    };
    let current = owner(slot);
    let active = word(pid_tgid, ACTIVE);
    // SAFETY (both): array value pointer, valid for this program run.
    let (value, owner_word) = unsafe { (&raw mut (*slot).value, &raw mut (*slot).owner) };
    if current == active {
        return Claim::Slot {
            value,
            kept: true,
            was_active: true,
        };
    }
    if current & ACTIVE != 0 || compare_exchange(owner_word, current, active) != current {
        return Claim::Hash;
    }
    Claim::Slot {
        value,
        kept: current == word(pid_tgid, HELD),
        was_active: false,
    }
}

/// The thread's value while it is inside a call held in its slot.
#[inline(always)]
pub fn active<T>(slots: &Array<ThreadSlot<T>>, pid_tgid: u64) -> Option<*mut T> {
    let slot = slot(slots, pid_tgid)?;
    // SAFETY: array value pointer, valid for this program run.
    (owner(slot) == word(pid_tgid, ACTIVE)).then(|| unsafe { &raw mut (*slot).value })
}

/// For a change of the thread's value outside its calls (a new identity at `exec`): its value
/// if it is inside a call held in its slot. A value it holds between calls is dropped instead
/// (its next call makes a new one): another thread may take the slot over at any moment, so
/// only an active holder may write its value.
#[inline(always)]
pub fn active_or_drop<T>(slots: &Array<ThreadSlot<T>>, pid_tgid: u64) -> Option<*mut T> {
    let slot = slot(slots, pid_tgid)?;
    let current = owner(slot);
    if current == word(pid_tgid, HELD) {
        // SAFETY: array value pointer, valid for this program run. Taken over meanwhile: the
        // swap fails and the value is another thread's, untouched.
        compare_exchange(unsafe { &raw mut (*slot).owner }, current, 0);
        return None;
    }
    // SAFETY: array value pointer, valid for this program run.
    (current == word(pid_tgid, ACTIVE)).then(|| unsafe { &raw mut (*slot).value })
}

/// The thread's call held in its slot ends: returns its value, and lets other threads take the
/// slot. The value is copied first: once the word says `HELD`, another thread may write it.
#[inline(always)]
pub fn end<T: Copy>(slots: &Array<ThreadSlot<T>>, pid_tgid: u64) -> Option<T> {
    let slot = slot(slots, pid_tgid)?;
    let active = word(pid_tgid, ACTIVE);
    if owner(slot) != active {
        return None;
    }
    // SAFETY: array value pointer; only this thread writes it while the word says `ACTIVE`.
    let value = unsafe { (*slot).value };
    // SAFETY: as above. Nobody else changes an `ACTIVE` word, so this cannot fail.
    compare_exchange(
        unsafe { &raw mut (*slot).owner },
        active,
        word(pid_tgid, HELD),
    );
    Some(value)
}

/// The thread ends (or changes id at `exec`): its slot is nobody's. Returns its value and
/// whether a call was in progress.
#[inline(always)]
pub fn release<T: Copy>(slots: &Array<ThreadSlot<T>>, pid_tgid: u64) -> Option<(T, bool)> {
    let slot = slot(slots, pid_tgid)?;
    let current = owner(slot);
    if current & !STATE != word(pid_tgid, 0) {
        return None;
    }
    // SAFETY: array value pointer; the value is this thread's until the word changes.
    let value = unsafe { (*slot).value };
    // A `HELD` word may be taken over at the same moment: then it is not ours to clear.
    let released = compare_exchange(unsafe { &raw mut (*slot).owner }, current, 0) == current;
    released.then_some((value, current & ACTIVE != 0))
}

/// The thread's entry in the hash map, behind `marks` (per slot, how many threads of the slot
/// have one): nearly every thread holds its slot and has none.
#[inline(always)]
pub fn hash_entry<T>(hash: &HashMap<u64, T>, marks: &Array<u64>, pid_tgid: u64) -> Option<*mut T> {
    if marks
        .get(tracked_slot(pid_tgid as u32))
        .is_some_and(|n| *n == 0)
    {
        return None;
    }
    hash.get_ptr_mut(&pid_tgid)
}

/// Creates the thread's hash entry (it had none).
#[inline(always)]
pub fn hash_insert<T>(
    hash: &HashMap<u64, T>,
    marks: &Array<u64>,
    pid_tgid: u64,
    value: &T,
) -> Result<(), ()> {
    // Marked first: the mark may say "maybe" before the entry exists, never the reverse.
    let slot = tracked_slot(pid_tgid as u32);
    slot_add(marks, slot, 1);
    if hash.insert(&pid_tgid, value, 0).is_err() {
        slot_add(marks, slot, u64::MAX);
        return Err(());
    }
    Ok(())
}

/// Removes the thread's hash entry, if any, and returns it.
#[inline(always)]
pub fn hash_remove<T: Copy>(
    hash: &HashMap<u64, T>,
    marks: &Array<u64>,
    pid_tgid: u64,
) -> Option<T> {
    let entry = hash_entry(hash, marks, pid_tgid)?;
    // SAFETY: map value pointer, valid for this program run.
    let value = unsafe { *entry };
    if hash.remove(&pid_tgid).is_ok() {
        slot_add(marks, tracked_slot(pid_tgid as u32), u64::MAX);
    }
    Some(value)
}
