//! Distinct peers of one endpoint, counted exactly up to a cap.
//!
//! Why exact-with-a-cap rather than a fixed-memory estimator (HyperLogLog): most endpoints have
//! few peers, and there the difference between 1, 2 and 3 callers is what a reader looks for;
//! a sketch small enough to keep per endpoint is off by one or more at those counts. Above the
//! cap the exact number matters little ("many"), so the count stops there and says so
//! (`peers_capped`). The cost is bounded all the same: peers are kept as 64-bit keyed hashes
//! (never the address itself), at most [`PEER_CAP`] of them, 2 KiB per endpoint at worst.
//! Two distinct peers share a hash with odds of about 2^-50 at the cap: the count is exact for
//! any practical purpose.

/// Distinct peers counted exactly per endpoint; beyond, the count stays here and is marked
/// capped.
pub const PEER_CAP: usize = 256;

/// Hashes of the peers seen, sorted, at most [`PEER_CAP`].
#[derive(Debug, Default)]
pub(crate) struct PeerSet {
    hashes: Vec<u64>,
    capped: bool,
}

impl PeerSet {
    /// Records `peer`. Allocates only when the peer is new (the vector grows, at most 2 KiB).
    pub(crate) fn insert(&mut self, hasher: &impl std::hash::BuildHasher, peer: &str) {
        if self.capped {
            return;
        }
        let h = hasher.hash_one(peer);
        if let Err(at) = self.hashes.binary_search(&h) {
            if self.hashes.len() >= PEER_CAP {
                self.capped = true;
            } else {
                self.hashes.insert(at, h);
            }
        }
    }

    /// Distinct peers seen (at most [`PEER_CAP`]).
    pub(crate) fn count(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// True once a peer beyond the cap was seen: the real count is higher than [`Self::count`].
    pub(crate) fn capped(&self) -> bool {
        self.capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;

    #[test]
    fn counts_distinct_peers() {
        let state = RandomState::new();
        let mut peers = PeerSet::default();
        for p in [
            "10.0.0.1:443",
            "10.0.0.2:443",
            "10.0.0.1:443",
            "10.0.0.1:443",
        ] {
            peers.insert(&state, p);
        }
        assert_eq!((peers.count(), peers.capped()), (2, false));
    }

    #[test]
    fn stops_at_the_cap_and_says_so() {
        let state = RandomState::new();
        let mut peers = PeerSet::default();
        for i in 0..PEER_CAP {
            peers.insert(&state, &format!("10.0.{}.{}", i / 256, i % 256));
        }
        assert_eq!((peers.count(), peers.capped()), (PEER_CAP as u64, false));
        // A peer already counted does not cap it; a new one does.
        peers.insert(&state, "10.0.0.0");
        assert!(!peers.capped());
        peers.insert(&state, "192.0.2.1");
        assert_eq!((peers.count(), peers.capped()), (PEER_CAP as u64, true));
    }
}
