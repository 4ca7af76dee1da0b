//! The latest snapshot, shared between the pipeline (which publishes) and the readers (the
//! `/inventory` route and the file writer).
//!
//! Readers never touch the live table, so serving or writing a large inventory never holds up
//! capture: the pipeline builds a snapshot about once a second and swaps it in; readers take
//! the current `Arc` (a pointer copy under a lock held for nanoseconds) and serialise at leisure.
use std::sync::{Arc, RwLock};

use super::InventorySnapshot;
use crate::time::{format_unix_ms, unix_now_ms};

#[derive(Clone)]
pub struct PublishedInventory(Arc<RwLock<Arc<InventorySnapshot>>>);

impl Default for PublishedInventory {
    /// An empty inventory, stamped now (what `/inventory` serves before the first publish).
    fn default() -> Self {
        let empty = InventorySnapshot {
            generated_at: format_unix_ms(unix_now_ms()),
            ..InventorySnapshot::default()
        };
        Self(Arc::new(RwLock::new(Arc::new(empty))))
    }
}

impl PublishedInventory {
    /// Makes `snap` the latest.
    pub fn publish(&self, snap: InventorySnapshot) {
        let snap = Arc::new(snap);
        // A poisoned lock only means a reader panicked mid-clone: the value is still whole.
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = snap;
    }

    /// The latest snapshot published.
    pub fn latest(&self) -> Arc<InventorySnapshot> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_the_latest_snapshot() {
        let published = PublishedInventory::default();
        let reader = published.clone();
        let before = reader.latest();
        assert!(before.entries.is_empty());
        assert!(!before.generated_at.is_empty());
        published.publish(InventorySnapshot {
            generated_at: "2023-11-14T22:13:20Z".into(),
            entries: Vec::new(),
            evicted: 7,
        });
        assert_eq!(reader.latest().evicted, 7);
        // What a reader already holds does not change under it.
        assert_eq!(before.evicted, 0);
    }
}
