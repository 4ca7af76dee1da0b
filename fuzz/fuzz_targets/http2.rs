//! Drives the HTTP/2 parser through `monitor::protocols::Tracker` (the entry the stream table
//! uses: sniffing, then HTTP/2 from a preface, a server's SETTINGS or mid-connection frames, or
//! HTTP/1 and an `Upgrade: h2c` hand-over), and the passive HPACK decoder on its own.
//!
//! Input layout. Byte 0: flags. Bit 4 picks the mode.
//!
//! Tracker mode (bit 4 clear), like the http1 target:
//!   byte 0: bit 0: the first stream is ingress (else egress); bit 1: small limits; bit 3: holes
//!           claim nearly 2^64 bytes (a corrupt loss count) instead of the bytes really skipped.
//!   byte 1: n, then n schedule bytes. Each: bit 7 picks the stream (0 = first, 1 = second),
//!           bit 6 makes the step a hole (those bytes are skipped and reported missing with
//!           `on_gap`), bits 0-5 + 1 = bytes taken. After the schedule, what is left of the first
//!           stream, then of the second, goes in one chunk each; then the connection closes.
//!   rest: first stream, `SECTION`, second stream.
//!
//! HPACK mode (bit 4 set):
//!   byte 0: bit 0: the lossy decoder starts mid-way (`new_unknown()`, fed blocks k.. only: a
//!           capture that began late), else it sees every block but misses block k (`lose_state`,
//!           as after a block lost in a hole); bit 1: both decoders get a settings limit of
//!           256 × byte 2 first.
//!   byte 1: k. byte 2: settings limit / 256.
//!   rest: header blocks separated by `SECTION`.
//!
//! Invariants, beyond "no panic":
//! - every HTTP/2 exchange has a stream id > 0; a field named in `unknown_fields` is empty in
//!   the exchange (`method`, `target`) or 0 (`status`);
//! - memory held (`buffered_bytes`) stays within what the limits allow, after every call;
//! - nothing comes out after the close;
//! - splitting does not change the result: the first stream fed alone in the schedule's chunks
//!   and in one piece give the same (stream id, method, target, status) list when both runs end
//!   up in the HTTP/2 parser and no hole was involved;
//! - HPACK: decoding never panics; a decoder that saw every block reports every field known;
//!   one that lost state never reports a known name or value different from the full decoder's
//!   field at the same position (compared when both decoded the block, to as many fields).
#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor::protocols::MAX_UNDECIDED_BYTES;
use monitor::protocols::{
    Direction, Exchange, Limits, Output, Tracker, http1,
    http2::{self, UnknownField, frame::FrameLimits, hpack::Decoder},
};
use monitor_fuzz::{SECTION, find, http2_memory_bound, memory_bound};

fn small_limits() -> Limits {
    Limits {
        http1: http1::Limits {
            max_head_bytes: 256,
            max_pipelined: 3,
            body_sample_bytes: 16,
            detect_bytes: 64,
        },
        http2: http2::Limits {
            frames: FrameLimits {
                max_header_block: 256,
                max_frame_payload: 4096,
            },
            max_streams: 4,
            body_sample_bytes: 16,
        },
    }
}

#[derive(Clone, Copy)]
struct Step {
    second: bool,
    gap: bool,
    len: usize,
}

struct Input<'a> {
    first_dir: Direction,
    limits: Limits,
    huge_holes: bool,
    schedule: Vec<Step>,
    streams: [&'a [u8]; 2],
}

fn parse(flags: u8, rest: &[u8]) -> Input<'_> {
    let (&n, rest) = rest.split_first().unwrap_or((&0, &[]));
    let n = usize::from(n).min(rest.len());
    let (schedule, rest) = rest.split_at(n);
    let (first, second) = match find(rest, SECTION) {
        Some(at) => (&rest[..at], &rest[at + SECTION.len()..]),
        None => (rest, &[][..]),
    };
    Input {
        first_dir: if flags & 1 == 0 {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        limits: if flags & 2 == 0 {
            Limits::default()
        } else {
            small_limits()
        },
        huge_holes: flags & 8 != 0,
        schedule: schedule
            .iter()
            .map(|&s| Step {
                second: s & 0x80 != 0,
                gap: s & 0x40 != 0,
                len: usize::from(s & 0x3f) + 1,
            })
            .collect(),
        streams: [first, second],
    }
}

struct Run<'l> {
    tracker: Tracker,
    limits: &'l Limits,
    outputs: Vec<Output>,
    ts: u64,
    /// Largest chunk fed so far: while sniffing, each direction holds less than
    /// `MAX_UNDECIDED_BYTES` plus its last chunk.
    max_chunk: usize,
}

impl<'l> Run<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self {
            tracker: Tracker::new(),
            limits,
            outputs: Vec::new(),
            ts: 0,
            max_chunk: 0,
        }
    }

    fn tick(&mut self) -> u64 {
        self.ts += 1_000;
        self.ts
    }

    fn data(&mut self, dir: Direction, bytes: &[u8]) {
        let ts = self.tick();
        self.max_chunk = self.max_chunk.max(bytes.len());
        self.tracker
            .on_data(self.limits, dir, ts, bytes, &mut self.outputs);
        self.check_memory(bytes.len());
    }

    fn gap(&mut self, dir: Direction, len: u64) {
        let ts = self.tick();
        self.tracker
            .on_gap(self.limits, dir, ts, len, &mut self.outputs);
        self.check_memory(0);
    }

    fn close(&mut self) {
        let ts = self.tick();
        self.tracker.on_close(ts, &mut self.outputs);
    }

    fn check_memory(&self, chunk: usize) {
        let held = self.tracker.buffered_bytes();
        let bound = match &self.tracker {
            Tracker::Sniffing(_) => 2 * (MAX_UNDECIDED_BYTES + self.max_chunk),
            Tracker::Http1(_) => memory_bound(&self.limits.http1),
            Tracker::Http2(_) => http2_memory_bound(self.limits, chunk),
            Tracker::Opaque => 0,
        };
        assert!(held <= bound, "{held} bytes held, limits allow {bound}");
    }

    fn exchanges(&self) -> impl Iterator<Item = &Exchange> {
        self.outputs.iter().filter_map(|o| match o {
            Output::Exchange(e) => Some(e),
            _ => None,
        })
    }
}

