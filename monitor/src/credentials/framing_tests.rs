//! Credentials are found wherever a server would read them, however the request is framed:
//! request-smuggling and malformed-framing shapes (CL.TE, TE.CL, obfuscated Transfer-Encoding,
//! doubled lengths, obs-folds, bare LFs, broken chunks, heads that never end) each followed by
//! a request head carrying a token, fed through the real HTTP/1 parser and then the detector,
//! as the daemon does. A lenient server may read the second request even where our strict
//! parser refuses the first: the bytes it rejects must be scanned, not skipped.
use super::{CredentialKind, Detector, DetectorSettings, Fingerprinter};
use crate::protocols::{
    Direction, Exchange, RequestView,
    http1::{Connection, Limits, Output},
};

const TOKEN: &str = "ghp_R2bX7kLm9QpT4vW8yZ1cD3fG5hJ6kN0sA2uE";
const NOW: u64 = 1_750_000_000;

/// The smuggled (last) request: its `Authorization` carries the token.
fn last_request() -> String {
    format!("GET /admin HTTP/1.1\r\nHost: internal\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
}

/// (name, bytes before the last request).
fn framings() -> Vec<(&'static str, String)> {
    let p = |s: &str| s.to_owned();
    vec![
        (
            "CL.TE",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
        ),
        (
            "TE.CL",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5c\r\n",
            ),
        ),
        (
            "TE xchunked",
            p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE chunk",
            p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE chunked, identity",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            ),
        ),
        (
            "TE twice",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n0\r\n\r\n",
            ),
        ),
        (
            "TE tab",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            ),
        ),
        (
            "TE space before colon",
            p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE obs-fold",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n",
            ),
        ),
        (
            "CL twice",
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nAAAAA"),
        ),
        (
            "CL list",
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nAAAAA"),
        ),
        (
            "CL plus sign",
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nAAAAA"),
        ),
        (
            "CL hex",
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nAAAAA"),
        ),
        (
            "CL larger than sent",
            p("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nAAAAA"),
        ),
        (
            "bare LF head",
            p("POST / HTTP/1.1\nHost: a\nContent-Length: 0\n\n"),
        ),
        (
            "bare LF in one line",
            p("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"),
        ),
        (
            "obs-fold",
            p("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n"),
        ),
        (
            "bad chunk size",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nAAAA\r\n0\r\n\r\n",
            ),
        ),
        (
            "chunk size overflow",
            p(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n",
            ),
        ),
        (
            "chunk without CRLF",
            p("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nAAAX0\r\n\r\n"),
        ),
        (
            "NUL in header",
            p("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
        ),
        ("space in target", p("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n")),
        ("bad version", p("GET / HTTP/9.9x\r\nHost: a\r\n\r\n")),
        (
            "header without colon",
            p("GET / HTTP/1.1\r\nHost: a\r\nbroken header\r\n\r\n"),
        ),
        ("garbage before", p("\x16\x03\x01garbage\r\n")),
        ("none", p("")),
    ]
}

fn exchanges(bytes: &[u8], split_at: Option<usize>) -> Vec<Exchange> {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    // A first well-formed call, so the direction is known to carry HTTP.
    c.on_data(
        Direction::Egress,
        1,
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Direction::Ingress,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    match split_at {
        Some(i) => {
            c.on_data(Direction::Egress, 3, &bytes[..i], &mut out);
            c.on_data(Direction::Egress, 4, &bytes[i..], &mut out);
        }
        None => c.on_data(Direction::Egress, 3, bytes, &mut out),
    }
    c.on_close(5, &mut out);
    out.into_iter()
        .filter_map(|o| match o {
            Output::Exchange(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn found(detector: &Detector, exchanges: &[Exchange]) -> bool {
    exchanges.iter().any(|e| {
        detector
            .scan(RequestView::of(&e.request), NOW)
            .iter()
            .any(|f| f.kind == CredentialKind::GithubToken)
    })
}

#[test]
fn a_token_after_any_framing_is_found_in_one_chunk_or_split_anywhere() {
    let detector = Detector::new(&DetectorSettings::default(), Fingerprinter::new(b"k")).unwrap();
    let mut missed = Vec::new();
    let mut through_rejected = 0;
    let cases = framings();
    for (name, before) in &cases {
        let payload = format!("{before}{}", last_request());
        let whole = exchanges(payload.as_bytes(), None);
        if !found(&detector, &whole) {
            missed.push(format!("{name} (one chunk)"));
        }
        if whole.iter().any(|e| e.rejected.is_some()) {
            through_rejected += 1;
        }
        // The same bytes in two capture chunks, cut at every position.
        for i in 1..payload.len() {
            if !found(&detector, &exchanges(payload.as_bytes(), Some(i))) {
                missed.push(format!("{name} (split at {i})"));
                break;
            }
        }
    }
    assert!(missed.is_empty(), "token not found after: {missed:#?}");
    // Most of these shapes are refused by the strict parser: the rejected-bytes path is what
    // finds them (a regression that drops rejected bytes fails here, not only above).
    assert!(
        through_rejected >= cases.len() / 2,
        "{through_rejected} of {} went through rejected bytes",
        cases.len()
    );
}

/// A chunked body carrying a credential, cut into chunks at every position: the body sample is
/// the decoded payload, so the token is whole whatever the chunking.
#[test]
fn a_token_in_a_chunked_body_split_at_any_byte_is_found() {
    let detector = Detector::new(&DetectorSettings::default(), Fingerprinter::new(b"k")).unwrap();
    let body = format!(r#"{{"note":"deploy","token":"{TOKEN}"}}"#);
    for cut in 1..body.len() {
        let (a, b) = body.split_at(cut);
        let request = format!(
            "POST /v1/notes HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        let ex = exchanges(request.as_bytes(), Some(cut.min(request.len() - 1)));
        assert!(found(&detector, &ex), "chunk boundary at {cut}");
    }
}
