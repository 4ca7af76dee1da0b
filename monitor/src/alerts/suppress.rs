//! Suppression of repeated identical alerts.
//!
//! The first alert of a kind goes out at once. Identical ones (same `suppression_key`) within the
//! window are counted, not printed; when the window ends, one summary alert carries the count
//! (`count`, `summary_of`). A flood of identical alerts therefore costs two lines per window, and
//! nothing is hidden: the count says how many there were. The table is bounded: when it is full,
//! the oldest entries are closed early (their summaries emitted).
use std::collections::HashMap;

use super::Alert;

struct Entry {
    opened_ns: u64,
    first: Alert,
    repeats: u64,
}

pub struct Suppressor {
    window_ns: u64,
    max_entries: usize,
    entries: HashMap<String, Entry>,
}

impl Suppressor {
    pub fn new(window_ns: u64, max_entries: usize) -> Self {
        Self {
            window_ns,
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
        }
    }

    pub fn set_window(&mut self, window_ns: u64) {
        self.window_ns = window_ns;
    }

    /// Puts the alert in `out` and returns true if it is to be printed now; counts it otherwise.
    pub fn admit(&mut self, alert: Alert, now_ns: u64, out: &mut Vec<Alert>) -> bool {
        if self.window_ns == 0 {
            out.push(alert);
            return true;
        }
        let key = alert.suppression_key();
        if let Some(entry) = self.entries.get_mut(&key) {
            if now_ns.saturating_sub(entry.opened_ns) < self.window_ns {
                entry.repeats += 1;
                return false;
            }
            let entry = self.entries.remove(&key).expect("present");
            out.extend(summary(entry));
        }
        if self.entries.len() >= self.max_entries {
            self.close_oldest(out);
        }
        self.entries.insert(
            key,
            Entry {
                opened_ns: now_ns,
                first: alert.clone(),
                repeats: 0,
            },
        );
        out.push(alert);
        true
    }

    /// Closes windows that have ended, emitting their summaries.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Alert>) {
        let window = self.window_ns;
        let ended: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| now_ns.saturating_sub(e.opened_ns) >= window)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ended {
            if let Some(entry) = self.entries.remove(&key) {
                out.extend(summary(entry));
            }
        }
    }

    /// Closes every window (shutdown).
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        let mut entries: Vec<Entry> = self.entries.drain().map(|(_, e)| e).collect();
        entries.sort_by_key(|e| e.opened_ns);
        out.extend(entries.into_iter().filter_map(summary));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn close_oldest(&mut self, out: &mut Vec<Alert>) {
        // Only reached with a full table of distinct alerts: a scan is fine there.
        if let Some(key) = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.opened_ns)
            .map(|(k, _)| k.clone())
            && let Some(entry) = self.entries.remove(&key)
        {
            out.extend(summary(entry));
        }
    }
}

/// The summary of a closed window, if anything was suppressed in it.
fn summary(entry: Entry) -> Option<Alert> {
    if entry.repeats == 0 {
        return None;
    }
    let mut alert = entry.first;
    alert.summary_of = Some(alert.id.clone());
    alert.id = format!("{}-r{}", alert.id, entry.repeats);
    alert.count = entry.repeats;
    alert.summary = format!("{} (repeated {} more times)", alert.summary, entry.repeats);
    Some(alert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        alerts::{AlertDestination, AlertRequest, AlertWorkload},
        policy::Severity,
    };

    fn alert(rule: &str, host: &str) -> Alert {
        Alert {
            time: String::new(),
            event: "alert",
            id: format!("{rule}-{host}"),
            severity: Severity::High,
            rule_id: rule.into(),
            summary: "s".into(),
            count: 1,
            summary_of: None,
            direction: crate::protocols::CallDirection::Outbound,
            peer_workload: None,
            client: None,
            workload: AlertWorkload {
                pid: 1,
                command: "curl".into(),
                executable: None,
                uid: 0,
                container_id: None,
                k8s: None,
            },
            destination: AlertDestination {
                host: Some(host.into()),
                ip: None,
                port: Some(443),
                tls: true,
            },
            request: Some(AlertRequest {
                method: "GET".into(),
                path_template: "/".into(),
            }),
            evidence: None,
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn repeats_within_the_window_become_one_summary() {
        let mut s = Suppressor::new(60 * S, 100);
        let mut out = Vec::new();
        assert!(s.admit(alert("r", "a.com"), 0, &mut out));
        for i in 1..=9 {
            assert!(!s.admit(alert("r", "a.com"), i * S, &mut out));
        }
        assert!(
            s.admit(alert("r", "b.com"), 10 * S, &mut out),
            "another host is another alert"
        );
        assert_eq!(out.len(), 2);
        s.expire(61 * S, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].count, 9);
        assert_eq!(out[2].summary_of.as_deref(), Some("r-a.com"));
        assert!(s.len() == 1, "b.com's window is still open");
    }

    #[test]
    fn a_connection_accepted_is_not_a_repeat_of_one_made_but_a_linked_exchange_is() {
        let mut s = Suppressor::new(60 * S, 100);
        let mut out = Vec::new();
        let made = alert("coverage.tls_unreadable", "a.com");
        let mut accepted = made.clone();
        accepted.direction = crate::protocols::CallDirection::Inbound;
        assert!(s.admit(made.clone(), 0, &mut out));
        assert!(s.admit(accepted.clone(), S, &mut out), "another fact");
        // Naming both ends, the view that raised it does not matter.
        let (mut outbound, mut inbound) = (made, accepted);
        for a in [&mut outbound, &mut inbound] {
            a.rule_id = "credential.in_url".into();
            a.peer_workload = Some(a.workload.clone());
        }
        assert!(s.admit(outbound, 2 * S, &mut out));
        assert!(!s.admit(inbound, 3 * S, &mut out), "the same finding");
    }

    #[test]
    fn after_the_window_the_next_alert_goes_out_again() {
        let mut s = Suppressor::new(60 * S, 100);
        let mut out = Vec::new();
        s.admit(alert("r", "a.com"), 0, &mut out);
        s.admit(alert("r", "a.com"), S, &mut out);
        assert!(s.admit(alert("r", "a.com"), 61 * S, &mut out));
        // first, summary of the repeat, the new first
        assert_eq!(
            out.iter().map(|a| a.count).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
        assert!(out[1].summary_of.is_some());
    }

    #[test]
    fn a_full_table_closes_the_oldest_and_loses_no_count() {
        let mut s = Suppressor::new(60 * S, 2);
        let mut out = Vec::new();
        s.admit(alert("r", "a.com"), 0, &mut out);
        s.admit(alert("r", "a.com"), 1, &mut out);
        s.admit(alert("r", "b.com"), 2, &mut out);
        s.admit(alert("r", "c.com"), 3, &mut out);
        assert_eq!(s.len(), 2);
        let summaries: Vec<_> = out.iter().filter(|a| a.summary_of.is_some()).collect();
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].destination.host.as_deref(), Some("a.com"));
        s.flush(&mut out);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_zero_window_suppresses_nothing() {
        let mut s = Suppressor::new(0, 10);
        let mut out = Vec::new();
        for _ in 0..3 {
            assert!(s.admit(alert("r", "a.com"), 0, &mut out));
        }
        assert_eq!(out.len(), 3);
    }
}
