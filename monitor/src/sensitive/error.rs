//! Errors of building the sensitive-data scanner. Scanning itself never fails: hostile input
//! gives no finding (or a counted budget cut), not an error.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SensitiveError {
    /// A built-in pattern did not compile: a build defect, reported instead of panicking.
    #[error("the built-in sensitive-data pattern `{name}` does not compile")]
    Pattern {
        name: &'static str,
        #[source]
        source: Box<aho_corasick::BuildError>,
    },
}
