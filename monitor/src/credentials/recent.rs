//! A small, bounded memory of recent results, looked up by a keyed 128-bit tag of the input
//! (the secret, the header field) instead of the input itself. Owns the tagging, the bound
//! and the replacement; the fingerprinter and the detector's header memo keep what they
//! remember in one of these.
//!
//! Why a tag and not the input:
//! - It holds no secret. An entry is the input's SipHash-1-3-128 tag under a key drawn from
//!   the OS (and mixed with the fingerprint key), which never leaves the process: without the
//!   key, tags reveal nothing about their inputs, short ones included (SipHash is a PRF).
//! - A wrong answer needs two inputs with the same 128-bit tag. Nobody without the key can
//!   search for such a pair, and by chance it takes about 2^64 inputs.
//! - It is bounded (`sets` × [`WAYS`] entries, a miss replaces the older of its set), so
//!   traffic with ever-new inputs cannot grow it; what one entry may hold is its user's bound.
//!
//! Behind a mutex because the detector is `Send + Sync`; a caller whose memory is busy on
//! another thread computes the result rather than wait. (The daemon has one detector per
//! pipeline thread, so the lock is never contended there: it is taken once per request.)
use std::{
    hash::Hasher as _,
    sync::{Mutex, MutexGuard, TryLockError},
};

use siphasher::sip128::{Hasher128 as _, SipHasher13};

/// Entries per set; the newer is first.
pub(crate) const WAYS: usize = 2;

pub(crate) struct Recent<V> {
    key: [u8; 16],
    sets: usize,
    /// `sets` × `WAYS` entries once used (allocated on first use).
    entries: Mutex<Vec<Entry<V>>>,
}

/// An empty entry has tag 0 (and the default value): a real input's tag is 0 with probability
/// 2^-128, and is then only never remembered. Without an `Option` an entry is the tag and the
/// value, 32 bytes for both memories.
struct Entry<V> {
    tag: u128,
    value: V,
}

impl<V: Default> Recent<V> {
    pub(crate) fn new(key: [u8; 16], sets: usize) -> Self {
        Self {
            key,
            sets: sets.max(1),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The tag of an input given in parts: SipHash of each part's length (four bytes) and
    /// bytes, so that `("ab", "c")` and `("a", "bc")` differ. Short inputs (nearly every
    /// header field) are laid out on the stack and hashed in one pass: streamed piece by
    /// piece, the hasher's tail handling cost about a third of the tag.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> u128 {
        const SHORT: usize = 256;
        let hasher = SipHasher13::new_with_key(&self.key);
        let encoded = parts.iter().map(|p| 4 + p.len()).sum::<usize>();
        if encoded <= SHORT {
            // A copy of the input (a secret, say) stays in this frame until the stack is
            // reused, as the request's own bytes stay in the capture buffers for longer.
            let mut buf = [0u8; SHORT];
            let mut at = 0;
            for part in parts {
                buf[at..at + 4].copy_from_slice(&(part.len() as u32).to_le_bytes());
                buf[at + 4..at + 4 + part.len()].copy_from_slice(part);
                at += 4 + part.len();
            }
            return u128::from(hasher.hash(&buf[..at]));
        }
        let mut hasher = hasher;
        for part in parts {
            // Parts are header fields and secrets, capped far below 4 GiB by their callers.
            hasher.write(&(part.len() as u32).to_le_bytes());
            hasher.write(part);
        }
        u128::from(hasher.finish128())
    }

    /// The entries, unless another thread holds them. A panic elsewhere cannot leave them
    /// half-written (entries are written whole), so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> Option<Held<'_, V>> {
        let entries = match self.entries.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(Held {
            sets: self.sets,
            entries,
        })
    }

    /// Entries in use, for tests of the bound.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock()
            .map_or(0, |held| held.entries.iter().filter(|e| e.tag != 0).count())
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.sets * WAYS
    }
}

