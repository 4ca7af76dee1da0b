//! The public entry point: [`SensitiveScanner::scan`] walks one exchange (request target and
//! headers, request body sample, response body sample), picks the view of each part to scan
//! (decoded query values and form fields with their names as context, JSON with its escapes
//! undone), spends the per-call budget, and merges hits into [`SensitiveFinding`]s per kind
//! and location. Knows nothing about individual formats (`scan.rs` and the kind files do).
use super::{
    budget::Budget,
    error::SensitiveError,
    finding::{
        CardSummary, MAX_CARDS, ScanCuts, SensitiveFinding, SensitiveLocation, SensitiveReport,
    },
    kind::{KindSet, SensitiveKind},
    scan::{Hit, TextScanner},
};
use crate::{
    ascii_case::str_eq_lowercase,
    credentials::{decode_body, form_pairs, json_unescape, percent_decode, split_url_target},
    protocols::{Headers, NameSet, RequestView},
};

/// Most headers examined per request.
const MAX_HEADERS: usize = 128;
/// Longest target or header value examined.
const MAX_FIELD: usize = 8 * 1024;
/// Longest body sample examined (each of request and response).
pub const MAX_BODY_SCAN: usize = 16 * 1024;
/// Most findings (kind x location) per exchange.
const MAX_FINDINGS: usize = 32;
/// Longest parameter or header name copied into a location.
const MAX_NAME: usize = 64;

/// Headers whose values are not data a person typed: protocol fields, credentials (the
/// credential detectors own those), tracing ids, dates, digests. Lower-case.
const SKIPPED_HEADERS: &[&str] = &[
    ":authority",
    ":method",
    ":path",
    ":scheme",
    ":status",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "digest",
    "etag",
    "expires",
    "grpc-accept-encoding",
    "grpc-encoding",
    "grpc-timeout",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "keep-alive",
    "last-modified",
    "pragma",
    "proxy-authorization",
    "range",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "upgrade-insecure-requests",
    "user-agent",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amzn-trace-id",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-spanid",
    "x-b3-traceid",
    "x-correlation-id",
    "x-request-id",
];

/// The body views handled differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    Form,
    /// Images, audio, video, archives: no text to read.
    Binary,
    Text,
}

const FORM: &[u8] = b"application/x-www-form-urlencoded";
/// Media types with no text to read.
const BINARY: [&[u8]; 8] = [
    b"image/",
    b"audio/",
    b"video/",
    b"font/",
    b"application/octet-stream",
    b"application/zip",
    b"application/gzip",
    b"application/pdf",
];
/// The longest prefix: as much of a media type as `body_kind` needs to look at.
const LONGEST_PREFIX: usize = {
    let mut longest = FORM.len();
    let mut i = 0;
    while i < BINARY.len() {
        if BINARY[i].len() > longest {
            longest = BINARY[i].len();
        }
        i += 1;
    }
    longest
};

fn body_kind(content_type: Option<&[u8]>) -> BodyKind {
    let Some(ct) = content_type else {
        return BodyKind::Text;
    };
    // The media type lower-cased once, as far as the longest prefix: each prefix is then a plain
    // comparison instead of a case-folding one.
    let ct = ct.trim_ascii();
    let mut lower = [0u8; LONGEST_PREFIX];
    let n = ct.len().min(LONGEST_PREFIX);
    lower[..n].copy_from_slice(&ct[..n]);
    lower[..n].make_ascii_lowercase();
    let ct = &lower[..n];
    if ct.starts_with(FORM) {
        BodyKind::Form
    } else if BINARY.iter().any(|prefix| ct.starts_with(prefix)) {
        BodyKind::Binary
    } else {
        BodyKind::Text
    }
}

fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| str_eq_lowercase(h.name, name))
        .map(|h| h.value)
}

fn content_type(headers: &Headers) -> Option<&[u8]> {
    header(headers, "content-type")
}

/// What the scanner reads of a response: its headers (for the content type) and body sample.
#[derive(Clone, Copy, Debug)]
pub struct ResponseView<'a> {
    pub headers: &'a Headers,
    pub body_sample: &'a [u8],
}

