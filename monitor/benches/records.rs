//! Records to JSON lines: what the daemon does per captured call that the pipeline bench leaves
//! out, together with what it includes. Kernel records are built here byte for byte as the
//! kernel programs emit them (`capture::encode`), then, per record, exactly the daemon's steps:
//! the ring reader's trim, accounting and TLS-tie check (`filled`, `TieResolver::offer`), decoding
//! into the reader's payload arena (`capture::decode_into`), the pipeline (streams → HTTP/1 →
//! enrichment from cached process and socket state → calls → detectors → policy → rates →
//! inventory), and serialising each output to its JSON line as the stdout sink does
//! (`output::ToJsonLine`).
//!
//! The traffic is the overhead benchmark's: HTTPS requests with both ends probed, a client and a
//! server (`nginx`) on loopback, so each request is two API calls, each end linked to the other
//! through their socket addresses. Two kinds of request: an API call with an ID in its path, a
//! query and a bearer token (a finding on every call), and the overhead benchmark's saturating
//! load byte for byte (`wrk`'s `GET /` with only a `Host`, nginx's 11-byte JSON answer), so that
//! this bench and the monitor's measured CPU per call under that load compare like for like.
//! The connections are opened (their `SOCKET_OPEN` records) before the timed part, as on a
//! server whose clients keep their connections alive. No root needed: `cargo bench -p monitor --bench records`.
use std::{hint::black_box, sync::Arc};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use monitor::{
    capture::{
        LibraryInfo, LibraryRegistry, PayloadArena, TieResolver, TlsLibraryKind, decode_into,
        encode, filled,
    },
    enrich::{ProcFacts, ProcessTable, RecordedFacts},
    inspect::Inspector,
    metrics::Metrics,
    output::ToJsonLine as _,
    pipeline::{Output, Pipeline},
    policy::Policy,
    streams::StreamLimits,
    time::WallClock,
};
use monitor_common::{
    AF_INET, COMM_LEN, RecordHeader, SocketOpen, direction, flags, record_kind, role, source,
};

mod common;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

/// Requests per iteration (two API calls each: the client's and the server's).
const REQUESTS: u64 = 500;
const CONNECTIONS: u64 = 10;
const LIBRARY: u64 = 1;
const CLIENT: u32 = 4100;
const SERVER: u32 = 4200;
const SERVER_PORT: u16 = 8443;

/// A client's API call: an ID in the path, a query, a bearer token.
const REQUEST: &[u8] = b"GET /v1/users/12345/orders?page=2 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nUser-Agent: h2load nghttp2/1.52.0\r\nAccept: */*\r\nAuthorization: Bearer 8f14e45fceea167a5a36dedd4bea2543aa\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 02 Jun 2026 10:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}";

/// What `wrk` sends in the overhead benchmark's saturating runs (captured from wrk 4).
const WRK_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n";

/// One request and its answer, and the client's command name.
#[derive(Clone, Copy)]
struct Exchange {
    client: &'static str,
    client_executable: &'static str,
    request: &'static [u8],
    response: &'static [u8],
}

const API_CALL: Exchange = Exchange {
    client: "h2load",
    client_executable: "/usr/bin/h2load",
    request: REQUEST,
    response: RESPONSE,
};

const WRK_GET: Exchange = Exchange {
    client: "wrk",
    client_executable: "/usr/bin/wrk",
    request: WRK_REQUEST,
    response: RESPONSE,
};

fn comm(name: &str) -> [u8; COMM_LEN] {
    let mut out = [0; COMM_LEN];
    out[..name.len()].copy_from_slice(name.as_bytes());
    out
}

struct Record {
    ts: u64,
    tgid: u32,
    name: &'static str,
    kind: u8,
    conn_id: u64,
    src: u8,
    direction: u8,
    socket_id: u64,
}

