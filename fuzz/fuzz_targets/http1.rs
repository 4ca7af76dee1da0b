//! Drives the HTTP/1 tracker (`monitor::protocols::http1::Connection`) the way `streams` does: bytes of
//! both directions in arbitrary chunks, holes of known size (`on_gap`), idle flush and close.
//!
//! Input layout (seeds: `cargo xtask fuzz` writes llhttp conformance messages in it):
//!   byte 0: flags. bit 0: the first stream is ingress (else egress); bit 1: small limits;
//!           bit 2: flush (idle eviction) before the close; bit 3: holes claim nearly 2^64
//!           bytes (a corrupt loss count) instead of the bytes really skipped.
//!   byte 1: n, then n schedule bytes. Each: bit 7 picks the stream (0 = first, 1 = second),
//!           bit 6 makes the step a hole (those bytes are skipped and reported missing),
//!           bits 0-5 + 1 = bytes taken. After the schedule, what is left of the first stream,
//!           then of the second, goes in one chunk each; then the connection closes.
//!   rest: first stream, `SECTION`, second stream.
//!
//! Invariants, beyond "no panic":
//! - every exchange has the connection's role; its method, target, header names and values
//!   occur in the stream that carries requests; `host` is the first Host header, trimmed;
//! - versions are HTTP/1.0 or HTTP/1.1, statuses three digits (000 too: the grammar allows it), heads of 1
//!   byte to the head limit, body samples within their limit, message timestamps within the
//!   fed range and ordered;
//! - memory held (`buffered_bytes`) stays within what the limits allow, after every call;
//! - "not HTTP" is reported at most once, and nothing comes out after the close;
//! - splitting does not change the result: the first stream fed alone in the schedule's chunks
//!   and fed in one piece give the same exchanges when neither run reports a problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor::protocols::{
    self, HttpVersion,
    http1::{Connection, Direction, Exchange, Limits, Output, Problem},
};
use monitor_fuzz::{contains, memory_bound, sections};

const SMALL: Limits = Limits {
    max_head_bytes: 256,
    max_pipelined: 3,
    body_sample_bytes: 16,
    detect_bytes: 64,
};

#[derive(Clone, Copy)]
struct Step {
    second: bool,
    gap: bool,
    len: usize,
}

struct Input<'a> {
    first_dir: Direction,
    limits: Limits,
    flush: bool,
    huge_holes: bool,
    schedule: Vec<Step>,
    streams: [&'a [u8]; 2],
}

fn parse(data: &[u8]) -> Option<Input<'_>> {
    let (&flags, rest) = data.split_first()?;
    let (&n, rest) = rest.split_first().unwrap_or((&0, &[]));
    let n = usize::from(n).min(rest.len());
    let (schedule, rest) = rest.split_at(n);
    let parts = sections(rest, 2);
    Some(Input {
        first_dir: if flags & 1 == 0 {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        limits: if flags & 2 == 0 {
            Limits::default()
        } else {
            SMALL
        },
        flush: flags & 4 != 0,
        huge_holes: flags & 8 != 0,
        schedule: schedule
            .iter()
            .map(|&s| Step {
                second: s & 0x80 != 0,
                gap: s & 0x40 != 0,
                len: usize::from(s & 0x3f) + 1,
            })
            .collect(),
        streams: [parts[0], parts[1]],
    })
}

/// Everything one run produced, plus the memory bound checked along the way.
struct Run {
    conn: Connection,
    outputs: Vec<Output>,
    max_ts: u64,
}

