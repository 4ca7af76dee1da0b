//! The detector's routing and its guarantees: each part of an exchange is read in the right
//! view and reported at the right location, counts add up, cards keep at most brand and last
//! four, names that hold a value are redacted, budgets cut and count, and hostile bytes never
//! panic. The values are made up.
use super::*;
use crate::protocols::{Headers, RequestView};

const CARD: &str = "4539578763621486";
const EMAIL: &str = "ada.lovelace@example.com";

fn headers(fields: &[(&str, &str)]) -> Headers {
    let mut h = Headers::with_capacity(fields.len(), 128);
    for (n, v) in fields {
        h.push(n, v.as_bytes());
    }
    h
}

fn scan(
    target: &str,
    request_headers: &[(&str, &str)],
    body: &str,
    response: Option<(&str, &str)>,
) -> SensitiveReport {
    let scanner = SensitiveScanner::new().unwrap();
    let request_headers = headers(request_headers);
    let view = RequestView {
        headers: &request_headers,
        target,
        host: Some("api.example.com"),
        body_sample: body.as_bytes(),
    };
    let response_headers = response.map(|(ct, _)| headers(&[("Content-Type", ct)]));
    let response = response
        .zip(response_headers.as_ref())
        .map(|((_, b), h)| ResponseView {
            headers: h,
            body_sample: b.as_bytes(),
        });
    scanner.scan(view, response, KindSet::all())
}

fn find(report: &SensitiveReport, kind: SensitiveKind) -> &SensitiveFinding {
    report
        .findings
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {report:?}"))
}

#[test]
fn every_part_is_read_and_located() {
    let report = scan(
        &format!("/v1/cards/{CARD}?contact=ada.lovelace%40example.com&page=2"),
        &[
            ("X-Customer-Phone", "+44 20 7946 0958"),
            ("Authorization", "Bearer 4539578763621486"),
        ],
        "name=Ada&ssn=123456789&iban=DE89370400440532013000",
        Some((
            "application/json",
            r#"{"users":[{"email":"a@example.org","phone":"(415) 555-2671"},{"email":"b@example.org"}]}"#,
        )),
    );
    let card = find(&report, SensitiveKind::Card);
    assert_eq!(card.location, SensitiveLocation::Path);
    assert_eq!(card.count, 1, "the Authorization header is not scanned");
    assert_eq!(
        card.cards,
        vec![CardSummary {
            brand: CardBrand::Visa,
            last4: "1486".into()
        }]
    );
    let emails: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == SensitiveKind::Email)
        .collect();
    assert_eq!(emails.len(), 2);
    assert_eq!(
        emails[0].location,
        SensitiveLocation::Query {
            parameter: "contact".into()
        }
    );
    assert_eq!(emails[1].location, SensitiveLocation::ResponseBody);
    assert_eq!(emails[1].count, 2);
    assert_eq!(report.count(SensitiveKind::Phone, Part::Request), 1);
    assert_eq!(report.count(SensitiveKind::Phone, Part::Response), 1);
    assert_eq!(
        find(&report, SensitiveKind::Phone).location,
        SensitiveLocation::Header {
            name: "x-customer-phone".into()
        }
    );
    assert_eq!(
        find(&report, SensitiveKind::UsSsn).location,
        SensitiveLocation::RequestBody
    );
    assert_eq!(
        find(&report, SensitiveKind::Iban).location,
        SensitiveLocation::RequestBody
    );
    assert_eq!(report.cuts, ScanCuts::default());
    let summary = report.summary();
    assert!(summary.contains(&SensitiveSummary {
        kind: SensitiveKind::Email,
        part: Part::Response,
        count: 2
    }));
}