fn record(r: Record, payload: &[u8]) -> Vec<u8> {
    let head = RecordHeader {
        timestamp_ns: r.ts,
        conn_id: r.conn_id,
        call_len: payload.len() as u64,
        lost_before: 0,
        attach_cookie: if r.src == source::OPENSSL { LIBRARY } else { 0 },
        socket_id: r.socket_id,
        tgid: r.tgid,
        tid: r.tgid,
        offset: 0,
        data_len: payload.len() as u32,
        kind: r.kind,
        direction: r.direction,
        source: r.src,
        flags: flags::LAST_CHUNK,
        uid: 33,
        comm: comm(r.name),
    };
    encode(&head, payload)
}

fn socket_open(ts: u64, tgid: u32, name: &'static str, id: u64, open: &SocketOpen) -> Vec<u8> {
    // SAFETY: `SocketOpen` is `#[repr(C)]` plain data, its padding spelled out as fields.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (open as *const SocketOpen).cast::<u8>(),
            size_of::<SocketOpen>(),
        )
    };
    record(
        Record {
            ts,
            tgid,
            name,
            kind: record_kind::SOCKET_OPEN,
            conn_id: id,
            src: source::SOCKET,
            direction: 0,
            socket_id: id,
        },
        bytes,
    )
}

/// The connections' `SOCKET_OPEN` records (both ends of each), then the calls: per request the
/// client's write, the server's read, the server's write, the client's read.
fn traffic(exchange: Exchange) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let client_name = exchange.client;
    let loopback = [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut opens = Vec::new();
    for c in 0..CONNECTIONS {
        let client_port = 40_000 + c as u16;
        let end = |fd, local_port, remote_port, role| SocketOpen {
            fd,
            family: AF_INET,
            local_port,
            remote_port,
            role,
            recovered: 0,
            listen_fd: 3,
            local_addr: loopback,
            remote_addr: loopback,
        };
        let client = end(10 + c as u32, client_port, SERVER_PORT, role::CLIENT);
        let server = end(20 + c as u32, SERVER_PORT, client_port, role::SERVER);
        opens.push(socket_open(1_000, CLIENT, client_name, 100 + c, &client));
        opens.push(socket_open(1_000, SERVER, "nginx", 200 + c, &server));
    }
    let mut calls = Vec::new();
    for i in 0..REQUESTS {
        let c = i % CONNECTIONS;
        let ts = 1_000_000_000 + i * 200_000;
        let data = |ts, tgid, name, conn_id, direction, socket_id, payload: &[u8]| {
            record(
                Record {
                    ts,
                    tgid,
                    name,
                    kind: record_kind::DATA,
                    conn_id,
                    src: source::OPENSSL,
                    direction,
                    socket_id,
                },
                payload,
            )
        };
        // TLS handles (`SSL*`) of each end, tied to its socket.
        let (client_ssl, server_ssl) = (0x5500_0000 + c, 0x6600_0000 + c);
        calls.push(data(
            ts,
            CLIENT,
            client_name,
            client_ssl,
            direction::EGRESS,
            100 + c,
            exchange.request,
        ));
        calls.push(data(
            ts + 20_000,
            SERVER,
            "nginx",
            server_ssl,
            direction::INGRESS,
            200 + c,
            exchange.request,
        ));
        calls.push(data(
            ts + 60_000,
            SERVER,
            "nginx",
            server_ssl,
            direction::EGRESS,
            200 + c,
            exchange.response,
        ));
        calls.push(data(
            ts + 80_000,
            CLIENT,
            client_name,
            client_ssl,
            direction::INGRESS,
            100 + c,
            exchange.response,
        ));
    }
    (opens, calls)
}

