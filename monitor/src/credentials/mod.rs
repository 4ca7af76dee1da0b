//! Credentials in transit: finds them in a request's headers, URL and body sample, and describes
//! each as a [`Finding`] that is safe to export (kind, location, length, public prefix, keyed
//! fingerprint; never the credential).
//!
//! Layout, one job per file:
//! - [`Detector`] (`detector.rs`): routes the parts of a request, deduplicates, exports.
//! - `scanner.rs`: the single keyword-prefiltered pass over a text.
//! - `patterns.rs`: the table of documented token formats.
//! - `generic.rs`: `secret = value` assignments; `entropy.rs`: is a value random enough.
//! - `headers.rs`: `Authorization`, API-key headers, cookies; `query.rs`: URLs and forms;
//!   `body.rs`: body views; `jwt.rs`: JWT facts; `fingerprint.rs`: keyed fingerprints;
//!   `recent.rs`: the bounded memories of recent results (fingerprints, header fields).
mod body;
mod candidate;
mod detector;
mod entropy;
mod error;
mod finding;
mod fingerprint;
mod generic;
mod headers;
mod jwt;
mod patterns;
mod query;
mod recent;
mod scanner;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod framing_tests;
#[cfg(test)]
mod memo_tests;
#[cfg(test)]
mod tests;

pub use body::{BodyDecoding, DecodeOutcome};
/// The body and URL helpers, also read by the sensitive-data detectors (`crate::sensitive`),
/// which scan the same views of a request and a response.
pub(crate) use body::{decode as decode_body, json_unescape};
pub use detector::{Detector, DetectorSettings};
pub use error::DetectorError;
pub use finding::{CredentialKind, Finding, JwtFacts, Location};
pub use fingerprint::Fingerprinter;
/// The header and cookie vocabularies, also read by the API inventory to name auth schemes.
pub(crate) use headers::{API_KEY_HEADERS, is_session_cookie};
pub(crate) use query::{pairs as form_pairs, percent_decode, split_target as split_url_target};
