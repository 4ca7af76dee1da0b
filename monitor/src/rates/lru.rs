//! The bounded-recency structure shared by the rate limiter, the destination inventory and the
//! API inventory (`crate::inventory`): a hash map whose entries are also threaded on a doubly
//! linked recency list, so that lookup, "mark as just used", insertion and "remove the least
//! recently used" are all O(1).
//!
//! Why this design rather than a `VecDeque<(key, generation)>` with lazy deletion: the queue
//! variant needs a key clone on *every* touch (a `RateKey` is five strings) and a periodic
//! compaction pass to keep stale entries from piling up, which makes the cost amortised rather
//! than constant and the memory bound loose. Here the list links are indices into a slot vector
//! (no per-node allocation, no `unsafe`), each key is allocated once (an `Arc` shared between the
//! index and its slot, so the slot can find its index entry when it is evicted) and every
//! operation is a constant amount of work, whatever an attacker does to the key distribution.
//!
//! Capacity is not enforced here: the owners decide what to drop when full (the limiter prefers
//! idle buckets, the inventory simply forgets the oldest pair).
use std::{borrow::Borrow, hash::Hash, sync::Arc};

use crate::TrafficMap;

/// "No slot" marker for the list links.
const NIL: usize = usize::MAX;

/// Largest capacity reserved up front; beyond that the map grows on demand.
const MAX_PREALLOC: usize = 4096;

struct Slot<K, V> {
    /// `None` while the slot is on the free list.
    entry: Option<(Arc<K>, V)>,
    /// Towards the most recently used end.
    prev: usize,
    /// Towards the least recently used end.
    next: usize,
}

pub(crate) struct RecencyMap<K, V> {
    /// Keys come from traffic (hosts, paths): see [`TrafficMap`].
    index: TrafficMap<Arc<K>, usize>,
    slots: Vec<Slot<K, V>>,
    free: Vec<usize>,
    /// Most recently used slot.
    head: usize,
    /// Least recently used slot.
    tail: usize,
}

impl<K: Hash + Eq, V> RecencyMap<K, V> {
    pub(crate) fn with_capacity(expected: usize) -> Self {
        let n = expected.min(MAX_PREALLOC);
        Self {
            index: TrafficMap::with_capacity_and_hasher(n, Default::default()),
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Looks `key` up and, if present, marks it most recently used.
    pub(crate) fn get_mut_touch<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Arc<K>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = *self.index.get(key)?;
        self.unlink(i);
        self.push_front(i);
        self.slots[i].entry.as_mut().map(|(_, v)| v)
    }

    /// Inserts `key` as the most recently used entry (replacing its value if it was present).
    pub(crate) fn insert(&mut self, key: K, value: V) -> &mut V {
        if let Some(&i) = self.index.get(&key) {
            self.unlink(i);
            self.push_front(i);
            let (_, v) = self.slots[i]
                .entry
                .as_mut()
                .expect("indexed slot is occupied");
            *v = value;
            return v;
        }
        let key = Arc::new(key);
        let entry = Some((Arc::clone(&key), value));
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i].entry = entry;
                i
            }
            None => {
                self.slots.push(Slot {
                    entry,
                    prev: NIL,
                    next: NIL,
                });
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        self.push_front(i);
        let (_, v) = self.slots[i].entry.as_mut().expect("slot was just filled");
        v
    }

