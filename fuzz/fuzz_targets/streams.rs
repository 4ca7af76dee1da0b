//! Drives stream reassembly (`monitor::streams`, through `monitor::pipeline::Pipeline` as the
//! daemon does) with kernel records: every record is built as the kernel would emit it
//! (`capture::encode`: calls cut into chunks, per-call cap, lost bytes), then reordered,
//! duplicated or dropped before delivery, and decoded with `capture::decode` on the way in.
//!
//! Input layout: a little-endian u16 `n`, then `n` bytes read with `arbitrary` as the script
//! (`Config` and a list of `Op`s), then the payload pools: egress bytes, `SECTION`, ingress
//! bytes; each call takes its bytes from its direction's pool in order. An empty script (the
//! seeds `cargo xtask fuzz` writes) sends both pools on one connection, then closes it.
//!
//! Invariants, beyond "no panic":
//! - the connection table holds exactly the connections a model of its rules predicts (created
//!   by data, freed by close, process exit, idle time, oldest-first eviction when full);
//! - memory held stays within the per-connection bound times the live connections;
//! - each API call's connection id is one that carried data, and its method occurs in the
//!   bytes delivered on that connection (after reordering and drops, which splice new text);
//! - records built by the encoder decode to the same fields;
//! - after the final flush no connection and no buffered byte is left.
#![no_main]

use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use monitor::{
    capture::{ConnKey, EventKind, LibraryInfo, LibraryRegistry, TlsLibraryKind, decode, encode},
    enrich::{ProcessTable, RecordedFacts},
    metrics::Metrics,
    pipeline::{Output, Pipeline},
    protocols::{Direction, http1::Limits},
    streams::StreamLimits,
    time::WallClock,
};
use monitor_common::{COMM_LEN, RecordHeader, direction, flags, record_kind, source};
use monitor_fuzz::{contains, memory_bound, sections};

const IDLE_TIMEOUT_NS: u64 = 1_000_000_000;
const CONNECTIONS: u8 = 8;

#[derive(Arbitrary, Debug)]
struct Config {
    small_limits: bool,
    /// Table capacity, 1 to 8 (taken modulo), so eviction happens.
    max_connections: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// One read/write call: `lost` pool bytes the kernel failed to deliver (counted in the
    /// first record's `lost_before`), then `len` captured bytes in records of `chunk + 1` bytes,
    /// then `truncated` bytes past the per-call cap (counted in `call_len` only).
    Call {
        conn: u8,
        ingress: bool,
        lost: u16,
        len: u16,
        truncated: u16,
        chunk: u8,
        dt_us: u16,
    },
    Close {
        conn: u8,
        dt_us: u16,
    },
    Exit {
        process: u8,
    },
    SocketOpen {
        conn: u8,
        payload: Vec<u8>,
    },
    TlsHandshake {
        conn: u8,
    },
    Exec {
        process: u8,
        filename: String,
    },
    /// A record as hostile bytes.
    Raw(Vec<u8>),
    /// Pending records `a` and `b` trade places (out-of-order delivery).
    Swap {
        a: u16,
        b: u16,
    },
    /// Pending record `at` is delivered twice.
    Duplicate {
        at: u16,
    },
    /// Pending record `at` is never delivered; `counted` as the kernel would (its bytes added to
    /// the next record of its connection and direction), or silently.
    Drop {
        at: u16,
        counted: bool,
    },
    /// The next data record claims `lost` missing bytes that were never there.
    FalseLoss {
        lost: u64,
    },
    /// The clock goes back (records from another CPU).
    BackInTime {
        dt_us: u32,
    },
    /// Delivers the pending records, then runs housekeeping `dt_ms` later.
    Tick {
        dt_ms: u32,
    },
    /// Delivers the pending records, then reports everything pending (as at shutdown).
    Flush,
}

/// A record waiting for delivery: built, not yet encoded, so perturbations can edit it.
#[derive(Clone)]
struct Pending {
    head: RecordHeader,
    payload: Vec<u8>,
    /// Hostile bytes; not expected to decode.
    raw: bool,
}

struct Model {
    max: usize,
    live: BTreeMap<ConnKey, u64>,
}

impl Model {
    /// `StreamTable::on_chunk`: a new connection when the table is full first evicts the
    /// least recently active tenth (at least one), ties broken by key.
    fn data(&mut self, key: ConnKey, ts: u64) {
        if !self.live.contains_key(&key) && self.live.len() >= self.max {
            let mut by_age: Vec<(u64, ConnKey)> = self.live.iter().map(|(k, t)| (*t, *k)).collect();
            by_age.sort_unstable();
            for (_, k) in by_age.into_iter().take((self.max / 10).max(1)) {
                self.live.remove(&k);
            }
        }
        self.live.insert(key, ts);
    }

