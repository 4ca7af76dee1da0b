//! Frame reader tests. Every scenario is fed whole, one byte at a time, and in odd-sized
//! pieces; all must produce the same (recorded) sink calls.

use super::header::{END_HEADERS, END_STREAM, PADDED, PRIORITY_FLAG, kind};
use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Block(u32, BlockKind, bool, Vec<u8>, u64),
    Lost(LostBlock),
    Data(u32, Vec<u8>),
    DataGap(u32, u64),
    DataEnd(u32, bool, u64),
    Rst(u32, u32),
    Settings(bool, Vec<(u16, u32)>),
    Goaway(u32, u32),
    Ping(bool),
    Window(u32, u32),
    Priority(u32, u32, bool, u8),
    Unknown(u8, u32),
    Problem(FrameProblem),
}

#[derive(Default)]
struct Recorder(Vec<Event>);

impl FrameSink for Recorder {
    fn header_block(&mut self, b: HeaderBlock) {
        self.0.push(Event::Block(
            b.stream_id,
            b.kind,
            b.end_stream,
            b.fragment,
            b.wire_bytes,
        ));
    }
    fn header_block_lost(&mut self, lost: LostBlock) {
        self.0.push(Event::Lost(lost));
    }
    fn data(&mut self, stream_id: u32, bytes: &[u8]) {
        // Coalesce: how DATA bytes are split depends on how the input was.
        if let Some(Event::Data(s, buf)) = self.0.last_mut()
            && *s == stream_id
        {
            buf.extend_from_slice(bytes);
            return;
        }
        self.0.push(Event::Data(stream_id, bytes.to_vec()));
    }
    fn data_gap(&mut self, stream_id: u32, len: u64) {
        if let Some(Event::DataGap(s, n)) = self.0.last_mut()
            && *s == stream_id
        {
            *n += len;
            return;
        }
        self.0.push(Event::DataGap(stream_id, len));
    }
    fn data_end(&mut self, stream_id: u32, end_stream: bool, frame_bytes: u64) {
        self.0
            .push(Event::DataEnd(stream_id, end_stream, frame_bytes));
    }
    fn rst_stream(&mut self, stream_id: u32, error_code: u32) {
        self.0.push(Event::Rst(stream_id, error_code));
    }
    fn settings(&mut self, ack: bool, params: &[(u16, u32)]) {
        self.0.push(Event::Settings(ack, params.to_vec()));
    }
    fn goaway(&mut self, last: u32, code: u32) {
        self.0.push(Event::Goaway(last, code));
    }
    fn frame_error(&mut self, p: FrameProblem) {
        self.0.push(Event::Problem(p));
    }
    fn ping(&mut self, ack: bool) {
        self.0.push(Event::Ping(ack));
    }
    fn window_update(&mut self, s: u32, inc: u32) {
        self.0.push(Event::Window(s, inc));
    }
    fn priority(&mut self, s: u32, dep: u32, excl: bool, weight: u8) {
        self.0.push(Event::Priority(s, dep, excl, weight));
    }
    fn unknown_frame(&mut self, k: u8, len: u32) {
        self.0.push(Event::Unknown(k, len));
    }
}

/// Encodes one frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn padded(pad: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![pad];
    p.extend_from_slice(body);
    p.extend(std::iter::repeat_n(0, pad.into()));
    p
}

/// Input pieces: bytes or a hole.
#[derive(Clone)]
enum Piece {
    Bytes(Vec<u8>),
    Gap(u64),
}

fn run(reader: impl Fn() -> FrameReader, pieces: &[Piece], split: usize) -> Vec<Event> {
    let mut r = reader();
    let mut rec = Recorder::default();
    for piece in pieces {
        match piece {
            Piece::Bytes(b) if split == 0 => r.feed(b, &mut rec),
            Piece::Bytes(b) => b.chunks(split).for_each(|c| r.feed(c, &mut rec)),
            Piece::Gap(n) => r.gap(*n, &mut rec),
        }
    }
    rec.0
}

