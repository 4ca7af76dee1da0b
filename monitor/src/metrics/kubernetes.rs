//! The pod watch and the per-call pod lookups: whether the monitor's view of this node's pods is
//! current, and how many calls carried only a pod UID because their pod was not known.
use prometheus::{IntCounter, IntCounterVec, IntGauge, Registry};

use super::{counter, counter_vec, gauge, resolved::StaticLabels};
use crate::kubernetes::MAX_LABELS_SHOWN;

pub(super) struct KubernetesMetrics {
    pods: IntGauge,
    synced: IntGauge,
    events: IntCounterVec,
    errors: IntCounterVec,
    /// Bumped per call of a process in a pod: resolved once.
    lookups: StaticLabels,
    labels_omitted: IntCounter,
}

impl KubernetesMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            pods: gauge(
                registry,
                "monitor_k8s_pods",
                "Pods of this node the monitor knows (from the pod watch; deleted pods stay 60 s for their late calls).",
            ),
            synced: gauge(
                registry,
                "monitor_k8s_watch_synced",
                "1 when the pod watch has a complete list and is watching; 0 while it lists, retries or is off.",
            ),
            events: counter_vec(
                registry,
                "monitor_k8s_watch_events_total",
                "Pod watch events: applied, deleted, relist_started (a list began: at start and after 410 Gone), relist_done.",
                &["type"],
            ),
            errors: counter_vec(
                registry,
                "monitor_k8s_watch_errors_total",
                "Pod watch failures by kind (gone = 410, the watch relists; the others are retried with backoff).",
                &["kind"],
            ),
            lookups: StaticLabels::new(
                counter_vec(
                    registry,
                    "monitor_k8s_pod_lookups_total",
                    "Calls and alerts of processes in a pod, by whether the pod was known (found), not known yet (unknown_pod: the event carries only the pod UID) or known without this container (unknown_container).",
                    &["result"],
                ),
                &["found", "unknown_pod", "unknown_container"],
            ),
            labels_omitted: counter(
                registry,
                "monitor_k8s_labels_omitted_total",
                "Pod labels left out of events because a pod has more than 16 (selectors still see them), counted per pod update.",
            ),
        }
    }

    pub(super) fn set_pods(&self, pods: usize) {
        self.pods.set(i64::try_from(pods).unwrap_or(i64::MAX));
    }

    pub(super) fn set_synced(&self, synced: bool) {
        self.synced.set(i64::from(synced));
    }

    pub(super) fn event(&self, kind: &str) {
        self.events.with_label_values(&[kind]).inc();
    }

    pub(super) fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }

    pub(super) fn lookup(&self, result: &'static str) {
        self.lookups.inc(result);
    }

    pub(super) fn labels(&self, labels: usize) {
        let omitted = labels.saturating_sub(MAX_LABELS_SHOWN);
        if omitted > 0 {
            self.labels_omitted.inc_by(omitted as u64);
        }
    }
}
