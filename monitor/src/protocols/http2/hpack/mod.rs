//! Passive HPACK decoding (RFC 7541) for captured HTTP/2 header blocks.
//!
//! A monitor sees a connection's header blocks but cannot ask the encoder anything: capture may
//! start mid-connection, and blocks may be lost in capture gaps. The decoder therefore keeps
//! the dynamic table as "entries we saw, newest first, plus an unknown older tail" and answers
//! `None` for whatever it cannot know, never a guess.
//!
//! - `primitives`: prefixed integers and string literals.
//! - `huffman`: the Huffman code of Appendix B.
//! - `static_table`: Appendix A.
//! - `table`: the dynamic table with unknown entries and size ranges.
//! - `decoder`: [`Decoder`], the representations of §6 on top of those.

mod decoder;
mod huffman;
mod primitives;
mod static_table;
mod table;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use thiserror::Error;

pub use decoder::{
    DEFAULT_TABLE_SIZE, Decoder, MAX_HEADER_LIST, MAX_STRING, MAX_TRACKED_TABLE_SIZE,
};
pub use huffman::HuffmanError;

/// One decoded header field. `None` means the name or value came from a table entry this
/// decoder never saw; it is unknown, not empty.
#[derive(Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Sent as "never indexed" (RFC 7541 §6.2.3): the sender marks it as sensitive.
    pub never_indexed: bool,
}

impl Field {
    fn new(name: Option<Bytes>, value: Option<Bytes>) -> Self {
        Self {
            name,
            value,
            never_indexed: false,
        }
    }

    /// Whether both name and value are known.
    pub fn is_known(&self) -> bool {
        self.name.is_some() && self.value.is_some()
    }
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: header values may be credentials.
        f.debug_struct("Field")
            .field("name_len", &self.name.as_ref().map(Bytes::len))
            .field("value_len", &self.value.as_ref().map(Bytes::len))
            .field("never_indexed", &self.never_indexed)
            .finish()
    }
}

/// Why a header block could not be decoded. After any of these the decoder's table is unknown.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HpackError {
    #[error("header block ends inside a representation")]
    Truncated,
    #[error("integer too large")]
    IntegerOverflow,
    #[error("index {0} refers to no table entry")]
    BadIndex(usize),
    #[error("Huffman string: {0}")]
    Huffman(HuffmanError),
    #[error("string literal of {0} bytes is over the limit")]
    StringTooLong(usize),
    #[error("dynamic table size update to {size} over the limit {limit}")]
    SizeUpdateTooLarge { size: usize, limit: usize },
    #[error("dynamic table size update after a header field")]
    LateSizeUpdate,
    #[error("decoded header list over {MAX_HEADER_LIST} bytes")]
    HeaderListTooLarge,
}
