//! First-seen destinations: remembers which hosts each workload has called, so that a call to a
//! destination the workload has never used before can be flagged.
//!
//! Pairs come from traffic and are unbounded in principle (random hostnames), so the inventory
//! has a fixed size and forgets the least recently observed pairs when full (O(1), see
//! [`super::lru`]). Lookups of known pairs do not allocate: the table can be probed with a
//! borrowed `(&str, &str)` through the [`PairKey`] trait object.
use std::{
    borrow::Borrow,
    hash::{Hash, Hasher},
    sync::Arc,
};

use super::lru::RecencyMap;

/// Bounded set of (workload, host) pairs in recency order.
pub struct Inventory {
    pairs: RecencyMap<Pair, ()>,
    max_entries: usize,
    evicted: u64,
}

impl Inventory {
    /// An inventory remembering at most `max_entries` pairs (at least one).
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            pairs: RecencyMap::with_capacity(max_entries),
            max_entries,
            evicted: 0,
        }
    }

    /// Records that `workload` called `host`; true the first time this pair is seen.
    ///
    /// "First time" is relative to what the inventory still remembers: when it is full, the
    /// least recently observed pair is forgotten (and counted in [`Inventory::evicted`]), and
    /// if that pair is observed again later it is reported as first-seen again.
    pub fn observe(&mut self, workload: &str, host: &str) -> bool {
        let probe = (workload, host);
        if self.pairs.get_mut_touch(&probe as &dyn PairKey).is_some() {
            return false;
        }
        if self.pairs.len() >= self.max_entries && self.pairs.pop_lru().is_some() {
            self.evicted += 1;
        }
        self.pairs.insert(
            Pair {
                workload: workload.to_owned(),
                host: host.to_owned(),
            },
            (),
        );
        true
    }

    /// Number of pairs currently remembered.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pairs forgotten because the inventory was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// Owned key stored in the table.
struct Pair {
    workload: String,
    host: String,
}

/// A (workload, host) pair, owned or borrowed; hashing and equality go through `parts`, so an
/// owned [`Pair`] and a borrowed `(&str, &str)` agree as `Borrow` requires.
trait PairKey {
    fn parts(&self) -> (&str, &str);
}

impl PairKey for Pair {
    fn parts(&self) -> (&str, &str) {
        (&self.workload, &self.host)
    }
}

impl PairKey for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl Hash for dyn PairKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn PairKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn PairKey + '_ {}

impl Hash for Pair {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn PairKey).hash(state);
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Pair {}

impl<'a> Borrow<dyn PairKey + 'a> for Arc<Pair> {
    fn borrow(&self) -> &(dyn PairKey + 'a) {
        &**self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_seen_then_known() {
        let mut inv = Inventory::new(10);
        assert!(inv.observe("curl", "api.example.com"));
        assert!(!inv.observe("curl", "api.example.com"));
        assert!(!inv.observe("curl", "api.example.com"));
        assert_eq!(inv.len(), 1);
        assert_eq!(inv.evicted(), 0);
    }

    #[test]
    fn pairs_are_per_workload_and_host() {
        let mut inv = Inventory::new(10);
        assert!(inv.observe("a", "h1"));
        assert!(inv.observe("a", "h2"));
        assert!(inv.observe("b", "h1"));
        // No ambiguity from concatenation.
        assert!(inv.observe("ab", "c"));
        assert!(inv.observe("a", "bc"));
        assert_eq!(inv.len(), 5);
    }

    #[test]
    fn full_inventory_forgets_least_recently_observed() {
        let mut inv = Inventory::new(3);
        assert!(inv.observe("w", "a"));
        assert!(inv.observe("w", "b"));
        assert!(inv.observe("w", "c"));
        assert!(!inv.observe("w", "a")); // "b" is now the least recently observed
        assert!(inv.observe("w", "d")); // forgets "b"
        assert_eq!((inv.len(), inv.evicted()), (3, 1));
        assert!(!inv.observe("w", "a"));
        assert!(!inv.observe("w", "c"));
        assert!(!inv.observe("w", "d"));
        // A forgotten pair is first-seen again (and pushes out the next oldest, "a").
        assert!(inv.observe("w", "b"));
        assert_eq!((inv.len(), inv.evicted()), (3, 2));
        assert!(inv.observe("w", "a"));
    }

    #[test]
    fn many_pairs_stay_bounded() {
        let mut inv = Inventory::new(1000);
        for i in 0..100_000 {
            assert!(inv.observe("w", &format!("h{i}")));
        }
        assert_eq!(inv.len(), 1000);
        assert_eq!(inv.evicted(), 99_000);
        assert!(!inv.observe("w", "h99999"));
        assert!(inv.observe("w", "h0"));
    }

    #[test]
    fn zero_capacity_is_treated_as_one() {
        let mut inv = Inventory::new(0);
        assert!(inv.observe("w", "a"));
        assert!(!inv.observe("w", "a"));
        assert!(inv.observe("w", "b"));
        assert_eq!((inv.len(), inv.evicted()), (1, 1));
    }
}