/// Runs `pieces` whole and split several ways; all runs must agree. Returns the events.
fn check(reader: impl Fn() -> FrameReader, pieces: &[Piece]) -> Vec<Event> {
    let whole = run(&reader, pieces, 0);
    for split in [1, 2, 3, 7, 10, 64] {
        assert_eq!(run(&reader, pieces, split), whole, "split {split}");
    }
    whole
}

fn client() -> FrameReader {
    FrameReader::new(true, FrameLimits::default())
}

fn server() -> FrameReader {
    FrameReader::new(false, FrameLimits::default())
}

fn bytes(parts: &[Vec<u8>]) -> Piece {
    Piece::Bytes(parts.concat())
}

#[test]
fn padded_data_and_headers_with_priority() {
    let events = check(
        client,
        &[bytes(&[
            PREFACE.to_vec(),
            frame(kind::HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 1, &{
                let mut p = vec![3, 0x80, 0, 0, 0, 16];
                p.extend(b"hdrs");
                p.extend([0; 3]);
                p
            }),
            frame(kind::DATA, PADDED, 1, &padded(5, b"hello")),
            frame(kind::DATA, END_STREAM | PADDED, 1, &padded(0, b"!")),
            frame(kind::DATA, 0, 3, b""),
        ])],
    );
    assert_eq!(
        events,
        vec![
            Event::Block(1, BlockKind::Headers, false, b"hdrs".to_vec(), 9 + 13),
            Event::Data(1, b"hello".to_vec()),
            Event::DataEnd(1, false, 9 + 11),
            Event::Data(1, b"!".to_vec()),
            Event::DataEnd(1, true, 9 + 2),
            Event::DataEnd(3, false, 9),
        ]
    );
}

#[test]
fn padding_too_long_is_malformed() {
    let events = check(
        server,
        &[bytes(&[frame(kind::DATA, PADDED, 1, &[9, 1, 2])])],
    );
    assert_eq!(
        events,
        vec![Event::Problem(FrameProblem::Malformed {
            kind: kind::DATA,
            stream_id: 1,
            reason: Malformation::PaddingTooLong
        })]
    );
}

#[test]
fn header_block_with_continuations_and_push_promise() {
    let events = check(
        server,
        &[bytes(&[
            frame(kind::HEADERS, END_STREAM, 5, b"ab"),
            frame(kind::CONTINUATION, 0, 5, b"cd"),
            frame(kind::CONTINUATION, 0, 5, b""),
            frame(kind::CONTINUATION, END_HEADERS, 5, b"ef"),
            frame(
                kind::PUSH_PROMISE,
                PADDED,
                5,
                &padded(2, &[0, 0, 0, 2, b'x']),
            ),
            frame(kind::CONTINUATION, END_HEADERS, 5, b"y"),
        ])],
    );
    assert_eq!(
        events,
        vec![
            Event::Block(5, BlockKind::Headers, true, b"abcdef".to_vec(), 4 * 9 + 6),
            Event::Block(
                5,
                BlockKind::PushPromise {
                    promised_stream_id: 2
                },
                false,
                b"xy".to_vec(),
                2 * 9 + 8 + 1
            ),
        ]
    );
}

#[test]
fn interrupted_and_orphan_blocks() {
    let events = check(
        server,
        &[bytes(&[
            frame(kind::HEADERS, 0, 1, b"ab"),
            frame(kind::DATA, 0, 1, b"z"),
            frame(kind::CONTINUATION, END_HEADERS, 1, b"cd"),
        ])],
    );
    assert_eq!(
        events,
        vec![
            Event::Problem(FrameProblem::BlockInterrupted {
                stream_id: 1,
                by_kind: kind::DATA
            }),
            Event::Lost(LostBlock {
                stream_id: 1,
                reason: BlockLoss::Interrupted,
                end_stream: Some(false),
                wire_bytes: 11
            }),
            Event::Data(1, b"z".to_vec()),
            Event::DataEnd(1, false, 10),
            Event::Problem(FrameProblem::OrphanContinuation { stream_id: 1 }),
            Event::Lost(LostBlock {
                stream_id: 1,
                reason: BlockLoss::StartLost,
                end_stream: None,
                wire_bytes: 11
            }),
        ]
    );
}