/// The locked entries: lookups and insertions by tag.
pub(crate) struct Held<'a, V> {
    sets: usize,
    entries: MutexGuard<'a, Vec<Entry<V>>>,
}

impl<V: Default> Held<'_, V> {
    fn set(&self, tag: u128) -> std::ops::Range<usize> {
        // The tag's bits are uniform: its low ones pick the set.
        let first = (tag % self.sets as u128) as usize * WAYS;
        first..first + WAYS
    }

    /// What was remembered under `tag`; a hit becomes the newer of its set, so an entry used
    /// on every call outlives the one-off inputs that pass through its set.
    pub(crate) fn get(&mut self, tag: u128) -> Option<&V> {
        let set = self.set(tag);
        let entries = self.entries.get_mut(set.clone())?;
        let way = entries.iter().position(|e| e.tag == tag && tag != 0)?;
        entries[..=way].rotate_right(1);
        Some(&self.entries[set.start].value)
    }

    /// Remembers `value` under `tag`, in place of the older entry of its set.
    pub(crate) fn put(&mut self, tag: u128, value: V) {
        if self.entries.is_empty() {
            let all = self.sets * WAYS;
            self.entries.reserve_exact(all);
            self.entries.extend((0..all).map(|_| Entry {
                tag: 0,
                value: V::default(),
            }));
        }
        let set = self.set(tag);
        let entries = &mut self.entries[set];
        entries.rotate_right(1);
        entries[0] = Entry { tag, value };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited() {
        let recent: Recent<()> = Recent::new([7; 16], 4);
        assert_ne!(recent.tag(&[b"ab", b"c"]), recent.tag(&[b"a", b"bc"]));
        assert_eq!(recent.tag(&[b"ab", b"c"]), recent.tag(&[b"ab", b"c"]));
        let other: Recent<()> = Recent::new([8; 16], 4);
        assert_ne!(recent.tag(&[b"ab"]), other.tag(&[b"ab"]));
    }

    #[test]
    fn long_inputs_are_tagged_as_their_bytes_say() {
        // Streamed (long) and laid out (short) inputs hash the same encoding: the tag of a
        // long input is the one-pass hash of that encoding.
        let recent: Recent<()> = Recent::new([3; 16], 4);
        let name = b"authorization".as_slice();
        let value = vec![b'x'; 1000];
        let mut encoded = Vec::new();
        for part in [name, value.as_slice()] {
            encoded.extend_from_slice(&(part.len() as u32).to_le_bytes());
            encoded.extend_from_slice(part);
        }
        let one_pass = u128::from(SipHasher13::new_with_key(&[3; 16]).hash(&encoded));
        assert_eq!(recent.tag(&[name, &value]), one_pass);
        assert_ne!(recent.tag(&[name, &value[1..]]), one_pass);
    }

    #[test]
    fn bounded_and_keeps_what_is_used() {
        let recent: Recent<u32> = Recent::new([1; 16], 8);
        let hot = recent.tag(&[b"hot"]);
        recent.lock().unwrap().put(hot, 1);
        for i in 0..1000u32 {
            let mut held = recent.lock().unwrap();
            // Used between the one-off inputs, the hot entry is never the older of its set.
            assert_eq!(held.get(hot), Some(&1), "after {i} one-off inputs");
            let tag = recent.tag(&[&i.to_le_bytes()]);
            held.put(tag, i + 2);
        }
        assert_eq!(recent.len(), recent.capacity());
        // The newest one-off input is remembered, an old one is not.
        let mut held = recent.lock().unwrap();
        assert_eq!(held.get(recent.tag(&[&999u32.to_le_bytes()])), Some(&1001));
        assert_eq!(held.get(recent.tag(&[&0u32.to_le_bytes()])), None);
    }

    #[test]
    fn a_busy_memory_is_skipped_not_waited_for() {
        let recent: Recent<u32> = Recent::new([2; 16], 2);
        let held = recent.lock();
        assert!(held.is_some());
        assert!(recent.lock().is_none());
    }
}
