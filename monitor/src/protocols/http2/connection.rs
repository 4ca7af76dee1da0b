//! [`Connection`]: both directions of one HTTP/2 connection, from frames to exchanges.
//!
//! Owns the per-direction frame readers and HPACK decoders (fed every header block in wire
//! order, pushes and trailers included, so the tables stay exact), which direction carries
//! requests, and the streams until each is reported: when both sides end, when it is reset, or
//! when the connection closes. Streams per connection are bounded (the oldest evicted, counted).
use std::collections::{BTreeMap, VecDeque};

use super::{
    Limits, Problem, Stat,
    call::CaptureStart,
    frame::{BlockKind, FrameProblem, FrameReader, FrameSink, HeaderBlock, LostBlock},
    hpack::{Decoder, Field},
    stream::Stream,
};
use crate::protocols::{Direction, Output, Request};

const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
/// Stream ids reported recently: frames that still arrive for them are not a new stream.
const RECENTLY_CLOSED: usize = 128;

/// Everything but the frame readers, so a reader can feed it as its sink.
#[derive(Debug)]
struct State {
    limits: Limits,
    start: CaptureStart,
    decoders: [Decoder; 2],
    /// The direction that carries requests, once known.
    requests: Option<Direction>,
    streams: BTreeMap<u32, Stream>,
    closed: VecDeque<u32>,
    /// The highest id in `closed` (or evicted from it): a higher one was never closed.
    highest_closed: u32,
    /// SETTINGS_MAX_FRAME_SIZE announced by each direction's sender, applied to the other
    /// direction's reader after the current feed.
    max_frame: [Option<u32>; 2],
    /// Counts raised while a stream was being looked up, emitted with the next output.
    pending_stats: Vec<Stat>,
}

#[derive(Debug)]
pub struct Connection {
    readers: [FrameReader; 2],
    state: State,
}

impl Connection {
    /// A connection seen from its preface; `client_to_server` is the direction that sent (or
    /// will send) it.
    pub fn from_preface(limits: Limits, client_to_server: Direction) -> Self {
        Self::with(
            preface_on(client_to_server, &limits),
            limits,
            CaptureStart::Preface,
            Some(client_to_server),
            false,
        )
    }

    /// A connection first seen somewhere after its preface: both readers look for a frame
    /// boundary, and both HPACK tables hold entries never seen.
    pub fn mid_connection(limits: Limits) -> Self {
        let readers = [
            FrameReader::new_unsynced(limits.frames),
            FrameReader::new_unsynced(limits.frames),
        ];
        Self::with(readers, limits, CaptureStart::MidConnection, None, true)
    }

    /// An HTTP/1.1 connection that switched with `Upgrade: h2c`: `request` (sent on
    /// `requests`) becomes stream 1; the client's preface follows on `requests`, the server's
    /// frames start right after the 101 response on the other direction.
    pub fn upgraded(limits: Limits, requests: Direction, request: &Request) -> Self {
        let mut conn = Self::with(
            preface_on(requests, &limits),
            limits,
            CaptureStart::Upgrade,
            Some(requests),
            false,
        );
        let mut stream = Stream::default();
        stream.side(requests).adopt_http1(request);
        conn.state.streams.insert(1, stream);
        conn
    }

    fn with(
        readers: [FrameReader; 2],
        limits: Limits,
        start: CaptureStart,
        requests: Option<Direction>,
        unknown_tables: bool,
    ) -> Self {
        let decoder = || {
            if unknown_tables {
                Decoder::new_unknown()
            } else {
                Decoder::new()
            }
        };
        Self {
            readers,
            state: State {
                limits,
                start,
                decoders: [decoder(), decoder()],
                requests,
                streams: BTreeMap::new(),
                closed: VecDeque::new(),
                highest_closed: 0,
                max_frame: [None, None],
                pending_stats: Vec::new(),
            },
        }
    }

    pub fn capture_start(&self) -> CaptureStart {
        self.state.start
    }

    pub fn buffered_bytes(&self) -> usize {
        self.readers
            .iter()
            .map(FrameReader::buffered_bytes)
            .sum::<usize>()
            + self
                .state
                .streams
                .values()
                .map(Stream::held_bytes)
                .sum::<usize>()
    }

    pub fn on_data(&mut self, dir: Direction, ts: u64, data: &[u8], out: &mut Vec<Output>) {
        self.with_reader(dir, ts, out, |reader, sink| reader.feed(data, sink));
        self.apply_settings();
    }

    pub fn on_gap(&mut self, dir: Direction, ts: u64, len: u64, out: &mut Vec<Output>) {
        self.with_reader(dir, ts, out, |reader, sink| reader.gap(len, sink));
    }

