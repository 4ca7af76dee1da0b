//! Pipeline throughput: API calls per second per core through everything after capture
//! (streams → HTTP/1 or HTTP/2 → enrichment → calls → credential detectors → policy → rates →
//! alerts), driven by synthetic capture events exactly as the daemon drives it with kernel
//! records. The HTTP/2 byte streams are encoded here by a small HPACK encoder (see [`Hpack`]).
//! No root needed: `cargo xtask bench pipeline` (or `cargo bench -p monitor --bench pipeline`).
//! Before the timings, each case is run once under a counting allocator and its heap
//! allocations per API call are printed.
use std::{hint::black_box, sync::Arc};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use monitor::{
    capture::{
        CaptureEvent, ConnKey, DataChunk, EventKind, LibraryInfo, LibraryRegistry, TlsLibraryKind,
    },
    enrich::{ProcessTable, RecordedFacts},
    inspect::Inspector,
    metrics::Metrics,
    pipeline::{Output, Pipeline},
    policy::Policy,
    protocols::Direction,
    streams::StreamLimits,
    time::WallClock,
};

mod common;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

const CALLS: u64 = 1_000;
const LIBRARY: u64 = 1;

fn pipeline(policy: Option<Policy>) -> Pipeline {
    let metrics = Arc::new(Metrics::new());
    let libraries = LibraryRegistry::default();
    libraries.insert(
        LIBRARY,
        LibraryInfo {
            kind: TlsLibraryKind::Openssl,
            path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
        },
    );
    let clock = WallClock::with_offset_ns(1_790_000_000_000_000_000);
    let inspector = policy.map(|p| Inspector::new(p, vec![7; 32], clock, metrics.clone()).unwrap());
    Pipeline::new(
        StreamLimits::default(),
        ProcessTable::new(RecordedFacts::default()),
        libraries,
        clock,
        metrics,
        inspector,
    )
}

fn event(conn: u64, ts: u64, direction: Direction, bytes: &Bytes) -> CaptureEvent {
    CaptureEvent {
        timestamp_ns: ts,
        tgid: 4242,
        tid: 4242,
        uid: 1000,
        comm: "bench".into(),
        kind: EventKind::Data(DataChunk {
            conn: ConnKey {
                tgid: 4242,
                source: 1,
                id: conn,
            },
            direction,
            call_len: bytes.len() as u64,
            offset: 0,
            last_chunk: true,
            lost_before: 0,
            library: LIBRARY,
            socket_id: 0,
            data: bytes.clone(),
        }),
    }
}

/// Chunks of a workload in capture order: (connection, direction, bytes). Built once per case;
/// turned into events (cheap `Bytes` clones) for every iteration.
type Chunks = Vec<(u64, Direction, Bytes)>;

/// `CALLS` request/response pairs over 10 keep-alive connections.
fn http1_workload(request: &[u8], response: &[u8]) -> Chunks {
    let (request, response) = (
        Bytes::copy_from_slice(request),
        Bytes::copy_from_slice(response),
    );
    (0..CALLS)
        .flat_map(|i| {
            [
                (i % 10, Direction::Egress, request.clone()),
                (i % 10, Direction::Ingress, response.clone()),
            ]
        })
        .collect()
}

/// One chunk every 0.5 ms (a call per millisecond); connection ids shifted by `conn_base`.
fn events(chunks: &Chunks, conn_base: u64) -> Vec<CaptureEvent> {
    chunks
        .iter()
        .enumerate()
        .map(|(j, (conn, direction, bytes))| {
            let ts = 1_000_000_000 + j as u64 * 500_000;
            event(conn_base + conn, ts, *direction, bytes)
        })
        .collect()
}

/// A minimal HPACK encoder (RFC 7541) for one direction: a field in the static table is sent
/// indexed, one in the dynamic table too, anything else as a literal with incremental indexing
/// (name indexed when the static table has it), except `never_index` names, sent never-indexed.
/// No Huffman coding: blocks are a little larger than a real encoder's.
struct Hpack {
    /// Newest first, with RFC 7541 sizes (name + value + 32), evicted beyond 4096 bytes.
    table: std::collections::VecDeque<(String, String)>,
    size: usize,
}

/// The static-table entries these workloads use: (index, name, value; "" = name only).
const STATIC: &[(usize, &str, &str)] = &[
    (1, ":authority", ""),
    (2, ":method", "GET"),
    (3, ":method", "POST"),
    (4, ":path", "/"),
    (6, ":scheme", "http"),
    (7, ":scheme", "https"),
    (8, ":status", "200"),
    (19, "accept", ""),
    (28, "content-length", ""),
    (31, "content-type", ""),
    (33, "date", ""),
    (58, "user-agent", ""),
];