/// Finds sensitive data in exchanges. Built once; `Send + Sync`.
pub struct SensitiveScanner {
    text: TextScanner,
    /// `SKIPPED_HEADERS`, bucketed by length: checked for every header of every call.
    skipped_headers: NameSet,
}

impl std::fmt::Debug for SensitiveScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensitiveScanner").finish_non_exhaustive()
    }
}

impl SensitiveScanner {
    pub fn new() -> Result<Self, SensitiveError> {
        Ok(Self {
            text: TextScanner::new()?,
            skipped_headers: NameSet::new(SKIPPED_HEADERS.iter().copied()),
        })
    }

    /// Every value of `kinds` in the exchange, within the default per-call budget.
    pub fn scan(
        &self,
        request: RequestView<'_>,
        response: Option<ResponseView<'_>>,
        kinds: KindSet,
    ) -> SensitiveReport {
        self.scan_with(request, response, kinds, Budget::default())
    }

    /// Same, within `budget`.
    pub fn scan_with(
        &self,
        request: RequestView<'_>,
        response: Option<ResponseView<'_>>,
        kinds: KindSet,
        budget: Budget,
    ) -> SensitiveReport {
        let mut acc = Accumulator {
            scanner: self,
            findings: Vec::new(),
            dropped: 0,
            budget,
        };
        if kinds.is_empty() {
            return SensitiveReport::default();
        }
        self.target(request.target.as_bytes(), kinds, &mut acc);
        for header in request.headers.iter().take(MAX_HEADERS) {
            if self.skipped_headers.contains(header.name) {
                continue;
            }
            let value = acc.cap(header.value, MAX_FIELD);
            acc.scan(value, header.name.as_bytes(), kinds, || {
                SensitiveLocation::Header {
                    name: safe_name(self, header.name.as_bytes()),
                }
            });
        }
        self.body(
            request.body_sample,
            request.headers,
            kinds,
            || SensitiveLocation::RequestBody,
            &mut acc,
        );
        if let Some(response) = response {
            self.body(
                response.body_sample,
                response.headers,
                kinds,
                || SensitiveLocation::ResponseBody,
                &mut acc,
            );
        }
        acc.finish()
    }

    /// Values of `kinds` in one text (a field whose name is `name`, if any), with the
    /// default budget: what the labelled-set measurement and the fuzz target call.
    pub fn scan_text(
        &self,
        text: &[u8],
        name: Option<&[u8]>,
        kinds: KindSet,
    ) -> Vec<SensitiveKind> {
        let mut budget = Budget::default();
        let text = budget.take_bytes(text);
        let context = name.unwrap_or_default();
        let mut out = Vec::new();
        self.text
            .scan(text, context, kinds, &mut budget, &mut |hit| {
                out.push(hit.kind)
            });
        out
    }

    fn target(&self, target: &[u8], kinds: KindSet, acc: &mut Accumulator<'_>) {
        let target = acc.cap(target, MAX_FIELD);
        let (path, query) = split_url_target(target);
        let path = percent_decode(path, false);
        acc.scan(&path, b"", kinds, || SensitiveLocation::Path);
        if let Some(query) = query {
            for (name, value) in form_pairs(query) {
                // `?ada@example.com` (no `=`): the value is all there is, in the name.
                let (text, context) = if value.is_empty() {
                    (&name, &b""[..])
                } else {
                    (&value, &name[..])
                };
                acc.scan(text, context, kinds, || SensitiveLocation::Query {
                    parameter: safe_name(self, &name),
                });
            }
        }
    }

    fn body(
        &self,
        sample: &[u8],
        headers: &Headers,
        kinds: KindSet,
        location: impl Fn() -> SensitiveLocation + Copy,
        acc: &mut Accumulator<'_>,
    ) {
        // An empty sample (most requests) first: no header lookups for it.
        if sample.is_empty() {
            return;
        }
        let kind = body_kind(content_type(headers));
        if kind == BodyKind::Binary {
            return;
        }
        // A gzip or deflate body is read as the receiver reads it (the credential detectors'
        // bounded decoder: it allocates only for an encoded body).
        let (decoded, _) = decode_body(sample, header(headers, "content-encoding"));
        let sample = acc.cap(&decoded, MAX_BODY_SCAN);
        match kind {
            BodyKind::Binary => {}
            BodyKind::Form => {
                for (name, value) in form_pairs(sample) {
                    acc.scan(&value, &name, kinds, location);
                }
            }
            BodyKind::Text => {
                let first = sample.iter().find(|b| !b.is_ascii_whitespace());
                // JSON escapes hide values (`\u0040` is `@`): undone only when there are any.
                if matches!(first, Some(b'{' | b'[')) && memchr::memchr(b'\\', sample).is_some() {
                    let view = json_unescape(sample);
                    acc.scan(&view, b"", kinds, location);
                } else {
                    acc.scan(sample, b"", kinds, location);
                }
            }
        }
    }
}

