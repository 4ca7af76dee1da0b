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
    /// The known entries' total size, lower and upper bound: kept as entries come and go, so an
    /// insert settles by evicting from the oldest end instead of summing every entry (the
    /// table's walk was about 850 instructions per small HTTP/2 call).
    size_min: usize,
    size_max: usize,
    tail: bool,
    max_size: usize,
}

impl DynamicTable {
    pub fn new(max_size: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            size_min: 0,
            size_max: 0,
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
        self.size_min
    }

    pub fn known_size_max(&self) -> usize {
        self.size_max
    }

    /// Forgets every entry: they all become the unknown tail.
    pub fn forget(&mut self) {
        self.clear();
        self.tail = self.max_size >= ENTRY_OVERHEAD;
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.size_min = 0;
        self.size_max = 0;
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
            self.clear();
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
        self.size_min += entry.size_min();
        self.size_max += entry.size_max();
        self.entries.push_front(entry);
        self.settle();
    }

    /// Applies a dynamic table size update (RFC 7541 §6.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.settle();
    }

    /// Evicts what certainly no longer fits and turns what may no longer fit into unknown tail.
    ///
    /// Keeps the longest run of newest entries whose upper bounds fit: the oldest entries go
    /// while the upper bound of the whole is over. The last one to go is the newest that does
    /// not fit; whether it (with everything newer) fits by its lower bound says whether it may
    /// still be there, as part of the unknown tail, or is gone for sure with everything older.
    fn settle(&mut self) {
        let mut last_out = None;
        while self.size_max > self.max_size {
            let Some(oldest) = self.entries.pop_back() else {
                break;
            };
            self.size_min -= oldest.size_min();
            self.size_max -= oldest.size_max();
            last_out = Some(oldest);
        }
        match last_out {
            Some(out) => self.tail = self.size_min + out.size_min() <= self.max_size,
            None if self.max_size.saturating_sub(self.size_min) < ENTRY_OVERHEAD => {
                self.tail = false;
            }
            None => {}
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

    /// The table against the definition it keeps running totals for: after every insert and
    /// size update of a long pseudo-random run (known and unknown names, size updates down to
    /// zero, forgotten state), the same known entries, bounds and tail as when each settle
    /// walks every entry from the newest.
    #[test]
    fn running_totals_settle_as_a_walk_of_every_entry_does() {
        struct Walked {
            sizes: Vec<(usize, usize)>,
            tail: bool,
            max_size: usize,
        }
        impl Walked {
            fn settle(&mut self) {
                let (mut cum_min, mut cum_max) = (0, 0);
                for (i, &(min, max)) in self.sizes.iter().enumerate() {
                    cum_min += min;
                    cum_max += max;
                    if cum_max > self.max_size {
                        self.tail = cum_min <= self.max_size;
                        self.sizes.truncate(i);
                        return;
                    }
                }
                if self.max_size.saturating_sub(cum_min) < ENTRY_OVERHEAD {
                    self.tail = false;
                }
            }
        }
        static VALUES: [u8; 300] = [b'v'; 300];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound) as usize
        };
        let mut t = DynamicTable::new(4096);
        let mut walked = Walked {
            sizes: Vec::new(),
            tail: false,
            max_size: 4096,
        };
        for step in 0..20_000 {
            match next(100) {
                0 => {
                    let size = [0, 64, 256, 1024, 4096][next(5)];
                    t.set_max_size(size);
                    walked.max_size = size;
                    walked.settle();
                }
                1 => {
                    t.forget();
                    walked.sizes.clear();
                    walked.tail = walked.max_size >= ENTRY_OVERHEAD;
                }
                _ => {
                    let value = &VALUES[..next(300)];
                    let entry = if next(4) == 0 {
                        unknown_name(value, next(200))
                    } else {
                        known(&VALUES[..1 + next(20)], value)
                    };
                    let (min, max) = (entry.size_min(), entry.size_max());
                    if min > walked.max_size {
                        walked.sizes.clear();
                        walked.tail = false;
                    } else {
                        // The insert caps an unknown name's length at what the table holds.
                        walked.sizes.insert(0, (min, max.min(walked.max_size)));
                        walked.settle();
                    }
                    t.insert(entry);
                }
            }
            let sums = walked
                .sizes
                .iter()
                .fold((0, 0), |(a, b), &(min, max)| (a + min, b + max));
            assert_eq!(t.known_len(), walked.sizes.len(), "step {step}");
            assert_eq!(t.has_unknown_tail(), walked.tail, "step {step}");
            assert_eq!(
                (t.known_size_min(), t.known_size_max()),
                sums,
                "step {step}"
            );
        }
    }
}
