//! Bursts of rejected authentication: 401 and 403 responses counted over a window, per key
//! (a client × endpoint, or a credential fingerprint). A burst is what credential stuffing, a
//! brute force or a revoked key still in use look like; a single 401 is ordinary (a token
//! expired, a login typo).
//!
//! A window opens at a key's first failure and lasts the policy's `window`; the key alerts once
//! per window, when its failures reach the threshold. Keys come from traffic, so the table is
//! bounded: the least recently failing key is forgotten first (counted).
use crate::rates::RecencyMap;

/// What a window counted when it crossed its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Burst {
    pub failures: u32,
    pub unauthorized: u32,
    pub forbidden: u32,
}

struct Window {
    started_ns: u64,
    burst: Burst,
    alerted: bool,
}

impl Window {
    fn new(started_ns: u64) -> Self {
        Self {
            started_ns,
            burst: Burst {
                failures: 0,
                unauthorized: 0,
                forbidden: 0,
            },
            alerted: false,
        }
    }
}

pub(super) struct AuthFailureCounter {
    windows: RecencyMap<String, Window>,
    max_entries: usize,
    evicted: u64,
}

/// A status that means "your credentials were refused".
pub(super) fn is_auth_failure(status: u16) -> bool {
    status == 401 || status == 403
}

impl AuthFailureCounter {
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        Self {
            windows: RecencyMap::with_capacity(max_entries),
            max_entries,
            evicted: 0,
        }
    }

    /// Counts one rejected call under `key`; the burst when this call is the one that reaches
    /// `threshold` in the current window.
    pub fn record(
        &mut self,
        key: &str,
        status: u16,
        now_ns: u64,
        window_ns: u64,
        threshold: u32,
    ) -> Option<Burst> {
        let key = key.to_owned();
        if self.windows.get_mut_touch(&key).is_none() {
            if self.windows.len() >= self.max_entries && self.windows.pop_lru().is_some() {
                self.evicted += 1;
            }
            self.windows.insert(key.clone(), Window::new(now_ns));
        }
        let window = self.windows.get_mut_touch(&key)?;
        if now_ns.saturating_sub(window.started_ns) > window_ns {
            *window = Window::new(now_ns);
        }
        let burst = &mut window.burst;
        burst.failures = burst.failures.saturating_add(1);
        if status == 401 {
            burst.unauthorized = burst.unauthorized.saturating_add(1);
        } else {
            burst.forbidden = burst.forbidden.saturating_add(1);
        }
        if burst.failures >= threshold && !window.alerted {
            window.alerted = true;
            return Some(*burst);
        }
        None
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000_000_000;

    #[test]
    fn alerts_once_when_the_threshold_is_reached_within_the_window() {
        let mut counter = AuthFailureCounter::new(8);
        let statuses = [401, 401, 403, 401];
        let bursts: Vec<_> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| counter.record("k", *s, i as u64, MINUTE, 3))
            .collect();
        assert_eq!(
            bursts,
            vec![
                None,
                None,
                Some(Burst {
                    failures: 3,
                    unauthorized: 2,
                    forbidden: 1
                }),
                None
            ]
        );
    }

    #[test]
    fn failures_spread_over_more_than_a_window_do_not_add_up() {
        let mut counter = AuthFailureCounter::new(8);
        assert_eq!(counter.record("k", 401, 0, MINUTE, 2), None);
        assert_eq!(counter.record("k", 401, 2 * MINUTE, MINUTE, 2), None);
        assert!(
            counter
                .record("k", 401, 2 * MINUTE + 1, MINUTE, 2)
                .is_some()
        );
        // A new window may alert again.
        assert_eq!(counter.record("k", 401, 4 * MINUTE, MINUTE, 2), None);
        assert!(
            counter
                .record("k", 401, 4 * MINUTE + 1, MINUTE, 2)
                .is_some()
        );
    }

    #[test]
    fn keys_are_counted_apart_and_the_table_is_bounded() {
        let mut counter = AuthFailureCounter::new(2);
        for key in ["a", "b", "c"] {
            assert_eq!(counter.record(key, 401, 0, MINUTE, 2), None);
        }
        assert_eq!(counter.len(), 2);
        assert_eq!(counter.evicted(), 1);
        // "a" was forgotten: its next failure starts over.
        assert_eq!(counter.record("a", 401, 1, MINUTE, 2), None);
        assert!(counter.record("c", 401, 1, MINUTE, 2).is_some());
    }
}