/// A parameter or header name fit for export: short, plain, and holding no value itself
/// (`?jane@example.com` with no `=` puts the address in the name).
fn safe_name(scanner: &SensitiveScanner, name: &[u8]) -> String {
    let plain = name
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'));
    let holds_value = !scanner.scan_text(name, None, KindSet::all()).is_empty()
        || name.iter().filter(|b| b.is_ascii_digit()).count() >= 6;
    if name.is_empty() || name.len() > MAX_NAME || !plain || holds_value {
        return "<redacted>".to_owned();
    }
    String::from_utf8_lossy(name).to_ascii_lowercase()
}

/// Merges hits into findings, one per kind and location. Findings are few (nearly always none),
/// so a linear search beats a map, and nothing is allocated until something is found.
struct Accumulator<'a> {
    scanner: &'a SensitiveScanner,
    findings: Vec<SensitiveFinding>,
    dropped: u32,
    budget: Budget,
}

impl Accumulator<'_> {
    /// The first `max` bytes of one part; a longer part's tail is a counted cut.
    fn cap<'t>(&mut self, text: &'t [u8], max: usize) -> &'t [u8] {
        if text.len() > max {
            self.budget.bytes_cut = self.budget.bytes_cut.saturating_add(1);
            &text[..max]
        } else {
            text
        }
    }

    fn scan(
        &mut self,
        text: &[u8],
        field: &[u8],
        kinds: KindSet,
        location: impl Fn() -> SensitiveLocation,
    ) {
        let text = self.budget.take_bytes(text);
        if text.is_empty() {
            return;
        }
        // Hits are collected on the stack first: the location (which may copy a name) is made
        // once per part, and only when something was found.
        let mut hits: [Option<Hit>; 16] = [None; 16];
        let mut overflow: Vec<Hit> = Vec::new();
        let mut n = 0;
        self.scanner
            .text
            .scan(text, field, kinds, &mut self.budget, &mut |hit| {
                if n < hits.len() {
                    hits[n] = Some(hit);
                    n += 1;
                } else {
                    overflow.push(hit);
                }
            });
        if n == 0 {
            return;
        }
        let location = location();
        for hit in hits.iter().flatten().chain(&overflow) {
            self.add(*hit, &location);
        }
    }

    fn add(&mut self, hit: Hit, location: &SensitiveLocation) {
        let i = match self
            .findings
            .iter()
            .position(|f| f.kind == hit.kind && f.location == *location)
        {
            Some(i) => i,
            None if self.findings.len() < MAX_FINDINGS => {
                self.findings.push(SensitiveFinding {
                    kind: hit.kind,
                    location: location.clone(),
                    count: 0,
                    cards: Vec::new(),
                });
                self.findings.len() - 1
            }
            None => {
                self.dropped = self.dropped.saturating_add(1);
                return;
            }
        };
        let finding = &mut self.findings[i];
        finding.count = finding.count.saturating_add(1);
        if let Some(card) = hit.card {
            let last4 = String::from_utf8_lossy(&card.last4).into_owned();
            let known = finding
                .cards
                .iter()
                .any(|c| c.brand == card.brand && c.last4 == last4);
            if !known && finding.cards.len() < MAX_CARDS {
                finding.cards.push(CardSummary {
                    brand: card.brand,
                    last4,
                });
            }
        }
    }

    fn finish(self) -> SensitiveReport {
        SensitiveReport {
            findings: self.findings,
            cuts: ScanCuts {
                bytes: self.budget.bytes_cut,
                candidates: self.budget.candidates_cut,
                findings: self.dropped,
            },
        }
    }
}
