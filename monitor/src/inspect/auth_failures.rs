//! Bursts of rejected authentication: 401 and 403 responses counted over a window, per key
//! (a client × endpoint, or a credential fingerprint). A burst is what credential stuffing, a
//! brute force or a revoked key still in use look like; a single 401 is ordinary (a token
//! expired, a login typo).
//!
//! Failures are counted over a sliding window, estimated from two fixed buckets of the window's
//! length (the current one, and the previous one weighted by how much of it still lies inside
//! the window): constant memory per key whatever the threshold, and a burst that straddles a
//! bucket boundary still adds up. A key alerts when its estimate reaches the threshold, then
//! stays quiet for one window. Keys come from traffic, so the table is bounded: the least
//! recently failing key is forgotten first (counted).
use crate::rates::RecencyMap;

/// What a window counted when it crossed its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Burst {
    pub failures: u32,
    pub unauthorized: u32,
    pub forbidden: u32,
}

#[derive(Clone, Copy, Default)]
struct Counts {
    failures: u32,
    unauthorized: u32,
    forbidden: u32,
}

struct Window {
    /// Start of the current bucket.
    bucket_ns: u64,
    current: Counts,
    previous: Counts,
    /// No second alert before this time.
    quiet_until_ns: u64,
}

impl Window {
    fn new(now_ns: u64) -> Self {
        Self {
            bucket_ns: now_ns,
            current: Counts::default(),
            previous: Counts::default(),
            quiet_until_ns: 0,
        }
    }

    /// Moves the buckets forward to the one holding `now_ns`.
    fn advance(&mut self, now_ns: u64, window_ns: u64) {
        let elapsed = now_ns.saturating_sub(self.bucket_ns) / window_ns;
        if elapsed == 0 {
            return;
        }
        self.previous = if elapsed == 1 {
            self.current
        } else {
            Counts::default()
        };
        self.current = Counts::default();
        self.bucket_ns = self
            .bucket_ns
            .saturating_add(elapsed.saturating_mul(window_ns));
    }

    /// Failures in the window that ends now.
    fn estimate(&self, now_ns: u64, window_ns: u64) -> Burst {
        let into_bucket = now_ns.saturating_sub(self.bucket_ns).min(window_ns);
        let weight = (window_ns - into_bucket) as f64 / window_ns as f64;
        let mix =
            |previous: u32, current: u32| (f64::from(previous) * weight).round() as u32 + current;
        Burst {
            failures: mix(self.previous.failures, self.current.failures),
            unauthorized: mix(self.previous.unauthorized, self.current.unauthorized),
            forbidden: mix(self.previous.forbidden, self.current.forbidden),
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
        let window_ns = window_ns.max(1);
        let key = key.to_owned();
        if self.windows.get_mut_touch(&key).is_none() {
            if self.windows.len() >= self.max_entries && self.windows.pop_lru().is_some() {
                self.evicted += 1;
            }
            self.windows.insert(key.clone(), Window::new(now_ns));
        }
        let window = self.windows.get_mut_touch(&key)?;
        window.advance(now_ns, window_ns);
        let counts = &mut window.current;
        counts.failures = counts.failures.saturating_add(1);
        if status == 401 {
            counts.unauthorized = counts.unauthorized.saturating_add(1);
        } else {
            counts.forbidden = counts.forbidden.saturating_add(1);
        }
        let burst = window.estimate(now_ns, window_ns);
        if burst.failures >= threshold && now_ns >= window.quiet_until_ns {
            window.quiet_until_ns = now_ns.saturating_add(window_ns);
            return Some(burst);
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
        assert_eq!(counter.record("k", 401, 3 * MINUTE, MINUTE, 2), None);
        assert!(
            counter
                .record("k", 401, 3 * MINUTE + 1, MINUTE, 2)
                .is_some()
        );
        // Quiet for a window, then it may alert again.
        assert_eq!(counter.record("k", 401, 3 * MINUTE + 2, MINUTE, 2), None);
        assert_eq!(counter.record("k", 401, 6 * MINUTE, MINUTE, 2), None);
        assert!(
            counter
                .record("k", 401, 6 * MINUTE + 1, MINUTE, 2)
                .is_some()
        );
    }

    #[test]
    fn a_burst_straddling_a_bucket_boundary_adds_up() {
        // 1 failure at 0 s, 8 at 55 s, 8 at 65 s: 16 in ten seconds. A window fixed at the first
        // failure would see 9 then 8 and never reach 10.
        let mut counter = AuthFailureCounter::new(8);
        let second = MINUTE / 60;
        let mut times = vec![0];
        times.extend(std::iter::repeat_n(55 * second, 8));
        times.extend(std::iter::repeat_n(65 * second, 8));
        let alerts: Vec<_> = times
            .iter()
            .filter_map(|t| counter.record("k", 401, *t, MINUTE, 10))
            .collect();
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].failures >= 10, "{:?}", alerts[0]);
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