impl Run {
    fn new(limits: &Limits) -> Self {
        Self {
            conn: Connection::new(limits.clone()),
            outputs: Vec::new(),
            max_ts: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.max_ts += 1_000;
        self.max_ts
    }

    fn data(&mut self, dir: Direction, bytes: &[u8], limits: &Limits) {
        let ts = self.tick();
        self.conn.on_data(dir, ts, bytes, &mut self.outputs);
        self.check_memory(limits);
    }

    fn gap(&mut self, dir: Direction, len: u64, limits: &Limits) {
        let ts = self.tick();
        self.conn.on_gap(dir, ts, len, &mut self.outputs);
        self.check_memory(limits);
    }

    fn check_memory(&self, limits: &Limits) {
        let held = self.conn.buffered_bytes();
        assert!(
            held <= memory_bound(limits),
            "{held} bytes held, limits allow {}",
            memory_bound(limits)
        );
    }

    fn exchanges(&self) -> impl Iterator<Item = &Exchange> {
        self.outputs.iter().filter_map(|o| match o {
            Output::Exchange(e) => Some(e),
            _ => None,
        })
    }

    fn has_problem(&self) -> bool {
        self.outputs.iter().any(|o| matches!(o, Output::Problem(_)))
    }
}

/// Feeds the input as scheduled; `only_first` leaves the second stream out and `whole` ignores
/// the schedule (one chunk per stream). Returns the run before the close.
fn feed(input: &Input, only_first: bool, whole: bool) -> (Run, bool) {
    let mut run = Run::new(&input.limits);
    let mut pos = [0usize; 2];
    let dirs = [input.first_dir, input.first_dir.opposite()];
    let mut had_gap = false;
    if !whole {
        for step in &input.schedule {
            let i = usize::from(step.second);
            if only_first && i == 1 {
                continue;
            }
            let stream = input.streams[i];
            let end = (pos[i] + step.len).min(stream.len());
            if step.gap {
                if end > pos[i] {
                    had_gap = true;
                    let len = (end - pos[i]) as u64;
                    let claimed = if input.huge_holes {
                        u64::MAX - len
                    } else {
                        len
                    };
                    run.gap(dirs[i], claimed, &input.limits);
                }
            } else {
                run.data(dirs[i], &stream[pos[i]..end], &input.limits);
            }
            pos[i] = end;
        }
    }
    for i in 0..2 {
        if only_first && i == 1 {
            continue;
        }
        run.data(dirs[i], &input.streams[i][pos[i]..], &input.limits);
    }
    (run, had_gap)
}

fn close(run: &mut Run, flush: bool) {
    let ts = run.tick();
    if flush {
        run.conn.flush(ts, &mut run.outputs);
    }
    run.conn.on_close(ts, &mut run.outputs);
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |p| p + 1);
    &v[start..end]
}

fn check_exchanges(run: &Run, input: &Input) {
    let not_http = run
        .outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Problem(protocols::Problem::Http1(Problem::NotHttp))
            )
        })
        .count();
    assert!(not_http <= 1, "not-HTTP reported {not_http} times");
    for ex in run.exchanges() {
        assert_eq!(run.conn.role(), Some(ex.role), "exchange role differs");
        if ex.rejected.is_some() {
            check_rejected(ex, run.max_ts);
            continue;
        }
        let request_stream = if ex.role.request_direction() == input.first_dir {
            input.streams[0]
        } else {
            input.streams[1]
        };
        let head = &ex.request.head;
        assert!(!head.method.is_empty(), "empty method");
        assert!(
            contains(request_stream, head.method.as_bytes()),
            "method not from the input"
        );
        assert!(
            contains(request_stream, head.target.as_bytes()),
            "target not from the input"
        );
        assert!(
            head.version != HttpVersion::Http2,
            "request version {:?}",
            head.version
        );
        for h in &head.headers {
            assert!(
                contains(request_stream, h.name.as_bytes()),
                "header name not from the input"
            );
            assert!(
                contains(request_stream, &h.value),
                "header value not from the input"
            );
        }
        let host = head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"))
            .map(|h| String::from_utf8_lossy(trim_ows(&h.value)).into_owned());
        assert_eq!(
            head.host.as_deref(),
            host.as_deref(),
            "host is not the first Host header"
        );
        check_stats(&ex.request.stats, &input.limits, run.max_ts);
        if let Some(response) = &ex.response {
            assert!(
                response.head.status <= 999,
                "status {}",
                response.head.status
            );
            assert!(
                response.head.version != HttpVersion::Http2,
                "response version {:?}",
                response.head.version
            );
            check_stats(&response.stats, &input.limits, run.max_ts);
        }
    }
}

