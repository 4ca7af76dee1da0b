//! The header memo ([`Detector`] remembers what it found in recent header fields) must be
//! invisible in what the detector reports: a remembered field yields exactly what scanning it
//! yields, under the header it was seen under, and what depends on the time is judged at each
//! call.
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::tests::{ScanHead as _, detector, request};
use super::{CredentialKind as K, Detector, Finding, Location};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpora/secrets-dev.jsonl"
);
const NOW: u64 = 1_750_000_000;

fn scan(detector: &Detector, headers: &[(&str, &str)], now: u64) -> Vec<Finding> {
    detector.scan_head(&request("/v1/echo", headers), b"", now)
}

/// Every text of the labelled corpus, as a header field value (line breaks folded).
fn corpus_values() -> Vec<String> {
    std::fs::read_to_string(CORPUS)
        .expect("the shared corpus (see shared/corpora/README)")
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
            row["text"]
                .as_str()
                .expect("a text")
                .replace(['\r', '\n'], " ")
        })
        .collect()
}

#[test]
fn a_remembered_field_reports_what_scanning_it_reports() {
    let detector = detector();
    let values = corpus_values();
    assert!(values.len() > 1000, "{} corpus rows", values.len());
    let mut found = 0;
    for (name, wrap) in [
        ("X-Debug", ""),
        ("Authorization", "Bearer "),
        ("X-Api-Key", ""),
        ("Cookie", "session="),
    ] {
        for text in &values {
            let value = format!("{wrap}{text}");
            let before = detector.remembered_header_fields();
            let first = scan(&detector, &[(name, &value)], NOW);
            let again = scan(&detector, &[(name, &value)], NOW);
            // Scanned without the memo: `scan_text` routes a header value the same way.
            let location = Location::Header {
                name: name.to_ascii_lowercase().into(),
            };
            let unremembered = detector.scan_text(value.as_bytes(), location, NOW);
            assert_eq!(first, again, "{name}: {text}");
            assert_eq!(first, unremembered, "{name}: {text}");
            let remembered = detector.remembered_header_fields();
            let jwt = first.iter().any(|f| f.jwt.is_some());
            // A new field is remembered (unless its set was full: the count then stays), and
            // one with a JWT's facts never is.
            assert!(remembered >= before, "{name}");
            if jwt {
                assert_eq!(remembered, before, "{name}: a JWT remembered");
            }
            found += usize::from(!first.is_empty());
        }
    }
    assert!(found > 1000, "{found} fields with findings");
    assert!(detector.remembered_header_fields() > 1000);
}

#[test]
fn a_jwt_is_judged_at_each_call() {
    let detector = detector();
    let claims = format!(r#"{{"sub":"svc","exp":{}}}"#, NOW + 10);
    let token = format!(
        "{}.{}.c2lnbmF0dXJlLWJ5dGVz",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let value = format!("Bearer {token}");
    let field = [("Authorization", value.as_str())];
    let expired = |findings: Vec<Finding>| {
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].kind, K::Jwt);
        findings[0].jwt.as_ref().expect("JWT facts").expired
    };
    assert!(!expired(scan(&detector, &field, NOW)));
    assert!(!expired(scan(&detector, &field, NOW + 5)));
    assert!(expired(scan(&detector, &field, NOW + 20)));
}

#[test]
fn a_value_is_remembered_under_its_header_name() {
    let detector = detector();
    // Random enough to be a key where the name says so, and nothing under a neutral name.
    let value = "9f86d081884c7d659a2feaa0c55ad015";
    for _ in 0..3 {
        let keyed = scan(&detector, &[("X-Api-Key", value)], NOW);
        assert_eq!(keyed.len(), 1, "{keyed:?}");
        assert_eq!(keyed[0].kind, K::ApiKeyHeader);
        assert_eq!(
            keyed[0].location,
            Location::Header {
                name: "x-api-key".into()
            }
        );
        assert_eq!(scan(&detector, &[("X-Debug", value)], NOW), vec![]);
    }
}

#[test]
fn remembered_fields_of_different_ranks_report_what_a_fresh_detector_reports() {
    // The same secret under a name that says it is a key (ranked `Named`) and as a bearer
    // token (ranked `Scheme`): together, the bearer token wins; apart, each is its own.
    let warm = detector();
    let key = "9f86d081884c7d659a2feaa0c55ad015";
    let bearer = format!("Bearer {key}");
    let api_key = ("X-Api-Key", key);
    let authorization = ("Authorization", bearer.as_str());
    let requests: [&[(&str, &str)]; 5] = [
        &[api_key, authorization],
        &[authorization, api_key],
        &[api_key],
        &[authorization],
        &[api_key, authorization],
    ];
    for (i, fields) in requests.iter().enumerate() {
        let fresh = scan(&detector(), fields, NOW);
        assert_eq!(fresh.len(), 1, "request {i}: {fresh:?}");
        for round in 0..2 {
            assert_eq!(
                scan(&warm, fields, NOW),
                fresh,
                "request {i}, round {round}"
            );
        }
    }
    let alone = scan(&warm, &[authorization], NOW);
    assert_eq!(alone[0].kind, K::BearerToken);
    assert_eq!(
        alone[0].location,
        Location::Header {
            name: "authorization".into()
        }
    );
    let alone = scan(&warm, &[api_key], NOW);
    assert_eq!(alone[0].kind, K::ApiKeyHeader);
}

#[test]
fn a_field_with_many_findings_is_scanned_each_time_not_remembered() {
    let detector = detector();
    let tokens: Vec<String> = (0..6)
        .map(|i| format!("ghp_{}{i}", "utkkg63zgktutiehcvs4nqf9bmbisxiqzyg"))
        .collect();
    let value = tokens.join(" ");
    let field = [("X-Debug", value.as_str())];
    let first = scan(&detector, &field, NOW);
    assert_eq!(first.len(), 6, "{first:?}");
    assert_eq!(detector.remembered_header_fields(), 0);
    assert_eq!(scan(&detector, &field, NOW), first);
}
