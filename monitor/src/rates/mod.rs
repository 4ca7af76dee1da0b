//! Per-call bookkeeping with bounded memory: call-rate limits, path templates and first-seen
//! destinations.
//!
//! Everything here is keyed by traffic the monitor does not control (hosts, paths), so each
//! part is bounded by construction: [`path_template`] collapses ids so labels and keys stay
//! few and short, and [`RateLimiter`] and [`Inventory`] have a fixed size with O(1) eviction of
//! the least recently used entries (the shared structure is in `lru`).
mod inventory;
mod limiter;
mod lru;
mod template;

pub use inventory::Inventory;
pub use limiter::{Decision, RateKey, RateLimit, RateLimiter};
/// Also used by the API inventory (`crate::inventory`), which has the same bounding needs.
pub(crate) use lru::RecencyMap;
pub use template::path_template;
pub(crate) use template::{MAX_SEGMENTS, classify};
