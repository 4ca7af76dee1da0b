//! Inspection's own bookkeeping: alerts merged because the other end of their exchange raised
//! them, and the bounded tables behind per-call checks (auth-failure windows, credential
//! owners, alerts waiting for their twin) with what each had to forget.
use prometheus::{IntCounterVec, IntGauge, Registry};

use super::{counter_vec, gauge};

/// Sizes and evictions of inspection's tables, as of the last call.
pub struct InspectState {
    pub auth_failure_keys: usize,
    pub auth_failure_evictions: u64,
    pub credential_owners: usize,
    pub credential_owner_evictions: u64,
    pub linked_alert_evictions: u64,
}

pub(super) struct InspectMetrics {
    merged: IntCounterVec,
    auth_failure_keys: IntGauge,
    auth_failure_evictions: IntGauge,
    credential_owners: IntGauge,
    credential_owner_evictions: IntGauge,
    linked_alert_evictions: IntGauge,
}

fn saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl InspectMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            merged: counter_vec(
                registry,
                "monitor_alerts_merged_total",
                "Alerts not raised because the other end of the same exchange (both ends on this host) had raised them, by rule.",
                &["rule"],
            ),
            auth_failure_keys: gauge(
                registry,
                "monitor_auth_failure_windows",
                "Open 401/403 counting windows (per caller x endpoint and per credential).",
            ),
            auth_failure_evictions: gauge(
                registry,
                "monitor_auth_failure_windows_evicted",
                "401/403 counting windows forgotten because the table was full.",
            ),
            credential_owners: gauge(
                registry,
                "monitor_credential_owners",
                "Credential fingerprints whose owning workload is remembered.",
            ),
            credential_owner_evictions: gauge(
                registry,
                "monitor_credential_owners_evicted",
                "Credential fingerprints forgotten because the owner table was full (a later use by another workload cannot be recognised).",
            ),
            linked_alert_evictions: gauge(
                registry,
                "monitor_linked_alerts_evicted",
                "Raised alerts forgotten before the other end of their exchange reported (its twin would be raised again).",
            ),
        }
    }

    pub(super) fn merged(&self, rule: &str) {
        self.merged.with_label_values(&[rule]).inc();
    }

    pub(super) fn set(&self, state: &InspectState) {
        self.auth_failure_keys
            .set(saturating(state.auth_failure_keys as u64));
        self.auth_failure_evictions
            .set(saturating(state.auth_failure_evictions));
        self.credential_owners
            .set(saturating(state.credential_owners as u64));
        self.credential_owner_evictions
            .set(saturating(state.credential_owner_evictions));
        self.linked_alert_evictions
            .set(saturating(state.linked_alert_evictions));
    }
}
