//! Sensitive data in transit: payment card numbers, IBANs, US SSNs, e-mail addresses and phone
//! numbers in a request's URL, headers and body sample and in the response's body sample
//! (responses are where data harvesting shows). Reports what is safe to export (kind,
//! location, count; for cards the brand and last four digits), never a value.
//!
//! Layout, one job per file:
//! - [`SensitiveScanner`] (`detector.rs`): routes the parts of an exchange, merges findings;
//! - `scan.rs`: the single pass over one text, and the context of a value (a field named `ssn`);
//! - `card.rs`, `iban.rs`, `ssn.rs`, `email.rs`, `phone.rs`: one kind's rules each;
//! - `checksum.rs`: Luhn and mod-97; `budget.rs`: the per-call scanning budget;
//! - `segment.rs`: whether a URL path segment holds a value (for templates and printed paths);
//! - `kind.rs`: kinds, brands and parts; `finding.rs`: the report; `error.rs`: build errors.
mod budget;
mod card;
mod checksum;
mod detector;
mod email;
mod error;
mod finding;
mod iban;
mod kind;
mod phone;
mod scan;
mod segment;
mod ssn;

#[cfg(test)]
mod labelled_set;
#[cfg(test)]
mod tests;

pub use budget::{Budget, MAX_BYTES_PER_CALL, MAX_CANDIDATES_PER_CALL};
pub use detector::{MAX_BODY_SCAN, ResponseView, SensitiveScanner};
pub use error::SensitiveError;
pub use finding::{
    CardSummary, MAX_CARDS, ScanCuts, SensitiveFinding, SensitiveLocation, SensitiveReport,
    SensitiveSummary,
};
pub use kind::{CardBrand, KindSet, Part, SensitiveKind};
pub(crate) use segment::holds_value as segment_holds_value;
