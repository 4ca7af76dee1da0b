//! Unit tests of the public API, one or more positive and negative cases per kind, plus the
//! properties the rest of the crate relies on: no raw secret in any output, deduplication,
//! specific-over-generic, bounded work on hostile input.
use base64::{
    Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD,
};

use super::{
    CredentialKind as K, Detector, DetectorError, DetectorSettings, Finding, Fingerprinter,
    Location,
};
use crate::protocols::{Header, RequestHead, RequestView};

/// The tests build heads; the detector reads protocol-neutral views of them.
pub(super) trait ScanHead {
    fn scan_head(&self, head: &RequestHead, body: &[u8], now: u64) -> Vec<Finding>;
}

impl ScanHead for Detector {
    fn scan_head(&self, head: &RequestHead, body: &[u8], now: u64) -> Vec<Finding> {
        self.scan(RequestView::new(head, body), now)
    }
}

const NOW: u64 = 1_750_000_000;

pub(super) fn detector() -> Detector {
    Detector::new(
        &DetectorSettings::default(),
        Fingerprinter::new(b"unit-test-key"),
    )
    .unwrap()
}

pub(super) fn request(target: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        target: target.into(),
        version: crate::protocols::HttpVersion::Http11,
        host: Some("api.example.test".into()),
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).into(),
                value: v.as_bytes().to_vec(),
            })
            .collect(),
    }
}

fn header(name: &str, value: &str) -> Vec<Finding> {
    detector().scan_head(&request("/", &[(name, value)]), b"", NOW)
}

fn text(t: &str) -> Vec<Finding> {
    detector().scan_text(t.as_bytes(), Location::Body, NOW)
}

fn kinds(findings: &[Finding]) -> Vec<K> {
    findings.iter().map(|f| f.kind).collect()
}

fn jwt(header_json: &str, claims_json: &str) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJlLWJ5dGVz",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    )
}

// Documented formats, assembled at run time so that no complete token sits in the source.
const AWS: &str = "AKIALALEMEL33243OLIB";
fn github() -> String {
    format!("ghp_{}", "utkkg63zgktutiehcvs4nqf9bmbisxiqzygg")
}
fn stripe() -> String {
    format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc")
}

