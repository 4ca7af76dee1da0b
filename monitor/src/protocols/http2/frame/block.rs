//! Header-block reassembly: a HEADERS or PUSH_PROMISE frame plus CONTINUATIONs on the same
//! stream, fragments concatenated up to a size bound, lost as a whole when any part is lost.

use super::{BlockKind, BlockLoss, HeaderBlock, LostBlock};

/// The header block currently open (its END_HEADERS not seen yet).
#[derive(Debug)]
pub struct OpenBlock {
    pub stream_id: u32,
    pub kind: BlockKind,
    /// `None` when the opening frame was not seen.
    pub end_stream: Option<bool>,
    fragment: Vec<u8>,
    pub wire_bytes: u64,
    lost: Option<BlockLoss>,
    limit: usize,
}

/// A finished block, delivered or lost.
pub enum Finished {
    Complete(HeaderBlock),
    Lost(LostBlock),
}

impl OpenBlock {
    pub fn new(stream_id: u32, kind: BlockKind, end_stream: Option<bool>, limit: usize) -> Self {
        Self {
            stream_id,
            kind,
            end_stream,
            fragment: Vec::new(),
            wire_bytes: 0,
            lost: None,
            limit,
        }
    }

    /// A block whose start we never saw.
    pub fn start_lost(stream_id: u32) -> Self {
        let mut block = Self::new(stream_id, BlockKind::Headers, None, 0);
        block.lost = Some(BlockLoss::StartLost);
        block
    }

    pub fn buffered(&self) -> usize {
        self.fragment.len()
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        if self.lost.is_some() {
            return;
        }
        if self.fragment.len().saturating_add(bytes.len()) > self.limit {
            self.lose(BlockLoss::TooLarge);
        } else {
            self.fragment.extend_from_slice(bytes);
        }
    }

    /// Marks the block lost (the first reason wins) and frees its buffer.
    pub fn lose(&mut self, reason: BlockLoss) {
        if self.lost.is_none() {
            self.lost = Some(reason);
        }
        self.fragment = Vec::new();
    }

    pub fn finish(self) -> Finished {
        match (self.lost, self.end_stream) {
            (None, Some(end_stream)) => Finished::Complete(HeaderBlock {
                stream_id: self.stream_id,
                kind: self.kind,
                end_stream,
                fragment: self.fragment,
                wire_bytes: self.wire_bytes,
            }),
            (reason, end_stream) => Finished::Lost(LostBlock {
                stream_id: self.stream_id,
                reason: reason.unwrap_or(BlockLoss::StartLost),
                end_stream,
                wire_bytes: self.wire_bytes,
            }),
        }
    }
}
