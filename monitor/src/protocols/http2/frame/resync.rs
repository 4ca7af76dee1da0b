//! Searching for a frame boundary after sync was lost.
//!
//! A candidate offset is accepted when the chain of frame headers starting there (each header
//! followed by its payload, then the next header) is plausible: see
//! [`FrameHead::plausible`](super::header::FrameHead::plausible), plus the CONTINUATION
//! sequencing rule. Random bytes pass one header test about once in a few thousand offsets, so
//! more than one header is required when the data has them.
//!
//! The verdict on an offset must not depend on how the input was split into chunks (feeding one
//! byte at a time must give what feeding everything at once gives), so it is taken only once
//! the bytes it depends on are all there: [`MIN_CHAIN`] headers, or fewer if the chain reaches
//! [`HORIZON`] bytes past the candidate. At a capture hole no more bytes will come for this
//! stretch, so there the rule relaxes to "plausible up to the hole, at least one full header".

use super::FRAME_HEADER_LEN;
use super::header::{FrameHead, kind};

/// Headers a chain needs before a candidate is accepted.
pub const MIN_CHAIN: usize = 3;
/// A chain reaching this far past the candidate is accepted with fewer headers (big frames).
pub const HORIZON: u64 = 32 * 1024;

/// The verdict on the buffered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// A frame boundary at this offset.
    Found(usize),
    /// Offsets before this one are rejected; this one needs more bytes.
    Wait(usize),
    /// No offset can be accepted (only returned at a hole).
    Nothing,
}

enum Verdict {
    Accept,
    Reject,
    NeedMore,
}

/// Searches `buf` for the first acceptable offset. `at_gap`: a hole follows `buf`.
pub fn search(buf: &[u8], at_gap: bool, max_len: u32) -> Search {
    for offset in 0..buf.len() {
        let Some(candidate) = buf.get(offset..) else {
            break;
        };
        match verdict(candidate, at_gap, max_len) {
            Verdict::Accept => return Search::Found(offset),
            Verdict::Reject => {}
            Verdict::NeedMore => return Search::Wait(offset),
        }
    }
    if at_gap {
        Search::Nothing
    } else {
        Search::Wait(buf.len())
    }
}

fn verdict(buf: &[u8], at_gap: bool, max_len: u32) -> Verdict {
    let mut pos: u64 = 0;
    let mut checked = 0usize;
    let mut previous: Option<FrameHead> = None;
    loop {
        if checked >= MIN_CHAIN || (checked > 0 && pos >= HORIZON) {
            return Verdict::Accept;
        }
        let head_bytes = usize::try_from(pos)
            .ok()
            .and_then(|start| buf.get(start..start.checked_add(FRAME_HEADER_LEN)?));
        let Some(head_bytes) = head_bytes.and_then(|b| <&[u8; FRAME_HEADER_LEN]>::try_from(b).ok())
        else {
            return match (at_gap, checked) {
                (false, _) => Verdict::NeedMore,
                (true, 0) => Verdict::Reject,
                (true, _) => Verdict::Accept,
            };
        };
        let head = FrameHead::parse(head_bytes);
        if !head.plausible(max_len) {
            return Verdict::Reject;
        }
        // Inside the chain, a block that continues must continue with a CONTINUATION of its
        // stream, and a CONTINUATION needs an open block (except first: its block's start may
        // lie before the candidate).
        let sequenced = match previous {
            Some(prev) if prev.opens_continuation() => {
                head.kind == kind::CONTINUATION && head.stream_id == prev.stream_id
            }
            Some(_) => head.kind != kind::CONTINUATION,
            None => true,
        };
        if !sequenced {
            return Verdict::Reject;
        }
        checked += 1;
        pos += head.wire_len();
        previous = Some(head);
    }
}