    fn idle(&mut self, now: u64) {
        self.live
            .retain(|_, last| now.saturating_sub(*last) <= IDLE_TIMEOUT_NS);
    }
}

struct Harness<'a> {
    pipeline: Pipeline,
    model: Model,
    limits: StreamLimits,
    pools: [&'a [u8]; 2],
    cursor: [usize; 2],
    /// Bytes delivered per connection id and direction (egress = false), in delivery order.
    delivered: BTreeMap<(u64, bool), Vec<u8>>,
    pending: Vec<Pending>,
    false_loss: Option<u64>,
    now: u64,
    library: u64,
}

/// Shared by all inputs: building the registry costs more than a run, and counters never
/// change what the pipeline does.
fn metrics() -> Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| Arc::new(Metrics::new())).clone()
}

fn conn_key(conn: u8) -> ConnKey {
    let c = conn % CONNECTIONS;
    ConnKey {
        tgid: 1000 + u32::from(c % 3),
        source: if c.is_multiple_of(2) {
            source::OPENSSL
        } else {
            source::SOCKET
        },
        id: u64::from(c) + 1,
    }
}

fn header(kind: u8, tgid: u32, ts: u64) -> RecordHeader {
    let mut comm = [0u8; COMM_LEN];
    comm[..6].copy_from_slice(b"client");
    RecordHeader {
        timestamp_ns: ts,
        conn_id: 0,
        call_len: 0,
        lost_before: 0,
        attach_cookie: 0,
        socket_id: 0,
        tgid,
        tid: tgid + 1,
        offset: 0,
        data_len: 0,
        kind,
        direction: direction::NONE,
        source: source::NONE,
        flags: 0,
        uid: 1000,
        comm,
    }
}

impl<'a> Harness<'a> {
    fn new(config: &Config, pools: [&'a [u8]; 2]) -> Self {
        let limits = StreamLimits {
            protocols: monitor::protocols::Limits {
                http1: if config.small_limits {
                    Limits {
                        max_head_bytes: 256,
                        max_pipelined: 3,
                        body_sample_bytes: 16,
                        detect_bytes: 64,
                    }
                } else {
                    Limits::default()
                },
                ..Default::default()
            },
            max_connections: usize::from(config.max_connections % CONNECTIONS) + 1,
            idle_timeout_ns: IDLE_TIMEOUT_NS,
        };
        let libraries = LibraryRegistry::default();
        let library = libraries.register(LibraryInfo {
            kind: TlsLibraryKind::Openssl,
            path: "/usr/lib/libssl.so.3".into(),
        });
        let pipeline = Pipeline::new(
            limits.clone(),
            ProcessTable::new(RecordedFacts::default()),
            libraries,
            WallClock::with_offset_ns(0),
            metrics(),
            None,
        );
        Self {
            pipeline,
            model: Model {
                max: limits.max_connections,
                live: BTreeMap::new(),
            },
            limits,
            pools,
            cursor: [0; 2],
            delivered: BTreeMap::new(),
            pending: Vec::new(),
            false_loss: None,
            now: 1_000_000_000,
            library,
        }
    }

    fn take(&mut self, dir: usize, n: usize) -> &'a [u8] {
        let pool = self.pools[dir];
        let start = self.cursor[dir].min(pool.len());
        let end = start.saturating_add(n).min(pool.len());
        self.cursor[dir] = end;
        &pool[start..end]
    }

    fn call(
        &mut self,
        conn: u8,
        ingress: bool,
        lost: usize,
        len: usize,
        truncated: usize,
        chunk: usize,
    ) {
        let dir = usize::from(ingress);
        let lost = self.take(dir, lost).len() as u64;
        let data = self.take(dir, len);
        let truncated = self.take(dir, truncated).len() as u64;
        if data.is_empty() {
            return;
        }
        let key = conn_key(conn);
        let call_len = data.len() as u64 + truncated;
        let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
        for (i, piece) in chunks.iter().enumerate() {
            let mut head = header(record_kind::DATA, key.tgid, self.now);
            head.conn_id = key.id;
            head.source = key.source;
            head.direction = if ingress {
                direction::INGRESS
            } else {
                direction::EGRESS
            };
            head.call_len = call_len;
            head.offset = (i * chunk) as u32;
            head.data_len = piece.len() as u32;
            head.lost_before = if i == 0 { lost } else { 0 };
            if let Some(false_loss) = self.false_loss.take() {
                head.lost_before = false_loss;
            }
            if key.source == source::OPENSSL {
                head.attach_cookie = self.library;
                head.socket_id = if key.id % 4 == 1 { 0 } else { key.id + 100 };
            } else {
                head.socket_id = key.id;
            }
            if i + 1 == chunks.len() {
                head.flags = flags::LAST_CHUNK;
            }
            self.pending.push(Pending {
                head,
                payload: piece.to_vec(),
                raw: false,
            });
        }
    }

