//! Drives the credential detectors (`monitor::credentials::Detector`) with arbitrary bytes in
//! every position a request offers: a header value (under a name chosen from the ones the
//! detectors route on), the request target (path and query), the body sample (form or not), and
//! each of those alone through `scan_text`.
//!
//! Input layout (seeds: `cargo xtask fuzz` puts labeled secrets in each position):
//!   byte 0: header name (index into `HEADER_NAMES`, else `x-fuzz-N`);
//!   byte 1: bits 0-1 content type (none, form, JSON, text), bit 2 host `hooks.slack.com`;
//!   byte 2: query parameter name for `scan_text` (index into `PARAMETERS`);
//!   rest: header value, `SECTION`, target, `SECTION`, body.
//!
//! Invariants, beyond "no panic":
//! - no finding is longer than the text it was found in (decoding only shrinks; a Slack webhook
//!   path gains the host's 15 bytes), none is empty, at most 64 per request;
//! - fingerprints are 16 lower-case hex digits and distinct within a request (deduplication);
//! - header locations carry the lower-cased header name; a parameter name is either
//!   `<redacted>` or short, printable and itself free of credentials (it is exported);
//! - kinds tied to a position stay there (API-key header, session cookie, query secret);
//! - prefixes are short ASCII markers (`AKIA`, a PEM label); scanning is deterministic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use monitor::{
    credentials::{CredentialKind, Detector, DetectorSettings, Finding, Fingerprinter, Location},
    protocols::{Header, RequestHead},
};
use monitor_fuzz::sections;

const NOW: u64 = 1_750_000_000;
const SLACK_HOST: &str = "hooks.slack.com";
const HEADER_NAMES: &[&str] = &[
    "Authorization",
    "Proxy-Authorization",
    "X-Api-Key",
    "Cookie",
    "Private-Token",
    "X-Amz-Security-Token",
    "User-Agent",
    "X-Custom-Auth",
];
const PARAMETERS: &[&str] = &["api_key", "token", "password", "code", "sig", "page", "q"];
const CONTENT_TYPES: &[Option<&[u8]>] = &[
    None,
    Some(b"application/x-www-form-urlencoded; charset=utf-8"),
    Some(b"application/json"),
    Some(b"text/plain"),
];

fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    // Built once: compiling the patterns costs far more than one scan.
    DETECTOR.get_or_init(|| {
        let settings = DetectorSettings {
            extra_api_key_headers: vec!["x-custom-auth".into()],
            extra_query_parameters: vec!["q".into()],
        };
        Detector::new(&settings, Fingerprinter::new(b"fuzz-key")).expect("valid settings")
    })
}

fn check(findings: &[Finding], max_len: usize, header_name: Option<&str>) {
    assert!(findings.len() <= 64, "{} findings", findings.len());
    let mut seen = std::collections::HashSet::new();
    for f in findings {
        assert!(f.length >= 1, "empty finding");
        assert!(
            f.length <= max_len,
            "{:?} of {} bytes from {max_len} bytes of input",
            f.kind,
            f.length
        );
        assert!(
            f.fingerprint.len() == 16
                && f.fingerprint
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "bad fingerprint"
        );
        assert!(
            seen.insert(f.fingerprint.clone()),
            "same secret reported twice"
        );
        if let Some(prefix) = &f.prefix {
            assert!(
                !prefix.is_empty() && prefix.len() <= 32 && prefix.is_ascii(),
                "prefix {prefix:?}"
            );
        }
        match &f.location {
            Location::Header { name } => {
                let expected = header_name.map(str::to_ascii_lowercase);
                assert_eq!(
                    Some(name.as_ref()),
                    expected.as_deref(),
                    "header location names another header"
                );
            }
            Location::Query { parameter } => {
                if parameter != "<redacted>" {
                    assert!(
                        parameter.len() <= 64 && parameter.bytes().all(|b| b.is_ascii_graphic())
                    );
                    let inner = detector().scan_text(parameter.as_bytes(), Location::Path, NOW);
                    assert!(
                        inner.is_empty(),
                        "an exported parameter name is itself a credential"
                    );
                }
            }
            Location::Path | Location::Body => {}
        }
        match f.kind {
            CredentialKind::ApiKeyHeader => assert!(
                matches!(&f.location, Location::Header { name } if name != "cookie" && name != "authorization"),
                "API-key finding outside an API-key header"
            ),
            CredentialKind::SessionCookie => assert!(
                matches!(&f.location, Location::Header { name } if name == "cookie"),
                "session cookie outside Cookie"
            ),
            CredentialKind::QueryParameterSecret => assert!(
                matches!(f.location, Location::Query { .. } | Location::Body),
                "query secret outside a query or form"
            ),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [name, flags, parameter, rest @ ..] = data else {
        return;
    };
    let parts = sections(rest, 3);
    let (value, target, body) = (parts[0], parts[1], parts[2]);
    let header_name = HEADER_NAMES
        .get(usize::from(*name))
        .map_or_else(|| format!("x-fuzz-{name}"), |n| (*n).to_owned());
    let slack = flags & 4 != 0;
    let mut headers = vec![Header {
        name: header_name.clone(),
        value: value.to_vec(),
    }];
    if let Some(ct) = CONTENT_TYPES[usize::from(flags & 3)] {
        headers.push(Header {
            name: "Content-Type".into(),
            value: ct.to_vec(),
        });
    }
    let head = RequestHead {
        method: "POST".into(),
        target: String::from_utf8_lossy(target).into_owned(),
        version: monitor::protocols::HttpVersion::Http11,
        host: slack.then(|| SLACK_HOST.into()),
        headers: headers.into(),
    };
    let d = detector();

    let found = d.scan(monitor::protocols::RequestView::new(&head, body), NOW);
    let longest = value
        .len()
        .max(head.target.len() + if slack { SLACK_HOST.len() } else { 0 })
        .max(body.len());
    // A finding in the Content-Type header is reported under that name.
    let names_ok = found.iter().all(|f| match &f.location {
        Location::Header { name } => {
            name == &header_name.to_ascii_lowercase() || name == "content-type"
        }
        _ => true,
    });
    assert!(
        names_ok,
        "header location names a header the request does not have"
    );
    let headerless: Vec<Finding> = found
        .iter()
        .filter(|f| !matches!(&f.location, Location::Header { name } if name == "content-type"))
        .cloned()
        .collect();
    check(&headerless, longest, Some(&header_name));
    assert_eq!(
        found,
        d.scan(monitor::protocols::RequestView::new(&head, body), NOW),
        "scanning is not deterministic"
    );

    check(
        &d.scan_text(
            value,
            Location::Header {
                name: header_name.clone().into(),
            },
            NOW,
        ),
        value.len(),
        Some(&header_name),
    );
    let parameter = PARAMETERS[usize::from(*parameter) % PARAMETERS.len()];
    check(
        &d.scan_text(
            value,
            Location::Query {
                parameter: parameter.into(),
            },
            NOW,
        ),
        value.len(),
        None,
    );
    check(
        &d.scan_text(target, Location::Path, NOW),
        target.len(),
        None,
    );
    check(&d.scan_text(body, Location::Body, NOW), body.len(), None);
});