    /// Runs `f` on `dir`'s frame reader with the rest of the connection as its sink.
    fn with_reader(
        &mut self,
        dir: Direction,
        ts: u64,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut FrameReader, &mut Sink<'_>),
    ) {
        let mut sink = Sink {
            state: &mut self.state,
            dir,
            ts,
            out,
        };
        if let Some(reader) = self.readers.get_mut(dir.index()) {
            f(reader, &mut sink);
        }
    }

    /// The connection ended: every stream still open is reported, incomplete.
    pub fn on_close(&mut self, _ts: u64, out: &mut Vec<Output>) {
        let ids: Vec<u32> = self.state.streams.keys().copied().collect();
        for id in ids {
            self.state.report(id, out);
        }
    }

    fn apply_settings(&mut self) {
        for dir in [Direction::Egress, Direction::Ingress] {
            if let Some(size) = self.state.max_frame[dir.index()].take() {
                // Frames *to* the sender may now be that large.
                if let Some(reader) = self.readers.get_mut(dir.opposite().index()) {
                    reader.set_max_frame_size(size);
                }
            }
        }
    }
}

/// Readers for a connection seen from its start: the client preface is expected on `client`.
fn preface_on(client: Direction, limits: &Limits) -> [FrameReader; 2] {
    let reader = |dir: Direction| FrameReader::new(dir == client, limits.frames);
    [reader(Direction::Egress), reader(Direction::Ingress)]
}

impl State {
    fn stream(&mut self, id: u32) -> Option<&mut Stream> {
        // Even ids are server pushes: decoded for the table's sake, not reported as calls.
        if id == 0 || id.is_multiple_of(2) {
            return None;
        }
        // An open stream was never closed (a closed id is never let in again), and a client's
        // new stream takes a higher id than any before it: the walk of the recently closed ids
        // (up to 128, a thousand instructions per call when done for every frame) is left for
        // the frames that may belong to one.
        if self.streams.contains_key(&id) {
            return self.streams.get_mut(&id);
        }
        if id <= self.highest_closed && self.closed.contains(&id) {
            return None;
        }
        if self.streams.len() >= self.limits.max_streams {
            // The oldest (lowest id) is most likely one whose end we missed.
            if let Some((&oldest, _)) = self.streams.iter().next() {
                self.streams.remove(&oldest);
                self.remember_closed(oldest);
                self.pending_stats.push(Stat::StreamEvicted);
            }
        }
        Some(self.streams.entry(id).or_default())
    }

    fn remember_closed(&mut self, id: u32) {
        if self.closed.len() >= RECENTLY_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back(id);
        self.highest_closed = self.highest_closed.max(id);
    }

    /// Learns which direction carries requests from a readable header block.
    fn learn_direction(&mut self, dir: Direction, fields: &[Field]) {
        if self.requests.is_some() {
            return;
        }
        let has = |name: &[u8]| fields.iter().any(|f| f.name.as_deref() == Some(name));
        if has(b":method") || has(b":path") || has(b":scheme") {
            self.requests = Some(dir);
        } else if has(b":status") {
            self.requests = Some(dir.opposite());
        }
    }

    /// Reports a stream if it is worth it (a head was seen) and forgets it.
    fn report(&mut self, id: u32, out: &mut Vec<Output>) {
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        self.remember_closed(id);
        if !stream.has_head() {
            return;
        }
        // Undecided only when no block of either side was readable; a client is the likelier
        // traced side of a connection we know nothing about.
        let requests = self.requests.unwrap_or(Direction::Egress);
        let (exchange, unknown) = stream.into_exchange(id, requests, self.start);
        for field in unknown {
            out.push(Output::Http2Stat(Stat::UnknownField(field)));
        }
        out.push(Output::Exchange(exchange));
    }

    fn flush_stats(&mut self, out: &mut Vec<Output>) {
        out.extend(self.pending_stats.drain(..).map(Output::Http2Stat));
    }
}

/// A frame reader's view of the connection while it feeds one direction.
struct Sink<'a> {
    state: &'a mut State,
    dir: Direction,
    ts: u64,
    out: &'a mut Vec<Output>,
}

