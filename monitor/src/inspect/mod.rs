//! Inspection: runs every check on each completed API call and turns what breaks into alerts.
//!
//! For one call: the credential detectors scan the request (the findings become the call's
//! audit trail); the policy judges destination, transport and credentials for the call's
//! direction; the rate limiter counts the call under every rate rule that applies; 401/403
//! bursts are counted per caller × endpoint and per credential; credential owners notice a key
//! used by a second workload; the inventory notices a destination this workload never called
//! before. When both ends of the exchange run here, the linker lets only the first view raise
//! each alert. Each resulting alert goes through suppression, so a repeated problem costs a line
//! per window plus a count.
mod auth_failures;
mod context;
mod credential_owners;
mod destination;
#[cfg(test)]
mod direction_tests;
mod inspector;
mod key;
mod linker;

pub use destination::{Authority, split_host_port};
pub use inspector::{InspectError, Inspector};
pub use key::{KeyError, load_or_create_key};

#[cfg(test)]
mod sensitive_tests;
#[cfg(test)]
mod tests;
