//! One exchange, one alert. When both ends of a connection run on this host, the client's view
//! (outbound) and the server's view (inbound) of each exchange both reach the inspector, and a
//! rule that applies in both directions (a credential in a URL, a JWT problem, a burst of
//! rejected logins) would fire once per view.
//!
//! The linker pairs them. Only exchanges whose two ends were both found (`peer_process`) are
//! linked, and only alerts of rules that can fire from both ends. Both views compute the same
//! key for an alert: the rule, the two processes, the connection (the client's address and the
//! server's port: an accepted connection's own address may only be known as its listening
//! socket's wildcard), the method and path template, and the credential fingerprint. The first view's alert is raised (it already names both workloads) and
//! remembered; the other view's alert with the same key then cancels one remembered alert
//! instead of being raised. Each alert cancels at most one twin, so two real exchanges on one
//! connection still give two alerts. The twin arrives within an exchange's lifetime, so
//! remembered alerts are forgotten after [`TWIN_WINDOW_NS`], and the table is bounded (the
//! least recently raised forgotten first, counted).
use std::net::SocketAddr;

use crate::{protocols::CallDirection, rates::RecencyMap};

/// How long a raised alert waits for its twin from the other view.
const TWIN_WINDOW_NS: u64 = 30_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct LinkKey {
    pub rule_id: String,
    /// The caller's and the server's pids: addresses alone repeat across network namespaces.
    pub client_pid: u32,
    pub server_pid: u32,
    pub client: SocketAddr,
    pub server_port: u16,
    pub method: String,
    pub path_template: String,
    /// Which credential, by fingerprint; empty when the alert is not about one.
    pub evidence: String,
}

struct Raised {
    from: CallDirection,
    /// Alerts raised from `from` still waiting for a twin.
    waiting: u32,
    expires_ns: u64,
}

pub(super) struct ExchangeLinker {
    raised: RecencyMap<LinkKey, Raised>,
    max_entries: usize,
    evicted: u64,
}

impl ExchangeLinker {
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            raised: RecencyMap::with_capacity(max_entries),
            max_entries,
            evicted: 0,
        }
    }

    /// True if the alert is to be raised; false if it is the twin of one the other view
    /// already raised.
    pub fn admit(&mut self, key: LinkKey, from: CallDirection, now_ns: u64) -> bool {
        let expires_ns = now_ns.saturating_add(TWIN_WINDOW_NS);
        if let Some(raised) = self.raised.get_mut_touch(&key) {
            let live = raised.waiting > 0 && raised.expires_ns >= now_ns;
            if live && raised.from != from {
                raised.waiting -= 1;
                return false;
            }
            if live {
                raised.waiting += 1;
            } else {
                *raised = Raised {
                    from,
                    waiting: 1,
                    expires_ns,
                };
            }
            raised.expires_ns = expires_ns;
            return true;
        }
        if self.raised.len() >= self.max_entries && self.raised.pop_lru().is_some() {
            self.evicted += 1;
        }
        self.raised.insert(
            key,
            Raised {
                from,
                waiting: 1,
                expires_ns,
            },
        );
        true
    }

    /// Raised alerts forgotten before their window ended, the table being full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rule: &str) -> LinkKey {
        LinkKey {
            rule_id: rule.to_owned(),
            client_pid: 10,
            server_pid: 20,
            client: "127.0.0.1:40000".parse().unwrap(),
            server_port: 8443,
            method: "GET".to_owned(),
            path_template: "/v1/x".to_owned(),
            evidence: "f1".to_owned(),
        }
    }

    #[test]
    fn the_second_view_of_an_exchange_is_merged_whichever_comes_first() {
        let mut linker = ExchangeLinker::new(16);
        assert!(linker.admit(key("credential.in_url"), CallDirection::Outbound, 1));
        assert!(!linker.admit(key("credential.in_url"), CallDirection::Inbound, 2));
        assert!(linker.admit(key("credential.in_url"), CallDirection::Inbound, 3));
        assert!(!linker.admit(key("credential.in_url"), CallDirection::Outbound, 4));
    }

    #[test]
    fn each_alert_cancels_one_twin_only() {
        let mut linker = ExchangeLinker::new(16);
        // Two exchanges on one connection, the client's view of both first.
        assert!(linker.admit(key("r"), CallDirection::Outbound, 1));
        assert!(linker.admit(key("r"), CallDirection::Outbound, 2));
        assert!(!linker.admit(key("r"), CallDirection::Inbound, 3));
        assert!(!linker.admit(key("r"), CallDirection::Inbound, 4));
        // A third server view has no twin left.
        assert!(linker.admit(key("r"), CallDirection::Inbound, 5));
    }

    #[test]
    fn different_rules_or_late_twins_are_not_merged() {
        let mut linker = ExchangeLinker::new(16);
        assert!(linker.admit(key("a"), CallDirection::Outbound, 1));
        assert!(linker.admit(key("b"), CallDirection::Inbound, 2));
        assert!(linker.admit(key("a"), CallDirection::Inbound, 2 + TWIN_WINDOW_NS));
    }

    #[test]
    fn a_full_table_forgets_the_oldest_and_counts_it() {
        let mut linker = ExchangeLinker::new(1);
        assert!(linker.admit(key("a"), CallDirection::Outbound, 1));
        assert!(linker.admit(key("b"), CallDirection::Outbound, 2));
        assert_eq!(linker.evicted(), 1);
        assert!(linker.admit(key("a"), CallDirection::Inbound, 3));
    }
}
