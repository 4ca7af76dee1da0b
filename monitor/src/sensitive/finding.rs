//! What the detectors report about one exchange, in a form safe to export: per kind and
//! location, how many values; for cards the brand and last four digits at most. Never a value:
//! a parameter or header name that itself looks like data is replaced by `<redacted>`.
use serde::Serialize;

use super::kind::{CardBrand, Part, SensitiveKind};

/// Where in the exchange the values were.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum SensitiveLocation {
    /// The request path (percent-decoded).
    Path,
    /// A query parameter's (decoded) value.
    Query {
        parameter: String,
    },
    /// A request header's value.
    Header {
        name: String,
    },
    RequestBody,
    ResponseBody,
}

impl SensitiveLocation {
    /// The metric label: a fixed set.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query { .. } => "query",
            Self::Header { .. } => "header",
            Self::RequestBody => "request_body",
            Self::ResponseBody => "response_body",
        }
    }

    pub fn part(&self) -> Part {
        match self {
            Self::ResponseBody => Part::Response,
            _ => Part::Request,
        }
    }

    /// In the URL: logged by every proxy and server on the way.
    pub fn is_in_url(&self) -> bool {
        matches!(self, Self::Path | Self::Query { .. })
    }
}

/// A card as a finding may show it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CardSummary {
    pub brand: CardBrand,
    pub last4: String,
}

/// Values of one kind at one location of one exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SensitiveFinding {
    pub kind: SensitiveKind,
    pub location: SensitiveLocation,
    pub count: u32,
    /// Cards only: brand and last four of the distinct cards (at most [`MAX_CARDS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<CardSummary>,
}

/// Distinct cards described per finding.
pub const MAX_CARDS: usize = 4;

/// Scanning work that was cut short, for the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanCuts {
    /// Parts (or their tails) not scanned because the byte budget ran out.
    pub bytes: u32,
    /// Exchanges whose candidate budget ran out.
    pub candidates: u32,
    /// Values found but not reported because the exchange had too many findings already.
    pub findings: u32,
}

/// Everything found in one exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SensitiveReport {
    pub findings: Vec<SensitiveFinding>,
    pub cuts: ScanCuts,
}

impl SensitiveReport {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    /// Values of `kind` in `part`.
    pub fn count(&self, kind: SensitiveKind, part: Part) -> u32 {
        self.findings
            .iter()
            .filter(|f| f.kind == kind && f.location.part() == part)
            .map(|f| f.count)
            .sum()
    }
}

/// The API call's summary: kinds and counts per part, nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SensitiveSummary {
    pub kind: SensitiveKind,
    pub part: Part,
    pub count: u32,
}

impl SensitiveReport {
    pub fn summary(&self) -> Vec<SensitiveSummary> {
        let mut out: Vec<SensitiveSummary> = Vec::new();
        for f in &self.findings {
            let part = f.location.part();
            match out.iter_mut().find(|s| s.kind == f.kind && s.part == part) {
                Some(s) => s.count = s.count.saturating_add(f.count),
                None => out.push(SensitiveSummary {
                    kind: f.kind,
                    part,
                    count: f.count,
                }),
            }
        }
        out
    }
}
