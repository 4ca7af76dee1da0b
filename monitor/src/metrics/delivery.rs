//! Delivery by the network sinks (Alertmanager, webhooks): what each sink delivered, how many
//! requests failed and were retried. Drops stay in `monitor_output_dropped_total` with the
//! other sinks', so one rule watches every sink's losses.
use prometheus::{IntCounter, IntCounterVec, Registry};

use super::counter_vec;

pub(super) struct DeliveryMetrics {
    sent: IntCounterVec,
    failed: IntCounterVec,
    retries: IntCounterVec,
}

/// One sink's counters, resolved once when the sink starts: its worker bumps them without
/// looking labels up, and every series exists (at 0) from the start, so a dashboard or a rule
/// sees the sink before anything goes wrong.
#[derive(Clone)]
pub struct SinkCounters {
    pub sent: IntCounter,
    pub failed: IntCounter,
    pub retries: IntCounter,
    pub dropped: IntCounter,
}

impl DeliveryMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            sent: counter_vec(
                registry,
                "monitor_output_sent_total",
                "Events a network sink delivered (the receiver answered 2xx), by sink.",
                &["sink"],
            ),
            failed: counter_vec(
                registry,
                "monitor_output_failed_total",
                "Requests of a network sink that failed (refused, timed out, or a non-2xx answer), by sink.",
                &["sink"],
            ),
            retries: counter_vec(
                registry,
                "monitor_output_retries_total",
                "Requests a network sink sent again after a failure, by sink.",
                &["sink"],
            ),
        }
    }

    pub(super) fn sink(&self, sink: &str, dropped: IntCounter) -> SinkCounters {
        SinkCounters {
            sent: self.sent.with_label_values(&[sink]),
            failed: self.failed.with_label_values(&[sink]),
            retries: self.retries.with_label_values(&[sink]),
            dropped,
        }
    }
}
