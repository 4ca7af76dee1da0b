//! Per-workload and per-destination views of the calls, with bounded label sets: what a
//! fleet dashboard groups by. `monitor_api_calls_by_workload_total{workload, role}` and
//! `monitor_api_call_duration_seconds{host, role}` (a histogram). Workloads and hosts beyond
//! the first `max` share the label `other`, as the destination counters do; each series is
//! resolved once and then only looked up.
use std::{borrow::Cow, sync::Mutex};

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

use crate::{calls::ApiCall, protocols::Role};

/// Latency buckets, in seconds: 1 ms to 10 s.
pub(super) const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn role_index(role: Role) -> usize {
    match role {
        Role::Client => 0,
        Role::Server => 1,
    }
}

const ROLES: [&str; 2] = ["client", "server"];

/// A bounded label value → per-role series, resolved on first use.
struct Bounded<T> {
    max: usize,
    /// Destination hosts come from traffic (workload names are the host's own): a
    /// [`crate::TrafficMap`] for both.
    by_value: Mutex<crate::TrafficMap<String, [Option<T>; 2]>>,
}

impl<T: Clone> Bounded<T> {
    fn new(max: usize) -> Self {
        Self {
            max,
            by_value: Mutex::new(crate::TrafficMap::default()),
        }
    }

    fn get(&self, value: &str, role: Role, make: impl FnOnce(&str, &str) -> T) -> T {
        let i = role_index(role);
        let mut map = self.by_value.lock().unwrap_or_else(|e| e.into_inner());
        // Looked up by `&str` first: the key is copied only the first time a value is seen.
        if let Some(slots) = map.get_mut(value) {
            return slots[i]
                .get_or_insert_with(|| make(value, ROLES[i]))
                .clone();
        }
        let value = if map.len() < self.max { value } else { "other" };
        let slots = map
            .entry(value.to_owned())
            .or_insert_with(|| [const { None }; 2]);
        slots[i]
            .get_or_insert_with(|| make(value, ROLES[i]))
            .clone()
    }
}

pub(super) struct Workloads {
    calls: IntCounterVec,
    durations: HistogramVec,
    by_workload: Bounded<IntCounter>,
    by_host: Bounded<Histogram>,
}

impl Workloads {
    pub(super) fn new(calls: IntCounterVec, durations: HistogramVec, max: usize) -> Self {
        Self {
            calls,
            durations,
            by_workload: Bounded::new(max),
            by_host: Bounded::new(max),
        }
    }

    /// Counts `call` for its workload and, when it has a latency, observes it for its host.
    pub(super) fn observe(&self, call: &ApiCall, host: &str) {
        let workload = workload_label(call);
        self.by_workload
            .get(&workload, call.role, |w, r| {
                self.calls.with_label_values(&[w, r])
            })
            .inc();
        if let Some(ms) = call.latency_ms {
            self.by_host
                .get(host, call.role, |h, r| {
                    self.durations.with_label_values(&[h, r])
                })
                .observe(ms / 1000.0);
        }
    }
}

/// The workload a call belongs to, as people name it (see `calls::workload_name`).
pub(super) fn workload_label(call: &ApiCall) -> Cow<'_, str> {
    call.process.workload_name()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;

    #[test]
    fn label_values_beyond_the_cap_share_other() {
        let vec = IntCounterVec::new(Opts::new("t", "t"), &["workload", "role"]).unwrap();
        let bounded = Bounded::new(2);
        for w in ["a", "b", "c", "a", "d"] {
            bounded
                .get(w, Role::Client, |w, r| vec.with_label_values(&[w, r]))
                .inc();
        }
        bounded
            .get("c", Role::Server, |w, r| vec.with_label_values(&[w, r]))
            .inc();
        let get = |w: &str, r: &str| vec.with_label_values(&[w, r]).get();
        assert_eq!((get("a", "client"), get("b", "client")), (2, 1));
        assert_eq!(get("other", "client"), 2, "c and d");
        assert_eq!(get("other", "server"), 1);
        assert_eq!(get("c", "client"), 0);
    }
}