#[test]
fn block_over_limit_is_lost_but_skipped() {
    let limits = FrameLimits {
        max_header_block: 4,
        ..FrameLimits::default()
    };
    let events = check(
        || FrameReader::new(false, limits),
        &[bytes(&[
            frame(kind::HEADERS, 0, 1, b"abc"),
            frame(kind::CONTINUATION, END_HEADERS, 1, b"de"),
            frame(kind::PING, 0, 0, &[0; 8]),
        ])],
    );
    assert_eq!(
        events,
        vec![
            Event::Lost(LostBlock {
                stream_id: 1,
                reason: BlockLoss::TooLarge,
                end_stream: Some(false),
                wire_bytes: 23
            }),
            Event::Ping(false),
        ]
    );
}

#[test]
fn control_frames_and_unknown_types() {
    let events = check(
        client,
        &[bytes(&[
            PREFACE.to_vec(),
            frame(
                kind::SETTINGS,
                0,
                0,
                &[0, 1, 0, 0, 0x10, 0, 0, 4, 0, 1, 0, 0],
            ),
            frame(kind::SETTINGS, 1, 0, b""),
            frame(0x42, 0xff, 7, b"whatever"),
            frame(kind::PING, 1, 0, &[1; 8]),
            frame(kind::PRIORITY, 0, 3, &[0x80, 0, 0, 1, 200]),
            frame(kind::RST_STREAM, 0, 3, &[0, 0, 0, 8]),
            frame(kind::WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]),
            frame(
                kind::GOAWAY,
                0,
                0,
                &[0, 0, 0, 9, 0, 0, 0, 2, b'd', b'b', b'g'],
            ),
        ])],
    );
    assert_eq!(
        events,
        vec![
            Event::Settings(false, vec![(1, 4096), (4, 65536)]),
            Event::Settings(true, vec![]),
            Event::Unknown(0x42, 8),
            Event::Ping(true),
            Event::Priority(3, 1, true, 200),
            Event::Rst(3, 8),
            Event::Window(0, 65536),
            Event::Goaway(9, 2),
        ]
    );
}

#[test]
fn gap_inside_data_is_exact() {
    let f = frame(kind::DATA, END_STREAM, 1, b"0123456789");
    let events = check(
        server,
        &[
            Piece::Bytes(f[..12].to_vec()),
            Piece::Gap(4),
            Piece::Bytes(f[16..].to_vec()),
            bytes(&[frame(kind::PING, 0, 0, &[0; 8])]),
        ],
    );
    assert_eq!(
        events,
        vec![
            Event::Data(1, b"012".to_vec()),
            Event::DataGap(1, 4),
            Event::Data(1, b"789".to_vec()),
            Event::DataEnd(1, true, 19),
            Event::Ping(false),
        ]
    );
}

#[test]
fn gap_inside_header_block_loses_it() {
    let h = frame(kind::HEADERS, 0, 1, b"abcd");
    let events = check(
        server,
        &[
            Piece::Bytes(h[..10].to_vec()),
            Piece::Gap(2),
            Piece::Bytes(h[12..].to_vec()),
            bytes(&[
                frame(kind::CONTINUATION, END_HEADERS, 1, b"ef"),
                frame(kind::HEADERS, END_HEADERS, 3, b"ok"),
            ]),
        ],
    );
    assert_eq!(
        events,
        vec![
            Event::Lost(LostBlock {
                stream_id: 1,
                reason: BlockLoss::Gap,
                end_stream: Some(false),
                wire_bytes: 24
            }),
            Event::Block(3, BlockKind::Headers, false, b"ok".to_vec(), 11),
        ]
    );
}

