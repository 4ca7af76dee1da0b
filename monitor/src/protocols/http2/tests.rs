//! The HTTP/2 connection tracker end to end on synthetic bytes: frames in, exchanges out,
//! through the same [`Tracker`](crate::protocols::Tracker) the stream table uses.
use crate::protocols::{
    Direction::{self, Egress, Ingress},
    Exchange, Limits, Output, PREFACE, Role, Tracker,
};

use super::{CaptureStart, Stat, UnknownField};

/// A frame: 9-byte header and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn settings() -> Vec<u8> {
    frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100])
}

fn headers(stream: u32, end_stream: bool, block: &[u8]) -> Vec<u8> {
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(0x1, flags, stream, block)
}

fn data(stream: u32, end_stream: bool, payload: &[u8]) -> Vec<u8> {
    frame(
        0x0,
        if end_stream { END_STREAM } else { 0 },
        stream,
        payload,
    )
}

/// HPACK representations, uncompressed (no Huffman).
fn literal(prefix: u8, name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![prefix];
    for s in [name, value] {
        assert!(s.len() < 127);
        b.push(s.len() as u8);
        b.extend_from_slice(s.as_bytes());
    }
    b
}
/// Literal with incremental indexing (inserted into the dynamic table).
fn indexed_literal(name: &str, value: &str) -> Vec<u8> {
    literal(0x40, name, value)
}
/// Literal never indexed.
fn never_indexed(name: &str, value: &str) -> Vec<u8> {
    literal(0x10, name, value)
}
fn indexed(index: u8) -> Vec<u8> {
    assert!(index < 127);
    vec![0x80 | index]
}

const GET: u8 = 2;
const POST: u8 = 3;
const HTTPS: u8 = 7;
const STATUS_200: u8 = 8;

fn request_block(method: u8, path: &str, authority: &str) -> Vec<u8> {
    [
        indexed(method),
        indexed(HTTPS),
        indexed_literal(":path", path),
        indexed_literal(":authority", authority),
    ]
    .concat()
}

struct Harness {
    tracker: Tracker,
    limits: Limits,
    out: Vec<Output>,
    ts: u64,
}

impl Harness {
    fn new() -> Self {
        Self {
            tracker: Tracker::new(),
            limits: Limits::default(),
            out: Vec::new(),
            ts: 1_000,
        }
    }

    fn send(&mut self, dir: Direction, bytes: &[u8]) {
        self.ts += 1_000;
        self.tracker
            .on_data(&self.limits, dir, self.ts, bytes, &mut self.out);
    }

    fn send_bytewise(&mut self, dir: Direction, bytes: &[u8]) {
        for b in bytes {
            self.send(dir, std::slice::from_ref(b));
        }
    }

    fn close(&mut self) {
        self.tracker.on_close(self.ts + 1, &mut self.out);
    }

    fn exchanges(&self) -> Vec<&Exchange> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Exchange(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn stats(&self) -> Vec<Stat> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Http2Stat(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    fn problems(&self) -> Vec<&'static str> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Problem(p) => Some(p.label()),
                _ => None,
            })
            .collect()
    }
}

fn summary(e: &Exchange) -> (u32, String, String, Option<u16>, bool) {
    let h2 = e.http2.as_deref().expect("an HTTP/2 exchange");
    (
        h2.stream_id,
        e.request.head.method.to_string(),
        e.request.head.target.clone(),
        e.response.as_ref().map(|r| r.head.status),
        !e.request.stats.incomplete && e.response.as_ref().is_some_and(|r| !r.stats.incomplete),
    )
}

/// Client side of a connection with three calls; the later ones refer to dynamic entries.
fn three_calls() -> (Vec<u8>, Vec<u8>) {
    let mut client = PREFACE.to_vec();
    client.extend(settings());
    client.extend(headers(
        1,
        true,
        &request_block(GET, "/a", "api.example.com"),
    ));
    // Stream 3: :path is new, :authority is dynamic entry 62 (the newest: ":authority").
    client.extend(headers(
        3,
        true,
        &[
            indexed(GET),
            indexed(HTTPS),
            indexed_literal(":path", "/b?token=x"),
            indexed(63),
        ]
        .concat(),
    ));
    // Stream 5: everything from the table (":path /b?token=x" is 62, ":authority" 63,
    // ":path /a" 64).
    client.extend(headers(
        5,
        false,
        &[
            indexed(POST),
            indexed(HTTPS),
            indexed(62),
            indexed(63),
            never_indexed("authorization", "Bearer sekrit"),
        ]
        .concat(),
    ));
    client.extend(data(5, true, b"hello"));
    let mut server = settings();
    for id in [1u32, 3, 5] {
        server.extend(headers(id, false, &indexed(STATUS_200)));
        server.extend(data(id, true, b"0123456789"));
    }
    (client, server)
}