impl Hpack {
    fn new() -> Self {
        Self {
            table: Default::default(),
            size: 0,
        }
    }

    fn integer(out: &mut Vec<u8>, first: u8, prefix_bits: u32, mut n: usize) {
        let max = (1usize << prefix_bits) - 1;
        if n < max {
            out.push(first | n as u8);
            return;
        }
        out.push(first | max as u8);
        n -= max;
        while n >= 128 {
            out.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        out.push(n as u8);
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        Self::integer(out, 0, 7, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn block(&mut self, fields: &[(&str, &str)], never_index: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(name, value) in fields {
            if let Some(&(i, _, _)) = STATIC.iter().find(|e| e.1 == name && e.2 == value) {
                Self::integer(&mut out, 0x80, 7, i);
                continue;
            }
            if let Some(pos) = self.table.iter().position(|(n, v)| n == name && v == value) {
                Self::integer(&mut out, 0x80, 7, 62 + pos);
                continue;
            }
            let name_index = STATIC.iter().find(|e| e.1 == name).map_or(0, |e| e.0);
            let sensitive = never_index.contains(&name);
            let (first, bits) = if sensitive { (0x10, 4) } else { (0x40, 6) };
            Self::integer(&mut out, first, bits, name_index);
            if name_index == 0 {
                Self::string(&mut out, name);
            }
            Self::string(&mut out, value);
            if !sensitive {
                self.table.push_front((name.to_owned(), value.to_owned()));
                self.size += name.len() + value.len() + 32;
                while self.size > 4096 {
                    let (n, v) = self.table.pop_back().expect("an entry to evict");
                    self.size -= n.len() + v.len() + 32;
                }
            }
        }
        out
    }
}

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn as_refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// One HTTP/2 call: its request and response fields, bodies and trailers.
struct H2Call<'a> {
    request: Vec<(&'a str, String)>,
    request_body: &'a [u8],
    response: Vec<(&'a str, String)>,
    response_body: &'a [u8],
    trailers: Vec<(&'a str, String)>,
}

/// `CALLS` calls on one HTTP/2 connection (client side traced): the preface and SETTINGS
/// exchange once, then for each call the request's frames in one write and the response's in
/// one read.
fn http2_workload(call: impl Fn(u64) -> H2Call<'static>) -> Chunks {
    let (mut client, mut server) = (Hpack::new(), Hpack::new());
    let never_index = ["authorization"];
    let mut out = Vec::new();
    for i in 0..CALLS {
        let c = call(i);
        let stream = 1 + 2 * i as u32;
        let mut egress = Vec::new();
        let mut ingress = Vec::new();
        if i == 0 {
            egress.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            frame(
                &mut egress,
                4,
                0,
                0,
                &[0, 2, 0, 0, 0, 0, 0, 4, 0, 0x60, 0, 0],
            );
            frame(
                &mut ingress,
                4,
                0,
                0,
                &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0],
            );
            frame(&mut ingress, 4, 1, 0, &[]);
        }
        let block = client.block(&as_refs(&c.request), &never_index);
        let end = if c.request_body.is_empty() {
            END_STREAM
        } else {
            0
        };
        frame(&mut egress, 1, END_HEADERS | end, stream, &block);
        if !c.request_body.is_empty() {
            frame(&mut egress, 0, END_STREAM, stream, c.request_body);
        }
        let block = server.block(&as_refs(&c.response), &never_index);
        frame(&mut ingress, 1, END_HEADERS, stream, &block);
        let data_end = if c.trailers.is_empty() { END_STREAM } else { 0 };
        frame(&mut ingress, 0, data_end, stream, c.response_body);
        if !c.trailers.is_empty() {
            let block = server.block(&as_refs(&c.trailers), &never_index);
            frame(&mut ingress, 1, END_HEADERS | END_STREAM, stream, &block);
        }
        out.push((0, Direction::Egress, Bytes::from(egress)));
        out.push((0, Direction::Ingress, Bytes::from(ingress)));
    }
    out
}

/// The small GET of the HTTP/1 cases, over HTTP/2: the path changes with each call (a new
/// table entry every time, evicting old ones), the other headers come from the table after the
/// first call, the bearer token is sent never-indexed (as HTTP/2 clients send credentials).
fn h2_small_get(i: u64) -> H2Call<'static> {
    H2Call {
        request: vec![
            (":method", "GET".into()),
            (":scheme", "https".into()),
            (
                ":path",
                format!("/v1/users/{}/orders?page=2", 12_345 + i % 100),
            ),
            (":authority", "api.example.com".into()),
            ("user-agent", "bench/1.0".into()),
            ("accept", "application/json".into()),
            (
                "authorization",
                "Bearer 8f14e45fceea167a5a36dedd4bea2543aa".into(),
            ),
        ],
        request_body: b"",
        response: vec![
            (":status", "200".into()),
            ("content-type", "application/json".into()),
            ("content-length", "25".into()),
            ("date", "Tue, 02 Jun 2026 10:00:00 GMT".into()),
        ],
        response_body: b"{\"orders\":[],\"next\":null}",
        trailers: Vec::new(),
    }
}

/// A gRPC unary call as grpc-go sends it: one length-prefixed message each way, trailers with
/// `grpc-status: 0`.
fn grpc_unary(_: u64) -> H2Call<'static> {
    H2Call {
        request: vec![
            (":method", "POST".into()),
            (":scheme", "http".into()),
            (":path", "/demo.Greeter/SayHello".into()),
            (":authority", "127.0.0.1:50051".into()),
            ("content-type", "application/grpc".into()),
            ("user-agent", "grpc-go/1.64.0".into()),
            ("te", "trailers".into()),
            ("grpc-timeout", "999m".into()),
        ],
        request_body: b"\0\0\0\0\x07\n\x05world",
        response: vec![
            (":status", "200".into()),
            ("content-type", "application/grpc".into()),
        ],
        response_body: b"\0\0\0\0\x0d\n\x0bHello world",
        trailers: vec![("grpc-status", "0".into()), ("grpc-message", String::new())],
    }
}

// Kept out of line, with `run_counting`: they are the points a profiler's toggle names
// (`--toggle-collect='pipeline::run*'`), since whole-program LTO inlines `Pipeline::handle`.
#[inline(never)]
fn run(pipeline: &mut Pipeline, events: Vec<CaptureEvent>) -> usize {
    let mut outputs = 0;
    for event in events {
        pipeline.handle(event, &mut |o: Output| {
            black_box(&o);
            outputs += 1;
        });
    }
    outputs
}

/// Like [`run`], also counting the complete API calls with every field known (alerts aside).
/// Calls still open at the end are not flushed: every workload ends with a complete response.
#[inline(never)]
fn run_counting(pipeline: &mut Pipeline, events: Vec<CaptureEvent>) -> (usize, u64) {
    let (mut outputs, mut calls) = (0, 0);
    for event in events {
        pipeline.handle(event, &mut |o: Output| {
            // Whole and fully decoded: a wrong HPACK encoding here would still give calls.
            if let Output::Call(c) = &o
                && c.complete
                && c.status == Some(200)
                && c.method.is_some()
                && c.host.is_some()
                && c.path.is_some()
            {
                calls += 1;
            }
            black_box(&o);
            outputs += 1;
        });
    }
    (outputs, calls)
}

fn hundred_rule_policy() -> Policy {
    let mut yaml = String::from("version: 1\nsettings:\n  discovery: info\ndestinations:\n");
    for i in 0..70 {
        yaml.push_str(&format!(
            "  - id: deny-{i}\n    action: deny\n    hosts: [\"*.blocked{i}.example\", \"api{i}.example.org\"]\n    severity: high\n"
        ));
    }
    yaml.push_str("rate_limits:\n");
    for i in 0..30 {
        yaml.push_str(&format!(
            "  - id: rate-{i}\n    hosts: [\"api{i}.example.com\"]\n    limit: 1000\n    per: 1m\n    burst: 100\n    severity: medium\n"
        ));
    }
    Policy::from_yaml(&yaml).expect("benchmark policy is valid")
}

/// The built-in policy with `sensitive_data` turned off: the same binary with and without the
/// sensitive-data scan, for its cost in the pipeline.
fn default_without_sensitive_data() -> Policy {
    let yaml = monitor::policy::DEFAULT_POLICY_YAML.replace(
        "sensitive_data:\n  enabled: true",
        "sensitive_data:\n  enabled: false",
    );
    let policy = Policy::from_yaml(&yaml).expect("the default policy with one switch flipped");
    assert!(
        policy.sensitive_data().kinds.is_empty(),
        "the switch was found"
    );
    policy
}

/// (name, workload, policy to build, if any).
type Case<'a> = (&'a str, Chunks, Option<fn() -> Policy>);

fn benches(c: &mut Criterion) {
    let get = b"GET /v1/users/12345/orders?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer 8f14e45fceea167a5a36dedd4bea2543aa\r\n\r\n";
    let small_response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"orders\":[],\"next\":null}\r\n";
    let body = format!(
        "{{\"customer\":\"cus_{}\",\"items\":[{}],\"note\":\"{}\"}}",
        "9".repeat(14),
        (0..60)
            .map(|i| format!("{{\"sku\":\"sku-{i:04}\",\"qty\":{i}}}"))
            .collect::<Vec<_>>()
            .join(","),
        "x".repeat(400)
    );
    let body = format!("{body:<4096}");
    let post = format!(
        "POST /v1/charges HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer sk_live_51HcQ2bKx9TzW4mPq8RvN3yLd\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(CALLS));
    let get_workload = http1_workload(get, small_response);
    let cases: [Case; 8] = [
        ("small_get_no_policy", get_workload.clone(), None),
        (
            "small_get_default_policy",
            get_workload.clone(),
            Some(Policy::builtin_default),
        ),
        (
            "post_4k_json_default_policy",
            http1_workload(post.as_bytes(), small_response),
            Some(Policy::builtin_default),
        ),
        (
            "post_4k_json_default_policy_without_sensitive_data",
            http1_workload(post.as_bytes(), small_response),
            Some(default_without_sensitive_data),
        ),
        (
            "small_get_100_rule_policy",
            get_workload,
            Some(hundred_rule_policy),
        ),
        ("h2_small_get_no_policy", http2_workload(h2_small_get), None),
        (
            "h2_small_get_default_policy",
            http2_workload(h2_small_get),
            Some(Policy::builtin_default),
        ),
        (
            "grpc_unary_default_policy",
            http2_workload(grpc_unary),
            Some(Policy::builtin_default),
        ),
    ];
    for (name, chunks, policy) in cases {
        // `PIPELINE_ONLY=<case>` runs one case alone (under a profiler, say).
        if std::env::var("PIPELINE_ONLY").is_ok_and(|only| only != name) {
            continue;
        }
        // Allocations per call, with the pipeline built and the events made outside the count,
        // on a pipeline warmed by one run. The counted run uses new connection ids: an HTTP/2
        // connection starts at its preface.
        let mut warm = pipeline(policy.map(|p| p()));
        let _ = run(&mut warm, events(&chunks, 0));
        let events_now = events(&chunks, 100);
        let before = common::allocations();
        let (outputs, calls) = run_counting(&mut warm, events_now);
        let allocations = common::allocations() - before;
        assert_eq!(
            calls, CALLS,
            "{name}: every call must come out of the pipeline"
        );
        println!(
            "pipeline/{name}: {:.1} heap allocations per API call ({outputs} outputs for {CALLS} calls)",
            allocations as f64 / CALLS as f64
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || (pipeline(policy.map(|p| p())), events(&chunks, 0)),
                |(mut p, events)| run(&mut p, events),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
    detectors(c, &body);
}

/// The detectors alone on the 4 KiB JSON body of `post_4k_json_default_policy` (no candidate
/// value in it): the credential detector, and the sensitive-data scanner over the request and
/// the small response. What each costs per call, and its allocations (0 when nothing is
/// found). `PIPELINE_ONLY=detectors` runs these alone.
fn detectors(c: &mut Criterion, body: &str) {
    use monitor::{
        credentials::{Detector, DetectorSettings, Fingerprinter},
        protocols::{Headers, RequestView},
        sensitive::{KindSet, ResponseView, SensitiveScanner},
    };
    if std::env::var("PIPELINE_ONLY").is_ok_and(|only| only != "detectors") {
        return;
    }
    let mut headers = Headers::with_capacity(3, 128);
    headers.push("Host", b"api.stripe.com");
    headers.push("Authorization", b"Bearer sk_live_51HcQ2bKx9TzW4mPq8RvN3yLd");
    headers.push("Content-Type", b"application/json");
    let request = RequestView {
        headers: &headers,
        target: "/v1/charges",
        host: Some("api.stripe.com"),
        body_sample: body.as_bytes(),
    };
    let mut response_headers = Headers::with_capacity(1, 32);
    response_headers.push("Content-Type", b"application/json");
    let response = ResponseView {
        headers: &response_headers,
        body_sample: b"{\"orders\":[],\"next\":null}",
    };
    let credentials =
        Detector::new(&DetectorSettings::default(), Fingerprinter::new(&[7; 32])).unwrap();
    let sensitive = SensitiveScanner::new().unwrap();
    let before = common::allocations();
    let found = sensitive.scan(request, Some(response), KindSet::all());
    println!(
        "detectors/sensitive_4k_json: {} heap allocations per call, {} findings",
        common::allocations() - before,
        found.findings.len()
    );
    let mut group = c.benchmark_group("detectors");
    group.bench_function("credentials_4k_json", |b| {
        b.iter(|| credentials.scan(black_box(request), 1_790_000_000))
    });
    group.bench_function("sensitive_4k_json", |b| {
        b.iter(|| {
            sensitive.scan(
                black_box(request),
                black_box(Some(response)),
                KindSet::all(),
            )
        })
    });
    group.finish();
}

criterion_group!(pipeline_benches, benches);
criterion_main!(pipeline_benches);
