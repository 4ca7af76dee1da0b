//! Connection-level behaviour: splitting, pairing, framing, gaps, limits, hostile input.

use super::*;

const REQ: &[u8] =
    b"POST /api/v1/items?x=1 HTTP/1.1\r\nHost:  api.example.com \r\nContent-Length: 5\r\n\r\nhello";
const RESP: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated";

use Direction::{Egress, Ingress};

/// The parsed exchanges (rejected bytes are in [`rejected`]).
fn exchanges(out: &[Output]) -> Vec<&Exchange> {
    out.iter()
        .filter_map(|o| match o {
            Output::Exchange(e) if e.rejected.is_none() => Some(e),
            _ => None,
        })
        .collect()
}

/// Rejected request bytes: (what rejected them, the bytes kept for the scan).
fn rejected(out: &[Output]) -> Vec<(&'static str, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Exchange(e) => e.rejected.map(|p| {
                (
                    p,
                    String::from_utf8_lossy(&e.request.stats.body_sample).into_owned(),
                )
            }),
            _ => None,
        })
        .collect()
}

fn problems(out: &[Output]) -> Vec<Problem> {
    out.iter()
        .filter_map(|o| match o {
            Output::Problem(crate::protocols::Problem::Http1(p)) => Some(p.clone()),
            Output::Problem(other) => {
                panic!("HTTP/1 reported a problem of another protocol: {other}")
            }
            Output::Exchange(_) => None,
            Output::Http2Stat(stat) => panic!("HTTP/1 reported an HTTP/2 fact: {stat:?}"),
        })
        .collect()
}

/// Feeds `data` to `dir` in the given piece sizes (cycled).
fn feed_pieces(
    c: &mut Connection,
    dir: Direction,
    ts: u64,
    data: &[u8],
    sizes: &[usize],
    out: &mut Vec<Output>,
) {
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let n = sizes[i % sizes.len()].max(1).min(data.len() - pos);
        c.on_data(dir, ts, &data[pos..pos + n], out);
        pos += n;
        i += 1;
    }
}

/// Small deterministic PRNG (xorshift) so random splits are reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn check_basic_exchange(out: &[Output]) {
    assert_eq!(problems(out), vec![]);
    let ex = exchanges(out);
    assert_eq!(ex.len(), 1, "{out:?}");
    let e = ex[0];
    assert_eq!(e.role, Role::Client);
    assert_eq!(e.request.head.method, "POST");
    assert_eq!(e.request.head.target, "/api/v1/items?x=1");
    assert_eq!(e.request.head.host.as_deref(), Some("api.example.com"));
    assert_eq!(e.request.stats.body_sample[..], b"hello"[..]);
    assert_eq!(e.request.stats.body_bytes, 5);
    assert!(!e.request.stats.incomplete);
    let r = e.response.as_ref().expect("response");
    assert_eq!(r.head.status, 201);
    assert_eq!(r.stats.body_sample[..], b"created"[..]);
    assert_eq!(r.stats.head_bytes, (RESP.len() - 7) as u64);
    assert!(!r.stats.incomplete);
}

#[test]
fn every_split_point() {
    for split in 0..=REQ.len() {
        for rsplit in 0..=RESP.len() {
            let mut c = Connection::new(Limits::default());
            let mut out = Vec::new();
            c.on_data(Egress, 1, &REQ[..split], &mut out);
            c.on_data(Egress, 2, &REQ[split..], &mut out);
            c.on_data(Ingress, 3, &RESP[..rsplit], &mut out);
            c.on_data(Ingress, 4, &RESP[rsplit..], &mut out);
            check_basic_exchange(&out);
        }
    }
}

#[test]
fn byte_by_byte_and_random_splits() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    feed_pieces(&mut c, Egress, 1, REQ, &[1], &mut out);
    feed_pieces(&mut c, Ingress, 2, RESP, &[1], &mut out);
    check_basic_exchange(&out);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let mut c = Connection::new(Limits::default());
        let mut out = Vec::new();
        let sizes: Vec<usize> = (0..8).map(|_| 1 + rng.below(20) as usize).collect();
        feed_pieces(&mut c, Egress, 1, REQ, &sizes, &mut out);
        feed_pieces(&mut c, Ingress, 2, RESP, &sizes, &mut out);
        check_basic_exchange(&out);
    }
}