#[test]
fn nothing_exported_holds_a_value() {
    let report = scan(
        &format!("/pay?{EMAIL}&card={CARD}"),
        &[],
        &format!(r#"{{"card":"{CARD}","email":"ada\u0040example.com"}}"#),
        None,
    );
    assert_eq!(report.count(SensitiveKind::Card, Part::Request), 2);
    // The JSON escape was undone.
    assert_eq!(report.count(SensitiveKind::Email, Part::Request), 2);
    // `?ada.lovelace@example.com` with no `=`: the address is the parameter's name.
    let json = serde_json::to_string(&report.findings).unwrap();
    let debug = format!("{report:?}");
    for text in [&json, &debug] {
        assert!(!text.contains(CARD) && !text.contains("453957"), "{text}");
        assert!(
            !text.contains("lovelace") && !text.contains("ada@"),
            "{text}"
        );
    }
    assert!(json.contains("<redacted>"), "{json}");
    assert!(json.contains(r#""last4":"1486""#), "{json}");
}

#[test]
fn benign_bodies_find_nothing() {
    let body = r#"{"id":"3f2b8c1e-9a4d-4b7e-8f6a-2c1d0e9b8a7f","created":"2024-05-01T12:00:00.123+02:00","ts":1716000000123,"price":"1299.99","isbn":"978-3-16-148410-0","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","version":"10.0.19045.2965","tracking":"1Z999AA10123456784","ip":"192.168.100.200","order":"ORD-2024-004211","n":4539578763621487,"avatar":"me@2x.png","pkg":"lodash@4.17.21","repo":"https://deploy:token@git.example.com/x"}"#;
    let report = scan(
        "/v1/orders/1234567890?page=2&since=2024-05-01",
        &[("X-Request-Id", "4539578763621486")],
        body,
        Some(("application/json", body)),
    );
    assert!(report.is_empty(), "{report:?}");
}

#[test]
fn kinds_not_asked_for_are_not_reported() {
    let scanner = SensitiveScanner::new().unwrap();
    let only_email = KindSet::EMPTY.with(SensitiveKind::Email);
    let text = format!("{CARD} {EMAIL}");
    assert_eq!(
        scanner.scan_text(text.as_bytes(), None, only_email),
        vec![SensitiveKind::Email]
    );
    assert!(
        scanner
            .scan_text(text.as_bytes(), None, KindSet::EMPTY)
            .is_empty()
    );
}

#[test]
fn budgets_cut_and_count() {
    let scanner = SensitiveScanner::new().unwrap();
    let body = format!("{EMAIL} ").repeat(100);
    let h = headers(&[]);
    let view = RequestView {
        headers: &h,
        target: "/",
        host: None,
        body_sample: body.as_bytes(),
    };
    let report = scanner.scan_with(view, None, KindSet::all(), Budget::new(1 << 20, 10));
    assert_eq!(report.count(SensitiveKind::Email, Part::Request), 10);
    assert_eq!(report.cuts.candidates, 1);
    let report = scanner.scan_with(
        view,
        None,
        KindSet::all(),
        Budget::new(EMAIL.len() * 3 + 3, 100),
    );
    assert_eq!(report.count(SensitiveKind::Email, Part::Request), 3);
    assert_eq!(report.cuts.bytes, 1);
    // Many distinct locations: the findings beyond the bound are counted, not kept.
    let target: String = format!(
        "/?{}",
        (0..40)
            .map(|i| format!("p{i}={EMAIL}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let view = RequestView {
        headers: &h,
        target: &target,
        host: None,
        body_sample: b"",
    };
    let report = scanner.scan(view, None, KindSet::all());
    assert_eq!(report.findings.len(), 32);
    assert_eq!(report.cuts.findings, 8);
}

#[test]
fn hostile_bytes_never_panic() {
    let scanner = SensitiveScanner::new().unwrap();
    let mut seed = 0x1234_5678_u64;
    let alphabet = b"0123456789 -.+()@AZaz_\\\"{}[]:,=&%\xff\x00";
    for len in 0..600 {
        let text: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect();
        let _ = scanner.scan_text(&text, Some(b"phone"), KindSet::all());
        let _ = scanner.scan_text(&text, Some(b"ssn"), KindSet::all());
        let h = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let target = String::from_utf8_lossy(&text).into_owned();
        let view = RequestView {
            headers: &h,
            target: &target,
            host: None,
            body_sample: &text,
        };
        let _ = scanner.scan(view, None, KindSet::all());
    }
    for edge in [
        &b"+"[..],
        b"(",
        b"@",
        b"DE",
        b"DE89",
        b"1",
        b"123-45-",
        b"+1 (",
        b"x@y.",
    ] {
        let _ = scanner.scan_text(edge, None, KindSet::all());
    }
}

#[test]
fn compressed_bodies_are_read_as_the_receiver_reads_them() {
    use std::io::Write as _;
    let body = format!(r#"{{"users":[{{"email":"{EMAIL}"}}]}}"#);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let scanner = SensitiveScanner::new().unwrap();
    let request_headers = headers(&[]);
    let mut response_headers = headers(&[("Content-Type", "application/json")]);
    response_headers.push("Content-Encoding", b"gzip");
    let view = RequestView {
        headers: &request_headers,
        target: "/v1/users",
        host: None,
        body_sample: b"",
    };
    let response = ResponseView {
        headers: &response_headers,
        body_sample: &compressed,
    };
    let report = scanner.scan(view, Some(response), KindSet::all());
    assert_eq!(
        report.count(SensitiveKind::Email, Part::Response),
        1,
        "{report:?}"
    );
}

#[test]
fn parts_longer_than_their_bound_are_counted_cuts() {
    let long_body = format!("{} {EMAIL}", "x".repeat(MAX_BODY_SCAN));
    let report = scan("/", &[], &long_body, None);
    assert_eq!(report.count(SensitiveKind::Email, Part::Request), 0);
    assert_eq!(report.cuts.bytes, 1);
    let long_header = "y".repeat(9000);
    let report = scan("/", &[("X-Note", long_header.as_str())], "", None);
    assert_eq!(report.cuts.bytes, 1);
    assert_eq!(scan("/", &[], "short", None).cuts, ScanCuts::default());
}

#[test]
fn bodies_are_read_by_their_media_type_whatever_its_case() {
    let in_response_body = |content_type: &str| {
        let report = scan("/", &[], "", Some((content_type, EMAIL)));
        report.findings.iter().any(|f| {
            f.kind == SensitiveKind::Email && f.location == SensitiveLocation::ResponseBody
        })
    };
    for binary in [
        "IMAGE/PNG",
        "Application/PDF",
        " audio/ogg",
        "application/octet-stream",
    ] {
        assert!(!in_response_body(binary), "{binary}: not text, not read");
    }
    for text in [
        "application/json; charset=utf-8",
        "TEXT/plain",
        "application/problem+json",
    ] {
        assert!(in_response_body(text), "{text}: read");
    }
    // A form is decoded before it is read: `%40` is the `@` only a form reading sees.
    let form = |content_type: &str| {
        let report = scan(
            "/",
            &[("Content-Type", content_type)],
            "contact=ada.lovelace%40example.com",
            None,
        );
        report
            .findings
            .iter()
            .any(|f| f.kind == SensitiveKind::Email)
    };
    assert!(form("Application/X-WWW-Form-URLEncoded; charset=utf-8"));
    assert!(!form("text/plain"), "a text body is read as it is");
}