    fn push(&mut self, head: RecordHeader, payload: Vec<u8>) {
        let mut head = head;
        head.data_len = payload.len() as u32;
        self.pending.push(Pending {
            head,
            payload,
            raw: false,
        });
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Call {
                conn,
                ingress,
                lost,
                len,
                truncated,
                chunk,
                dt_us,
            } => {
                self.now = self.now.saturating_add(u64::from(dt_us) * 1_000);
                self.call(
                    conn,
                    ingress,
                    lost.into(),
                    len.into(),
                    truncated.into(),
                    usize::from(chunk) + 1,
                );
            }
            Op::Close { conn, dt_us } => {
                self.now = self.now.saturating_add(u64::from(dt_us) * 1_000);
                let key = conn_key(conn);
                let mut head = header(record_kind::CLOSE, key.tgid, self.now);
                head.conn_id = key.id;
                head.source = key.source;
                self.push(head, Vec::new());
            }
            Op::Exit { process } => {
                let head = header(record_kind::PROCESS_EXIT, conn_key(process).tgid, self.now);
                self.push(head, Vec::new());
            }
            Op::SocketOpen { conn, payload } => {
                let key = conn_key(conn);
                let mut head = header(record_kind::SOCKET_OPEN, key.tgid, self.now);
                head.conn_id = key.id;
                head.source = source::SOCKET;
                self.push(head, payload);
            }
            Op::TlsHandshake { conn } => {
                let key = conn_key(conn);
                let mut head = header(record_kind::TLS_HANDSHAKE, key.tgid, self.now);
                head.conn_id = key.id;
                head.source = source::SOCKET;
                self.push(head, Vec::new());
            }
            Op::Exec { process, filename } => {
                let head = header(record_kind::PROCESS_EXEC, conn_key(process).tgid, self.now);
                self.push(head, filename.into_bytes());
            }
            Op::Raw(bytes) => self.pending.push(Pending {
                head: header(0, 0, 0),
                payload: bytes,
                raw: true,
            }),
            Op::Swap { a, b } => {
                let n = self.pending.len();
                if n > 1 {
                    self.pending.swap(usize::from(a) % n, usize::from(b) % n);
                }
            }
            Op::Duplicate { at } => {
                if !self.pending.is_empty() {
                    let at = usize::from(at) % self.pending.len();
                    let copy = self.pending[at].clone();
                    self.pending.insert(at + 1, copy);
                }
            }
            Op::Drop { at, counted } => {
                if !self.pending.is_empty() {
                    let at = usize::from(at) % self.pending.len();
                    let gone = self.pending.remove(at);
                    if counted && !gone.raw && gone.head.kind == record_kind::DATA {
                        let same = |p: &Pending| {
                            !p.raw
                                && p.head.kind == record_kind::DATA
                                && (p.head.tgid, p.head.conn_id, p.head.source, p.head.direction)
                                    == (
                                        gone.head.tgid,
                                        gone.head.conn_id,
                                        gone.head.source,
                                        gone.head.direction,
                                    )
                        };
                        if let Some(next) = self.pending[at..].iter_mut().find(|p| same(p)) {
                            next.head.lost_before = next
                                .head
                                .lost_before
                                .saturating_add(gone.head.lost_before + gone.payload.len() as u64);
                        }
                    }
                }
            }
            Op::FalseLoss { lost } => self.false_loss = Some(lost),
            Op::BackInTime { dt_us } => {
                self.now = self.now.saturating_sub(u64::from(dt_us) * 1_000);
            }
            Op::Tick { dt_ms } => {
                self.deliver();
                self.now = self.now.saturating_add(u64::from(dt_ms) * 1_000_000);
                let mut outputs = Vec::new();
                self.pipeline.tick(self.now, &mut |o| outputs.push(o));
                self.model.idle(self.now);
                self.check(&outputs);
            }
            Op::Flush => {
                self.deliver();
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        let mut outputs = Vec::new();
        self.pipeline.flush(self.now, &mut |o| outputs.push(o));
        self.model.live.clear();
        self.check(&outputs);
        assert_eq!(self.pipeline.buffered_bytes(), 0, "bytes held after flush");
    }

    fn deliver(&mut self) {
        for record in std::mem::take(&mut self.pending) {
            let raw = if record.raw {
                record.payload.clone()
            } else {
                encode(&record.head, &record.payload)
            };
            let event = match decode(&raw) {
                Ok(event) => event,
                Err(e) => {
                    // Built records are valid, except a socket-open payload shorter than its struct.
                    assert!(
                        record.raw || record.head.kind == record_kind::SOCKET_OPEN,
                        "built record rejected: {e}"
                    );
                    continue;
                }
            };
            if !record.raw {
                assert_eq!(event.timestamp_ns, record.head.timestamp_ns);
                assert_eq!(
                    (event.tgid, event.tid, event.uid),
                    (record.head.tgid, record.head.tid, 1000)
                );
                assert_eq!(event.comm, "client");
                if let EventKind::Data(chunk) = &event.kind {
                    assert_eq!(
                        &chunk.data[..],
                        &record.payload[..],
                        "payload changed in transit"
                    );
                    assert_eq!(chunk.lost_before, record.head.lost_before);
                }
            }
            match &event.kind {
                // No NSS library is registered, so every data record reaches the table.
                EventKind::Data(chunk) => {
                    self.model.data(chunk.conn, event.timestamp_ns);
                    let ingress = chunk.direction == Direction::Ingress;
                    let seen = self.delivered.entry((chunk.conn.id, ingress)).or_default();
                    seen.extend_from_slice(&chunk.data);
                }
                EventKind::Close(key) => {
                    self.model.live.remove(key);
                }
                EventKind::ProcessExit => self.model.live.retain(|k, _| k.tgid != event.tgid),
                _ => {}
            }
            let mut outputs = Vec::new();
            self.pipeline.handle(event, &mut |o| outputs.push(o));
            self.check(&outputs);
        }
    }

    fn check(&self, outputs: &[Output]) {
        let live = self.pipeline.connections();
        assert_eq!(
            live,
            self.model.live.len(),
            "connection table differs from its rules"
        );
        let held = self.pipeline.buffered_bytes();
        let bound = live * memory_bound(&self.limits.protocols.http1);
        assert!(
            held <= bound,
            "{held} bytes held by {live} connections (bound {bound})"
        );
        for output in outputs {
            let Output::Call(call) = output else { continue };
            let id = Some(call.connection_id.0);
            let seen: Vec<&Vec<u8>> = [false, true]
                .iter()
                .filter_map(|&ingress| self.delivered.get(&(id?, ingress)))
                .collect();
            assert!(
                !seen.is_empty(),
                "call on connection {:#x} that carried no data",
                call.connection_id.0
            );
            if call.http_version == "HTTP/2" {
                // HPACK may name the method by a static-table index: it need not occur as
                // bytes in the traffic. A method the capture could not know is null, and said.
                assert!(
                    call.method.is_some() || !call.unknown_fields.is_empty(),
                    "a null method not named unknown"
                );
            } else if call.rejected.is_some() {
                // Rejected request bytes: no head, and it says so.
                assert!(
                    call.method.is_none() && !call.unknown_fields.is_empty(),
                    "a rejected call with a method, or without unknown fields"
                );
            } else {
                let method = call
                    .method
                    .as_deref()
                    .expect("HTTP/1 methods are always known");
                assert!(
                    seen.iter().any(|s| contains(s, method.as_bytes())),
                    "method not from the traffic"
                );
                assert!(call.http_version == "HTTP/1.0" || call.http_version == "HTTP/1.1");
            }
            if let Some(status) = call.status {
                assert!(status <= 999, "status {status}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(len) = data.get(..2) else {
        return;
    };
    let script_len = usize::from(u16::from_le_bytes([len[0], len[1]])).min(data.len() - 2);
    let (script, pools) = data[2..].split_at(script_len);
    let pools = sections(pools, 2);
    let mut u = Unstructured::new(script);
    let Ok(config) = Config::arbitrary(&mut u) else {
        return;
    };
    let ops: Vec<Op> = match u.arbitrary_iter::<Op>() {
        Ok(iter) => iter.take(256).filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    };
    let mut h = Harness::new(&config, [pools[0], pools[1]]);
    if ops.is_empty() {
        let (e, i) = (pools[0].len(), pools[1].len());
        h.call(0, false, 0, e, 0, 4096);
        h.call(0, true, 0, i, 0, 4096);
        h.apply(Op::Close { conn: 0, dt_us: 1 });
    }
    for op in ops {
        h.apply(op);
    }
    h.deliver();
    h.flush();
});
