//! The live inventory: one [`EndpointStats`] per endpoint in a bounded recency map.
//!
//! Endpoints come from traffic and are unbounded in principle (random hosts, methods, paths
//! that escape templating), so the table has a fixed size and forgets the least recently seen
//! endpoint when full, counting it ([`ApiInventory::evicted`], exported as
//! `monitor_inventory_evictions_total`). It is owned by the pipeline's single thread; readers
//! get [`InventorySnapshot`]s (see `publish.rs`), never the table.

use super::{
    Observation,
    entry::EndpointStats,
    key::{EndpointKey, KeyParts, MAX_FIELD_BYTES, Parts, clip},
    snapshot::InventorySnapshot,
};
use crate::{
    rates::RecencyMap,
    time::{format_unix_ms, unix_now_ms},
};

/// A sensible size for the daemon: 10 000 endpoints is far more than a host serves and calls,
/// and at most about 25 MiB even if every endpoint had hundreds of peers.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

pub struct ApiInventory {
    entries: RecencyMap<EndpointKey, EndpointStats>,
    max_entries: usize,
    evicted: u64,
    /// Keys the peer hashes (random per process, so peer hashes mean nothing outside it).
    /// foldhash rather than SipHash, which was a visible share of the instructions per call:
    /// the peer comes from traffic, but its hash is never shown (only the count), so its seed
    /// cannot be learnt to make two peers collide on purpose.
    peer_hasher: foldhash::fast::RandomState,
}