#[test]
fn several_messages_per_call_keepalive_and_pipelining() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    let reqs = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    c.on_data(Egress, 1, reqs, &mut out);
    assert!(exchanges(&out).is_empty());
    let resps = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nC\r\n0\r\n\r\n";
    c.on_data(Ingress, 2, resps, &mut out);
    let ex = exchanges(&out);
    let got: Vec<(&str, u16)> = ex
        .iter()
        .map(|e| {
            (
                e.request.head.target.as_str(),
                e.response.as_ref().map_or(0, |r| r.head.status),
            )
        })
        .collect();
    assert_eq!(got, vec![("/a", 200), ("/b", 404), ("/c", 200)]);
    assert_eq!(ex[2].request.stats.body_sample[..], b"abc"[..]);
    assert_eq!(
        ex[2].response.as_ref().unwrap().stats.body_sample[..],
        b"C"[..]
    );
    // Keep-alive: the connection keeps going.
    c.on_data(Egress, 3, b"GET /d HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(Ingress, 4, b"HTTP/1.1 204 No Content\r\n\r\n", &mut out);
    assert_eq!(exchanges(&out).len(), 4);
    assert!(problems(&out).is_empty());
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val;q=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nExpires: never\r\nX-T: 1\r\n\r\n";
    feed_pieces(&mut c, Ingress, 2, resp, &[3, 1, 7], &mut out);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    let r = ex[0].response.as_ref().unwrap();
    assert_eq!(r.stats.body_sample[..], b"hello world"[..]);
    assert_eq!(
        r.stats.body_bytes, 11,
        "chunked body_bytes is the decoded payload"
    );
}

#[test]
fn close_delimited_responses() {
    for head in [
        &b"HTTP/1.0 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
    ] {
        let mut c = Connection::new(Limits::default());
        let mut out = Vec::new();
        c.on_data(Egress, 1, b"GET / HTTP/1.0\r\n\r\n", &mut out);
        c.on_data(Ingress, 2, head, &mut out);
        c.on_data(Ingress, 3, b"body until ", &mut out);
        c.on_data(Ingress, 4, b"close", &mut out);
        assert!(exchanges(&out).is_empty());
        c.on_close(5, &mut out);
        let ex = exchanges(&out);
        assert_eq!(ex.len(), 1);
        let r = ex[0].response.as_ref().unwrap();
        assert!(!r.stats.incomplete);
        assert_eq!(r.stats.body_sample[..], b"body until close"[..]);
        assert_eq!(r.stats.end_ns, 4);
    }
}

#[test]
fn flush_marks_close_delimited_incomplete() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(Ingress, 2, b"HTTP/1.1 200 OK\r\n\r\npartial", &mut out);
    c.flush(3, &mut out);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    assert!(ex[0].response.as_ref().unwrap().stats.incomplete);
}

#[test]
fn request_without_length_has_no_body() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"DELETE /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        &mut out,
    );
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].request.head.target, "/y");
    assert_eq!(ex[1].response.as_ref().unwrap().head.status, 304);
    assert!(problems(&out).is_empty());
}

#[test]
fn head_response_has_no_body() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"HEAD /big HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        &mut out,
    );
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].response.as_ref().unwrap().stats.body_bytes, 0);
    assert_eq!(
        ex[1].response.as_ref().unwrap().stats.body_sample[..],
        b"ok"[..]
    );
}

#[test]
fn interim_responses_are_skipped() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    // Expect: 100-continue: the 100 arrives before the body is sent.
    c.on_data(
        Egress,
        1,
        b"PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        &mut out,
    );
    c.on_data(Ingress, 2, b"HTTP/1.1 100 Continue\r\n\r\n", &mut out);
    c.on_data(Egress, 3, b"data", &mut out);
    c.on_data(Ingress, 4, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &mut out);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].response.as_ref().unwrap().head.status, 200);
    assert_eq!(ex[0].request.stats.end_ns, 3);
    assert!(problems(&out).is_empty());
}

