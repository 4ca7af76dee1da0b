//! The inventory as it leaves the process: the JSON document served at `/inventory`, written to
//! `--inventory-file` and read back by `monitor inventory` (schema: docs/inventory.md).
//!
//! Plain data, serialisable both ways, so that the printer reads exactly what the daemon wrote.
//! Nothing in it is a credential or an address: peers are a count, credentials a kind name.
use serde::{Deserialize, Serialize};

use super::AuthScheme;
use crate::protocols::CallDirection;

/// Everything the inventory knows at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventorySnapshot {
    /// When the snapshot was taken (RFC 3339, UTC).
    pub generated_at: String,
    /// Sorted by direction, workload, host, method, path template.
    pub entries: Vec<InventoryEntry>,
    /// Endpoints forgotten so far because the inventory was full (least recently seen first).
    pub evicted: u64,
}

impl InventorySnapshot {
    /// The same endpoints and counts, whenever it was taken (`generated_at` aside).
    pub fn same_content(&self, other: &Self) -> bool {
        self.evicted == other.evicted && self.entries == other.entries
    }
}

/// One endpoint: direction × workload × host × method × path template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub direction: CallDirection,
    pub workload: String,
    pub host: String,
    pub method: String,
    pub path_template: String,
    /// First and last call (RFC 3339, UTC).
    pub first_seen: String,
    pub last_seen: String,
    pub calls: u64,
    pub responses: ResponseCounts,
    /// Every scheme seen on some call, in a fixed order (`none` when some call had none).
    pub auth_schemes: Vec<AuthScheme>,
    /// Kinds of the credentials seen (`stripe_key`, `jwt`, ...), sorted.
    pub credential_kinds: Vec<String>,
    pub tls_calls: u64,
    pub plaintext_calls: u64,
    /// Distinct peers; exact unless `peers_capped` (then at least this many).
    pub peers: u64,
    pub peers_capped: bool,
    /// Inbound and served without authentication to a client outside the internal networks.
    pub unauthenticated_external: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Calls by response status class; classes without calls are left out of the JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseCounts {
    #[serde(rename = "1xx", default, skip_serializing_if = "is_zero")]
    pub informational: u64,
    #[serde(rename = "2xx", default, skip_serializing_if = "is_zero")]
    pub success: u64,
    #[serde(rename = "3xx", default, skip_serializing_if = "is_zero")]
    pub redirection: u64,
    #[serde(rename = "4xx", default, skip_serializing_if = "is_zero")]
    pub client_error: u64,
    #[serde(rename = "5xx", default, skip_serializing_if = "is_zero")]
    pub server_error: u64,
    /// A status outside 100–599, or one the capture could not read (HTTP/2 `:status` lost).
    #[serde(rename = "other", default, skip_serializing_if = "is_zero")]
    pub other: u64,
    /// No response (the connection closed or the capture ended first).
    #[serde(rename = "none", default, skip_serializing_if = "is_zero")]
    pub none: u64,
}

/// Status classes in [`ResponseCounts`] order.
pub(crate) const STATUS_CLASSES: usize = 7;

/// Index of a status's class in [`ResponseCounts`] order.
pub(crate) fn status_class(status: Option<u16>) -> usize {
    match status {
        Some(100..=199) => 0,
        Some(200..=299) => 1,
        Some(300..=399) => 2,
        Some(400..=499) => 3,
        Some(500..=599) => 4,
        Some(_) => 5,
        None => 6,
    }
}

impl ResponseCounts {
    pub(crate) fn from_classes(c: &[u64; STATUS_CLASSES]) -> Self {
        Self {
            informational: c[0],
            success: c[1],
            redirection: c[2],
            client_error: c[3],
            server_error: c[4],
            other: c[5],
            none: c[6],
        }
    }

    /// Non-zero classes as `(name, count)`, in order (for the table).
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("1xx", self.informational),
            ("2xx", self.success),
            ("3xx", self.redirection),
            ("4xx", self.client_error),
            ("5xx", self.server_error),
            ("other", self.other),
            ("none", self.none),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let mut c = [0; STATUS_CLASSES];
        for s in [Some(101), Some(200), Some(204), Some(404), Some(0), None] {
            c[status_class(s)] += 1;
        }
        let r = ResponseCounts::from_classes(&c);
        assert_eq!(
            r.nonzero().collect::<Vec<_>>(),
            [
                ("1xx", 1),
                ("2xx", 2),
                ("4xx", 1),
                ("other", 1),
                ("none", 1)
            ]
        );
        // Empty classes are left out of the JSON and read back as zero.
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"1xx":1,"2xx":2,"4xx":1,"other":1,"none":1}"#);
        assert_eq!(serde_json::from_str::<ResponseCounts>(&json).unwrap(), r);
    }
}
