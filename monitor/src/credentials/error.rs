//! Errors raised while building a [`super::Detector`]. Owns the one error type of the module.
//!
//! Scanning itself never fails (hostile input yields fewer findings, not errors), so the only
//! errors are configuration or pattern-compilation problems. None of them can carry request
//! data, so none can leak a credential.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DetectorError {
    /// A built-in pattern failed to compile (a bug in the pattern table, caught by unit tests).
    #[error("credential pattern `{rule}` does not compile")]
    Pattern {
        rule: &'static str,
        #[source]
        source: Box<regex::Error>,
    },
    /// The keyword prefilter could not be built.
    #[error("credential keyword prefilter cannot be built")]
    Prefilter(#[from] aho_corasick::BuildError),
    /// A configured extra header name is empty or not an HTTP token.
    #[error("extra API-key header name {name:?} is not a valid HTTP header name")]
    InvalidHeaderName { name: String },
    /// A configured extra query parameter name is empty or contains separators.
    #[error(
        "extra secret query parameter name {name:?} is empty or contains `&`, `=`, `#` or whitespace"
    )]
    InvalidParameterName { name: String },
}
