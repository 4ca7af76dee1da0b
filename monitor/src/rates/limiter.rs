//! Call-rate limits: one token bucket per [`RateKey`], in a table of bounded size.
//!
//! Keys are built from traffic (workload, host, method, path template), so an attacker or a
//! misbehaving workload can create as many as it likes; the table therefore has a hard size and
//! every operation is O(1) (see [`super::lru`]). Memory per key is constant: the bucket level,
//! the time of the last call and an exponentially weighted rate estimate; no per-call history.
//!
//! When a new key arrives and the table is full, the limiter first looks at the few least
//! recently used keys and drops those that are idle (bucket full again: forgetting them loses
//! nothing, a fresh bucket is identical). Only if none of them is idle does it evict the least
//! recently used key, which does lose state, and counts that in [`RateLimiter::evicted`]. The
//! scan is bounded ([`IDLE_SCAN`] entries) so the cost stays O(1) when nothing is idle; idle keys
//! further up the recency list are left for [`RateLimiter::expire_idle`], which the owner calls
//! periodically.
use std::time::Duration;

use super::lru::RecencyMap;

/// How many least-recently-used entries a full table examines for idle buckets per insertion.
const IDLE_SCAN: usize = 8;

/// Slack for floating-point refill so that a caller exactly at the limit is not refused because
/// of rounding.
const TOKEN_EPSILON: f64 = 1e-9;

/// Shortest time constant for the rate estimate, so that a `per` of zero stays finite.
const MIN_TAU_NS: f64 = 1_000_000.0;

/// What a limit applies to. `method` and `path_template` are `None` when the rule does not
/// distinguish them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RateKey {
    pub rule: String,
    pub workload: String,
    /// The caller, when the rule is keyed by client (`by: [client]`).
    pub client: Option<String>,
    pub host: String,
    pub method: Option<String>,
    pub path_template: Option<String>,
}

/// A sustained rate of `limit` calls per `per`, with bursts of up to `burst` calls (the bucket
/// capacity). A `burst` of 0 refuses every call.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub limit: u32,
    pub per: Duration,
    pub burst: u32,
}

impl RateLimit {
    fn per_ns(&self) -> f64 {
        // A zero `per` would mean an infinite rate; treat it as one nanosecond.
        self.per.as_nanos().max(1) as f64
    }

    fn per_second(&self) -> f64 {
        f64::from(self.limit) * 1e9 / self.per_ns()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Allowed,
    /// The bucket was empty; the call was not counted against it.
    Exceeded {
        /// Exponentially weighted recent call rate (time constant `per`), including this call.
        observed_per_second: f64,
        limit_per_second: f64,
    },
}

/// The O(1) state kept per key.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    /// Latest `now_ns` seen; never moves backwards.
    last_ns: u64,
    /// Recent calls per second, decayed with time constant `tau_ns`.
    rate: f64,
    /// Parameters of the limit last applied, so idleness can be judged without the rule.
    refill_per_ns: f64,
    capacity: f64,
    tau_ns: f64,
}

impl Bucket {
    fn new(now_ns: u64) -> Self {
        Self {
            tokens: f64::INFINITY, // clamped to the capacity on the first check
            last_ns: now_ns,
            rate: 0.0,
            refill_per_ns: 0.0,
            capacity: 0.0,
            tau_ns: MIN_TAU_NS,
        }
    }

    fn check(&mut self, limit: RateLimit, now_ns: u64) -> Decision {
        let per_ns = limit.per_ns();
        self.refill_per_ns = f64::from(limit.limit) / per_ns;
        self.capacity = f64::from(limit.burst);
        self.tau_ns = per_ns.max(MIN_TAU_NS);

        let elapsed = now_ns.saturating_sub(self.last_ns) as f64;
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = (self.tokens + elapsed * self.refill_per_ns).min(self.capacity);
        // Decaying event counter: each call adds 1/tau, and the sum decays with exp(-t/tau),
        // so a steady rate r converges to about r.
        self.rate = self.rate * (-elapsed / self.tau_ns).exp() + 1e9 / self.tau_ns;

        if self.tokens >= 1.0 - TOKEN_EPSILON {
            self.tokens = (self.tokens - 1.0).max(0.0);
            Decision::Allowed
        } else {
            Decision::Exceeded {
                observed_per_second: self.rate,
                limit_per_second: limit.per_second(),
            }
        }
    }

    /// True when the bucket has refilled to capacity, i.e. it is indistinguishable from new.
    fn is_idle(&self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64;
        self.tokens + elapsed * self.refill_per_ns >= self.capacity - TOKEN_EPSILON
    }
}

/// Token-bucket rate limiter over a bounded number of keys.
pub struct RateLimiter {
    buckets: RecencyMap<RateKey, Bucket>,
    max_keys: usize,
    evicted: u64,
}

impl RateLimiter {
    /// A limiter tracking at most `max_keys` keys (at least one).
    pub fn new(max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        Self {
            buckets: RecencyMap::with_capacity(max_keys),
            max_keys,
            evicted: 0,
        }
    }