fn pipeline(policy: Option<Policy>, exchange: Exchange, metrics: &Arc<Metrics>) -> Pipeline {
    let libraries = LibraryRegistry::default();
    libraries.insert(
        LIBRARY,
        LibraryInfo {
            kind: TlsLibraryKind::Openssl,
            path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
        },
    );
    let mut facts = RecordedFacts::default();
    for (pid, exe) in [
        (CLIENT, exchange.client_executable),
        (SERVER, "/usr/sbin/nginx"),
    ] {
        facts.insert(
            pid,
            ProcFacts {
                executable: Some(exe.into()),
                container_id: None,
                pod_uid: None,
            },
        );
    }
    let clock = WallClock::with_offset_ns(1_790_000_000_000_000_000);
    let inspector = policy.map(|p| Inspector::new(p, vec![7; 32], clock, metrics.clone()).unwrap());
    Pipeline::new(
        StreamLimits::default(),
        ProcessTable::new(facts),
        libraries,
        clock,
        metrics.clone(),
        inspector,
    )
}

/// The daemon's per-record work (ring reader, then pipeline, then the sink's serialisation).
/// Returns the API-call lines made. Kept out of line: it is the profiler's toggle point
/// (`--toggle-collect='records::run'`).
#[inline(never)]
fn run(pipeline: &mut Pipeline, records: &[Vec<u8>], metrics: &Metrics) -> u64 {
    let mut resolver = TieResolver::default();
    let mut arena = PayloadArena::default();
    let mut lines = 0;
    let mut batch = String::new();
    let mut emit = |output: Output| {
        // As the stdout sink does: lines appended to the batch handed to its writer.
        // Handed off before a line could outgrow the buffer, as the sink's batches are: a
        // `String` grown past its capacity here would copy the whole batch, which the daemon's
        // path never does.
        if batch.capacity() - batch.len() < 16 * 1024 {
            black_box(std::mem::replace(
                &mut batch,
                String::with_capacity(64 * 1024),
            ));
        }
        if output.write_json_line(&mut batch).is_ok() {
            batch.push('\n');
            if matches!(output, Output::Call(_)) {
                lines += 1;
            }
        }
    };
    for raw in records {
        let raw = filled(raw);
        metrics.capture_record(raw.len());
        if let Some(raw) = resolver.offer(raw, metrics)
            && let Ok(event) = decode_into(raw, &mut arena)
        {
            pipeline.handle(event, &mut emit);
        }
    }
    pipeline.flush(u64::MAX / 2, &mut emit);
    lines
}

type PolicyFn = fn() -> Policy;

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Elements(2 * REQUESTS));
    let cases: [(&str, Exchange, Option<PolicyFn>); 3] = [
        ("https_both_ends_no_policy", API_CALL, None),
        (
            "https_both_ends_default_policy",
            API_CALL,
            Some(Policy::builtin_default),
        ),
        // The overhead benchmark's saturating HTTPS run, to set beside its "monitor CPU per
        // 1,000 captured calls".
        (
            "wrk_get_root_default_policy",
            WRK_GET,
            Some(Policy::builtin_default),
        ),
    ];
    for (name, exchange, policy) in cases {
        // `RECORDS_ONLY=<case>` runs one case alone (under a profiler, say).
        if std::env::var("RECORDS_ONLY").is_ok_and(|only| only != name) {
            continue;
        }
        let (opens, calls) = traffic(exchange);
        let metrics = Arc::new(Metrics::new());
        // Allocations per API call on a warm pipeline, connections opened outside the count.
        let mut warm = pipeline(policy.map(|p| p()), exchange, &metrics);
        run(&mut warm, &opens, &metrics);
        let before = common::allocations();
        let lines = run(&mut warm, &calls, &metrics);
        let allocations = common::allocations() - before;
        assert_eq!(lines, 2 * REQUESTS, "{name}: every call must make a line");
        println!(
            "records/{name}: {:.1} heap allocations per API call",
            allocations as f64 / lines as f64
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut p = pipeline(policy.map(|p| p()), exchange, &metrics);
                    run(&mut p, &opens, &metrics);
                    p
                },
                |mut p| run(&mut p, &calls, &metrics),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(record_benches, benches);
criterion_main!(record_benches);
