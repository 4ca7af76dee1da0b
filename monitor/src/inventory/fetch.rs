//! `monitor inventory --url`: one blocking GET of a daemon's `/inventory`.
//!
//! The metrics listener is plain HTTP, normally on loopback, so the client has no TLS; a
//! timeout keeps a hung daemon from hanging the command, and a size limit keeps a wrong URL
//! from filling memory.
use std::time::Duration;

use super::{InventoryError, InventorySnapshot};

/// Longest wait for the whole exchange.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest document accepted (a full default inventory is a few MiB).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The snapshot served at `url` (`http://127.0.0.1:9464/inventory`).
pub fn fetch_url(url: &str) -> Result<InventorySnapshot, InventoryError> {
    let fetch_error = |source: ureq::Error| InventoryError::Fetch {
        url: url.to_owned(),
        source: Box::new(source),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let body = agent
        .get(url)
        .call()
        .map_err(fetch_error)?
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_vec()
        .map_err(fetch_error)?;
    serde_json::from_slice(&body).map_err(|source| InventoryError::Parse {
        origin: url.to_owned(),
        source,
    })
}
