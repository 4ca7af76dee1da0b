//! Per-connection byte streams.
//!
//! Routes every captured chunk to its connection's protocol tracker, turns the kernel's loss and
//! truncation accounting into exact gaps (so a tracker can skip a body it did not see instead of
//! misparsing), and frees connection state when the connection closes, its process exits, or it
//! stays idle. Memory is bounded: a cap on tracked connections (oldest evicted first, counted) and
//! the tracker's own per-connection limits.
mod table;

pub use table::{ConnectionExchange, StreamLimits, StreamTable};
