//! Which calls a rule is about: those the workload makes (outbound), those it serves (inbound), or
//! both. Every rule family has a default that keeps what policies written before directions
//! existed meant: destination, allowlist, discovery and rate rules were always about the calls a
//! workload makes.
use serde::Deserialize;

use crate::protocols::CallDirection;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    Outbound,
    Inbound,
    Both,
}

impl Directions {
    pub fn includes(self, direction: CallDirection) -> bool {
        matches!(
            (self, direction),
            (Directions::Both, _)
                | (Directions::Outbound, CallDirection::Outbound)
                | (Directions::Inbound, CallDirection::Inbound)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Directions::Outbound => "outbound",
            Directions::Inbound => "inbound",
            Directions::Both => "both",
        }
    }
}
