//! [`FrameReader`]: the incremental frame parser for one connection direction.
//!
//! A small state machine (preface → frame header → payload → frame header ...) that consumes
//! input as it comes, so any split of the input gives the same sink calls (DATA bytes aside,
//! which are passed on as they arrive). The only buffers are the open header block (bounded by
//! [`FrameLimits::max_header_block`]), SETTINGS parameters (bounded), and while out of sync the
//! bytes being searched for a frame boundary (bounded by the search horizon plus one chunk).

use super::block::{Finished, OpenBlock};
use super::header::{ACK, END_HEADERS, END_STREAM, FrameHead, PADDED, kind};
use super::resync::{self, Search};
use super::{
    BlockKind, BlockLoss, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, FrameLimits, FrameProblem,
    FrameSink, MAX_FRAME_LEN, Malformation, PREFACE,
};

/// Out of sync for this many bytes without finding a boundary is reported (once).
const NO_SYNC_REPORT: u64 = 64 * 1024;
/// SETTINGS parameters kept per frame; real frames carry fewer than ten.
const MAX_SETTINGS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preface {
        matched: usize,
    },
    /// Not HTTP/2: everything is ignored.
    Stopped,
    Header,
    Payload,
    /// Searching for a frame boundary in `scan`.
    Unsynced,
}

/// Progress through the current frame's payload: `[0, prefix_len)` fixed fields,
/// `[prefix_len, body_end)` content, `[body_end, len)` padding.
#[derive(Debug, Clone, Copy)]
struct Payload {
    head: FrameHead,
    pos: u32,
    prefix: [u8; 8],
    prefix_len: u32,
    body_end: u32,
    /// A hole hid the fixed fields (so the padding length): the rest of the frame cannot be
    /// interpreted and is skipped.
    blind: bool,
    setting: [u8; 6],
    setting_have: usize,
}

impl Payload {
    fn new(head: FrameHead) -> Self {
        let prefix_len = head.prefix_len();
        Self {
            head,
            pos: 0,
            prefix: [0; 8],
            prefix_len,
            body_end: head.len,
            blind: false,
            setting: [0; 6],
            setting_have: 0,
        }
    }

    fn remaining(&self) -> u32 {
        self.head.len.saturating_sub(self.pos)
    }

    fn be32(&self, at: usize) -> u32 {
        self.prefix
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_be_bytes)
    }

    /// Of the payload range `[pos, pos + n)`, how many bytes lie past the fixed fields.
    fn past_prefix(&self, n: u32) -> u32 {
        (self.pos + n).saturating_sub(self.pos.max(self.prefix_len))
    }
}

/// Parses one direction of one HTTP/2 connection.
#[derive(Debug)]
pub struct FrameReader {
    limits: FrameLimits,
    state: State,
    head_buf: [u8; FRAME_HEADER_LEN],
    head_have: usize,
    frame: Payload,
    block: Option<OpenBlock>,
    settings: Vec<(u16, u32)>,
    settings_overflow: bool,
    /// SETTINGS_MAX_FRAME_SIZE of the receiving side, for the boundary search.
    max_frame_size: u32,
    scan: Vec<u8>,
    /// Bytes given up on since sync was lost.
    skipped: u64,
    no_sync_reported: bool,
    /// Since the last boundary search succeeded, only CONTINUATIONs were seen: one with no
    /// block open belongs to a block whose start we lost, not to a sender's error.
    after_resync: bool,
}

impl FrameReader {
    /// A reader for a direction seen from its start; `expect_preface` for client → server,
    /// which begins with the 24-byte connection preface.
    pub fn new(expect_preface: bool, limits: FrameLimits) -> Self {
        let state = if expect_preface {
            State::Preface { matched: 0 }
        } else {
            State::Header
        };
        Self {
            limits,
            state,
            head_buf: [0; FRAME_HEADER_LEN],
            head_have: 0,
            frame: Payload::new(FrameHead::parse(&[0; FRAME_HEADER_LEN])),
            block: None,
            settings: Vec::new(),
            settings_overflow: false,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            scan: Vec::new(),
            skipped: 0,
            no_sync_reported: false,
            after_resync: false,
        }
    }

