//! Where decoded payloads live between the ring reader and the pipeline.
//!
//! A record's bytes must leave the ring before the reader releases its slot, so each is copied
//! once. Copied one `Bytes` each, that was a heap allocation and a free per record, two per API
//! call. Here payloads are copied back to back into shared blocks and each chunk is a slice of
//! its block: a block is freed, or reused in place, once the pipeline has dropped every chunk
//! cut from it, which it does as soon as it has parsed them. So a steady flow of records reuses
//! the same block or two and allocates nothing.
//!
//! The blocks in use are bounded by the chunks in flight (the event queue), as the separate
//! copies were: a chunk holds at most a record's payload, and its block at most `BLOCK` more.
use bytes::{Bytes, BytesMut};

/// Bytes per block: a few dozen typical records, and at least one record of the largest size.
const BLOCK: usize = 64 * 1024;

#[derive(Default)]
pub struct PayloadArena {
    block: BytesMut,
}

impl PayloadArena {
    /// `payload` copied into the current block (a new or reclaimed one when it is full).
    pub fn copy(&mut self, payload: &[u8]) -> Bytes {
        if payload.is_empty() {
            return Bytes::new();
        }
        if self.block.capacity() < payload.len() {
            // Reclaims the block in place when no chunk cut from it is alive any more; else a
            // new block, at least `BLOCK` long (`bytes` keeps a shared block's original size).
            self.block.reserve(payload.len().max(BLOCK));
        }
        self.block.extend_from_slice(payload);
        self.block.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_their_own_bytes() {
        let mut arena = PayloadArena::default();
        let a = arena.copy(b"GET / HTTP/1.1\r\n");
        let b = arena.copy(b"HTTP/1.1 200 OK\r\n");
        let empty = arena.copy(b"");
        assert_eq!(&a[..], b"GET / HTTP/1.1\r\n");
        assert_eq!(&b[..], b"HTTP/1.1 200 OK\r\n");
        assert!(empty.is_empty());
    }

    #[test]
    fn a_full_block_with_live_chunks_is_not_overwritten() {
        let mut arena = PayloadArena::default();
        let big = vec![7u8; 4096];
        let kept: Vec<Bytes> = (0..40).map(|_| arena.copy(&big)).collect();
        let other = vec![9u8; 4096];
        let later: Vec<Bytes> = (0..40).map(|_| arena.copy(&other)).collect();
        assert!(
            kept.iter()
                .all(|c| c.iter().all(|&b| b == 7) && c.len() == 4096)
        );
        assert!(
            later
                .iter()
                .all(|c| c.iter().all(|&b| b == 9) && c.len() == 4096)
        );
    }

    #[test]
    fn a_released_block_is_reused_without_allocating() {
        let mut arena = PayloadArena::default();
        let first = arena.copy(&[1; 100]);
        let start = first.as_ptr();
        drop(first);
        // Fill the rest of the block, dropping every chunk as the pipeline does.
        for _ in 0..(BLOCK / 1000 + 2) {
            drop(arena.copy(&[2; 1000]));
        }
        let again = arena.copy(&[3; 100]);
        // Past the block's end, the copy goes back to its start: the same memory.
        let offset = (again.as_ptr() as usize).wrapping_sub(start as usize);
        assert!(
            offset < BLOCK,
            "the block is reclaimed in place, not replaced"
        );
        assert_eq!(&again[..], &[3; 100]);
    }

    #[test]
    fn a_payload_longer_than_a_block_is_whole() {
        let mut arena = PayloadArena::default();
        let long = vec![5u8; 3 * BLOCK];
        let chunk = arena.copy(&long);
        assert_eq!(chunk.len(), 3 * BLOCK);
        assert_eq!(&arena.copy(b"x")[..], b"x");
    }
}
