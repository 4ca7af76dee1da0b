//! The 9-byte frame header (RFC 9113 §4.1) and the checks made on it.
//!
//! Two levels: [`FrameHead::check`] is what a frame must satisfy to be parsed at all while in
//! sync (stream-id rules and fixed lengths; unknown flags are ignored as the RFC requires), and
//! [`FrameHead::plausible`] is the stricter test for a frame boundary found by searching, where
//! every undefined bit set is evidence that we are not looking at a frame header.

use super::{FRAME_HEADER_LEN, Malformation};

/// Frame type codes (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const PRIORITY: u8 = 2;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PUSH_PROMISE: u8 = 5;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream_id: u32,
    /// The reserved bit before the stream id.
    pub reserved: bool,
}

impl FrameHead {
    pub fn parse(b: &[u8; FRAME_HEADER_LEN]) -> Self {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *b;
        let stream = u32::from_be_bytes([s0, s1, s2, s3]);
        Self {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind,
            flags,
            stream_id: stream & 0x7fff_ffff,
            reserved: stream & 0x8000_0000 != 0,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Bytes at the start of the payload that precede the content: pad length, priority fields,
    /// promised stream id, or the whole payload of fixed-size control frames.
    pub fn prefix_len(&self) -> u32 {
        let pad = u32::from(self.has(PADDED));
        match self.kind {
            kind::DATA => pad,
            kind::HEADERS => pad + if self.has(PRIORITY_FLAG) { 5 } else { 0 },
            kind::PUSH_PROMISE => pad + 4,
            kind::PRIORITY => 5,
            kind::RST_STREAM | kind::WINDOW_UPDATE => 4,
            kind::PING | kind::GOAWAY => 8,
            _ => 0,
        }
    }

    /// What an in-sync frame must satisfy to be parsed.
    pub fn check(&self, max_len: u32) -> Result<(), Malformation> {
        if self.len > max_len {
            return Err(Malformation::TooLong);
        }
        let connection_level = matches!(self.kind, kind::SETTINGS | kind::PING | kind::GOAWAY);
        let stream_level = matches!(
            self.kind,
            kind::DATA
                | kind::HEADERS
                | kind::PRIORITY
                | kind::RST_STREAM
                | kind::PUSH_PROMISE
                | kind::CONTINUATION
        );
        if (connection_level && self.stream_id != 0) || (stream_level && self.stream_id == 0) {
            return Err(Malformation::BadStreamId);
        }
        let fixed = match self.kind {
            kind::PRIORITY => Some(5),
            kind::RST_STREAM | kind::WINDOW_UPDATE => Some(4),
            kind::PING => Some(8),
            _ => None,
        };
        let bad_len = match fixed {
            Some(n) => self.len != n,
            None if self.kind == kind::SETTINGS => {
                !self.len.is_multiple_of(6) || (self.has(ACK) && self.len != 0)
            }
            None => self.len < self.prefix_len(),
        };
        if bad_len {
            return Err(Malformation::BadLength);
        }
        Ok(())
    }

    /// Whether this looks like a real frame header when searching for a boundary: everything
    /// [`check`](Self::check) requires, plus no undefined flags, reserved bit clear, and a
    /// length within SETTINGS_MAX_FRAME_SIZE.
    pub fn plausible(&self, max_len: u32) -> bool {
        let allowed_flags = match self.kind {
            kind::DATA => END_STREAM | PADDED,
            kind::HEADERS => END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG,
            kind::SETTINGS | kind::PING => ACK,
            kind::PUSH_PROMISE => END_HEADERS | PADDED,
            kind::CONTINUATION => END_HEADERS,
            kind::PRIORITY | kind::RST_STREAM | kind::GOAWAY | kind::WINDOW_UPDATE => 0,
            _ => 0xff,
        };
        !self.reserved && self.flags & !allowed_flags == 0 && self.check(max_len).is_ok()
    }

    /// Whether the header block this frame belongs to continues in the next frame.
    pub fn opens_continuation(&self) -> bool {
        matches!(
            self.kind,
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION
        ) && !self.has(END_HEADERS)
    }

    /// Header plus payload.
    pub fn wire_len(&self) -> u64 {
        u64::from(self.len) + FRAME_HEADER_LEN as u64
    }
}