impl FrameSink for Sink<'_> {
    fn header_block(&mut self, block: HeaderBlock) {
        let dir = self.dir;
        let decoded = self
            .state
            .decoders
            .get_mut(dir.index())
            .map(|d| d.decode(&block.fragment));
        let fields = match decoded {
            Some(Ok(fields)) => fields,
            Some(Err(_)) | None => {
                self.out.push(Output::Problem(Problem::HpackError.into()));
                self.state
                    .report_block_lost(block.stream_id, dir, self.ts, self.out);
                return;
            }
        };
        if let BlockKind::PushPromise { .. } = block.kind {
            // Decoded for the table's sake; pushed responses are not reported.
            self.out.push(Output::Http2Stat(Stat::Push));
            return;
        }
        self.state.learn_direction(dir, &fields);
        let ts = self.ts;
        let Some(stream) = self.state.stream(block.stream_id) else {
            self.state.flush_stats(self.out);
            return;
        };
        stream
            .side(dir)
            .on_block(&fields, block.wire_bytes, block.end_stream, ts);
        let finished = stream.finished();
        self.state.flush_stats(self.out);
        if finished {
            self.state.report(block.stream_id, self.out);
        }
    }

    fn header_block_lost(&mut self, lost: LostBlock) {
        self.out.push(Output::Http2Stat(Stat::HeaderBlockLost));
        let (dir, ts) = (self.dir, self.ts);
        self.state
            .report_block_lost(lost.stream_id, dir, ts, self.out);
        if lost.end_stream == Some(true)
            && let Some(stream) = self.state.stream(lost.stream_id)
        {
            stream.side(dir).on_end(ts);
            if stream.finished() {
                self.state.report(lost.stream_id, self.out);
            }
        }
        self.state.flush_stats(self.out);
    }

    fn data(&mut self, stream_id: u32, bytes: &[u8]) {
        let (dir, ts, sample) = (self.dir, self.ts, self.state.limits.body_sample_bytes);
        if let Some(stream) = self.state.stream(stream_id) {
            stream.side(dir).on_data(bytes, sample, ts);
        }
        self.state.flush_stats(self.out);
    }

    fn data_gap(&mut self, stream_id: u32, len: u64) {
        let (dir, ts) = (self.dir, self.ts);
        if let Some(stream) = self.state.stream(stream_id) {
            stream.side(dir).on_data_gap(len, ts);
        }
        self.state.flush_stats(self.out);
    }

    fn data_end(&mut self, stream_id: u32, end_stream: bool, _frame_bytes: u64) {
        if !end_stream {
            return;
        }
        let (dir, ts) = (self.dir, self.ts);
        let Some(stream) = self.state.stream(stream_id) else {
            return;
        };
        stream.side(dir).on_end(ts);
        if stream.finished() {
            self.state.report(stream_id, self.out);
        }
        self.state.flush_stats(self.out);
    }

    fn rst_stream(&mut self, stream_id: u32, error_code: u32) {
        self.out.push(Output::Http2Stat(Stat::Reset));
        let dir = self.dir;
        if let Some(stream) = self.state.stream(stream_id) {
            stream.reset = Some((dir, error_code));
            self.state.report(stream_id, self.out);
        }
        self.state.flush_stats(self.out);
    }

    fn settings(&mut self, ack: bool, params: &[(u16, u32)]) {
        if ack {
            return;
        }
        let dir = self.dir;
        for &(id, value) in params {
            match id {
                // Limits the table of the blocks sent *to* this direction's sender.
                SETTINGS_HEADER_TABLE_SIZE => {
                    if let Some(d) = self.state.decoders.get_mut(dir.opposite().index()) {
                        d.set_settings_limit(value);
                    }
                }
                SETTINGS_MAX_FRAME_SIZE => self.state.max_frame[dir.index()] = Some(value),
                _ => {}
            }
        }
    }

    fn goaway(&mut self, _last_stream_id: u32, _error_code: u32) {
        // Streams above the last id will not be answered; they are reported (incomplete)
        // when the connection closes.
        self.out.push(Output::Http2Stat(Stat::Goaway));
    }

    fn frame_error(&mut self, problem: FrameProblem) {
        tracing::debug!(?problem, direction = ?self.dir, "HTTP/2 frame problem");
        self.out
            .push(Output::Problem(Problem::Frame(problem).into()));
    }
}

impl State {
    /// A header block of `stream_id` on `dir` was lost or undecodable: the decoder's table is
    /// no longer known (what the block inserted is missing), and the stream's head is unknown.
    fn report_block_lost(
        &mut self,
        stream_id: u32,
        dir: Direction,
        ts: u64,
        out: &mut Vec<Output>,
    ) {
        if let Some(d) = self.decoders.get_mut(dir.index()) {
            d.lose_state();
        }
        if let Some(stream) = self.stream(stream_id) {
            stream.side(dir).on_block_lost(ts);
        }
        self.flush_stats(out);
    }
}
