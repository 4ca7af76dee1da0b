//! Drives the sensitive-data detectors (`monitor::sensitive::SensitiveScanner`) with arbitrary
//! bytes in every position an exchange offers: a request header value (under a chosen name),
//! the request target, the request body sample and the response body sample (each with a
//! chosen content type), and one text alone through `scan_text` under a chosen field name.
//!
//! Input layout:
//!   byte 0: header name (index into `HEADER_NAMES`, else `x-fuzz-N`);
//!   byte 1: bits 0-1 request content type, bits 2-3 response content type (none, form, JSON,
//!           text), bit 4 no response;
//!   byte 2: bit set of the kinds asked for (all when 0);
//!   rest: header value, `SECTION`, target, `SECTION`, request body, `SECTION`, response body.
//!
//! Invariants, beyond "no panic":
//! - only kinds asked for are reported; at most 32 findings, each with a count of at least 1;
//! - a finding's part matches its location, cards carry at most 4 summaries (brand and four
//!   ASCII digits) and no other kind carries any;
//! - header locations name the fuzzed header (lower-cased); a parameter name is `<redacted>` or
//!   short, plain and itself free of any value (it is exported);
//! - the serialized findings never contain 12 or more digits in a row (no card number);
//! - scanning is deterministic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use monitor::{
    protocols::{Headers, RequestView},
    sensitive::{
        KindSet, Part, ResponseView, SensitiveKind, SensitiveLocation, SensitiveScanner,
    },
};
use monitor_fuzz::sections;

const HEADER_NAMES: &[&str] = &["X-Customer-Phone", "Cookie", "Referer", "X-Ssn", "Authorization"];
const FIELDS: &[&str] = &["phone", "ssn", "email", "note", "mobile_number"];
const CONTENT_TYPES: &[Option<&[u8]>] = &[
    None,
    Some(b"application/x-www-form-urlencoded"),
    Some(b"application/json"),
    Some(b"text/plain"),
];

fn scanner() -> &'static SensitiveScanner {
    static SCANNER: OnceLock<SensitiveScanner> = OnceLock::new();
    SCANNER.get_or_init(|| SensitiveScanner::new().expect("the built-in patterns compile"))
}

fn headers(name: Option<(&str, &[u8])>, content_type: Option<&[u8]>) -> Headers {
    let mut h = Headers::with_capacity(2, 64);
    if let Some((name, value)) = name {
        h.push(name, value);
    }
    if let Some(ct) = content_type {
        h.push("Content-Type", ct);
    }
    h
}

fn longest_digit_run(text: &str) -> usize {
    text.as_bytes()
        .split(|b| !b.is_ascii_digit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let [name, flags, kinds, rest @ ..] = data else {
        return;
    };
    let parts = sections(rest, 4);
    let (value, target, request_body, response_body) = (parts[0], parts[1], parts[2], parts[3]);
    let header_name = HEADER_NAMES
        .get(usize::from(*name))
        .map_or_else(|| format!("x-fuzz-{name}"), |n| (*n).to_owned());
    let kinds: KindSet = if *kinds & 0x1f == 0 {
        KindSet::all()
    } else {
        SensitiveKind::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| kinds & (1 << i) != 0)
            .map(|(_, k)| k)
            .collect()
    };
    let request_headers = headers(
        Some((&header_name, value)),
        CONTENT_TYPES[usize::from(flags & 3)],
    );
    let response_headers = headers(None, CONTENT_TYPES[usize::from((flags >> 2) & 3)]);
    let target = String::from_utf8_lossy(target).into_owned();
    let request = RequestView {
        headers: &request_headers,
        target: &target,
        host: Some("api.example.com"),
        body_sample: request_body,
    };
    let response = (flags & 16 == 0).then_some(ResponseView {
        headers: &response_headers,
        body_sample: response_body,
    });
    let s = scanner();
    let report = s.scan(request, response, kinds);
    assert!(report.findings.len() <= 32, "{} findings", report.findings.len());
    for f in &report.findings {
        assert!(kinds.contains(f.kind), "{:?} was not asked for", f.kind);
        assert!(f.count >= 1);
        assert!(response.is_some() || f.location.part() == Part::Request);
        if f.kind == SensitiveKind::Card {
            assert!(f.cards.len() <= 4);
            for c in &f.cards {
                assert!(c.last4.len() == 4 && c.last4.bytes().all(|b| b.is_ascii_digit()));
            }
        } else {
            assert!(f.cards.is_empty());
        }
        match &f.location {
            SensitiveLocation::Header { name } => {
                assert_eq!(name, &header_name.to_ascii_lowercase());
            }
            SensitiveLocation::Query { parameter } if parameter != "<redacted>" => {
                assert!(parameter.len() <= 64 && parameter.bytes().all(|b| b.is_ascii_graphic()));
                assert!(
                    s.scan_text(parameter.as_bytes(), None, KindSet::all()).is_empty(),
                    "an exported parameter name holds a value"
                );
            }
            _ => {}
        }
    }
    let exported = format!("{:?}", report.findings);
    assert!(longest_digit_run(&exported) < 12, "digits exported: {exported}");
    assert_eq!(report, s.scan(request, response, kinds), "not deterministic");

    let field = FIELDS[usize::from(*name) % FIELDS.len()];
    let found = s.scan_text(value, Some(field.as_bytes()), kinds);
    assert!(found.iter().all(|k| kinds.contains(*k)));
});
