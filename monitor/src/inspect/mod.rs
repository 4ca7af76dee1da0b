//! Inspection: runs every check on each completed API call and turns what breaks into alerts.
//!
//! For one call: the credential detectors scan the request; the policy judges destination,
//! transport and credentials; the rate limiter counts the call under every rate rule that applies;
//! the inventory notices a destination this workload never called before. Each resulting alert
//! goes through suppression, so a repeated problem costs a line per window plus a count.
mod destination;
mod inspector;
mod key;

pub use destination::split_host_port;
pub use inspector::{InspectError, Inspector};
pub use key::{KeyError, load_or_create_key};

#[cfg(test)]
mod tests;
