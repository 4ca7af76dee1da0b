//! Counters resolved once per label value, for the metrics bumped on every record and call.
//!
//! `IntCounterVec::with_label_values` hashes the label values and takes the vector's lock on
//! every call; per record and per API call that was measurable work for nothing. These caches
//! resolve a counter the first time its labels are seen and then only index or compare.
use std::sync::Mutex;

use prometheus::{IntCounter, IntCounterVec};

/// A counter vector with one label whose values are `&'static str` chosen by the code: each
/// listed value is resolved at start (so its series exists from the first scrape, at 0), and
/// found again by a short linear search.
pub(super) struct StaticLabels {
    vec: IntCounterVec,
    resolved: Vec<(&'static str, IntCounter)>,
}

impl StaticLabels {
    pub(super) fn new(vec: IntCounterVec, values: &[&'static str]) -> Self {
        let resolved = values
            .iter()
            .map(|v| (*v, vec.with_label_values(&[v])))
            .collect();
        Self { vec, resolved }
    }

    pub(super) fn inc(&self, value: &'static str) {
        match self.resolved.iter().find(|(v, _)| *v == value) {
            Some((_, counter)) => counter.inc(),
            // A value not listed at start still counts, the slow way.
            None => self.vec.with_label_values(&[value]).inc(),
        }
    }
}

/// Methods with a label of their own (the rest are `other`), and the status classes.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
];
const STATUS_CLASSES: [&str; crate::inventory::STATUS_CLASS_COUNT] =
    ["1xx", "2xx", "3xx", "4xx", "5xx", "other", "none"];
const SLOTS: usize = METHODS.len() * STATUS_CLASSES.len() * 2;

/// One host's counters, by method, status class and TLS.
type HostCounters = Box<[Option<IntCounter>; SLOTS]>;

/// `monitor_api_calls_by_destination_total{host, method, status_class, tls}`: per host (at most
/// `max_hosts`, then `other`), its counters resolved on first use.
pub(super) struct Destinations {
    vec: IntCounterVec,
    max_hosts: usize,
    /// Hosts come from traffic: see [`crate::TrafficMap`].
    by_host: Mutex<crate::TrafficMap<String, HostCounters>>,
}

impl Destinations {
    pub(super) fn new(vec: IntCounterVec, max_hosts: usize) -> Self {
        Self {
            vec,
            max_hosts,
            by_host: Mutex::new(crate::TrafficMap::default()),
        }
    }

    pub(super) fn inc(&self, host: &str, method: &str, status: Option<u16>, tls: bool) {
        // Methods come from traffic too: only the standard ones get their own label.
        let method = METHODS[..METHODS.len() - 1]
            .iter()
            .position(|m| *m == method)
            .unwrap_or(METHODS.len() - 1);
        // The inventory's classes, in the same order as `STATUS_CLASSES`.
        let status = crate::inventory::status_class(status);
        let slot = (method * STATUS_CLASSES.len() + status) * 2 + usize::from(tls);
        let mut by_host = self.by_host.lock().unwrap_or_else(|e| e.into_inner());
        // A known host (nearly every call) costs this one lookup.
        if let Some(counters) = by_host.get_mut(host) {
            counters[slot]
                .get_or_insert_with(|| {
                    self.vec
                        .with_label_values(&labels(host, method, status, tls))
                })
                .inc();
            return;
        }
        let host = if by_host.len() < self.max_hosts {
            host
        } else {
            "other"
        };
        if !by_host.contains_key(host) {
            by_host.insert(host.to_owned(), Box::new([const { None }; SLOTS]));
        }
        let Some(counters) = by_host.get_mut(host) else {
            return;
        };
        counters[slot]
            .get_or_insert_with(|| {
                self.vec
                    .with_label_values(&labels(host, method, status, tls))
            })
            .inc();
    }
}

/// The label values of one host's counter in `slot` terms: method and status class by index.
fn labels(host: &str, method: usize, status: usize, tls: bool) -> [&str; 4] {
    [
        host,
        METHODS[method],
        STATUS_CLASSES[status],
        if tls { "true" } else { "false" },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;

    fn vec(labels: &[&str]) -> IntCounterVec {
        IntCounterVec::new(Opts::new("t", "t"), labels).unwrap()
    }

    #[test]
    fn static_labels_count_listed_and_unlisted_values() {
        let labels = StaticLabels::new(vec(&["kind"]), &["data", "close"]);
        labels.inc("data");
        labels.inc("data");
        labels.inc("exec");
        assert_eq!(labels.vec.with_label_values(&["data"]).get(), 2);
        assert_eq!(labels.vec.with_label_values(&["close"]).get(), 0);
        assert_eq!(labels.vec.with_label_values(&["exec"]).get(), 1);
    }

    #[test]
    fn destinations_bound_hosts_and_methods() {
        let d = Destinations::new(vec(&["host", "method", "status_class", "tls"]), 2);
        d.inc("a", "GET", Some(200), true);
        d.inc("a", "GET", Some(204), true);
        d.inc("b", "BREW", None, false);
        d.inc("c", "POST", Some(503), false);
        let get = |labels: &[&str]| d.vec.with_label_values(labels).get();
        assert_eq!(get(&["a", "GET", "2xx", "true"]), 2);
        assert_eq!(get(&["b", "other", "none", "false"]), 1);
        assert_eq!(get(&["other", "POST", "5xx", "false"]), 1);
        d.inc("a", "DELETE", Some(404), false);
        assert_eq!(get(&["a", "DELETE", "4xx", "false"]), 1);
    }
}