#[test]
fn switching_protocols_stops_parsing() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        &mut out,
    );
    c.on_data(Egress, 3, b"\x81\x85garbage", &mut out);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].response.as_ref().unwrap().head.status, 101);
    assert_eq!(problems(&out), vec![Problem::UnsupportedUpgrade]);
    assert!(c.is_upgraded());
    assert!(c.is_http());
}

#[test]
fn connect_success_stops_parsing() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        &mut out,
    );
    c.on_data(Egress, 3, &[0x16, 0x03, 0x01, 0x02, 0x00], &mut out);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request.head.method, "CONNECT");
    assert_eq!(problems(&out), vec![Problem::UnsupportedUpgrade]);
}

#[test]
fn refused_upgrade_resumes_with_held_bytes() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        &mut out,
    );
    // The client pipelines another request before the verdict.
    c.on_data(Egress, 2, b"GET /after HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        3,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 2, "{out:?}");
    assert_eq!(ex[1].request.head.target, "/after");
    assert!(problems(&out).is_empty());
}

#[test]
fn http2_preface_is_an_upgrade() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04",
        &mut out,
    );
    assert_eq!(problems(&out), vec![Problem::UnsupportedUpgrade]);
    assert!(exchanges(&out).is_empty());
}

#[test]
fn large_body_is_not_buffered() {
    const BODY: usize = 10 * 1024 * 1024;
    let limits = Limits::default();
    let mut c = Connection::new(limits.clone());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET /file HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        2,
        format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
        &mut out,
    );
    let body = vec![b'x'; 64 * 1024];
    let mut rng = Rng(42);
    let mut sent = 0;
    let mut max_buffered = 0;
    while sent < BODY {
        let n = (1 + rng.below(64 * 1024) as usize).min(BODY - sent);
        c.on_data(Ingress, 3, &body[..n], &mut out);
        sent += n;
        max_buffered = max_buffered.max(c.buffered_bytes());
    }
    assert!(
        max_buffered <= limits.body_sample_bytes + 1024,
        "buffered {max_buffered}"
    );
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    let r = ex[0].response.as_ref().unwrap();
    assert_eq!(r.stats.body_bytes, BODY as u64);
    assert_eq!(r.stats.body_sample.len(), limits.body_sample_bytes);
    assert!(c.buffered_bytes() < 1024);

    // Same for a chunked request body in small pieces.
    let mut c = Connection::new(limits.clone());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        &mut out,
    );
    let chunk = [b"10000\r\n".as_slice(), &vec![b'y'; 0x10000], b"\r\n"].concat();
    for _ in 0..16 {
        feed_pieces(&mut c, Egress, 2, &chunk, &[1, 4096, 777], &mut out);
        assert!(c.buffered_bytes() <= limits.body_sample_bytes + 1024);
    }
    c.on_data(Egress, 3, b"0\r\n\r\n", &mut out);
    c.on_data(Ingress, 4, b"HTTP/1.1 204 No Content\r\n\r\n", &mut out);
    assert_eq!(exchanges(&out)[0].request.stats.body_bytes, 16 * 0x10000);
}

#[test]
fn garbage_is_not_http() {
    // TLS ciphertext: rejected on the first byte.
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, &[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01], &mut out);
    assert_eq!(problems(&out), vec![Problem::NotHttp]);
    assert!(!c.is_http());
    c.on_data(Egress, 2, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(Ingress, 2, b"HTTP/1.1 200 OK\r\n\r\n", &mut out);
    c.on_close(3, &mut out);
    assert_eq!(out.len(), 1, "NotHttp fires once, later data ignored");

    // Nothing but line noise for longer than detect_bytes.
    let limits = Limits {
        detect_bytes: 64,
        ..Limits::default()
    };
    let mut c = Connection::new(limits);
    let mut out = Vec::new();
    for _ in 0..40 {
        c.on_data(Ingress, 1, b"\r\n", &mut out);
    }
    assert_eq!(problems(&out), vec![Problem::NotHttp]);
}