impl ApiInventory {
    /// An inventory of at most `max_entries` endpoints (at least one).
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            entries: RecencyMap::with_capacity(max_entries),
            max_entries,
            evicted: 0,
            peer_hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Adds one call. A known endpoint is found and updated without allocating.
    pub fn observe(&mut self, obs: &Observation<'_>) {
        let parts: Parts<'_> = (
            obs.direction,
            clip(obs.workload, MAX_FIELD_BYTES),
            clip(obs.host, MAX_FIELD_BYTES),
            clip(obs.method, MAX_FIELD_BYTES),
            clip(obs.path_template, MAX_FIELD_BYTES),
        );
        if let Some(stats) = self.entries.get_mut_touch(&parts as &dyn KeyParts) {
            stats.add(obs, &self.peer_hasher);
            return;
        }
        if self.entries.len() >= self.max_entries && self.entries.pop_lru().is_some() {
            self.evicted += 1;
        }
        self.entries
            .insert(EndpointKey::new(parts), EndpointStats::new(obs.unix_ms))
            .add(obs, &self.peer_hasher);
    }

    /// Endpoints currently known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Endpoints forgotten so far because the inventory was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Everything known now, entries sorted by direction, workload, host, method, path.
    pub fn snapshot(&self) -> InventorySnapshot {
        self.snapshot_at(unix_now_ms())
    }

    /// [`Self::snapshot`] stamped with a given time (tests, replays).
    pub fn snapshot_at(&self, unix_ms: u64) -> InventorySnapshot {
        let mut keyed: Vec<_> = self.entries.iter().collect();
        keyed.sort_unstable_by(|(a, _), (b, _)| a.parts().cmp(&b.parts()));
        InventorySnapshot {
            generated_at: format_unix_ms(unix_ms),
            entries: keyed
                .into_iter()
                .map(|(key, stats)| stats.to_entry(key))
                .collect(),
            evicted: self.evicted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        inventory::{AuthScheme, InventoryEntry, ResponseCounts},
        protocols::CallDirection,
    };

    const T0: u64 = 1_700_000_000_000;

    fn obs<'a>(path: &'a str, unix_ms: u64) -> Observation<'a> {
        Observation {
            direction: CallDirection::Outbound,
            workload: "/usr/bin/curl@host",
            host: "api.example.com",
            method: "GET",
            path_template: path,
            status: Some(200),
            auth_schemes: &[AuthScheme::Bearer],
            credential_kinds: &[],
            tls: true,
            peer: "192.0.2.1:443",
            peer_internal: false,
            unix_ms,
        }
    }

    #[test]
    fn observe_and_snapshot_field_by_field() {
        let mut inv = ApiInventory::new(10);
        inv.observe(&obs("/v1/users/{id}", T0 + 5_000));
        inv.observe(&Observation {
            status: Some(404),
            credential_kinds: &["stripe_key", "jwt"],
            auth_schemes: &[AuthScheme::ApiKey],
            tls: false,
            peer: "192.0.2.2:443",
            ..obs("/v1/users/{id}", T0)
        });
        inv.observe(&Observation {
            status: None,
            credential_kinds: &["stripe_key"],
            auth_schemes: &[],
            ..obs("/v1/users/{id}", T0 + 1_000)
        });
        let snap = inv.snapshot_at(T0 + 10_000);
        assert_eq!(snap.generated_at, "2023-11-14T22:13:30Z");
        assert_eq!(snap.evicted, 0);
        assert_eq!(
            snap.entries,
            [InventoryEntry {
                direction: CallDirection::Outbound,
                workload: "/usr/bin/curl@host".into(),
                host: "api.example.com".into(),
                method: "GET".into(),
                path_template: "/v1/users/{id}".into(),
                first_seen: "2023-11-14T22:13:20Z".into(),
                last_seen: "2023-11-14T22:13:25Z".into(),
                calls: 3,
                responses: ResponseCounts {
                    success: 1,
                    client_error: 1,
                    none: 1,
                    ..ResponseCounts::default()
                },
                auth_schemes: vec![AuthScheme::None, AuthScheme::Bearer, AuthScheme::ApiKey],
                credential_kinds: vec!["jwt".into(), "stripe_key".into()],
                tls_calls: 2,
                plaintext_calls: 1,
                peers: 2,
                peers_capped: false,
                unauthenticated_external: false,
            }]
        );
    }

    #[test]
    fn json_shape() {
        let mut inv = ApiInventory::new(10);
        inv.observe(&Observation {
            direction: CallDirection::Inbound,
            auth_schemes: &[AuthScheme::None],
            ..obs("/health", T0)
        });
        let json = serde_json::to_value(inv.snapshot_at(T0)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "generated_at": "2023-11-14T22:13:20Z",
                "entries": [{
                    "direction": "inbound",
                    "workload": "/usr/bin/curl@host",
                    "host": "api.example.com",
                    "method": "GET",
                    "path_template": "/health",
                    "first_seen": "2023-11-14T22:13:20Z",
                    "last_seen": "2023-11-14T22:13:20Z",
                    "calls": 1,
                    "responses": {"2xx": 1},
                    "auth_schemes": ["none"],
                    "credential_kinds": [],
                    "tls_calls": 1,
                    "plaintext_calls": 0,
                    "peers": 1,
                    "peers_capped": false,
                    "unauthenticated_external": true
                }],
                "evicted": 0
            })
        );
        let back: InventorySnapshot = serde_json::from_value(json).unwrap();
        assert_eq!(back, inv.snapshot_at(T0));
    }

    #[test]
    fn entries_are_keyed_and_sorted() {
        let mut inv = ApiInventory::new(10);
        for (direction, workload, host, method, path) in [
            (CallDirection::Inbound, "w", "h", "GET", "/a"),
            (CallDirection::Outbound, "w", "h", "POST", "/a"),
            (CallDirection::Outbound, "w", "h", "GET", "/b"),
            (CallDirection::Outbound, "w", "h", "GET", "/a"),
            (CallDirection::Outbound, "v", "h", "GET", "/a"),
            (CallDirection::Outbound, "w", "g", "GET", "/a"),
            (CallDirection::Outbound, "w", "h", "GET", "/a"),
        ] {
            inv.observe(&Observation {
                direction,
                workload,
                host,
                method,
                ..obs(path, T0)
            });
        }
        assert_eq!(inv.len(), 6);
        let order: Vec<_> = inv
            .snapshot_at(T0)
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {} {} {}",
                    e.direction.as_str(),
                    e.workload,
                    e.host,
                    e.method,
                    e.path_template,
                    e.calls
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                "outbound v h GET /a 1",
                "outbound w g GET /a 1",
                "outbound w h GET /a 2",
                "outbound w h GET /b 1",
                "outbound w h POST /a 1",
                "inbound w h GET /a 1",
            ]
        );
    }

    #[test]
    fn least_recently_seen_is_evicted_and_counted() {
        let mut inv = ApiInventory::new(2);
        inv.observe(&obs("/a", T0));
        inv.observe(&obs("/b", T0));
        inv.observe(&obs("/a", T0)); // "/b" is now the least recently seen
        inv.observe(&obs("/c", T0));
        assert_eq!((inv.len(), inv.evicted()), (2, 1));
        let snap = inv.snapshot_at(T0);
        let paths: Vec<_> = snap
            .entries
            .iter()
            .map(|e| e.path_template.as_str())
            .collect();
        assert_eq!(paths, ["/a", "/c"]);
        assert_eq!(snap.evicted, 1);
        // A forgotten endpoint starts again from zero.
        inv.observe(&obs("/b", T0));
        assert_eq!((inv.len(), inv.evicted()), (2, 2));
        let b = inv
            .snapshot_at(T0)
            .entries
            .into_iter()
            .find(|e| e.path_template == "/b");
        assert_eq!(b.map(|e| e.calls), Some(1));
    }

    #[test]
    fn unauthenticated_external_mark() {
        let marked = |o: Observation<'_>| {
            let mut inv = ApiInventory::new(10);
            inv.observe(&o);
            inv.snapshot_at(T0).entries[0].unauthenticated_external
        };
        let open = Observation {
            direction: CallDirection::Inbound,
            auth_schemes: &[AuthScheme::None],
            peer: "198.51.100.7",
            ..obs("/v1/items", T0)
        };
        assert!(marked(Observation { ..open }));
        // No scheme at all is the same as `none`; no response seen still counts as served, and
        // so does a 5xx (the request got past any authentication gate).
        assert!(marked(Observation {
            auth_schemes: &[],
            ..open
        }));
        assert!(marked(Observation {
            status: None,
            ..open
        }));
        assert!(marked(Observation {
            status: Some(500),
            ..open
        }));
        // Internal clients, authenticated calls, refusals and outbound calls are not.
        assert!(!marked(Observation {
            peer_internal: true,
            ..open
        }));
        assert!(!marked(Observation {
            auth_schemes: &[AuthScheme::Cookie],
            ..open
        }));
        assert!(!marked(Observation {
            status: Some(401),
            ..open
        }));
        assert!(!marked(Observation {
            direction: CallDirection::Outbound,
            ..open
        }));
        // Once marked, an endpoint stays marked.
        let mut inv = ApiInventory::new(10);
        inv.observe(&open);
        inv.observe(&Observation {
            auth_schemes: &[AuthScheme::Bearer],
            ..open
        });
        assert!(inv.snapshot_at(T0).entries[0].unauthenticated_external);
    }

    #[test]
    fn long_fields_are_cut() {
        let mut inv = ApiInventory::new(10);
        let host = "h".repeat(5000);
        inv.observe(&Observation {
            host: &host,
            ..obs("/", T0)
        });
        // The same long host finds the same entry.
        inv.observe(&Observation {
            host: &host,
            ..obs("/", T0)
        });
        let snap = inv.snapshot_at(T0);
        assert_eq!(snap.entries.len(), 1);
        assert_eq!(snap.entries[0].host.len(), MAX_FIELD_BYTES);
        assert_eq!(snap.entries[0].calls, 2);
    }

    #[test]
    fn zero_capacity_is_treated_as_one() {
        let mut inv = ApiInventory::new(0);
        inv.observe(&obs("/a", T0));
        inv.observe(&obs("/b", T0));
        assert_eq!((inv.len(), inv.evicted()), (1, 1));
    }
}