#[test]
fn calls_over_one_connection_are_paired_by_stream_and_use_the_dynamic_table() {
    let (client, server) = three_calls();
    let mut h = Harness::new();
    h.send(Egress, &client);
    h.send(Ingress, &server);
    let calls: Vec<_> = h.exchanges().into_iter().map(summary).collect();
    assert_eq!(
        calls,
        vec![
            (1, "GET".into(), "/a".into(), Some(200), true),
            (3, "GET".into(), "/b?token=x".into(), Some(200), true),
            (5, "POST".into(), "/b?token=x".into(), Some(200), true),
        ]
    );
    let e = h.exchanges()[2];
    assert_eq!(e.role, Role::Client);
    assert_eq!(e.request.head.host.as_deref(), Some("api.example.com"));
    assert_eq!(e.request.stats.body_bytes, 5);
    assert_eq!(e.request.stats.body_sample[..], b"hello"[..]);
    assert_eq!(e.response.as_ref().map(|r| r.stats.body_bytes), Some(10));
    // The never-indexed credential reaches the detectors' view of the request.
    assert!(
        e.request
            .head
            .headers
            .iter()
            .any(|h| h.name == "authorization" && h.value == b"Bearer sekrit")
    );
    let h2 = e.http2.as_deref().unwrap();
    assert_eq!(h2.capture_start, CaptureStart::Preface);
    assert!(h2.unknown_fields.is_empty());
    assert!(h.stats().contains(&Stat::Connection(CaptureStart::Preface)));
    assert!(h.problems().is_empty(), "{:?}", h.problems());
}

/// What an exchange carries of each side, handed over rather than copied: the request's head
/// without `:path` (the target says it), values' surrounding spaces trimmed where they become
/// the method, the target and the host, the response's status, head and body sample whole (a
/// sample longer than what is kept inline included), and the request's sample.
#[test]
fn an_exchange_carries_each_sides_head_and_sample_whole() {
    let mut client = PREFACE.to_vec();
    client.extend(settings());
    let request = [
        literal(0x00, ":method", " PATCH "),
        indexed(HTTPS),
        literal(0x00, ":path", " /v1/items/7 "),
        literal(0x00, ":authority", " api.example.com "),
        literal(0x00, "x-trace", "abc"),
    ]
    .concat();
    client.extend(headers(1, false, &request));
    client.extend(data(1, true, b"{\"n\":1}"));
    let body = br#"{"items":[{"id":7,"name":"seventh item"}]}"#;
    let mut server = settings();
    let response = [
        indexed(STATUS_200),
        literal(0x00, "content-type", "application/json"),
    ]
    .concat();
    server.extend(headers(1, false, &response));
    server.extend(data(1, true, body));
    let mut h = Harness::new();
    h.send(Egress, &client);
    h.send(Ingress, &server);
    let exchanges = h.exchanges();
    let [e] = exchanges.as_slice() else {
        panic!("one exchange: {exchanges:?}");
    };
    assert_eq!(e.request.head.method, "PATCH");
    assert_eq!(e.request.head.target, "/v1/items/7");
    assert_eq!(e.request.head.host.as_deref(), Some("api.example.com"));
    let names: Vec<_> = e.request.head.headers.iter().map(|h| h.name).collect();
    assert_eq!(names, [":method", ":scheme", ":authority", "x-trace"]);
    assert_eq!(e.request.stats.body_sample[..], b"{\"n\":1}"[..]);
    assert!(!e.request.stats.incomplete);
    let response = e.response.as_ref().expect("a response");
    assert_eq!(response.head.status, 200);
    let fields: Vec<_> = response
        .head
        .headers
        .iter()
        .map(|h| (h.name, h.value))
        .collect();
    assert_eq!(
        fields,
        [
            (":status", &b"200"[..]),
            ("content-type", &b"application/json"[..])
        ]
    );
    assert!(body.len() > 24);
    assert_eq!(response.stats.body_sample[..], body[..]);
    assert_eq!(response.stats.body_bytes, body.len() as u64);
    assert!(!response.stats.incomplete);
}