#[test]
fn format_positives() {
    let anthropic = format!(
        "sk-ant-api03-{}AA",
        "dt_b860wfuhc_304vpb745b-l-90-grw99su1k4q4z95tz-1q206_8qfzt99c3hu1tuia4oqtq8m3l7bdlqhawkwp0s3d"
    );
    let openai = format!(
        "sk-proj-{}T3BlbkFJ{}",
        "SevzWEV_NmNnMndQ5gn6PjFcX_9ay5SE", "dD9FqO9Z3BoBu9F-KFR6YJtvW6fUfqg2"
    );
    let cases: Vec<(String, K, Option<&str>)> = vec![
        (format!("id={AWS}"), K::AwsAccessKey, Some("AKIA")),
        (github(), K::GithubToken, Some("ghp_")),
        (format!("github_pat_{}", "6d3m39i19yr9k5k4tw4pv2u7c0qq96cp1wpzeaqwbrjiquxp0hmqw6by4jnibho5rhz2pv0ocsjayxdfoo"), K::GithubToken, Some("github_pat_")),
        ("glpat-d2ik0f4gx5xvj2b2nr5n".into(), K::GitlabToken, Some("glpat-")),
        (stripe(), K::StripeKey, Some("sk_live_")),
        ("xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD".into(), K::SlackToken, Some("xoxb-")),
        (format!("https://hooks.slack.com/services/{}", "T0000AAAA/B0000BBBB/XXxxYYyyZZzz0011223344aa"), K::SlackToken, Some("hooks.slack.com/")),
        ("AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-".into(), K::GoogleApiKey, Some("AIza")),
        (openai, K::OpenaiKey, Some("sk-proj-")),
        (anthropic, K::AnthropicKey, Some("sk-ant-")),
        ("SKd3c0e740cced617cb02d7d00964cb169".into(), K::TwilioKey, Some("SK")),
        (format!("SG.{}.{}", "ngeVfQFYQlKU0ufo8x5d1A", "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"), K::SendgridKey, Some("SG.")),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAn6/O8li+SX4m98LLYt/PKSzEmQ++ZBD7\n-----END RSA PRIVATE KEY-----".into(), K::PrivateKey, Some("RSA PRIVATE KEY")),
        (format!("token={}", jwt(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#)), K::Jwt, None),
    ];
    for (input, kind, prefix) in cases {
        let found = text(&input);
        assert_eq!(kinds(&found), vec![kind], "{input}");
        assert_eq!(found[0].prefix.as_deref(), prefix, "{input}");
    }
}

#[test]
fn format_negatives() {
    for input in [
        "AKIAXXXXXXXXXXXXXXXX",
        "aws_access_key: AKIAIOSFODNN7EXAMPLE",
        "TODAYINASIAASACKOFRICEFELLOVER",
        "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "glpat-hellOWorld380 testin",
        "task_test_short",
        "sk_live_",
        "xoxb-12345-abcd234",
        "AIzaSyabcdefghijklmnopqrstuvwxyz1234567",
        "sk-proj-Xi8tdMjHV6pmbBbwilTeT4BlbkFJ3UDnpdEwNNm6wVBpYM0o",
        "sk-ant-admin01-abc123xyz-456de-klMnopqrstuvwx-3456yza789bcde-1234fghijklmnopAA",
        "SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "SG.ngeVfQFYQlKU0ufo8x5d1A..TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
        "eyJAAAA.eyJBBB",
        "eyJhbasdGciOiJIUaddasdasfsasdasdzI1NiIasdsInR5cCI6IkpXVCasdJasd9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxw",
        "-----BEGIN OPENSSH PRIVATE KEY----------END OPENSSH PRIVATE KEY-----",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
    ] {
        assert!(text(input).is_empty(), "{input}: {:?}", text(input));
    }
}

#[test]
fn jwt_facts() {
    let expired = jwt(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"iss":"https://issuer.test","exp":1000}"#,
    );
    let found = header("Authorization", &format!("Bearer {expired}"));
    assert_eq!(kinds(&found), vec![K::Jwt]);
    let facts = found[0].jwt.as_ref().unwrap();
    assert!(facts.expired && !facts.unsigned);
    assert_eq!(facts.alg.as_deref(), Some("RS256"));
    assert_eq!(facts.issuer.as_deref(), Some("https://issuer.test"));
    assert_eq!(found[0].prefix, None);

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, NOW + 60))
    );
    let found = header("Cookie", &format!("theme=dark; id_token={unsigned}"));
    assert_eq!(kinds(&found), vec![K::Jwt]);
    let facts = found[0].jwt.as_ref().unwrap();
    assert!(facts.unsigned && !facts.expired);
}

#[test]
fn authorization_schemes() {
    let basic = STANDARD.encode("alice:s3cr3t-Passw0rd");
    let found = header("Authorization", &format!("Basic {basic}"));
    assert_eq!(kinds(&found), vec![K::BasicAuth]);
    assert_eq!(found[0].length, "alice:s3cr3t-Passw0rd".len());
    assert_eq!(found[0].prefix, None);
    assert_eq!(
        found[0].fingerprint,
        Fingerprinter::new(b"unit-test-key").fingerprint(b"alice:s3cr3t-Passw0rd")
    );

    let found = header("Authorization", "Bearer 3a8f0c2e9b7d41f6a5c0e8d2b4f6a1c9");
    assert_eq!(kinds(&found), vec![K::BearerToken]);
    assert_eq!(
        found[0].location,
        Location::Header {
            name: "authorization".into()
        }
    );

    // A documented format in a bearer is reported as that format.
    assert_eq!(
        kinds(&header("Authorization", &format!("Bearer {}", github()))),
        vec![K::GithubToken]
    );

    let digest = r#"Digest username="bob", realm="x", nonce="abc", uri="/", response="6629fae49393a05397450978507c4ef1""#;
    let found = header("Authorization", digest);
    assert_eq!(kinds(&found), vec![K::DigestAuth]);
    assert_eq!(found[0].length, 32);

    let sigv4 = format!(
        "AWS4-HMAC-SHA256 Credential={AWS}/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
    );
    let found = header("Authorization", &sigv4);
    assert_eq!(kinds(&found), vec![K::AwsSigV4]);
    assert_eq!(found[0].prefix.as_deref(), Some("AKIA"));
    assert_eq!(found[0].length, AWS.len());

    assert!(header("Authorization", "").is_empty());
    assert!(header("Authorization", "Bearer").is_empty());
}