    /// A reader that starts mid-stream and must first find a frame boundary.
    pub fn new_unsynced(limits: FrameLimits) -> Self {
        Self {
            state: State::Unsynced,
            ..Self::new(false, limits)
        }
    }

    /// The receiving side's SETTINGS_MAX_FRAME_SIZE, used to judge frame lengths when searching
    /// for a boundary (never below the RFC's initial 16384).
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_LEN);
    }

    /// Whether the reader gave up because the stream is not HTTP/2.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Whether the reader is searching for a frame boundary.
    pub fn is_synced(&self) -> bool {
        self.state != State::Unsynced
    }

    /// Bytes held in buffers (header block, SETTINGS, boundary search).
    pub fn buffered_bytes(&self) -> usize {
        self.scan.len()
            + self.block.as_ref().map_or(0, OpenBlock::buffered)
            + self.head_have
            + self.settings.len() * 6
    }

    /// The next bytes of the direction.
    pub fn feed<S: FrameSink>(&mut self, data: &[u8], sink: &mut S) {
        self.process(data, sink);
        self.resync(false, sink);
    }

    /// Exactly `len` bytes of the direction were not captured.
    pub fn gap<S: FrameSink>(&mut self, len: u64, sink: &mut S) {
        if len == 0 {
            return;
        }
        // No more bytes will come for what is being searched: decide on what we have.
        self.resync(true, sink);
        match self.state {
            State::Stopped => {}
            State::Unsynced => {
                self.skipped = self.skipped.saturating_add(len);
                self.report_no_sync(sink);
            }
            State::Preface { matched } => {
                let rest = (PREFACE.len() - matched) as u64;
                if len < rest {
                    // Unverifiable preface bytes: accept them.
                    self.state = State::Preface {
                        matched: matched + len as usize,
                    };
                } else if len == rest {
                    self.state = State::Header;
                } else {
                    self.lose_sync(FrameProblem::GapLostSync, sink);
                    self.skipped = len - rest;
                }
            }
            State::Header => {
                self.lose_sync(FrameProblem::GapLostSync, sink);
                self.skipped = len;
            }
            State::Payload => {
                let remaining = u64::from(self.frame.remaining());
                self.payload_gap(len.min(remaining) as u32, sink);
                if len > remaining {
                    self.lose_sync(FrameProblem::GapLostSync, sink);
                    self.skipped = len - remaining;
                }
            }
        }
    }

    fn process<S: FrameSink>(&mut self, mut input: &[u8], sink: &mut S) {
        while !input.is_empty() {
            match self.state {
                State::Stopped => return,
                State::Unsynced => {
                    self.scan.extend_from_slice(input);
                    return;
                }
                State::Preface { matched } => {
                    let want = PREFACE.get(matched..).unwrap_or_default();
                    let n = want.len().min(input.len());
                    if input.get(..n) != want.get(..n) {
                        sink.frame_error(FrameProblem::NotHttp2);
                        self.state = State::Stopped;
                        self.block = None;
                        return;
                    }
                    input = input.get(n..).unwrap_or_default();
                    self.state = if matched + n == PREFACE.len() {
                        State::Header
                    } else {
                        State::Preface {
                            matched: matched + n,
                        }
                    };
                }
                State::Header => {
                    let n = (FRAME_HEADER_LEN - self.head_have).min(input.len());
                    if let (Some(dst), Some(src)) = (
                        self.head_buf.get_mut(self.head_have..self.head_have + n),
                        input.get(..n),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    self.head_have += n;
                    input = input.get(n..).unwrap_or_default();
                    if self.head_have == FRAME_HEADER_LEN {
                        self.head_have = 0;
                        self.on_header(sink);
                    }
                }
                State::Payload => {
                    let n = self.payload_data(input, sink);
                    input = input.get(n..).unwrap_or_default();
                }
            }
        }
    }

    fn on_header<S: FrameSink>(&mut self, sink: &mut S) {
        let head = FrameHead::parse(&self.head_buf);
        if let Err(reason) = head.check(self.limits.max_frame_payload) {
            let problem = FrameProblem::Malformed {
                kind: head.kind,
                stream_id: head.stream_id,
                reason,
            };
            self.lose_sync(problem, sink);
            return;
        }
        let continuation = head.kind == kind::CONTINUATION;
        if let Some(open) = &self.block
            && (!continuation || head.stream_id != open.stream_id)
        {
            sink.frame_error(FrameProblem::BlockInterrupted {
                stream_id: open.stream_id,
                by_kind: head.kind,
            });
            self.close_block(Some(BlockLoss::Interrupted), sink);
        }
        match head.kind {
            kind::HEADERS => {
                let end_stream = Some(head.has(END_STREAM));
                self.block = Some(self.open_block(head.stream_id, BlockKind::Headers, end_stream));
            }
            kind::PUSH_PROMISE => {
                let kind = BlockKind::PushPromise {
                    promised_stream_id: 0,
                };
                self.block = Some(self.open_block(head.stream_id, kind, Some(false)));
            }
            kind::CONTINUATION if self.block.is_none() => {
                if !self.after_resync {
                    sink.frame_error(FrameProblem::OrphanContinuation {
                        stream_id: head.stream_id,
                    });
                }
                self.block = Some(OpenBlock::start_lost(head.stream_id));
            }
            kind::SETTINGS => {
                self.settings.clear();
                self.settings_overflow = false;
            }
            k if k > kind::CONTINUATION => sink.unknown_frame(k, head.len),
            _ => {}
        }
        if !continuation {
            self.after_resync = false;
        }
        if let Some(open) = &mut self.block {
            open.wire_bytes += head.wire_len();
        }
        self.frame = Payload::new(head);
        self.state = State::Payload;
        if self.frame.prefix_len == 0 {
            self.on_prefix(sink);
        }
        if head.len == 0 && self.state == State::Payload {
            self.finish_frame(sink);
        }
    }

    fn open_block(&self, stream_id: u32, kind: BlockKind, end_stream: Option<bool>) -> OpenBlock {
        OpenBlock::new(stream_id, kind, end_stream, self.limits.max_header_block)
    }

    /// The fixed fields are complete: check the padding and act on control frames.
    fn on_prefix<S: FrameSink>(&mut self, sink: &mut S) {
        let f = self.frame;
        let head = f.head;
        let padded = head.has(PADDED)
            && matches!(head.kind, kind::DATA | kind::HEADERS | kind::PUSH_PROMISE);
        let pad = if padded { u32::from(f.prefix[0]) } else { 0 };
        if pad > head.len - f.prefix_len {
            let reason = Malformation::PaddingTooLong;
            let problem = FrameProblem::Malformed {
                kind: head.kind,
                stream_id: head.stream_id,
                reason,
            };
            self.lose_sync(problem, sink);
            return;
        }
        self.frame.body_end = head.len - pad;
        let off = usize::from(padded);
        let id_mask = 0x7fff_ffff;
        match head.kind {
            kind::PUSH_PROMISE => {
                if let Some(open) = &mut self.block {
                    open.kind = BlockKind::PushPromise {
                        promised_stream_id: f.be32(off) & id_mask,
                    };
                }
            }
            kind::PRIORITY => {
                let dep = f.be32(0);
                sink.priority(
                    head.stream_id,
                    dep & id_mask,
                    dep & !id_mask != 0,
                    f.prefix[4],
                );
            }
            kind::RST_STREAM => sink.rst_stream(head.stream_id, f.be32(0)),
            kind::PING => sink.ping(head.has(ACK)),
            kind::GOAWAY => sink.goaway(f.be32(0) & id_mask, f.be32(4)),
            kind::WINDOW_UPDATE => sink.window_update(head.stream_id, f.be32(0) & id_mask),
            _ => {}
        }
    }

    /// Consumes payload bytes of the current frame; returns how many.
    fn payload_data<S: FrameSink>(&mut self, input: &[u8], sink: &mut S) -> usize {
        let mut consumed = 0usize;
        while self.state == State::Payload {
            let f = self.frame;
            let Some(avail) = input.get(consumed..).filter(|a| !a.is_empty()) else {
                break;
            };
            let avail_len = u32::try_from(avail.len()).unwrap_or(u32::MAX);
            let n = if f.blind {
                let n = f.remaining().min(avail_len);
                if f.head.kind == kind::DATA {
                    // Data or padding, we cannot tell: counted as lost.
                    sink.data_gap(f.head.stream_id, u64::from(f.past_prefix(n)));
                }
                n
            } else if f.pos < f.prefix_len {
                let n = (f.prefix_len - f.pos).min(avail_len);
                let at = f.pos as usize;
                if let (Some(dst), Some(src)) = (
                    self.frame.prefix.get_mut(at..at + n as usize),
                    avail.get(..n as usize),
                ) {
                    dst.copy_from_slice(src);
                }
                self.frame.pos += n;
                consumed += n as usize;
                if self.frame.pos == f.prefix_len {
                    self.on_prefix(sink);
                    if self.state != State::Payload {
                        return consumed;
                    }
                }
                self.finish_if_done(sink);
                continue;
            } else if f.pos < f.body_end {
                let n = (f.body_end - f.pos).min(avail_len);
                self.body(avail.get(..n as usize).unwrap_or_default(), sink);
                n
            } else {
                f.remaining().min(avail_len)
            };
            self.frame.pos += n;
            consumed += n as usize;
            self.finish_if_done(sink);
        }
        consumed
    }

    /// Content bytes of the current frame.
    fn body<S: FrameSink>(&mut self, bytes: &[u8], sink: &mut S) {
        let head = self.frame.head;
        match head.kind {
            kind::DATA => sink.data(head.stream_id, bytes),
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION => {
                if let Some(open) = &mut self.block {
                    open.extend(bytes);
                }
            }
            kind::SETTINGS => {
                for &b in bytes {
                    let f = &mut self.frame;
                    if let Some(slot) = f.setting.get_mut(f.setting_have) {
                        *slot = b;
                    }
                    f.setting_have += 1;
                    if f.setting_have == 6 {
                        f.setting_have = 0;
                        let [a, b, c, d, e, g] = f.setting;
                        if self.settings.len() < MAX_SETTINGS {
                            let id = u16::from_be_bytes([a, b]);
                            self.settings.push((id, u32::from_be_bytes([c, d, e, g])));
                        } else {
                            self.settings_overflow = true;
                        }
                    }
                }
            }
            // GOAWAY debug data, unknown frame types.
            _ => {}
        }
    }

    /// `n` payload bytes of the current frame (at most what remains of it) fell in a hole.
    fn payload_gap<S: FrameSink>(&mut self, n: u32, sink: &mut S) {
        let mut left = n;
        while left > 0 && self.state == State::Payload {
            let f = self.frame;
            let head = f.head;
            let k = if f.blind || f.pos < f.prefix_len {
                let k = left.min(f.remaining());
                if !f.blind {
                    // The fixed fields are lost: padding length, control-frame content.
                    self.frame.blind = true;
                    match head.kind {
                        kind::DATA => {}
                        kind::HEADERS | kind::PUSH_PROMISE => self.lose_block(BlockLoss::Gap),
                        other => sink.frame_error(FrameProblem::ControlFrameGap { kind: other }),
                    }
                }
                if head.kind == kind::DATA {
                    sink.data_gap(head.stream_id, u64::from(f.past_prefix(k)));
                }
                k
            } else if f.pos < f.body_end {
                let k = left.min(f.body_end - f.pos);
                match head.kind {
                    kind::DATA => sink.data_gap(head.stream_id, u64::from(k)),
                    kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION => {
                        self.lose_block(BlockLoss::Gap);
                    }
                    kind::SETTINGS => {
                        self.frame.blind = true;
                        sink.frame_error(FrameProblem::ControlFrameGap {
                            kind: kind::SETTINGS,
                        });
                    }
                    _ => {}
                }
                k
            } else {
                left.min(f.remaining())
            };
            self.frame.pos += k;
            left -= k;
            self.finish_if_done(sink);
        }
    }

    fn finish_if_done<S: FrameSink>(&mut self, sink: &mut S) {
        if self.state == State::Payload && self.frame.remaining() == 0 {
            self.finish_frame(sink);
        }
    }

    fn finish_frame<S: FrameSink>(&mut self, sink: &mut S) {
        let f = self.frame;
        let head = f.head;
        self.state = State::Header;
        self.head_have = 0;
        match head.kind {
            kind::DATA => sink.data_end(head.stream_id, head.has(END_STREAM), head.wire_len()),
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION if head.has(END_HEADERS) => {
                self.close_block(None, sink);
            }
            kind::SETTINGS => {
                if !f.blind {
                    if self.settings_overflow {
                        sink.frame_error(FrameProblem::TooManySettings);
                    }
                    sink.settings(head.has(ACK), &self.settings);
                }
                self.settings.clear();
            }
            _ => {}
        }
    }

    fn lose_block(&mut self, reason: BlockLoss) {
        if let Some(open) = &mut self.block {
            open.lose(reason);
        }
    }

    /// Delivers the open block, or reports it lost (for `reason`, or an earlier one).
    fn close_block<S: FrameSink>(&mut self, reason: Option<BlockLoss>, sink: &mut S) {
        let Some(mut open) = self.block.take() else {
            return;
        };
        if let Some(reason) = reason {
            open.lose(reason);
        }
        match open.finish() {
            Finished::Complete(block) => sink.header_block(block),
            Finished::Lost(lost) => sink.header_block_lost(lost),
        }
    }

    /// Where the next frame starts is unknown: report and start searching.
    fn lose_sync<S: FrameSink>(&mut self, problem: FrameProblem, sink: &mut S) {
        self.close_block(Some(BlockLoss::SyncLost), sink);
        sink.frame_error(problem);
        self.state = State::Unsynced;
        self.scan.clear();
        self.head_have = 0;
        self.settings.clear();
        self.skipped = 0;
        self.no_sync_reported = false;
    }

    /// Searches the buffered bytes for a frame boundary and parses from there.
    fn resync<S: FrameSink>(&mut self, at_gap: bool, sink: &mut S) {
        while self.state == State::Unsynced && !self.scan.is_empty() {
            match resync::search(&self.scan, at_gap, self.max_frame_size) {
                Search::Found(offset) => {
                    self.skipped = self.skipped.saturating_add(offset as u64);
                    self.report_no_sync(sink);
                    sink.frame_error(FrameProblem::Resynced {
                        skipped: self.skipped,
                    });
                    let buf = std::mem::take(&mut self.scan);
                    self.state = State::Header;
                    self.head_have = 0;
                    self.after_resync = true;
                    self.skipped = 0;
                    self.process(buf.get(offset..).unwrap_or_default(), sink);
                }
                Search::Wait(offset) => {
                    self.skipped = self.skipped.saturating_add(offset as u64);
                    self.scan.drain(..offset.min(self.scan.len()));
                    self.report_no_sync(sink);
                    break;
                }
                Search::Nothing => {
                    self.skipped = self.skipped.saturating_add(self.scan.len() as u64);
                    self.scan.clear();
                    self.report_no_sync(sink);
                    break;
                }
            }
        }
    }

    fn report_no_sync<S: FrameSink>(&mut self, sink: &mut S) {
        if !self.no_sync_reported && self.skipped >= NO_SYNC_REPORT {
            self.no_sync_reported = true;
            sink.frame_error(FrameProblem::NoSync {
                skipped: NO_SYNC_REPORT,
            });
        }
    }
}
