//! What can go wrong moving an inventory in and out of the process: files and HTTP. The live
//! inventory itself cannot fail.
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum InventoryError {
    #[error("cannot write the inventory file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the inventory file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot fetch the inventory from {url}")]
    Fetch {
        url: String,
        // Boxed: ureq's error is large and this is a cold path.
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{origin} is not an inventory (expected the JSON of docs/inventory.md)")]
    Parse {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode the inventory as JSON")]
    Encode(#[source] serde_json::Error),
}