#[test]
fn api_key_headers() {
    let found = header("X-API-Key", "a1b2c3d4e5f6");
    assert_eq!(kinds(&found), vec![K::ApiKeyHeader]);
    assert_eq!(
        found[0].location,
        Location::Header {
            name: "x-api-key".into()
        }
    );
    assert_eq!(
        kinds(&header("Private-Token", "glpat-d2ik0f4gx5xvj2b2nr5n")),
        vec![K::GitlabToken]
    );
    assert_eq!(
        kinds(&header(
            "x-goog-api-key",
            "AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-"
        )),
        vec![K::GoogleApiKey]
    );
    assert!(header("x-api-key", "${API_KEY}").is_empty());
    assert!(header("Accept", "application/json").is_empty());

    let settings = DetectorSettings {
        extra_api_key_headers: vec!["X-Tenant-Secret".into()],
        ..Default::default()
    };
    let d = Detector::new(&settings, Fingerprinter::new(b"k")).unwrap();
    let found = d.scan_head(&request("/", &[("x-tenant-secret", "t0ps3cr3t")]), b"", NOW);
    assert_eq!(kinds(&found), vec![K::ApiKeyHeader]);
}

#[test]
fn cookies() {
    let found = header(
        "Cookie",
        "theme=dark; JSESSIONID=8F3A2B1C9D4E5F60718293A4B5C6D7E8; lang=en",
    );
    assert_eq!(kinds(&found), vec![K::SessionCookie]);
    assert_eq!(found[0].length, 32);
    assert_eq!(
        kinds(&header("Cookie", "_myapp_session=Zk9mT2p3dW5uY3lQ")),
        vec![K::SessionCookie]
    );
    assert!(header("Cookie", "theme=dark; lang=en; _ga=GA1.2.1234567.1234567").is_empty());
    assert!(header("Cookie", "csrftoken=abcdefABCDEF0123456789").is_empty());
}

#[test]
fn query_parameters() {
    let d = detector();
    let found = d.scan_head(
        &request("/v1/items?api_key=q8Zr2Lw0Xv&page=2", &[]),
        b"",
        NOW,
    );
    assert_eq!(kinds(&found), vec![K::QueryParameterSecret]);
    assert_eq!(
        found[0].location,
        Location::Query {
            parameter: "api_key".into()
        }
    );
    assert!(found[0].location.is_in_url());

    // Percent-decoded names and values; a known format wins over the name.
    let found = d.scan_head(
        &request(&format!("/x?Access%5FToken={}", stripe()), &[]),
        b"",
        NOW,
    );
    assert_eq!(kinds(&found), vec![K::StripeKey]);
    assert_eq!(
        found[0].location,
        Location::Query {
            parameter: "Access_Token".into()
        }
    );

    // A neutral parameter holding an assignment or a format.
    let found = d.scan_head(
        &request(
            "/v1/echo?q=password%3DZf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
            &[],
        ),
        b"",
        NOW,
    );
    assert_eq!(kinds(&found), vec![K::GenericSecret]);
    assert_eq!(
        kinds(&d.scan_head(&request(&format!("/repos/{}/x", github()), &[]), b"", NOW)),
        vec![K::GithubToken]
    );

    assert!(
        d.scan_head(&request("/search?q=rust&page=2&key=1", &[]), b"", NOW)
            .is_empty()
    );
    assert!(
        d.scan_head(&request("/login?token=&code=", &[]), b"", NOW)
            .is_empty()
    );

    let settings = DetectorSettings {
        extra_query_parameters: vec!["X-Tenant".into()],
        ..Default::default()
    };
    let d = Detector::new(&settings, Fingerprinter::new(b"k")).unwrap();
    let found = d.scan_head(&request("/?x-tenant=abcdef12", &[]), b"", NOW);
    assert_eq!(kinds(&found), vec![K::QueryParameterSecret]);
}