    /// Every entry, in no particular order (readers that need an order sort).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter_map(|slot| slot.entry.as_ref().map(|(k, v)| (&**k, v)))
    }

    /// Removes the least recently used entry, returning its value.
    pub(crate) fn pop_lru(&mut self) -> Option<V> {
        (self.tail != NIL).then(|| self.remove_slot(self.tail))
    }

    /// Looks at up to `max_scan` entries from the least recently used end and removes those for
    /// which `remove` is true. Returns how many were removed.
    pub(crate) fn remove_lru_where(
        &mut self,
        max_scan: usize,
        mut remove: impl FnMut(&V) -> bool,
    ) -> usize {
        let mut removed = 0;
        let mut i = self.tail;
        for _ in 0..max_scan {
            if i == NIL {
                break;
            }
            let towards_recent = self.slots[i].prev;
            if self.slots[i].entry.as_ref().is_some_and(|(_, v)| remove(v)) {
                self.remove_slot(i);
                removed += 1;
            }
            i = towards_recent;
        }
        removed
    }

    /// Removes every entry for which `keep` is false (O(len)). Returns how many were removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let mut removed = 0;
        for i in 0..self.slots.len() {
            if self.slots[i].entry.as_ref().is_some_and(|(_, v)| !keep(v)) {
                self.remove_slot(i);
                removed += 1;
            }
        }
        removed
    }

    fn remove_slot(&mut self, i: usize) -> V {
        self.unlink(i);
        let (key, value) = self.slots[i]
            .entry
            .take()
            .expect("removed slot is occupied");
        self.index.remove(&*key);
        self.free.push(i);
        value
    }

    fn unlink(&mut self, i: usize) {
        let Slot { prev, next, .. } = self.slots[i];
        match prev {
            NIL => self.head = next,
            p => self.slots[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n].prev = prev,
        }
        self.slots[i].prev = NIL;
        self.slots[i].next = NIL;
    }

    fn push_front(&mut self, i: usize) {
        self.slots[i].prev = NIL;
        self.slots[i].next = self.head;
        match self.head {
            NIL => self.tail = i,
            h => self.slots[h].prev = i,
        }
        self.head = i;
    }

    /// Values from most to least recently used (tests only).
    #[cfg(test)]
    fn values_mru_first(&self) -> Vec<&V> {
        let mut out = Vec::new();
        let mut i = self.head;
        while i != NIL {
            out.extend(self.slots[i].entry.as_ref().map(|(_, v)| v));
            i = self.slots[i].next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_with(keys: &[u32]) -> RecencyMap<u32, u32> {
        let mut m = RecencyMap::with_capacity(8);
        for &k in keys {
            m.insert(k, k * 10);
        }
        m
    }

    #[test]
    fn insert_and_touch_order_recency() {
        let mut m = map_with(&[1, 2, 3]);
        assert_eq!(m.values_mru_first(), [&30, &20, &10]);
        assert_eq!(m.get_mut_touch(&1), Some(&mut 10));
        assert_eq!(m.values_mru_first(), [&10, &30, &20]);
        assert_eq!(m.get_mut_touch(&9), None);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn pop_lru_removes_oldest_and_reuses_slots() {
        let mut m = map_with(&[1, 2, 3]);
        assert_eq!(m.pop_lru(), Some(10));
        assert_eq!(m.get_mut_touch(&1), None);
        m.insert(4, 40);
        assert_eq!(m.slots.len(), 3, "freed slot is reused");
        assert_eq!(m.values_mru_first(), [&40, &30, &20]);
        assert_eq!(m.pop_lru(), Some(20));
        assert_eq!(m.pop_lru(), Some(30));
        assert_eq!(m.pop_lru(), Some(40));
        assert_eq!(m.pop_lru(), None);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn reinsert_replaces_value_and_touches() {
        let mut m = map_with(&[1, 2]);
        m.insert(1, 11);
        assert_eq!(m.len(), 2);
        assert_eq!(m.values_mru_first(), [&11, &20]);
    }

    #[test]
    fn remove_lru_where_scans_only_the_old_end() {
        let mut m = map_with(&[1, 2, 3, 4, 5]);
        // Scans 10, 20, 30 (the three oldest); removes the even ones among them.
        assert_eq!(m.remove_lru_where(3, |v| v % 20 == 0), 1);
        assert_eq!(m.values_mru_first(), [&50, &40, &30, &10]);
    }

    #[test]
    fn iter_visits_every_entry_once() {
        let mut m = map_with(&[1, 2, 3]);
        m.pop_lru();
        let mut seen: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort_unstable();
        assert_eq!(seen, [(2, 20), (3, 30)]);
    }

    #[test]
    fn retain_removes_everywhere() {
        let mut m = map_with(&[1, 2, 3, 4, 5]);
        assert_eq!(m.retain(|v| v % 20 != 0), 2);
        assert_eq!(m.values_mru_first(), [&50, &30, &10]);
        assert_eq!(m.len(), 3);
    }
}
