//! Credentials in transit: finds them in a request's headers, URL and body sample, and describes
//! each as a [`Finding`] that is safe to export.
mod finding;

pub use finding::{CredentialKind, Finding, JwtFacts, Location};