#[test]
fn byte_at_a_time_gives_what_whole_chunks_give() {
    let (client, server) = three_calls();
    let mut whole = Harness::new();
    whole.send(Egress, &client);
    whole.send(Ingress, &server);
    let mut bytewise = Harness::new();
    bytewise.send_bytewise(Egress, &client);
    bytewise.send_bytewise(Ingress, &server);
    let a: Vec<_> = whole.exchanges().into_iter().map(summary).collect();
    let b: Vec<_> = bytewise.exchanges().into_iter().map(summary).collect();
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
}

#[test]
fn the_server_side_and_a_server_speaking_first_are_understood() {
    let (client, server) = three_calls();
    let mut h = Harness::new();
    // A server process: it writes its SETTINGS before the preface is read.
    h.send(Egress, &server[..15]);
    h.send(Ingress, &client);
    h.send(Egress, &server[15..]);
    let calls = h.exchanges();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|e| e.role == Role::Server));
    assert_eq!(summary(calls[1]).2, "/b?token=x");
}

#[test]
fn mid_connection_fields_from_unseen_entries_are_unknown_never_guessed() {
    let mut h = Harness::new();
    // No preface: the connection predates the capture. Stream 7 refers to dynamic entries
    // 62/63 inserted before we looked; its method is static and known.
    h.send(
        Egress,
        &headers(
            7,
            true,
            &[indexed(GET), indexed(HTTPS), indexed(62), indexed(63)].concat(),
        ),
    );
    h.send(Ingress, &headers(7, true, &indexed(STATUS_200)));
    // Stream 9 inserts a new path: it resolves exactly, and so does its reuse on stream 11.
    h.send(
        Egress,
        &headers(
            9,
            true,
            &[
                indexed(GET),
                indexed_literal(":path", "/fresh"),
                indexed(64),
            ]
            .concat(),
        ),
    );
    h.send(Ingress, &headers(9, true, &indexed(STATUS_200)));
    h.send(
        Egress,
        &headers(11, true, &[indexed(GET), indexed(62), indexed(65)].concat()),
    );
    h.send(Ingress, &headers(11, true, &indexed(STATUS_200)));
    let calls = h.exchanges();
    assert_eq!(calls.len(), 3);
    let first = calls[0].http2.as_deref().unwrap();
    assert_eq!(first.capture_start, CaptureStart::MidConnection);
    assert_eq!(calls[0].request.head.method, "GET");
    assert!(first.unknown_fields.contains(&UnknownField::Path));
    assert!(first.unknown_fields.contains(&UnknownField::Host));
    assert!(!first.unknown_fields.contains(&UnknownField::Method));
    assert_eq!(calls[0].request.head.target, "");
    assert_eq!(calls[1].request.head.target, "/fresh");
    assert_eq!(calls[2].request.head.target, "/fresh");
    assert!(
        !calls[2]
            .http2
            .as_deref()
            .unwrap()
            .unknown_fields
            .contains(&UnknownField::Path)
    );
    assert!(
        h.stats()
            .contains(&Stat::Connection(CaptureStart::MidConnection))
    );
    assert!(h.stats().contains(&Stat::UnknownField(UnknownField::Path)));
}