/// Request bytes the parser rejected: an unknown head, the raw bytes (bounded) as the sample,
/// never paired with a response, never complete.
fn check_rejected(ex: &Exchange, max_ts: u64) {
    let head = &ex.request.head;
    assert!(
        head.method.is_empty() && head.target.is_empty() && head.headers.is_empty(),
        "a rejected request has no head"
    );
    assert!(ex.response.is_none(), "a rejected request was paired");
    let stats = &ex.request.stats;
    assert!(stats.incomplete, "a rejected request is complete");
    assert!(
        stats.body_sample.len() <= 16 * 1024,
        "{} rejected bytes kept",
        stats.body_sample.len()
    );
    assert!(
        !stats.body_sample.is_empty() && stats.body_sample.len() as u64 <= stats.body_bytes,
        "rejected sample of {} for {} bytes",
        stats.body_sample.len(),
        stats.body_bytes
    );
    assert!(
        stats.start_ns <= stats.end_ns && stats.end_ns <= max_ts,
        "start {} end {}",
        stats.start_ns,
        stats.end_ns
    );
}

fn check_stats(stats: &monitor::protocols::http1::MessageStats, limits: &Limits, max_ts: u64) {
    assert!(
        stats.start_ns >= 1_000 && stats.start_ns <= stats.end_ns,
        "start {} end {}",
        stats.start_ns,
        stats.end_ns
    );
    assert!(
        stats.end_ns <= max_ts,
        "end {} after the last chunk {max_ts}",
        stats.end_ns
    );
    assert!(
        stats.head_bytes >= 1 && stats.head_bytes as usize <= limits.max_head_bytes,
        "head of {} bytes",
        stats.head_bytes
    );
    assert!(
        stats.body_sample.len() <= limits.body_sample_bytes,
        "sample of {} bytes",
        stats.body_sample.len()
    );
    assert!(
        stats.body_sample.len() as u64 <= stats.body_bytes,
        "sample longer than the body"
    );
}

/// The comparable part of an exchange: everything but timestamps.
fn shape(ex: &Exchange) -> impl PartialEq + std::fmt::Debug {
    let r = &ex.request;
    (
        ex.role,
        r.head.clone(),
        (
            r.stats.head_bytes,
            r.stats.body_bytes,
            r.stats.body_sample.clone(),
            r.stats.incomplete,
        ),
        ex.response.as_ref().map(|s| {
            (
                s.head.clone(),
                s.stats.head_bytes,
                s.stats.body_bytes,
                s.stats.body_sample.clone(),
                s.stats.incomplete,
            )
        }),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = parse(data) else {
        return;
    };

    let (mut run, had_gap) = feed(&input, false, false);
    close(&mut run, input.flush);
    check_exchanges(&run, &input);
    // Closed: nothing more may come out, whatever arrives.
    let before = run.outputs.len();
    run.data(input.first_dir, input.streams[0], &input.limits);
    run.gap(input.first_dir.opposite(), 10, &input.limits);
    close(&mut run, true);
    assert_eq!(run.outputs.len(), before, "output after close");

    if had_gap {
        return;
    }
    let (mut split, _) = feed(&input, true, false);
    let (mut whole, _) = feed(&input, true, true);
    close(&mut split, false);
    close(&mut whole, false);
    if split.has_problem() || whole.has_problem() {
        return;
    }
    let a: Vec<_> = split.exchanges().map(shape).collect();
    let b: Vec<_> = whole.exchanges().map(shape).collect();
    assert_eq!(a, b, "the result depends on where the stream was split");
});
