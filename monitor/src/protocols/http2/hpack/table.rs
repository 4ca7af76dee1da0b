//! The HPACK dynamic table as a passive observer can know it (RFC 7541 §2.3.2, §4).
//!
//! HPACK indices count back from the newest insertion, so every entry inserted since we started
//! watching (or since state was lost) sits at an exactly known position. What came before is an
//! *unknown tail*: zero or more entries we never saw, always older than the known ones, so it is
//! also evicted first. The table is therefore modelled as
//!
//! - `entries`: known entries, newest first, each with a size *range* (an entry whose name was
//!   copied from an unknown entry has a known value but a name of unknown length);
//! - `tail`: whether unknown older entries may still exist.
//!
//! Eviction keeps the longest run of newest entries whose total size fits the maximum. With size
//! ranges, an entry survives for sure when the upper bounds of it and everything newer fit, is
//! gone for sure when the lower bounds already overflow (then the tail is gone too: the table is
//! fully known again), and otherwise its fate is uncertain: it and everything older become part
//! of the unknown tail. We never guess and never shift positions.

use std::collections::VecDeque;

use bytes::Bytes;

/// RFC 7541 §4.1: every entry costs its name and value lengths plus 32.
pub const ENTRY_OVERHEAD: usize = 32;

/// One known dynamic-table entry. `name` is `None` when it was copied by index from an entry we
/// never saw; `name_min..=name_max` then bounds its length.
#[derive(Clone)]
pub struct Entry {
    pub name: Option<Bytes>,
    pub value: Bytes,
    pub name_min: usize,
    pub name_max: usize,
}

impl Entry {
    fn size_min(&self) -> usize {
        self.value.len() + self.name_min + ENTRY_OVERHEAD
    }

    fn size_max(&self) -> usize {
        self.value.len() + self.name_max + ENTRY_OVERHEAD
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: values may be credentials.
        f.debug_struct("Entry")
            .field("name_len", &self.name.as_ref().map(Bytes::len))
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// What a dynamic-table position holds.
pub enum Slot<'a> {
    Known(&'a Entry),
    /// An entry of the unknown tail.
    Unknown,
}

/// The dynamic table of one decoder.
#[derive(Debug)]
pub struct DynamicTable {
    entries: VecDeque<Entry>,
    tail: bool,
    max_size: usize,
}

impl DynamicTable {
    pub fn new(max_size: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            tail: false,
            max_size,
        }
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Whether older entries we never saw may still be in the table.
    pub fn has_unknown_tail(&self) -> bool {
        self.tail
    }

    #[cfg(test)]
    pub fn known_len(&self) -> usize {
        self.entries.len()
    }

    /// Total size of the known entries: exact when every known entry has a known name.
    pub fn known_size_min(&self) -> usize {
        self.entries.iter().map(Entry::size_min).sum()
    }

    pub fn known_size_max(&self) -> usize {
        self.entries.iter().map(Entry::size_max).sum()
    }

    /// Forgets every entry: they all become the unknown tail.
    pub fn forget(&mut self) {
        self.entries.clear();
        self.tail = self.max_size >= ENTRY_OVERHEAD;
    }

    /// The entry at 0-based `pos` counted from the newest, or `None` if no conforming encoder
    /// could reference that position.
    pub fn get(&self, pos: usize) -> Option<Slot<'_>> {
        if let Some(entry) = self.entries.get(pos) {
            return Some(Slot::Known(entry));
        }
        if !self.tail {
            return None;
        }
        // Every tail entry costs at least 32 bytes, so the tail cannot hold more entries than fit
        // in the room the known entries leave.
        let in_tail = pos - self.entries.len() + 1;
        let room = self.max_size.saturating_sub(self.known_size_min());
        (in_tail.checked_mul(ENTRY_OVERHEAD)? <= room).then_some(Slot::Unknown)
    }

    /// Inserts a new entry (RFC 7541 §4.4) and evicts what no longer fits.
    pub fn insert(&mut self, entry: Entry) {
        if entry.size_min() > self.max_size {
            // Too big for the table whatever its name: the insert empties the table.
            self.entries.clear();
            self.tail = false;
            return;
        }
        // If its unknown name would make it bigger than the whole table, the encoder inserted
        // nothing and emptied the table; then no conforming encoder can reference this position
        // or any older one, so keeping it as present can never yield a wrong field. Its size
        // range is capped accordingly.
        let mut entry = entry;
        let cap = self.max_size - entry.value.len() - ENTRY_OVERHEAD;
        entry.name_max = entry.name_max.min(cap);
        self.entries.push_front(entry);
        self.settle();
    }

    /// Applies a dynamic table size update (RFC 7541 §6.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.settle();
    }

