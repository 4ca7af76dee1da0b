//! What the inventory accumulates for one endpoint, and how one call adds to it.
//!
//! Sized for many endpoints: counters, a scheme bitset and the bounded peer set; only the
//! credential kinds are strings (stable names from a closed set, so a handful at most).
use std::hash::BuildHasher;

use super::{
    Observation,
    auth::SchemeSet,
    key::{EndpointKey, clip},
    peers::PeerSet,
    snapshot::{InventoryEntry, ResponseCounts, STATUS_CLASSES, status_class},
};
use crate::{protocols::CallDirection, time::format_unix_ms};

/// Distinct credential kinds kept per endpoint. The detector names about twenty kinds, so this
/// is never reached by its findings; it only bounds what a caller passing other names could do.
const MAX_CREDENTIAL_KINDS: usize = 32;
/// Longest credential kind name kept (the detector's are under 32 bytes).
const MAX_KIND_BYTES: usize = 64;

#[derive(Debug)]
pub(crate) struct EndpointStats {
    first_seen_ms: u64,
    last_seen_ms: u64,
    calls: u64,
    responses: [u64; STATUS_CLASSES],
    schemes: SchemeSet,
    credential_kinds: Vec<Box<str>>,
    tls_calls: u64,
    plaintext_calls: u64,
    peers: PeerSet,
    unauthenticated_external: bool,
}

impl EndpointStats {
    pub(crate) fn new(unix_ms: u64) -> Self {
        Self {
            first_seen_ms: unix_ms,
            last_seen_ms: unix_ms,
            calls: 0,
            responses: [0; STATUS_CLASSES],
            schemes: SchemeSet::default(),
            credential_kinds: Vec::new(),
            tls_calls: 0,
            plaintext_calls: 0,
            peers: PeerSet::default(),
            unauthenticated_external: false,
        }
    }

    /// Adds one call. Allocates only for what is new to this endpoint (a peer, a kind).
    pub(crate) fn add(&mut self, obs: &Observation<'_>, hasher: &impl BuildHasher) {
        // Calls can be reported slightly out of order (a long call ends after a short one).
        self.first_seen_ms = self.first_seen_ms.min(obs.unix_ms);
        self.last_seen_ms = self.last_seen_ms.max(obs.unix_ms);
        self.calls += 1;
        self.responses[status_class(obs.status)] += 1;
        if obs.auth_schemes.is_empty() {
            self.schemes.insert(super::AuthScheme::None);
        }
        for scheme in obs.auth_schemes {
            self.schemes.insert(*scheme);
        }
        for kind in obs.credential_kinds {
            let kind = clip(kind, MAX_KIND_BYTES);
            if self.credential_kinds.len() < MAX_CREDENTIAL_KINDS
                && !self.credential_kinds.iter().any(|k| **k == *kind)
            {
                self.credential_kinds.push(kind.into());
            }
        }
        if obs.tls {
            self.tls_calls += 1;
        } else {
            self.plaintext_calls += 1;
        }
        self.peers.insert(hasher, obs.peer);
        self.unauthenticated_external |= served_unauthenticated_externally(obs);
    }

    pub(crate) fn to_entry(&self, key: &EndpointKey) -> InventoryEntry {
        let mut credential_kinds: Vec<String> = self
            .credential_kinds
            .iter()
            .map(|k| k.to_string())
            .collect();
        credential_kinds.sort_unstable();
        InventoryEntry {
            direction: key.direction,
            workload: key.workload.to_string(),
            host: key.host.to_string(),
            method: key.method.to_string(),
            path_template: key.path_template.to_string(),
            first_seen: format_unix_ms(self.first_seen_ms),
            last_seen: format_unix_ms(self.last_seen_ms),
            calls: self.calls,
            responses: ResponseCounts::from_classes(&self.responses),
            auth_schemes: self.schemes.to_vec(),
            credential_kinds,
            tls_calls: self.tls_calls,
            plaintext_calls: self.plaintext_calls,
            peers: self.peers.count(),
            peers_capped: self.peers.capped(),
            unauthenticated_external: self.unauthenticated_external,
        }
    }
}

/// True for an inbound call from a client outside the internal networks that carried no
/// credential and was not refused. A 4xx answer is a refusal (401/403: the endpoint does check;
/// 404/400: nothing was served); anything else (2xx, 3xx, a 5xx, which means the request got
/// past any authentication gate, or no response seen) counts as served, so that a lost response
/// cannot hide an open endpoint.
fn served_unauthenticated_externally(obs: &Observation<'_>) -> bool {
    obs.direction == CallDirection::Inbound
        && !obs.peer_internal
        && obs
            .auth_schemes
            .iter()
            .all(|s| *s == super::AuthScheme::None)
        && !matches!(obs.status, Some(400..=499))
}