#[test]
fn garbage_after_http_resyncs_instead_of_giving_up() {
    // A keep-alive connection that carried HTTP and then shows bytes that start no message
    // (a hole the kernel could not report, or a peer that wrote more than it framed) has lost
    // its place; it must pick up again at the next message, not lose every later call.
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET /a HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(Ingress, 2, OK, &mut out);
    c.on_data(Egress, 3, b"\x00\x01binary", &mut out);
    assert_eq!(problems(&out), vec![Problem::Desync]);
    assert!(c.is_http());
    c.on_data(Egress, 4, b"GET /b HTTP/1.1\r\n\r\n", &mut out);
    // A response direction that overran its Content-Length resyncs the same way.
    c.on_data(
        Ingress,
        5,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
        &mut out,
    );
    c.on_data(Egress, 6, b"GET /c HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(Ingress, 7, OK, &mut out);
    assert_eq!(problems(&out), vec![Problem::Desync, Problem::Desync]);
    let targets: Vec<&str> = exchanges(&out)
        .iter()
        .map(|e| e.request.head.target.as_str())
        .collect();
    assert_eq!(targets, ["/a", "/b", "/c"]);
    assert!(exchanges(&out).iter().all(|e| e.response.is_some()));
    // The request direction's skipped bytes are kept for the scan (responses are not).
    assert_eq!(rejected(&out), [("desync", "\u{0}\u{1}binary".to_owned())]);
}

#[test]
fn hostile_bytes_never_panic() {
    let mut rng = Rng(7);
    for round in 0..300 {
        let mut c = Connection::new(Limits {
            max_head_bytes: 512,
            ..Limits::default()
        });
        let mut out = Vec::new();
        // Half the rounds start like HTTP so the deeper states get exercised.
        let mut data: Vec<u8> = if round % 2 == 0 {
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else {
            Vec::new()
        };
        let alphabet = b"0123456789abcdefGET HTTP/1.1\r\n:;=\"\x00\xff";
        for _ in 0..(rng.below(400)) {
            data.push(alphabet[rng.below(alphabet.len() as u64) as usize]);
        }
        let sizes: Vec<usize> = (0..5).map(|_| 1 + rng.below(50) as usize).collect();
        let dir = if round % 3 == 0 { Ingress } else { Egress };
        feed_pieces(&mut c, dir, 1, &data, &sizes, &mut out);
        c.on_gap(dir.opposite(), 2, rng.below(100), &mut out);
        feed_pieces(&mut c, dir.opposite(), 3, &data, &sizes, &mut out);
        c.on_gap(dir, 2, rng.below(100), &mut out);
        c.on_close(4, &mut out);
        assert!(c.buffered_bytes() < 4096);
    }
}

#[test]
fn role_detection() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Ingress, 1, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    assert_eq!(c.role(), Some(Role::Server));
    c.on_data(
        Egress,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert_eq!(exchanges(&out)[0].role, Role::Server);

    // First recognised message is a response on ingress: we are the client.
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Ingress,
        1,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert_eq!(c.role(), Some(Role::Client));
    assert_eq!(problems(&out), vec![Problem::ResponseWithoutRequest]);

    // Undecided prefix ("HE" could be HEAD or HTTP/1.) waits for more bytes.
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"HE", &mut out);
    assert_eq!(c.role(), None);
    c.on_data(Egress, 2, b"AD / HTTP/1.1\r\n\r\n", &mut out);
    assert_eq!(c.role(), Some(Role::Client));
    c.on_data(
        Ingress,
        3,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        &mut out,
    );
    let ex = exchanges(&out);
    assert_eq!(ex[0].request.head.method, "HEAD");
    assert_eq!(ex[0].request.stats.start_ns, 1);
}

#[test]
fn gap_inside_content_length_body_is_skipped() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET /dl HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 102400\r\n\r\n",
        &mut out,
    );
    c.on_data(Ingress, 3, &[b'a'; 1000], &mut out);
    c.on_gap(Ingress, 4, 100_000, &mut out);
    c.on_data(Ingress, 5, &[b'b'; 1400], &mut out);
    assert!(problems(&out).is_empty());
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    let r = ex[0].response.as_ref().unwrap();
    assert_eq!(r.stats.body_bytes, 102_400);
    assert!(!r.stats.incomplete);
    assert_eq!(r.stats.end_ns, 5);

    // A gap that ends the body exactly also completes it.
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n",
        &mut out,
    );
    c.on_gap(Egress, 2, 10, &mut out);
    c.on_data(Egress, 3, b"GET /2 HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        4,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert_eq!(exchanges(&out).len(), 2);
    assert!(problems(&out).is_empty());
}