    /// Evicts what certainly no longer fits and turns what may no longer fit into unknown tail.
    fn settle(&mut self) {
        let mut cum_min = 0usize;
        let mut cum_max = 0usize;
        for (i, entry) in self.entries.iter().enumerate() {
            cum_min += entry.size_min();
            cum_max += entry.size_max();
            if cum_max > self.max_size {
                // Evicted for sure (then everything older is gone, the tail too), or maybe.
                self.tail = cum_min <= self.max_size;
                self.entries.truncate(i);
                return;
            }
        }
        if self.max_size.saturating_sub(cum_min) < ENTRY_OVERHEAD {
            self.tail = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &'static [u8], value: &'static [u8]) -> Entry {
        Entry {
            name: Some(Bytes::from_static(name)),
            value: Bytes::from_static(value),
            name_min: name.len(),
            name_max: name.len(),
        }
    }

    fn unknown_name(value: &'static [u8], name_max: usize) -> Entry {
        Entry {
            name: None,
            value: Bytes::from_static(value),
            name_min: 0,
            name_max,
        }
    }

    #[test]
    fn exact_eviction_of_known_entries() {
        let mut t = DynamicTable::new(100);
        t.insert(known(b"aaaa", b"bbbb")); // 40
        t.insert(known(b"cccc", b"dddd")); // 40
        assert_eq!(t.known_len(), 2);
        t.insert(known(b"eeee", b"ffff")); // 120 > 100: the oldest goes
        assert_eq!(t.known_len(), 2);
        assert_eq!(t.known_size_min(), 80);
        assert!(t.get(2).is_none());
    }

    #[test]
    fn unknown_tail_resolves_as_unknown_then_disappears() {
        let mut t = DynamicTable::new(100);
        t.forget();
        assert!(matches!(t.get(0), Some(Slot::Unknown)));
        assert!(matches!(t.get(2), Some(Slot::Unknown)));
        assert!(t.get(3).is_none(), "four 32-byte entries cannot fit in 100");
        t.insert(known(b"aaaa", b"bbbb")); // 40, tail room 60
        assert!(matches!(t.get(0), Some(Slot::Known(_))));
        assert!(matches!(t.get(1), Some(Slot::Unknown)));
        t.insert(known(b"cccc", b"dddd")); // 80 known: no room for a 32-byte entry
        assert!(!t.has_unknown_tail());
        assert!(t.get(2).is_none());
    }

    #[test]
    fn uncertain_eviction_makes_older_entries_unknown() {
        let mut t = DynamicTable::new(200);
        t.insert(known(b"aaaa", b"bbbb")); // 40
        t.insert(known(b"cccc", b"dddd")); // 40
        // 36..=136: the older two may or may not fit any more.
        t.insert(unknown_name(b"vvvv", 100));
        assert_eq!(t.known_len(), 2, "newest two surely fit (at most 176)");
        t.insert(unknown_name(b"wwww", 100));
        assert_eq!(t.known_len(), 1, "36..=136 twice may overflow 200");
        assert!(t.has_unknown_tail());
        assert!(matches!(t.get(1), Some(Slot::Unknown)));
    }

    #[test]
    fn size_update_to_zero_makes_everything_known() {
        let mut t = DynamicTable::new(4096);
        t.forget();
        t.insert(known(b"a", b"b"));
        t.set_max_size(0);
        assert_eq!(t.known_len(), 0);
        assert!(!t.has_unknown_tail());
        assert!(t.get(0).is_none());
    }

    #[test]
    fn oversized_insert_empties_table() {
        let mut t = DynamicTable::new(64);
        t.forget();
        t.insert(known(
            b"0123456789",
            b"0123456789012345678901234567890123456789",
        ));
        assert_eq!(t.known_len(), 0);
        assert!(!t.has_unknown_tail());
    }
}