#[test]
fn grpc_status_message_and_message_counts_come_from_trailers() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(settings());
    client.extend(headers(
        1,
        false,
        &[
            indexed(POST),
            indexed(6), // :scheme http
            indexed_literal(":path", "/demo.Greeter/SayHello"),
            indexed_literal(":authority", "127.0.0.1:50051"),
            literal(0x00, "content-type", "application/grpc"),
        ]
        .concat(),
    ));
    let message = [&[0u8, 0, 0, 0, 7][..], b"missing"].concat();
    client.extend(data(1, true, &message));
    h.send(Egress, &client);
    let mut server = settings();
    server.extend(headers(
        1,
        false,
        &[
            indexed(STATUS_200),
            literal(0x00, "content-type", "application/grpc"),
        ]
        .concat(),
    ));
    server.extend(headers(
        1,
        true,
        &[
            literal(0x00, "grpc-status", "5"),
            literal(0x00, "grpc-message", "no such name"),
        ]
        .concat(),
    ));
    h.send(Ingress, &server);
    let calls = h.exchanges();
    assert_eq!(calls.len(), 1);
    let grpc = calls[0].http2.as_deref().unwrap().grpc.clone().unwrap();
    assert_eq!(grpc.service.as_deref(), Some("demo.Greeter"));
    assert_eq!(grpc.method.as_deref(), Some("SayHello"));
    assert_eq!(grpc.status, Some(5));
    assert_eq!(grpc.status_name, Some("NOT_FOUND"));
    assert!(grpc.message_present);
    assert_eq!(grpc.message_length, Some(12));
    assert_eq!(grpc.request_messages, Some(1));
    assert_eq!(grpc.response_messages, Some(0));
}

#[test]
fn a_reset_stream_is_reported_incomplete_with_who_reset_it() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(headers(1, true, &request_block(GET, "/slow", "h")));
    client.extend(frame(0x3, 0, 1, &8u32.to_be_bytes()));
    h.send(Egress, &client);
    let calls = h.exchanges();
    assert_eq!(calls.len(), 1);
    let reset = calls[0].http2.as_deref().unwrap().reset.clone().unwrap();
    assert_eq!(reset.by, Role::Client);
    assert_eq!(reset.error, "CANCEL");
    assert!(calls[0].response.is_none());
}

#[test]
fn open_streams_are_reported_incomplete_when_the_connection_closes() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(headers(1, true, &request_block(GET, "/never", "h")));
    h.send(Egress, &client);
    assert!(h.exchanges().is_empty());
    h.close();
    let calls = h.exchanges();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].request.stats.start_ns > 0);
    assert!(calls[0].response.is_none());
}

#[test]
fn an_h2c_upgrade_hands_stream_one_to_http2() {
    let mut h = Harness::new();
    h.send(
        Egress,
        b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
    );
    let mut server =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    server.extend(settings());
    server.extend(headers(1, false, &indexed(STATUS_200)));
    server.extend(data(1, true, b"upgraded"));
    h.send(Ingress, &server);
    let mut client = PREFACE.to_vec();
    client.extend(settings());
    client.extend(headers(3, true, &request_block(GET, "/next", "localhost")));
    h.send(Egress, &client);
    h.send(
        Ingress,
        &[headers(3, false, &indexed(STATUS_200)), data(3, true, b"x")].concat(),
    );
    let calls = h.exchanges();
    assert_eq!(calls.len(), 2, "{:?}", h.problems());
    assert_eq!(
        summary(calls[0]),
        (1, "GET".into(), "/up".into(), Some(200), true)
    );
    assert_eq!(
        calls[0].http2.as_deref().unwrap().capture_start,
        CaptureStart::Upgrade
    );
    assert_eq!(calls[0].response.as_ref().unwrap().stats.body_bytes, 8);
    assert_eq!(
        summary(calls[1]),
        (3, "GET".into(), "/next".into(), Some(200), true)
    );
    assert!(h.problems().is_empty(), "{:?}", h.problems());
}

#[test]
fn http1_and_not_http_are_not_taken_for_http2() {
    let mut h = Harness::new();
    h.send(Egress, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    h.send(Ingress, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(h.exchanges().len(), 1);
    assert!(h.exchanges()[0].http2.is_none());
    let mut noise = Harness::new();
    noise.send(
        Egress,
        &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03],
    );
    noise.close();
    assert!(noise.exchanges().is_empty());
    assert!(
        !noise
            .stats()
            .iter()
            .any(|s| matches!(s, Stat::Connection(_)))
    );
}

#[test]
fn pushed_streams_are_decoded_for_the_table_but_not_reported() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(headers(1, true, &request_block(GET, "/page", "h")));
    h.send(Egress, &client);
    // PUSH_PROMISE on stream 1 for stream 2: its block inserts ":path /style.css" (62).
    let mut promise = 2u32.to_be_bytes().to_vec();
    promise.extend([indexed(GET), indexed_literal(":path", "/style.css")].concat());
    let mut server = settings();
    server.extend(frame(0x5, END_HEADERS, 1, &promise));
    server.extend(headers(1, false, &indexed(STATUS_200)));
    server.extend(data(1, true, b"<html>"));
    server.extend(headers(2, false, &indexed(STATUS_200)));
    server.extend(data(2, true, b"body{}"));
    h.send(Ingress, &server);
    let calls = h.exchanges();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(summary(calls[0]).2, "/page");
    assert!(h.stats().contains(&Stat::Push));
}