#[test]
fn gap_over_frame_headers_then_resync() {
    let after = [
        frame(kind::CONTINUATION, END_HEADERS, 1, b"tail"),
        frame(kind::DATA, 0, 1, b"abc"),
        frame(kind::HEADERS, END_HEADERS, 3, b"hb"),
        frame(kind::DATA, END_STREAM, 3, b"xyz"),
    ];
    let events = check(
        server,
        &[
            bytes(&[frame(kind::HEADERS, 0, 1, b"start")]),
            Piece::Gap(100),
            bytes(&after),
        ],
    );
    assert_eq!(
        events,
        vec![
            Event::Lost(LostBlock {
                stream_id: 1,
                reason: BlockLoss::SyncLost,
                end_stream: Some(false),
                wire_bytes: 14
            }),
            Event::Problem(FrameProblem::GapLostSync),
            Event::Problem(FrameProblem::Resynced { skipped: 100 }),
            Event::Lost(LostBlock {
                stream_id: 1,
                reason: BlockLoss::StartLost,
                end_stream: None,
                wire_bytes: 13
            }),
            Event::Data(1, b"abc".to_vec()),
            Event::DataEnd(1, false, 12),
            Event::Block(3, BlockKind::Headers, false, b"hb".to_vec(), 11),
            Event::Data(3, b"xyz".to_vec()),
            Event::DataEnd(3, true, 12),
        ]
    );
}

#[test]
fn gap_ending_mid_frame_resyncs_at_next_frame() {
    // The hole ends inside a DATA payload: the rest of that payload is skipped by the search.
    let d = frame(kind::DATA, 0, 1, &[0xff; 40]);
    let events = check(
        server,
        &[
            Piece::Gap(20),
            Piece::Bytes(d[20..].to_vec()),
            bytes(&[
                frame(kind::DATA, 0, 1, b"a"),
                frame(kind::DATA, 0, 1, b"b"),
                frame(kind::DATA, 0, 1, b"c"),
            ]),
        ],
    );
    assert_eq!(events[0], Event::Problem(FrameProblem::GapLostSync));
    assert_eq!(
        events[1],
        Event::Problem(FrameProblem::Resynced { skipped: 49 })
    );
    assert_eq!(events[2], Event::Data(1, b"a".to_vec()));
    assert_eq!(events.len(), 8);
}

#[test]
fn unsynced_start_finds_boundary() {
    let events = check(
        || FrameReader::new_unsynced(FrameLimits::default()),
        &[bytes(&[
            b"\x01\x02partial payload".to_vec(),
            frame(kind::HEADERS, END_HEADERS | END_STREAM, 1, b"h"),
            frame(kind::SETTINGS, 1, 0, b""),
            frame(kind::PING, 0, 0, &[0; 8]),
        ])],
    );
    assert_eq!(
        events[0],
        Event::Problem(FrameProblem::Resynced { skipped: 17 })
    );
    assert_eq!(
        events[1],
        Event::Block(1, BlockKind::Headers, true, b"h".to_vec(), 10)
    );
    assert_eq!(events.len(), 4);
}

