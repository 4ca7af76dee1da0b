//! The stages after capture, driven with synthetic capture events exactly as the daemon drives
//! them with kernel records.
use std::sync::Arc;

use bytes::Bytes;

use super::{Output, Pipeline};
use crate::{
    calls::ApiCall,
    capture::{
        CaptureEvent, ConnKey, DataChunk, EventKind, LibraryInfo, LibraryRegistry, TlsLibraryKind,
    },
    enrich::{ProcessTable, RecordedFacts},
    metrics::Metrics,
    protocols::Direction,
    streams::StreamLimits,
    time::WallClock,
};

const PID: u32 = 4242;
const SECOND: u64 = 1_000_000_000;

struct Harness {
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    calls: Vec<ApiCall>,
    library: u64,
    /// The TCP connection the next chunks carry (0: unknown).
    socket_id: u64,
}

impl Harness {
    fn new(limits: StreamLimits) -> Self {
        let metrics = Arc::new(Metrics::new());
        let libraries = LibraryRegistry::default();
        let library = libraries.register(LibraryInfo {
            kind: TlsLibraryKind::Openssl,
            path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
        });
        Self {
            pipeline: Pipeline::new(
                limits,
                // No /proc: identity must come from the exec event, as for short-lived clients.
                ProcessTable::new(RecordedFacts::default()),
                libraries,
                WallClock::with_offset_ns(0),
                metrics.clone(),
                None,
            ),
            metrics,
            calls: Vec::new(),
            library,
            socket_id: 0,
        }
    }

    fn event(&mut self, ts: u64, tgid: u32, kind: EventKind) {
        let event = CaptureEvent {
            timestamp_ns: ts,
            tgid,
            tid: tgid + 1,
            uid: 1000,
            comm: "client".into(),
            kind,
        };
        let calls = &mut self.calls;
        self.pipeline.handle(event, &mut |output| {
            if let Output::Call(call) = output {
                calls.push(call)
            }
        });
    }

    /// One whole call's bytes in one chunk.
    fn data(&mut self, ts: u64, conn: u64, direction: Direction, bytes: &[u8]) {
        self.chunk(ts, conn, direction, bytes, bytes.len() as u64, 0);
    }

    /// A chunk of a call of `call_len` bytes, preceded by `lost_before` lost bytes.
    fn chunk(
        &mut self,
        ts: u64,
        conn: u64,
        direction: Direction,
        bytes: &[u8],
        call_len: u64,
        lost_before: u64,
    ) {
        let chunk = DataChunk {
            conn: ConnKey {
                tgid: PID,
                source: 1,
                id: conn,
            },
            direction,
            call_len,
            offset: 0,
            last_chunk: true,
            lost_before,
            library: self.library,
            socket_id: self.socket_id,
            data: Bytes::copy_from_slice(bytes),
        };
        self.event(ts, PID, EventKind::Data(chunk));
    }