#[test]
fn nothing_is_reported_after_the_close() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(headers(1, true, &request_block(GET, "/a", "h")));
    h.send(Egress, &client);
    h.close();
    assert_eq!(h.exchanges().len(), 1);
    // Bytes (or a second close) after the close must not open new streams.
    h.send(Egress, &headers(3, true, &request_block(GET, "/late", "h")));
    h.close();
    assert_eq!(h.exchanges().len(), 1);
}

/// Frames that arrive for a stream already reported (a stray block, a late request on a reused
/// id) do not start a new call, whether its id is below or above a stream that ended after it;
/// a new stream with a higher id still does.
#[test]
fn a_reported_stream_is_not_reopened_by_its_late_frames() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(settings());
    client.extend(headers(1, true, &request_block(GET, "/one", "h")));
    client.extend(headers(3, true, &request_block(GET, "/three", "h")));
    h.send(Egress, &client);
    let mut server = settings();
    // Stream 3 ends first, then stream 1.
    server.extend(headers(3, false, &indexed(STATUS_200)));
    server.extend(data(3, true, b"3"));
    server.extend(headers(1, false, &indexed(STATUS_200)));
    server.extend(data(1, true, b"1"));
    h.send(Ingress, &server);
    assert_eq!(h.exchanges().len(), 2);
    h.send(Ingress, &headers(1, true, &indexed(STATUS_200)));
    h.send(
        Egress,
        &headers(3, true, &request_block(GET, "/again", "h")),
    );
    h.send(Egress, &headers(5, true, &request_block(GET, "/five", "h")));
    h.send(
        Ingress,
        &[headers(5, false, &indexed(STATUS_200)), data(5, true, b"5")].concat(),
    );
    // A stream wrongly opened by a late frame would be reported, incomplete, at the close.
    h.close();
    let paths: Vec<_> = h.exchanges().into_iter().map(|e| summary(e).2).collect();
    assert_eq!(paths, ["/three", "/one", "/five"]);
}

#[test]
fn header_blocks_after_the_trailers_are_not_kept() {
    let mut h = Harness::new();
    let mut client = PREFACE.to_vec();
    client.extend(headers(1, false, &request_block(POST, "/up", "h")));
    h.send(Egress, &client);
    let value = "v".repeat(100);
    // A sender that keeps sending header blocks on an open stream (a protocol error): memory
    // must not grow with them.
    for _ in 0..50 {
        h.send(Egress, &headers(1, false, &literal(0x00, "x-more", &value)));
    }
    assert!(
        h.tracker.buffered_bytes() < 1_000,
        "{} bytes held",
        h.tracker.buffered_bytes()
    );
}

#[test]
fn an_h2c_upgrade_hands_over_exactly_wherever_the_101_is_split() {
    let request = b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
    let mut server =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    server.extend(settings());
    server.extend(headers(1, false, &indexed(STATUS_200)));
    server.extend(data(1, true, b"upgraded"));
    server.extend(frame(0x8, 0, 0, &1000u32.to_be_bytes()));
    server.extend(headers(3, false, &indexed(STATUS_200)));
    server.extend(data(3, true, b"x"));
    let mut client = PREFACE.to_vec();
    client.extend(settings());
    client.extend(headers(3, true, &request_block(GET, "/next", "localhost")));
    for split in 1..server.len() {
        let mut h = Harness::new();
        h.send(Egress, request);
        h.send(Ingress, &server[..split]);
        h.send(Egress, &client);
        h.send(Ingress, &server[split..]);
        let calls: Vec<_> = h.exchanges().into_iter().map(summary).collect();
        assert_eq!(
            calls,
            vec![
                (1, "GET".into(), "/up".into(), Some(200), true),
                (3, "GET".into(), "/next".into(), Some(200), true)
            ],
            "split at {split}: {:?}",
            h.problems()
        );
        assert!(
            h.problems().is_empty(),
            "split at {split}: {:?}",
            h.problems()
        );
    }
}