#[test]
fn wrong_preface_stops() {
    let events = check(
        client,
        &[
            Piece::Bytes(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".to_vec()),
            bytes(&[frame(kind::PING, 0, 0, &[0; 8])]),
            Piece::Gap(10),
            bytes(&[frame(kind::PING, 0, 0, &[0; 8])]),
        ],
    );
    assert_eq!(events, vec![Event::Problem(FrameProblem::NotHttp2)]);
    let events = check(client, &[Piece::Bytes(b"GET / HTTP/1.1\r\n\r\n".to_vec())]);
    assert_eq!(events, vec![Event::Problem(FrameProblem::NotHttp2)]);
}

/// A small deterministic generator (no dependency needed for a few random bytes).
fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn random_bytes_after_preface_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut total_problems = 0;
    for round in 0..40 {
        let len = 1000 + (xorshift(&mut seed) % 100_000) as usize;
        let noise: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
        let mut pieces = vec![Piece::Bytes(PREFACE.to_vec()), Piece::Bytes(noise.clone())];
        if round % 3 == 0 {
            pieces.push(Piece::Gap(xorshift(&mut seed) % 5000));
            pieces.push(Piece::Bytes(noise[..len / 2].to_vec()));
        }
        // Default limits let a random length swallow everything; tight ones resync a lot.
        let tight = || {
            FrameReader::new(
                true,
                FrameLimits {
                    max_frame_payload: 16_384,
                    ..FrameLimits::default()
                },
            )
        };
        for reader in [client as fn() -> FrameReader, tight] {
            let whole = run(reader, &pieces, 0);
            assert_eq!(run(reader, &pieces, 1), whole);
            assert_eq!(run(reader, &pieces, 97), whole);
            total_problems += whole
                .iter()
                .filter(|e| matches!(e, Event::Problem(_)))
                .count();
        }
        let mut r = client();
        let mut rec = Recorder::default();
        r.feed(&pieces_concat(&pieces), &mut rec);
        assert!(r.buffered_bytes() <= 200_000);
    }
    assert!(total_problems >= 40, "{total_problems}");
}

fn pieces_concat(pieces: &[Piece]) -> Vec<u8> {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Bytes(b) => Some(b.clone()),
            Piece::Gap(_) => None,
        })
        .collect::<Vec<_>>()
        .concat()
}

#[test]
fn long_noise_reports_no_sync_once() {
    let noise = vec![0xffu8; 200_000];
    let events = check(
        || FrameReader::new_unsynced(FrameLimits::default()),
        &[Piece::Bytes(noise)],
    );
    assert_eq!(
        events,
        vec![Event::Problem(FrameProblem::NoSync { skipped: 65536 })]
    );
}

#[test]
fn malformed_frame_resyncs_on_following_frames() {
    let events = check(
        server,
        &[bytes(&[
            frame(kind::PING, 0, 1, &[0xaa; 8]), // PING on a stream: malformed
            frame(kind::DATA, 0, 1, b"a"),
            frame(kind::DATA, 0, 1, b"b"),
            frame(kind::DATA, END_STREAM, 1, b"c"),
        ])],
    );
    assert_eq!(
        events[0],
        Event::Problem(FrameProblem::Malformed {
            kind: kind::PING,
            stream_id: 1,
            reason: Malformation::BadStreamId
        })
    );
    assert_eq!(
        events[1],
        Event::Problem(FrameProblem::Resynced { skipped: 8 })
    );
    assert_eq!(events.len(), 8);
}

#[test]
fn gap_hiding_pad_length_counts_whole_rest_as_lost() {
    let f = frame(kind::DATA, PADDED | END_STREAM, 1, &padded(2, b"abcd"));
    let events = check(
        server,
        &[
            Piece::Bytes(f[..9].to_vec()),
            Piece::Gap(2),
            Piece::Bytes(f[11..].to_vec()),
        ],
    );
    assert_eq!(
        events,
        vec![Event::DataGap(1, 6), Event::DataEnd(1, true, 16)]
    );
}

#[test]
fn header_blocks_decode_with_hpack() {
    // End to end: RFC 7541 C.3.1 in a HEADERS frame split over CONTINUATIONs.
    let block = [
        0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p', b'l',
        b'e', b'.', b'c', b'o', b'm',
    ];
    let events = check(
        server,
        &[bytes(&[
            frame(kind::HEADERS, END_STREAM, 1, &block[..3]),
            frame(kind::CONTINUATION, 0, 1, &block[3..10]),
            frame(kind::CONTINUATION, 0, 1, &block[10..15]),
            frame(kind::CONTINUATION, END_HEADERS, 1, &block[15..]),
        ])],
    );
    let [Event::Block(1, BlockKind::Headers, true, fragment, 56)] = &events[..] else {
        panic!("{events:?}")
    };
    let fields = crate::protocols::http2::hpack::Decoder::new()
        .decode(fragment)
        .unwrap();
    assert_eq!(fields.len(), 4);
}