/// Feeds the input as scheduled; `only_first` leaves the second stream out and `whole` ignores
/// the schedule (one chunk per stream). Returns the run before the close and whether a hole was
/// reported.
fn feed<'l>(input: &Input, limits: &'l Limits, only_first: bool, whole: bool) -> (Run<'l>, bool) {
    let mut run = Run::new(limits);
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
                    run.gap(dirs[i], claimed);
                }
            } else {
                run.data(dirs[i], &stream[pos[i]..end]);
            }
            pos[i] = end;
        }
    }
    for i in 0..2 {
        if only_first && i == 1 {
            continue;
        }
        run.data(dirs[i], &input.streams[i][pos[i]..]);
    }
    (run, had_gap)
}

fn check_exchanges(run: &Run) {
    for ex in run.exchanges() {
        let Some(h2) = ex.http2.as_deref() else {
            continue;
        };
        assert!(h2.stream_id > 0, "exchange on stream 0");
        for field in &h2.unknown_fields {
            match field {
                UnknownField::Method => assert!(
                    ex.request.head.method.is_empty(),
                    "unknown method reported as {:?}",
                    ex.request.head.method
                ),
                UnknownField::Path => assert!(
                    ex.request.head.target.is_empty(),
                    "unknown path reported as {:?}",
                    ex.request.head.target
                ),
                UnknownField::Status => {
                    let status = ex.response.as_ref().map_or(0, |r| r.head.status);
                    assert_eq!(status, 0, "unknown status reported as {status}");
                }
                _ => {}
            }
        }
    }
}

/// The comparable part of an exchange.
fn shape(ex: &Exchange) -> (u32, String, String, Option<u16>) {
    (
        ex.http2.as_deref().map_or(0, |h| h.stream_id),
        ex.request.head.method.to_string(),
        ex.request.head.target.clone(),
        ex.response.as_ref().map(|r| r.head.status),
    )
}

fn tracker_mode(flags: u8, rest: &[u8]) {
    let input = parse(flags, rest);
    let limits = &input.limits;
    let (mut run, had_gap) = feed(&input, limits, false, false);
    run.close();
    check_exchanges(&run);
    // Closed: nothing more may come out, whatever arrives.
    let before = run.outputs.len();
    run.data(input.first_dir, input.streams[0]);
    run.gap(input.first_dir.opposite(), 10);
    run.data(input.first_dir.opposite(), input.streams[1]);
    run.close();
    assert_eq!(run.outputs.len(), before, "output after close");

    if had_gap {
        return;
    }
    let (mut split, _) = feed(&input, limits, true, false);
    let (mut whole, _) = feed(&input, limits, true, true);
    // Sniffing decides on the bytes it has: a different split may pick another parser, which is
    // a different question from the one asked here.
    let both_http2 =
        matches!(split.tracker, Tracker::Http2(_)) && matches!(whole.tracker, Tracker::Http2(_));
    split.close();
    whole.close();
    if !both_http2 {
        return;
    }
    let a: Vec<_> = split.exchanges().map(shape).collect();
    let b: Vec<_> = whole.exchanges().map(shape).collect();
    assert_eq!(a, b, "the result depends on where the stream was split");
}

fn blocks(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(rest, SECTION) {
        out.push(&rest[..at]);
        rest = &rest[at + SECTION.len()..];
    }
    out.push(rest);
    out
}

fn hpack_mode(flags: u8, rest: &[u8]) {
    let (&k, rest) = rest.split_first().unwrap_or((&0, &[]));
    let (&limit, rest) = rest.split_first().unwrap_or((&0, &[]));
    let k = usize::from(k);
    let late_start = flags & 1 != 0;
    let blocks = blocks(rest);
    let mut full = Decoder::new();
    let mut lossy = if late_start {
        Decoder::new_unknown()
    } else {
        Decoder::new()
    };
    if flags & 2 != 0 {
        full.set_settings_limit(u32::from(limit) * 256);
        lossy.set_settings_limit(u32::from(limit) * 256);
    }
    // Once the full decoder fails it is no reference any more, but both keep decoding.
    let mut reference = true;
    for (i, block) in blocks.iter().enumerate() {
        let expected = full.decode(block);
        reference &= expected.is_ok();
        let got = if late_start && i < k {
            continue;
        } else if !late_start && i == k {
            lossy.lose_state();
            continue;
        } else {
            lossy.decode(block)
        };
        let (true, Ok(expected)) = (reference, expected) else {
            continue;
        };
        assert!(
            expected.iter().all(|f| f.is_known()),
            "a decoder that saw every block reports an unknown field"
        );
        let Ok(got) = got else { continue };
        if got.len() != expected.len() {
            continue;
        }
        for (j, (g, e)) in got.iter().zip(&expected).enumerate() {
            if let Some(name) = &g.name {
                assert_eq!(
                    Some(name),
                    e.name.as_ref(),
                    "block {i} field {j}: wrong name"
                );
            }
            if let Some(value) = &g.value {
                assert_eq!(
                    Some(value),
                    e.value.as_ref(),
                    "block {i} field {j}: wrong value"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 0x10 == 0 {
        tracker_mode(flags, rest);
    } else {
        hpack_mode(flags, rest);
    }
});