    /// Accounts one call for `key` at `now_ns` (caller-supplied monotonic nanoseconds; a time
    /// earlier than the last one seen for the key is treated as no time passing).
    pub fn check(&mut self, key: &RateKey, limit: RateLimit, now_ns: u64) -> Decision {
        if let Some(bucket) = self.buckets.get_mut_touch(key) {
            return bucket.check(limit, now_ns);
        }
        if self.buckets.len() >= self.max_keys {
            self.make_room(now_ns);
        }
        self.buckets
            .insert(key.clone(), Bucket::new(now_ns))
            .check(limit, now_ns)
    }

    fn make_room(&mut self, now_ns: u64) {
        let dropped = self
            .buckets
            .remove_lru_where(IDLE_SCAN, |b| b.is_idle(now_ns));
        if dropped == 0 && self.buckets.pop_lru().is_some() {
            self.evicted += 1;
        }
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys whose state was lost because the table was full (idle keys dropped to make room are
    /// not counted: they carried no state).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Drops every key whose bucket is full again at `now_ns`; returns how many. O(len).
    pub fn expire_idle(&mut self, now_ns: u64) -> usize {
        self.buckets.retain(|b| !b.is_idle(now_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    fn key(host: &str) -> RateKey {
        RateKey {
            client: None,
            rule: "r".into(),
            workload: "w".into(),
            host: host.into(),
            method: None,
            path_template: None,
        }
    }

    fn limit(limit: u32, per_secs: u64, burst: u32) -> RateLimit {
        RateLimit {
            limit,
            per: Duration::from_secs(per_secs),
            burst,
        }
    }

    #[test]
    fn steady_rate_below_limit_is_never_exceeded() {
        let mut rl = RateLimiter::new(10);
        let k = key("a");
        // 10/s allowed with no burst headroom; call every 110 ms (~9.1/s) for 100 s.
        for i in 0..1000 {
            assert_eq!(
                rl.check(&k, limit(10, 1, 1), 5 * SEC + i * 110 * MS),
                Decision::Allowed
            );
        }
    }

    #[test]
    fn steady_rate_exactly_at_limit_is_allowed() {
        let mut rl = RateLimiter::new(10);
        let k = key("a");
        for i in 0..1000 {
            assert_eq!(
                rl.check(&k, limit(10, 1, 1), i * 100 * MS),
                Decision::Allowed
            );
        }
    }

    #[test]
    fn burst_is_allowed_then_exceeded_without_consuming() {
        let mut rl = RateLimiter::new(10);
        let k = key("a");
        let l = limit(1, 1, 5);
        for _ in 0..5 {
            assert_eq!(rl.check(&k, l, SEC), Decision::Allowed);
        }
        let Decision::Exceeded {
            observed_per_second,
            limit_per_second,
        } = rl.check(&k, l, SEC)
        else {
            panic!("sixth call in the same instant must exceed");
        };
        assert_eq!(limit_per_second, 1.0);
        assert!(
            (observed_per_second - 6.0).abs() < 1e-9,
            "{observed_per_second}"
        );
        // Refused calls do not consume: one token back after one second, exactly one call passes.
        assert_eq!(rl.check(&k, l, 2 * SEC), Decision::Allowed);
        assert!(matches!(
            rl.check(&k, l, 2 * SEC),
            Decision::Exceeded { .. }
        ));
    }

    #[test]
    fn refills_after_waiting() {
        let mut rl = RateLimiter::new(10);
        let k = key("a");
        let l = limit(2, 1, 4);
        for _ in 0..4 {
            assert_eq!(rl.check(&k, l, 0), Decision::Allowed);
        }
        assert!(matches!(rl.check(&k, l, 0), Decision::Exceeded { .. }));
        // 2/s: after 1 s two tokens are back, after 10 s the bucket is full (capped at 4).
        assert_eq!(rl.check(&k, l, SEC), Decision::Allowed);
        assert_eq!(rl.check(&k, l, SEC), Decision::Allowed);
        assert!(matches!(rl.check(&k, l, SEC), Decision::Exceeded { .. }));
        for _ in 0..4 {
            assert_eq!(rl.check(&k, l, 11 * SEC), Decision::Allowed);
        }
        assert!(matches!(
            rl.check(&k, l, 11 * SEC),
            Decision::Exceeded { .. }
        ));
    }

    #[test]
    fn observed_rate_tracks_sustained_rate() {
        let mut rl = RateLimiter::new(10);
        let k = key("a");
        let l = limit(10, 1, 10);
        let mut last = Decision::Allowed;
        // 50 calls per second for 10 s: soon exceeded, and the estimate settles near 50/s.
        for i in 0..500 {
            last = rl.check(&k, l, i * 20 * MS);
        }
        let Decision::Exceeded {
            observed_per_second,
            limit_per_second,
        } = last
        else {
            panic!("50/s against 10/s must exceed");
        };
        assert_eq!(limit_per_second, 10.0);
        assert!(
            (45.0..56.0).contains(&observed_per_second),
            "{observed_per_second}"
        );
    }

    #[test]
    fn keys_are_independent() {
        let mut rl = RateLimiter::new(10);
        let l = limit(1, 60, 2);
        let (a, b) = (key("a"), key("b"));
        assert_eq!(rl.check(&a, l, 0), Decision::Allowed);
        assert_eq!(rl.check(&a, l, 0), Decision::Allowed);
        assert!(matches!(rl.check(&a, l, 0), Decision::Exceeded { .. }));
        assert_eq!(rl.check(&b, l, 0), Decision::Allowed);
        assert_eq!(rl.check(&b, l, 0), Decision::Allowed);
        let mut b_post = b.clone();
        b_post.method = Some("POST".into());
        assert_eq!(rl.check(&b_post, l, 0), Decision::Allowed);
        assert_eq!(rl.len(), 3);
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_refill() {
        let mut rl = RateLimiter::new(10);
        let k = key("a");
        let l = limit(1, 1, 1);
        assert_eq!(rl.check(&k, l, 10 * SEC), Decision::Allowed);
        assert!(matches!(rl.check(&k, l, 0), Decision::Exceeded { .. }));
        assert!(matches!(
            rl.check(&k, l, 10 * SEC),
            Decision::Exceeded { .. }
        ));
        assert_eq!(rl.check(&k, l, 11 * SEC), Decision::Allowed);
        assert_eq!(rl.expire_idle(0), 0);
        assert_eq!(rl.check(&k, l, u64::MAX), Decision::Allowed);
    }

    #[test]
    fn degenerate_limits_do_not_panic() {
        let mut rl = RateLimiter::new(0);
        let k = key("a");
        let zero_per = RateLimit {
            limit: 5,
            per: Duration::ZERO,
            burst: 1,
        };
        assert_eq!(rl.check(&k, zero_per, 0), Decision::Allowed);
        assert!(matches!(
            rl.check(&k, limit(0, 1, 0), 0),
            Decision::Exceeded { .. }
        ));
        assert!(matches!(
            rl.check(&k, limit(0, 1, 1), SEC),
            Decision::Exceeded { .. }
        ));
        assert_eq!(rl.len(), 1);
    }

    #[test]
    fn expire_idle_drops_only_refilled_buckets() {
        let mut rl = RateLimiter::new(10);
        rl.check(&key("fast"), limit(10, 1, 1), 0); // full again after 100 ms
        rl.check(&key("slow"), limit(1, 60, 1), 0); // full again after 60 s
        assert_eq!(rl.expire_idle(50 * MS), 0);
        assert_eq!(rl.expire_idle(SEC), 1);
        assert_eq!(rl.len(), 1);
        assert_eq!(rl.expire_idle(61 * SEC), 1);
        assert!(rl.is_empty());
    }

    #[test]
    fn full_table_drops_idle_keys_before_evicting() {
        let mut rl = RateLimiter::new(2);
        let l = limit(1, 1, 1);
        rl.check(&key("a"), l, 0);
        rl.check(&key("b"), l, 0);
        // Nothing idle yet: the least recently used ("a") is evicted and counted.
        rl.check(&key("c"), l, 0);
        assert_eq!((rl.len(), rl.evicted()), (2, 1));
        assert!(
            matches!(rl.check(&key("b"), l, 0), Decision::Exceeded { .. }),
            "b kept"
        );
        // Two seconds later every bucket is full again: room is made without an eviction.
        rl.check(&key("d"), l, 2 * SEC);
        assert_eq!(rl.evicted(), 1);
        assert!(rl.len() <= 2);
    }

    #[test]
    fn recently_used_keys_survive_eviction() {
        let mut rl = RateLimiter::new(3);
        let l = limit(1, 60, 1);
        for h in ["a", "b", "c"] {
            rl.check(&key(h), l, 0);
        }
        rl.check(&key("a"), l, 0); // touch "a"; "b" is now the oldest
        rl.check(&key("d"), l, 0);
        assert!(
            matches!(rl.check(&key("a"), l, 0), Decision::Exceeded { .. }),
            "a kept"
        );
        assert_eq!(
            rl.check(&key("b"), l, 0),
            Decision::Allowed,
            "b was evicted"
        );
        assert_eq!(rl.evicted(), 2);
    }

    #[test]
    fn million_distinct_keys_stay_bounded_and_fast() {
        let mut rl = RateLimiter::new(10_000);
        let l = limit(10, 1, 10);
        let mut k = key("");
        let start = std::time::Instant::now();
        for i in 0..1_000_000u64 {
            k.host.clear();
            std::fmt::Write::write_fmt(&mut k.host, format_args!("h{i}.example")).unwrap();
            // One call per microsecond: no bucket refills before it is pushed out.
            assert_eq!(rl.check(&k, l, i * 1_000), Decision::Allowed);
        }
        let elapsed = start.elapsed();
        println!(
            "rates::limiter: 1,000,000 distinct keys, max_keys 10,000: {elapsed:?}, \
             len {}, evicted {}",
            rl.len(),
            rl.evicted()
        );
        assert!(rl.len() <= 10_000);
        assert_eq!(rl.evicted(), 990_000);
    }
}
