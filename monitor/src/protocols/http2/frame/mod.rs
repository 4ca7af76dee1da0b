//! The HTTP/2 frame layer (RFC 9113 §4, §6) for one direction of a captured connection.
//!
//! Capture hands us the bytes a direction carried, in order, split anywhere, sometimes with holes
//! of known size. [`FrameReader`] turns them into calls on a [`FrameSink`]: header blocks
//! reassembled from HEADERS/PUSH_PROMISE + CONTINUATION (bounded), DATA streamed through without
//! buffering, control frames decoded, and every loss or oddity reported so callers can count it.
//! A hole inside a frame is absorbed exactly; a hole (or a malformed frame) that leaves us not
//! knowing where the next frame starts makes the reader search for a plausible frame boundary.
//!
//! - `header`: the 9-byte frame header, its validation, and the stricter "plausible" test used
//!   when searching for a boundary.
//! - `resync`: that search.
//! - `block`: header-block reassembly across frames.
//! - `reader`: [`FrameReader`], the state machine tying them together.

mod block;
mod header;
mod reader;
mod resync;
#[cfg(test)]
mod tests;

pub use header::{FrameHead, kind};
pub use reader::FrameReader;

/// Length of every frame header.
pub const FRAME_HEADER_LEN: usize = 9;
/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// SETTINGS_MAX_FRAME_SIZE's initial value: frames are at most this long unless the receiver
/// advertised more.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest length a frame header can express.
pub const MAX_FRAME_LEN: u32 = (1 << 24) - 1;

/// Bounds on what one reader buffers or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest header block (fragments of all its frames, padding excluded) kept for decoding;
    /// bigger blocks are reported lost but still skipped frame by frame.
    pub max_header_block: usize,
    /// Frames longer than this are malformed (RFC 9113 allows up to 2^24 - 1 once the receiver
    /// raised SETTINGS_MAX_FRAME_SIZE; a passive observer may not have seen that SETTINGS).
    pub max_frame_payload: u32,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_header_block: 64 * 1024,
            max_frame_payload: MAX_FRAME_LEN,
        }
    }
}

/// Which frame opened a header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Headers,
    PushPromise { promised_stream_id: u32 },
}

/// A complete header block: the HPACK input for one HEADERS or PUSH_PROMISE and its
/// CONTINUATIONs, with padding and priority / promised-stream fields stripped.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderBlock {
    pub stream_id: u32,
    pub kind: BlockKind,
    /// END_STREAM of the HEADERS frame (always false for PUSH_PROMISE).
    pub end_stream: bool,
    pub fragment: Vec<u8>,
    /// Bytes on the wire: frame headers and whole payloads of every frame of the block.
    pub wire_bytes: u64,
}

impl std::fmt::Debug for HeaderBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The fragment encodes header values (maybe credentials): lengths only.
        f.debug_struct("HeaderBlock")
            .field("stream_id", &self.stream_id)
            .field("kind", &self.kind)
            .field("end_stream", &self.end_stream)
            .field("fragment_len", &self.fragment.len())
            .field("wire_bytes", &self.wire_bytes)
            .finish()
    }
}

/// A header block that will not be delivered. The HPACK state of this direction is unknown from
/// here on (the block may have changed the dynamic table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostBlock {
    pub stream_id: u32,
    pub reason: BlockLoss,
    /// END_STREAM of the opening frame, if it was seen.
    pub end_stream: Option<bool>,
    /// Wire bytes of the block's frames that we know of (seen or inside holes).
    pub wire_bytes: u64,
}

/// Why a header block was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLoss {
    /// Over [`FrameLimits::max_header_block`].
    TooLarge,
    /// Part of it fell in a capture hole.
    Gap,
    /// Another frame came before its last CONTINUATION (a protocol error by the sender).
    Interrupted,
    /// Its first frames were lost before we found a frame boundary: only trailing
    /// CONTINUATIONs were seen.
    StartLost,
    /// Frame sync was lost while it was open.
    SyncLost,
}

/// Why a frame was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformation {
    /// Length wrong for the type (fixed-size frames, SETTINGS not a multiple of 6, too short for
    /// its padding / priority / promised-id fields).
    BadLength,
    /// Over [`FrameLimits::max_frame_payload`].
    TooLong,
    /// A connection-level frame on a stream, or a stream frame on stream 0.
    BadStreamId,
    /// Padding at least as long as the rest of the payload.
    PaddingTooLong,
}

/// Something worth counting went wrong; none of these stop the reader except `NotHttp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameProblem {
    /// The expected preface did not arrive: everything later is ignored.
    NotHttp2,
    /// A malformed frame; the reader lost sync after it and searches for the next frame.
    Malformed {
        kind: u8,
        stream_id: u32,
        reason: Malformation,
    },
    /// A hole covered a frame header: where the next frame starts is unknown.
    GapLostSync,
    /// A frame boundary was found again after `skipped` bytes (captured or in holes) that could
    /// not be parsed. Also reported for the first boundary of a reader created unsynced.
    Resynced { skipped: u64 },
    /// No plausible frame boundary within `skipped` (64 KiB) bytes; reported once per loss of
    /// sync.
    NoSync { skipped: u64 },
    /// A frame other than the expected CONTINUATION arrived inside a header block.
    BlockInterrupted { stream_id: u32, by_kind: u8 },
    /// A CONTINUATION with no header block open (while in sync since the block would have
    /// started).
    OrphanContinuation { stream_id: u32 },
    /// A hole covered part of a control frame's payload; its content is lost.
    ControlFrameGap { kind: u8 },
    /// A SETTINGS frame with more parameters than we keep; the rest were ignored.
    TooManySettings,
}

/// Receives the frames of one connection direction, in wire order.
pub trait FrameSink {
    /// A complete header block.
    fn header_block(&mut self, block: HeaderBlock);
    /// A header block that will not be delivered: HPACK state is now unknown.
    fn header_block_lost(&mut self, lost: LostBlock);
    /// DATA payload bytes (padding excluded). Called as bytes arrive, so possibly several times
    /// per frame.
    fn data(&mut self, stream_id: u32, bytes: &[u8]);
    /// DATA payload bytes of this frame lost in a hole.
    fn data_gap(&mut self, stream_id: u32, len: u64);
    /// The DATA frame is complete; `frame_bytes` counts its header and whole payload.
    fn data_end(&mut self, stream_id: u32, end_stream: bool, frame_bytes: u64);
    fn rst_stream(&mut self, stream_id: u32, error_code: u32);
    fn settings(&mut self, ack: bool, params: &[(u16, u32)]);
    fn goaway(&mut self, last_stream_id: u32, error_code: u32);
    fn frame_error(&mut self, problem: FrameProblem);
    fn ping(&mut self, _ack: bool) {}
    fn window_update(&mut self, _stream_id: u32, _increment: u32) {}
    fn priority(&mut self, _stream_id: u32, _depends_on: u32, _exclusive: bool, _weight: u8) {}
    /// A frame of a type RFC 9113 does not define (skipped whole).
    fn unknown_frame(&mut self, _kind: u8, _len: u32) {}
}
