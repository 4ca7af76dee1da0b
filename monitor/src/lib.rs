//! The monitor's userspace pipeline, one module per stage, in data-path order:
//!
//! ```text
//! capture ─▶ streams ─▶ protocols ─▶ calls ─▶ output
//!  (kernel    (per-connection   (request/      (API-call    (JSON lines)
//!  records)    byte streams)     response)      events)
//!                  ▲                               ▲
//!                  └──────────── enrich ───────────┘ (process identity)
//! ```
//! Everything after `capture` is plain Rust that runs without root and is driven by
//! [`capture::CaptureEvent`] values, so it can be tested from synthetic or recorded captures.
pub mod alerts;
mod ascii_case;
mod ascii_split;
pub mod calls;
pub mod capture;
pub mod coverage;
pub mod credentials;
pub mod enrich;
pub mod inspect;
pub mod inventory;
pub mod kubernetes;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod protocols;
pub mod rates;
pub mod recording;
pub mod replay;
pub mod sensitive;
mod short_text;
pub mod streams;
pub mod time;

/// A hash map for the per-record tables whose keys the kernel or the monitor chooses
/// (connection, process and socket ids, library cookies), never what traffic chooses: foldhash
/// instead of SipHash, which was about 7 % of the pipeline's instructions per call. Its seed is
/// still random per process. Tables that traffic fills (socket addresses, hosts, paths) use
/// [`TrafficMap`]: a peer could pick keys that collide, and foldhash does not claim to resist
/// that. Sets that traffic only reads (the policy's hosts) and the host's own workload names may
/// use foldhash.
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The set form of [`IdMap`], same rules.
pub(crate) type IdSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
/// A hash map for the tables traffic fills on the per-call path (hosts, paths, socket addresses,
/// credential fingerprints): aHash, a keyed hash made to resist collision flooding (its keys
/// come from the OS on first use and differ per map), in place of SipHash, which cost about
/// 1,200 instructions per call across the inventory, rate and destination tables (callgrind,
/// issue 14). Traffic-filled tables off that path (per alert, per sensitive finding) keep the
/// standard library's SipHash, which resists such keys too.
pub(crate) type TrafficMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