    fn metric(&self, name_and_labels: &str) -> u64 {
        self.metrics
            .render()
            .lines()
            .find_map(|l| {
                l.strip_prefix(name_and_labels)?
                    .strip_prefix(' ')?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }
}

const REQUEST: &[u8] = b"GET /v1/items?api_key=SECRETVALUE&page=2 HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer SECRETTOKEN\r\n\r\n";

fn response(body_len: usize) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n").into_bytes();
    out.extend(std::iter::repeat_n(b'x', body_len));
    out
}

#[test]
fn a_request_and_its_response_become_one_api_call() {
    let mut h = Harness::new(StreamLimits::default());
    h.event(
        SECOND,
        PID,
        EventKind::ProcessExec {
            filename: "/usr/bin/client".into(),
        },
    );
    h.data(2 * SECOND, 1, Direction::Egress, REQUEST);
    h.data(2 * SECOND + 5_000_000, 1, Direction::Ingress, &response(10));
    assert_eq!(h.calls.len(), 1);
    let call = &h.calls[0];
    assert_eq!(call.method.as_deref(), Some("GET"));
    assert_eq!(call.host.as_deref(), Some("api.example.com"));
    assert_eq!(call.path.as_deref(), Some("/v1/items"));
    assert_eq!(call.query_params, vec!["api_key", "page"]);
    assert_eq!(call.status, Some(200));
    assert_eq!(call.request_bytes, REQUEST.len() as u64);
    assert_eq!(call.response_body_bytes, Some(10));
    assert_eq!(call.latency_ms, Some(5.0));
    assert_eq!(call.process.executable.as_deref(), Some("/usr/bin/client"));
    assert_eq!(call.process.pid, PID);
    assert_eq!(
        call.tls_library.as_ref().map(|t| t.name),
        Some(TlsLibraryKind::Openssl)
    );
    assert!(call.complete);
    let json = serde_json::to_string(call).unwrap();
    assert!(!json.contains("SECRET"), "{json}");
    assert_eq!(
        h.metric("monitor_api_calls_total{complete=\"true\",role=\"client\"}"),
        1
    );
    // The fleet views: by workload (the executable's name), and the latency by host.
    assert_eq!(
        h.metric("monitor_api_calls_by_workload_total{role=\"client\",workload=\"client\"}"),
        1
    );
    assert_eq!(
        h.metric(
            "monitor_api_call_duration_seconds_bucket{host=\"api.example.com\",role=\"client\",le=\"0.005\"}"
        ),
        1,
        "5 ms falls in the 5 ms bucket"
    );
    assert_eq!(
        h.metric(
            "monitor_api_call_duration_seconds_bucket{host=\"api.example.com\",role=\"client\",le=\"0.0025\"}"
        ),
        0
    );
}

#[test]
fn bytes_past_the_call_cap_are_skipped_by_count() {
    let mut h = Harness::new(StreamLimits::default());
    h.data(SECOND, 1, Direction::Egress, REQUEST);
    let whole = response(100_000);
    // The kernel copied the first 16 KiB of a 100 KiB read and said how long the call was.
    h.chunk(
        SECOND,
        1,
        Direction::Ingress,
        &whole[..16_384],
        whole.len() as u64,
        0,
    );
    assert_eq!(h.calls.len(), 1);
    assert_eq!(h.calls[0].response_body_bytes, Some(100_000));
    assert!(h.calls[0].complete);
    assert_eq!(
        h.metric("monitor_stream_gap_bytes_total{cause=\"truncated\"}"),
        (whole.len() - 16_384) as u64
    );
}

#[test]
fn bytes_lost_in_the_kernel_inside_a_body_are_skipped_by_count() {
    let mut h = Harness::new(StreamLimits::default());
    h.data(SECOND, 1, Direction::Egress, REQUEST);
    let whole = response(50_000);
    let head_len = whole.len() - 50_000;
    h.data(SECOND, 1, Direction::Ingress, &whole[..head_len + 1_000]);
    // 40,000 bytes never reached userspace; the next record says so.
    let rest = &whole[head_len + 41_000..];
    h.chunk(
        SECOND,
        1,
        Direction::Ingress,
        rest,
        rest.len() as u64,
        40_000,
    );
    assert_eq!(h.calls.len(), 1);
    assert_eq!(h.calls[0].response_body_bytes, Some(50_000));
    assert_eq!(
        h.metric("monitor_stream_gap_bytes_total{cause=\"lost\"}"),
        40_000
    );
    // And the connection still works for the next call.
    h.data(2 * SECOND, 1, Direction::Egress, REQUEST);
    h.data(2 * SECOND, 1, Direction::Ingress, &response(3));
    assert_eq!(h.calls.len(), 2);
}

#[test]
fn process_exit_reports_the_unanswered_call_and_frees_everything() {
    let mut h = Harness::new(StreamLimits::default());
    h.event(
        SECOND,
        PID,
        EventKind::ProcessExec {
            filename: "/usr/bin/client".into(),
        },
    );
    h.data(SECOND, 1, Direction::Egress, REQUEST);
    h.data(SECOND, 2, Direction::Egress, REQUEST);
    assert_eq!(h.pipeline.connections(), 2);
    h.event(3 * SECOND, PID, EventKind::ProcessExit);
    assert_eq!(h.calls.len(), 2);
    assert!(h.calls.iter().all(|c| c.status.is_none() && !c.complete));
    assert_eq!(
        h.calls[0].process.executable.as_deref(),
        Some("/usr/bin/client"),
        "identity is still known for the calls the exit flushes"
    );
    assert_eq!(h.pipeline.connections(), 0);
    assert_eq!(h.pipeline.processes.len(), 0);
    assert_eq!(
        h.metric("monitor_connections_closed_total{reason=\"process_exit\"}"),
        2
    );
}

#[test]
fn close_frees_the_connection() {
    let mut h = Harness::new(StreamLimits::default());
    h.data(SECOND, 1, Direction::Egress, REQUEST);
    h.data(SECOND, 1, Direction::Ingress, &response(1));
    let conn = ConnKey {
        tgid: PID,
        source: 1,
        id: 1,
    };
    h.event(2 * SECOND, PID, EventKind::Close(conn));
    assert_eq!(h.pipeline.connections(), 0);
    assert_eq!(h.calls.len(), 1);
    // The same handle reused by a new connection starts clean.
    h.data(3 * SECOND, 1, Direction::Ingress, REQUEST);
    h.data(3 * SECOND, 1, Direction::Egress, &response(1));
    assert_eq!(h.calls.len(), 2);
    assert_eq!(h.calls[1].role.as_str(), "server");
}

#[test]
fn a_handle_moved_to_another_tcp_connection_starts_over_on_it() {
    let mut h = Harness::new(StreamLimits::default());
    h.socket_id = 7;
    h.data(SECOND, 1, Direction::Egress, REQUEST);
    h.data(SECOND, 1, Direction::Ingress, &response(1));
    // A request left unanswered when the handle moves (`SSL_clear`, `SSL_set_fd`) is reported
    // as at a close; the handle's next bytes are parsed afresh, from the new connection.
    h.data(
        2 * SECOND,
        1,
        Direction::Egress,
        b"GET /left HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    h.socket_id = 9;
    h.data(3 * SECOND, 1, Direction::Egress, REQUEST);
    h.data(3 * SECOND, 1, Direction::Ingress, &response(2));
    assert_eq!(h.calls.len(), 3, "{:#?}", h.calls);
    assert_eq!(h.calls[1].path.as_deref(), Some("/left"));
    assert!(!h.calls[1].complete);
    assert!(h.calls[2].complete);
    assert_eq!(h.calls[2].response_body_bytes, Some(2));
    assert_eq!(h.pipeline.connections(), 1);
    assert_eq!(
        h.metric("monitor_connections_closed_total{reason=\"moved\"}"),
        1
    );
    // Records without a known connection under them (0) do not move the handle.
    h.socket_id = 0;
    h.data(4 * SECOND, 1, Direction::Egress, REQUEST);
    h.data(4 * SECOND, 1, Direction::Ingress, &response(3));
    assert_eq!(h.calls.len(), 4);
    assert_eq!(
        h.metric("monitor_connections_closed_total{reason=\"moved\"}"),
        1
    );
}

#[test]
fn idle_connections_are_freed_and_their_pending_calls_reported() {
    let mut h = Harness::new(StreamLimits {
        idle_timeout_ns: 10 * SECOND,
        ..StreamLimits::default()
    });
    h.data(SECOND, 1, Direction::Egress, REQUEST);
    h.data(9 * SECOND, 2, Direction::Egress, REQUEST);
    let calls = &mut h.calls;
    h.pipeline.tick(15 * SECOND, &mut |output| {
        if let Output::Call(call) = output {
            calls.push(call)
        }
    });
    assert_eq!(
        h.pipeline.connections(),
        1,
        "only the connection idle for > 10 s goes"
    );
    assert_eq!(h.calls.len(), 1);
    assert_eq!(
        h.metric("monitor_connections_closed_total{reason=\"idle\"}"),
        1
    );
}

#[test]
fn the_connection_table_is_bounded_and_evictions_counted() {
    let mut h = Harness::new(StreamLimits {
        max_connections: 100,
        ..StreamLimits::default()
    });
    for conn in 0..10_000u64 {
        h.data(SECOND + conn, conn, Direction::Egress, REQUEST);
    }
    assert!(
        h.pipeline.connections() <= 100,
        "{}",
        h.pipeline.connections()
    );
    assert!(h.metric("monitor_connections_closed_total{reason=\"evicted\"}") >= 9_900);
    // Bounded memory too: nothing but small head buffers per connection.
    assert!(
        h.pipeline.buffered_bytes() < 100 * 4096,
        "{}",
        h.pipeline.buffered_bytes()
    );
}

#[test]
fn hostile_bytes_cost_a_counter_not_a_call_or_a_panic() {
    let mut h = Harness::new(StreamLimits::default());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for conn in 0..200u64 {
        let junk: Vec<u8> = (0..2_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        h.data(SECOND, conn, Direction::Egress, &junk);
        h.data(SECOND, conn, Direction::Ingress, &junk);
        // A connection whose first chunk is no protocol start may be one seen mid-stream:
        // the sniffer holds a few chunks (bounded) before giving it up, or gives up at close.
        if conn % 2 == 0 {
            let key = ConnKey {
                tgid: PID,
                source: 1,
                id: conn,
            };
            h.event(2 * SECOND, PID, EventKind::Close(key));
        } else {
            for _ in 0..crate::protocols::MAX_UNDECIDED_CHUNKS {
                h.data(SECOND, conn, Direction::Egress, &junk);
            }
        }
    }
    assert!(h.calls.is_empty());
    assert_eq!(
        h.metric("monitor_http_problems_total{problem=\"not_http\",protocol=\"http1\"}"),
        200
    );
}

#[test]
fn bytes_lost_on_a_connection_given_up_are_still_counted() {
    let mut h = Harness::new(StreamLimits::default());
    h.data(
        SECOND,
        1,
        Direction::Egress,
        b"\x16\x03\x01 not http at all",
    );
    // Held while it might be HTTP/2 seen mid-stream; the hole gives it to HTTP/1, which gives
    // it up.
    h.chunk(2 * SECOND, 1, Direction::Egress, b"more", 4, 1_000);
    assert_eq!(
        h.metric("monitor_http_problems_total{problem=\"not_http\",protocol=\"http1\"}"),
        1
    );
    h.chunk(3 * SECOND, 1, Direction::Ingress, b"reply", 9_000, 0);
    assert_eq!(
        h.metric("monitor_stream_gap_bytes_total{cause=\"lost\"}"),
        1_000
    );
    assert_eq!(
        h.metric("monitor_stream_gap_bytes_total{cause=\"truncated\"}"),
        8_995
    );
    assert!(h.calls.is_empty());
}
