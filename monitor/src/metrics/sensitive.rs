//! Sensitive data per endpoint: `monitor_sensitive_fields_total` (values found, by kind, part,
//! location, direction and endpoint) and the counters of scanning cut short. Endpoint labels
//! are bounded: the first [`MAX_SENSITIVE_ENDPOINTS`] endpoints (direction x host x method x
//! path template; templates are already bounded) keep their labels, later ones share
//! `host="other"`, `path_template="other"` (counted in
//! `monitor_sensitive_endpoints_folded_total`). Label values never carry a value: kinds,
//! parts and locations are fixed sets, hosts and templates come from the same bounded names
//! the other endpoint metrics use.
use std::{collections::HashSet, sync::Mutex};

use prometheus::{IntCounter, IntCounterVec, Registry};

use super::{counter, counter_vec};

/// Endpoints with labels of their own.
pub const MAX_SENSITIVE_ENDPOINTS: usize = 500;

/// Methods with a label of their own (the rest are `other`).
const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
];

/// One count for the fields metric.
pub struct SensitiveCount<'a> {
    pub kind: &'static str,
    pub part: &'static str,
    pub location: &'static str,
    pub direction: &'static str,
    pub host: &'a str,
    pub method: &'a str,
    pub path_template: &'a str,
    pub count: u64,
}

pub(super) struct SensitiveMetrics {
    fields: IntCounterVec,
    cuts: IntCounterVec,
    folded: IntCounter,
    endpoints: Mutex<HashSet<String>>,
}

impl SensitiveMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let cuts = counter_vec(
            registry,
            "monitor_sensitive_scan_cuts_total",
            "Sensitive-data scanning cut short by its per-call budget, by reason (bytes: a part or its tail not scanned; candidates: an exchange with too many candidate values; findings: values found beyond the per-exchange bound, not reported).",
            &["reason"],
        );
        for reason in ["bytes", "candidates", "findings"] {
            cuts.with_label_values(&[reason]);
        }
        Self {
            fields: counter_vec(
                registry,
                "monitor_sensitive_fields_total",
                "Sensitive values (card numbers, IBANs, US SSNs, e-mails, phones) seen in API calls, by kind, part (request, response), location, direction and endpoint (never the value).",
                &[
                    "kind",
                    "part",
                    "location",
                    "direction",
                    "host",
                    "method",
                    "path_template",
                ],
            ),
            cuts,
            folded: counter(
                registry,
                "monitor_sensitive_endpoints_folded_total",
                "Sensitive-data counts recorded under host=\"other\" because the endpoint label table was full.",
            ),
            endpoints: Mutex::new(HashSet::new()),
        }
    }

    pub(super) fn fields(&self, c: &SensitiveCount<'_>) {
        let method = METHODS
            .iter()
            .find(|m| **m == c.method)
            .copied()
            .unwrap_or("other");
        let key = format!("{}|{}|{method}|{}", c.direction, c.host, c.path_template);
        let labelled = {
            let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
            endpoints.contains(&key)
                || (endpoints.len() < MAX_SENSITIVE_ENDPOINTS && endpoints.insert(key))
        };
        let (host, template) = if labelled {
            (c.host, c.path_template)
        } else {
            self.folded.inc();
            ("other", "other")
        };
        self.fields
            .with_label_values(&[
                c.kind,
                c.part,
                c.location,
                c.direction,
                host,
                method,
                template,
            ])
            .inc_by(c.count);
    }

    pub(super) fn cut(&self, reason: &'static str, by: u64) {
        if by > 0 {
            self.cuts.with_label_values(&[reason]).inc_by(by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_beyond_the_bound_fold_into_other() {
        let registry = Registry::new();
        let m = SensitiveMetrics::new(&registry);
        for i in 0..MAX_SENSITIVE_ENDPOINTS + 3 {
            let host = format!("h{i}.example");
            m.fields(&SensitiveCount {
                kind: "email",
                part: "request",
                location: "query",
                direction: "outbound",
                host: &host,
                method: "BREW",
                path_template: "/v1/x",
                count: 2,
            });
        }
        let get = |host: &str, template: &str| {
            m.fields
                .with_label_values(&[
                    "email", "request", "query", "outbound", host, "other", template,
                ])
                .get()
        };
        assert_eq!(get("h0.example", "/v1/x"), 2);
        assert_eq!(get("other", "other"), 6);
        assert_eq!(m.folded.get(), 3);
        m.cut("bytes", 0);
        m.cut("candidates", 1);
        assert_eq!(m.cuts.with_label_values(&["candidates"]).get(), 1);
        assert_eq!(m.cuts.with_label_values(&["bytes"]).get(), 0);
    }
}