#[test]
fn gap_in_head_resyncs_on_next_request() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET /first HTTP/1.1\r\nHo", &mut out);
    c.on_gap(Egress, 2, 30, &mut out);
    c.on_data(Egress, 3, b"er: x\r\n\r\n", &mut out); // tail of the lost head: dropped
    c.on_data(
        Egress,
        4,
        b"GET /second HTTP/1.1\r\nHost: b\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Ingress,
        5,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert_eq!(problems(&out), vec![Problem::Desync]);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request.head.target, "/second");
    // The head cut by the hole and its tail were skipped, and kept for the scan.
    assert_eq!(
        rejected(&out),
        [(
            "desync",
            "GET /first HTTP/1.1\r\nHoer: x\r\n\r\n".to_owned()
        )]
    );
}

#[test]
fn gaps_in_chunked_bodies() {
    // Inside chunk data: skipped.
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nab",
        &mut out,
    );
    c.on_gap(Egress, 2, 0xfe, &mut out);
    c.on_data(Egress, 3, b"\r\n0\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        4,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert!(problems(&out).is_empty());
    let ex = exchanges(&out);
    assert_eq!(ex[0].request.stats.body_bytes, 0x100);
    assert!(!ex[0].request.stats.incomplete);

    // On a chunk-size line: desync, request incomplete, still paired with its response.
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1",
        &mut out,
    );
    c.on_gap(Egress, 2, 5, &mut out);
    c.on_data(
        Ingress,
        3,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert_eq!(problems(&out), vec![Problem::Desync]);
    let ex = exchanges(&out);
    assert!(ex[0].request.stats.incomplete);
    assert_eq!(ex[0].response.as_ref().unwrap().head.status, 400);
}

#[test]
fn latency_timestamps() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 100, b"POST / HTTP/1.1\r\nContent-", &mut out);
    c.on_data(Egress, 110, b"Length: 2\r\n\r\na", &mut out);
    c.on_data(Egress, 120, b"b", &mut out);
    c.on_data(
        Ingress,
        200,
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nx",
        &mut out,
    );
    c.on_data(Ingress, 250, b"yz", &mut out);
    let ex = exchanges(&out);
    assert_eq!(
        (ex[0].request.stats.start_ns, ex[0].request.stats.end_ns),
        (100, 120)
    );
    let r = ex[0].response.as_ref().unwrap();
    assert_eq!((r.stats.start_ns, r.stats.end_ns), (200, 250));
}

#[test]
fn malformed_heads_are_reported_and_resynced() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(Egress, 2, b"G(T / HTTP/1.1\r\n\r\n", &mut out); // `(` is not a token char
    c.on_data(
        Egress,
        3,
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        &mut out,
    );
    c.on_data(Egress, 4, b"GET /ok HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        5,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    // A bad method byte at the boundary after a message is a lost place (resync); the
    // conflicting framing that follows is a malformed head; the last request is read.
    let p = problems(&out);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0], Problem::Desync);
    assert!(matches!(p[1], Problem::AmbiguousFraming(_)), "{p:?}");
    let targets: Vec<&str> = exchanges(&out)
        .iter()
        .map(|e| e.request.head.target.as_str())
        .collect();
    assert_eq!(targets, ["/", "/ok"]);
    // Inside a started head the error is MalformedHead and the direction resyncs:
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(Egress, 1, b"GET /a b HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Egress,
        2,
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        &mut out,
    );
    c.on_data(Egress, 3, b"GET /ok HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        4,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    let p = problems(&out);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(matches!(p[0], Problem::MalformedHead(_)), "{p:?}");
    assert_eq!(
        p[1],
        Problem::AmbiguousFraming("content-length with transfer-encoding")
    );
    assert_eq!(exchanges(&out)[0].request.head.target, "/ok");
    // Both rejected heads are kept whole for the scan, each as its own episode.
    let r = rejected(&out);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(
        r[0],
        ("malformed_head", "GET /a b HTTP/1.1\r\n\r\n".to_owned())
    );
    assert_eq!(r[1].0, "ambiguous_framing");
    assert!(
        r[1].1
            .starts_with("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding")
    );
}

