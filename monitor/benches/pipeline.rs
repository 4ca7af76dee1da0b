//! Pipeline throughput: API calls per second per core through everything after capture
//! (streams → HTTP/1 → enrichment → calls → credential detectors → policy → rates → alerts),
//! driven by synthetic capture events exactly as the daemon drives it with kernel records.
//! No root needed: `cargo xtask bench pipeline` (or `cargo bench -p monitor --bench pipeline`).
//! Before the timings, each case is run once under a counting allocator and its heap
//! allocations per API call are printed.
use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

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

/// The system allocator, counting allocations (and reallocations, which may move).
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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

/// `CALLS` request/response pairs over 10 keep-alive connections.
fn workload(request: &[u8], response: &[u8]) -> Vec<CaptureEvent> {
    let (request, response) = (
        Bytes::copy_from_slice(request),
        Bytes::copy_from_slice(response),
    );
    (0..CALLS)
        .flat_map(|i| {
            let ts = 1_000_000_000 + i * 1_000_000;
            [
                event(i % 10, ts, Direction::Egress, &request),
                event(i % 10, ts + 500_000, Direction::Ingress, &response),
            ]
        })
        .collect()
}

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

/// (name, request bytes, policy to build, if any).
type Case<'a> = (&'a str, &'a [u8], Option<fn() -> Policy>);

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
    let cases: [Case; 4] = [
        ("small_get_no_policy", get, None),
        (
            "small_get_default_policy",
            get,
            Some(Policy::builtin_default),
        ),
        (
            "post_4k_json_default_policy",
            post.as_bytes(),
            Some(Policy::builtin_default),
        ),
        ("small_get_100_rule_policy", get, Some(hundred_rule_policy)),
    ];
    for (name, request, policy) in cases {
        // Allocations per call, with the pipeline built and the events made outside the count.
        let mut warm = pipeline(policy.map(|p| p()));
        let _ = run(&mut warm, workload(request, small_response));
        let events = workload(request, small_response);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let outputs = run(&mut warm, events);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!(
            "pipeline/{name}: {:.1} heap allocations per API call ({outputs} outputs for {CALLS} calls)",
            allocations as f64 / CALLS as f64
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    (
                        pipeline(policy.map(|p| p())),
                        workload(request, small_response),
                    )
                },
                |(mut p, events)| run(&mut p, events),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(pipeline_benches, benches);
criterion_main!(pipeline_benches);