#[test]
fn bodies() {
    let d = detector();
    let json = request("/login", &[("Content-Type", "application/json")]);
    let body = br#"{"user":"bob","client_secret":"Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB","config":"AWS=\"AKIALALEMEL33243OLIB\""}"#;
    let found = d.scan_head(&json, body, NOW);
    assert_eq!(kinds(&found), vec![K::GenericSecret, K::AwsAccessKey]);
    assert!(found.iter().all(|f| f.location == Location::Body));

    let form = request(
        "/oauth/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    let found = d.scan_head(
        &form,
        b"grant_type=password&username=bob&password=hunter2%21x",
        NOW,
    );
    assert_eq!(kinds(&found), vec![K::QueryParameterSecret]);
    assert_eq!(found[0].length, "hunter2!x".len());
    assert!(
        d.scan_head(&json, br#"{"name":"bob","password":"changeme"}"#, NOW)
            .is_empty()
    );
}

#[test]
fn generic_assignments() {
    for input in [
        "client_secret = \"Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB\"",
        "DB_PASSWORD=q9T!w2Lz#8vXk",
        "{\"password\": \"q9T!w2Lz#8vXk\"}",
        "api_key: 7f3a9c2e1b8d4f60",
    ] {
        assert_eq!(kinds(&text(input)), vec![K::GenericSecret], "{input}");
    }
    for input in [
        "password = changeme",
        "secret: xxxxxxxx",
        "api_key = ${VAR}",
        "token = <token>",
        "password: {{ .Values.password }}",
        "password = \"password123\"",
        "secret_name = prod-db-credentials-v2",
        "key_length = 256",
    ] {
        assert!(text(input).is_empty(), "{input}: {:?}", text(input));
    }
}

#[test]
fn url_and_curl_credentials() {
    assert_eq!(
        kinds(&text("curl -u elastic:P@ssw0rd$1 https://localhost:9200")),
        vec![K::BasicAuth]
    );
    assert_eq!(
        kinds(&text("postgres://app:q9T2wLz8vXk@db.internal:5432/app")),
        vec![K::BasicAuth]
    );
    assert!(text("curl -u username:password https://x").is_empty());
    assert!(text("amqp://guest:guest@localhost").is_empty());
    assert!(text("https://example.com:8443/path").is_empty());
}

#[test]
fn dedup_and_specific_over_generic() {
    let d = detector();
    // Same key in a header, the query and the body: one finding, at its first location.
    let head = request(
        &format!("/x?api_key={}", stripe()),
        &[("X-Api-Key", &stripe())],
    );
    let found = d.scan_head(
        &head,
        format!("stripe_key = \"{}\"", stripe()).as_bytes(),
        NOW,
    );
    assert_eq!(kinds(&found), vec![K::StripeKey]);
    assert_eq!(
        found[0].location,
        Location::Header {
            name: "x-api-key".into()
        }
    );
    // A generic assignment over a documented format reports the format only.
    assert_eq!(
        kinds(&text(&format!("api_key = \"{}\"", github()))),
        vec![K::GithubToken]
    );
}

#[test]
fn no_secret_in_any_output() {
    let basic_secret = "alice:Sup3r-S3cret!";
    let jwt_token = jwt(r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#);
    let head = request(
        &format!("/v1?access_token={}", github()),
        &[
            (
                "Authorization",
                &format!("Basic {}", STANDARD.encode(basic_secret)),
            ),
            ("Cookie", &format!("session=Qm9Rz8xW2v; jwt={jwt_token}")),
            ("X-Api-Key", &stripe()),
        ],
    );
    let body = format!("{{\"aws\":\"{AWS}\",\"password\":\"Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB\"}}");
    let found = detector().scan_head(&head, body.as_bytes(), NOW);
    assert_eq!(found.len(), 7, "{found:?}");
    let debug = format!("{found:?}");
    let json = serde_json::to_string(&found).unwrap();
    for secret in [
        basic_secret,
        "Sup3r-S3cret",
        "Qm9Rz8xW2v",
        &jwt_token,
        &github(),
        &stripe(),
        AWS,
        "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
    ] {
        // Nothing longer than the public prefix may appear.
        let probe = &secret[secret.len() - 8..];
        assert!(!debug.contains(probe), "Debug leaks {probe}");
        assert!(!json.contains(probe), "JSON leaks {probe}");
    }
    assert!(!format!("{:?}", detector()).contains("unit-test-key"));
}

#[test]
fn secrets_in_names_are_redacted() {
    let found = detector().scan_head(&request(&format!("/x?{}", github()), &[]), b"", NOW);
    assert_eq!(kinds(&found), vec![K::GithubToken]);
    assert_eq!(
        found[0].location,
        Location::Query {
            parameter: "<redacted>".into()
        }
    );
}

#[test]
fn hostile_input() {
    let d = detector();
    let mut junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    junk.extend_from_slice(b"\xff\xfe password=\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff token= -----BEGIN RSA PRIVATE KEY-----");
    let head = RequestHead {
        method: "POST".into(),
        target: format!("/{}?{}", "%".repeat(10_000), "a=&".repeat(10_000)),
        version: crate::protocols::HttpVersion::Http11,
        host: None,
        headers: (0..1000)
            .map(|i| Header {
                name: format!("X-{i}"),
                value: junk[..20_000].to_vec(),
            })
            .chain([
                Header {
                    name: "Authorization".into(),
                    value: b"Basic \xff\xff\xff".to_vec(),
                },
                Header {
                    name: "Cookie".into(),
                    value: b";;==;\xff=\xff".to_vec(),
                },
            ])
            .collect(),
    };
    let found = d.scan_head(&head, &junk, NOW);
    assert!(found.len() <= 64);
    for loc in [
        Location::Body,
        Location::Path,
        Location::Header {
            name: "cookie".into(),
        },
        Location::Query {
            parameter: "token".into(),
        },
    ] {
        let _ = d.scan_text(&junk, loc, NOW);
    }
}

#[test]
fn settings_are_validated() {
    let bad = DetectorSettings {
        extra_api_key_headers: vec!["bad header".into()],
        ..Default::default()
    };
    assert!(matches!(
        Detector::new(&bad, Fingerprinter::new(b"k")),
        Err(DetectorError::InvalidHeaderName { .. })
    ));
    let bad = DetectorSettings {
        extra_query_parameters: vec!["a=b".into()],
        ..Default::default()
    };
    assert!(matches!(
        Detector::new(&bad, Fingerprinter::new(b"k")),
        Err(DetectorError::InvalidParameterName { .. })
    ));
}

#[test]
fn detector_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Detector>();
    assert_send_sync::<Fingerprinter>();
}

/// The cases the issue names: a login POST in the spellings real clients use (JSON and form),
/// `user:password@` in a URL in a header, a query value and a body (weak passwords too: they
/// are still credentials in transit), a JWT wrapped in base64 once more, a PEM key in a JSON
/// string.
#[test]
fn login_posts_urls_wrapped_jwts_and_json_keys() {
    let d = detector();
    let json = request("/api/login", &[("Content-Type", "application/json")]);
    for body in [
        r#"{"username":"alice","password":"Tr0ub4dor&3"}"#,
        r#"{"email":"a@example.test","passwd":"Tr0ub4dor&3"}"#,
        r#"{"user":{"login":"alice","pwd":"Tr0ub4dor&3"}}"#,
        r#"{"userName":"alice","userPassword":"Tr0ub4dor&3"}"#,
        r#"{"old_password":"Tr0ub4dor&3x","new_password":"correct-Horse-9"}"#,
        r#"{"Password": "correct horse battery staple"}"#,
        r#"{"client_id":"web","client_secret":"Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"}"#,
        r#"{"grant_type":"refresh_token","refresh_token":"8xLOxBtZp8uT9Qm2cVd4sA1k"}"#,
        r#"{"accessToken":"8xLOxBtZp8uT9Qm2cVd4sA1k"}"#,
        r#"{"auth":{"api_key":"7f3a9c2e1b8d4f60a1b2"}}"#,
    ] {
        let found = d.scan_head(&json, body.as_bytes(), NOW);
        assert!(!found.is_empty(), "login JSON not found: {body}");
    }
    let form = request(
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    for body in [
        "username=alice&password=Tr0ub4dor%263",
        "login=alice&passwd=Tr0ub4dor%263&remember=1",
        "user%5Bemail%5D=a%40example.test&user%5Bpassword%5D=Tr0ub4dor%263",
        "j_username=alice&j_password=Tr0ub4dor%263",
        "client_id=web&client_secret=Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB&grant_type=client_credentials",
    ] {
        let found = d.scan_head(&form, body.as_bytes(), NOW);
        assert!(!found.is_empty(), "login form not found: {body}");
    }
    // URL credentials, also with a weak password, in a header, a query value and a body.
    for url in [
        "https://deploy:hunter22@git.example.test/repo.git",
        "https://admin:admin123@registry.example.test/v2/",
        "redis://default:password@cache.internal:6379/0",
    ] {
        assert_eq!(
            kinds(&header("X-Upstream", url)),
            vec![K::BasicAuth],
            "{url}"
        );
        let encoded: String = url
            .bytes()
            .map(|b| match b {
                b':' => "%3A".to_owned(),
                b'/' => "%2F".to_owned(),
                b'@' => "%40".to_owned(),
                _ => char::from(b).to_string(),
            })
            .collect();
        let target = format!("/hooks?callback={encoded}");
        assert_eq!(
            kinds(&d.scan_head(&request(&target, &[]), b"", NOW)),
            vec![K::BasicAuth],
            "{target}"
        );
        let body = format!(r#"{{"remote":"{url}"}}"#);
        assert_eq!(
            kinds(&d.scan_head(&json, body.as_bytes(), NOW)),
            vec![K::BasicAuth],
            "{body}"
        );
    }
    // A JWT, base64-wrapped once more (as in a Kubernetes Secret's data).
    let inner = jwt(
        r#"{"kid":"k1","typ":"JWT"}"#,
        r#"{"iss":"issuer.test","sub":"svc"}"#,
    );
    let wrapped = base64::engine::general_purpose::STANDARD.encode(&inner);
    let body = format!(r#"{{"data":{{"token":"{wrapped}"}}}}"#);
    let found = d.scan_head(&json, body.as_bytes(), NOW);
    assert_eq!(kinds(&found), vec![K::Jwt], "{found:?}");
    // A PEM private key inside a JSON string (`\n` escapes), as service-account files carry it.
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----\n";
    let body = serde_json::json!({"type": "service_account", "private_key": pem}).to_string();
    let found = d.scan_head(&json, body.as_bytes(), NOW);
    assert_eq!(kinds(&found), vec![K::PrivateKey], "{found:?}");
}

/// Ordinary API traffic carries random-looking values that are names and identifiers, not
/// secrets: object keys with file names, UUIDs under weak names, digests, trace context, ETags.
#[test]
fn ordinary_identifiers_are_not_secrets() {
    let d = detector();
    let json = request("/v1/uploads", &[("Content-Type", "application/json")]);
    for body in [
        r#"{"bucket":"artifacts","key":"builds/3f1c2a9e-8b7d-4c1e-9a2b-5d6e7f8a9b0c/app-1a2b3c4d.tar.gz"}"#,
        r#"{"objectKey":"logs/2026/11/27/host-7f3a9c2e.json.gz","size":1832}"#,
        r#"{"idempotency_key":"3f1c2a9e-8b7d-4c1e-9a2b-5d6e7f8a9b0c","amount":100}"#,
        r#"{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","etag":"\"33a64df551425fcc55e4d42a148795d9f25f89d4\""}"#,
        r#"{"cursor":"eyJvZmZzZXQiOjEwMH0","request_id":"req_8f2b1c9d7e6a5b4c"}"#,
        // A Kubernetes env list names secrets by reference: `valueFrom` is the next key.
        r#"{"env":[{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}]}"#,
    ] {
        let found = d.scan_head(&json, body.as_bytes(), NOW);
        assert!(found.is_empty(), "{body}: {found:?}");
    }
    let headers = request(
        "/v1/objects/builds%2Fapp-1a2b3c4d.tar.gz?versionId=3f1c2a9e-8b7d-4c1e-9a2b-5d6e7f8a9b0c&key=builds%2F3f1c2a9e-8b7d-4c1e-9a2b-5d6e7f8a9b0c%2Fapp-1a2b3c4d.tar.gz",
        &[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (
                "If-None-Match",
                "\"33a64df551425fcc55e4d42a148795d9f25f89d4\"",
            ),
            ("X-Request-Id", "3f1c2a9e-8b7d-4c1e-9a2b-5d6e7f8a9b0c"),
            ("Idempotency-Key", "3f1c2a9e-8b7d-4c1e-9a2b-5d6e7f8a9b0c"),
        ],
    );
    let found = d.scan_head(&headers, b"", NOW);
    assert!(found.is_empty(), "{found:?}");
}

/// A gzip-compressed login body is read as the server reads it: decompressed.
#[test]
fn compressed_bodies_are_decompressed() {
    use std::io::Write as _;
    let d = detector();
    let head = request(
        "/login",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(br#"{"username":"alice","password":"Tr0ub4dor&3"}"#)
        .unwrap();
    let body = e.finish().unwrap();
    let (found, decoding) = d.scan_request(RequestView::new(&head, &body), NOW);
    assert_eq!(kinds(&found), vec![K::GenericSecret], "{found:?}");
    let decoding = decoding.unwrap();
    assert_eq!(
        (decoding.encoding, decoding.outcome),
        ("gzip", super::DecodeOutcome::Decoded)
    );
}