#[test]
fn head_too_large_resyncs() {
    let limits = Limits {
        max_head_bytes: 256,
        ..Limits::default()
    };
    let mut c = Connection::new(limits);
    let mut out = Vec::new();
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "v".repeat(400));
    feed_pieces(&mut c, Egress, 1, big.as_bytes(), &[50], &mut out);
    c.on_data(Egress, 2, b"GET /small HTTP/1.1\r\n\r\n", &mut out);
    c.on_data(
        Ingress,
        3,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    assert_eq!(problems(&out), vec![Problem::HeadTooLarge]);
    assert_eq!(exchanges(&out)[0].request.head.target, "/small");
    let r = rejected(&out);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0, r[0].1.len()), ("head_too_large", big.len()));
    assert!(c.buffered_bytes() < 256);
}

#[test]
fn pipeline_overflow_drops_oldest() {
    let limits = Limits {
        max_pipelined: 2,
        ..Limits::default()
    };
    let mut c = Connection::new(limits);
    let mut out = Vec::new();
    for i in 0..4 {
        c.on_data(
            Egress,
            1,
            format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes(),
            &mut out,
        );
    }
    assert_eq!(
        problems(&out),
        vec![Problem::PipelineOverflow, Problem::PipelineOverflow]
    );
    c.on_close(2, &mut out);
    let targets: Vec<&str> = exchanges(&out)
        .iter()
        .map(|e| e.request.head.target.as_str())
        .collect();
    assert_eq!(targets, vec!["/2", "/3"]);
    assert!(exchanges(&out).iter().all(|e| e.response.is_none()));
}

#[test]
fn close_with_unanswered_and_incomplete() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        &mut out,
    );
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        &mut out,
    );
    c.on_close(3, &mut out);
    let ex = exchanges(&out);
    assert_eq!(ex.len(), 2);
    assert!(ex[0].response.as_ref().unwrap().stats.incomplete);
    assert!(ex[1].request.stats.incomplete);
    assert!(ex[1].response.is_none());
}

#[test]
fn method_target_host() {
    let mut c = Connection::new(Limits::default());
    let mut out = Vec::new();
    c.on_data(
        Egress,
        1,
        b"M-SEARCH * HTTP/1.1\r\nHOST: \t239.255.255.250:1900 \r\nHost: second\r\n\r\n",
        &mut out,
    );
    c.on_data(
        Ingress,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    let ex = exchanges(&out);
    assert_eq!(ex[0].request.head.method, "M-SEARCH");
    assert_eq!(ex[0].request.head.target, "*");
    assert_eq!(
        ex[0].request.head.host.as_deref(),
        Some("239.255.255.250:1900")
    );
    assert_eq!(
        ex[0].request.head.version,
        crate::protocols::HttpVersion::Http11
    );
}

#[test]
fn a_host_that_is_not_utf8_is_kept_with_replacement_characters() {
    for (raw, expected) in [
        (&b"caf\xc3\xa9.example"[..], "caf\u{e9}.example"),
        (b"bad\xff.example", "bad\u{fffd}.example"),
    ] {
        let mut c = Connection::new(Limits::default());
        let mut out = Vec::new();
        let mut request = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        request.extend_from_slice(raw);
        request.extend_from_slice(b"\r\n\r\n");
        c.on_data(Egress, 1, &request, &mut out);
        c.on_data(
            Ingress,
            2,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            &mut out,
        );
        let ex = exchanges(&out);
        assert_eq!(ex[0].request.head.host.as_deref(), Some(expected));
    }
}

#[test]
fn header_debug_hides_values() {
    let h = Header {
        name: "Authorization".into(),
        value: b"Bearer secret-token".to_vec(),
    };
    let s = format!("{h:?}");
    assert!(!s.contains("secret"), "{s}");
    assert!(s.contains("Authorization"));
}
