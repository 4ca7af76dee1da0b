//! A live API inventory: for every endpoint the host calls or serves (direction × workload ×
//! host × method × path template), when it was first and last seen, how often, how it answered,
//! how callers authenticated, which kinds of credentials went by, over TLS or not, from how many
//! peers, and whether it serves clients from outside without any authentication.
//!
//! Why it exists: policies say what should happen; the inventory says what does, so that an
//! operator can find the endpoints nobody wrote a rule for. It lives outside the policy (a
//! reload keeps it) and holds no credential or address: only names, counts and times.
//!
//! Layout, one job per file:
//! - `store.rs`: [`ApiInventory`], the bounded table the pipeline feeds ([`Observation`]s);
//!   `key.rs` its allocation-free key, `entry.rs` one endpoint's counters, `peers.rs` the
//!   bounded distinct-peer count.
//! - `auth.rs`: [`auth_schemes`], naming how a request authenticated.
//! - `snapshot.rs`: [`InventorySnapshot`], the JSON document (docs/inventory.md).
//! - `publish.rs`: [`PublishedInventory`], the latest snapshot for the HTTP route and the file.
//! - `file.rs`: atomic writes and reads of the inventory file; `writer.rs`: the task that keeps
//!   `--inventory-file` up to date; `fetch.rs`: GET of `/inventory`; `render.rs`: the table
//!   `monitor inventory` prints.
mod auth;
mod entry;
mod error;
mod fetch;
mod file;
mod key;
mod peers;
mod publish;
mod render;
mod snapshot;
mod store;
mod writer;

pub use auth::{AuthScheme, auth_schemes};
pub use error::InventoryError;
pub use fetch::fetch_url;
pub use file::{read_file, write_atomically};
pub use peers::PEER_CAP;
pub use publish::PublishedInventory;
pub use render::render_table;
pub use snapshot::{InventoryEntry, InventorySnapshot, ResponseCounts};
pub(crate) use snapshot::{STATUS_CLASSES as STATUS_CLASS_COUNT, status_class};
pub use store::{ApiInventory, DEFAULT_MAX_ENTRIES};
pub use writer::FileWriter;

use crate::protocols::CallDirection;

/// One call, as the inspector describes it to the inventory. Everything is borrowed: observing
/// a known endpoint allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub direction: CallDirection,
    /// Workload key, e.g. `/usr/bin/curl@host` (executable or command @ container id or
    /// `host`).
    pub workload: &'a str,
    /// `Host`/`:authority` without port, or the IP when there is no host; empty if unknown.
    pub host: &'a str,
    /// `<unknown>` when an HTTP/2 capture could not read it.
    pub method: &'a str,
    /// Already templated, e.g. `/v1/users/{id}`.
    pub path_template: &'a str,
    /// `None` when no response was seen.
    pub status: Option<u16>,
    /// From [`auth_schemes`]; empty is read as `[AuthScheme::None]`.
    pub auth_schemes: &'a [AuthScheme],
    /// Stable kind names (`CredentialKind::as_str`, e.g. `stripe_key`).
    pub credential_kinds: &'a [&'a str],
    pub tls: bool,
    /// The other end: outbound, the destination `ip:port`; inbound, the client's workload key
    /// if it is on this host, else its IP. Only counted (as a keyed hash), never kept or shown.
    pub peer: &'a str,
    /// The peer is loopback or in the policy's internal networks.
    pub peer_internal: bool,
    /// Wall-clock time of the call, Unix milliseconds.
    pub unix_ms: u64,
}
