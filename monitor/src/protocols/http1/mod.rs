//! HTTP/1.x exchange tracker for captured byte streams.
//!
//! The capture side hands us, per connection, the bytes each direction carried (in order, split
//! anywhere, sometimes with holes whose size is known). This module turns them into completed
//! request/response [`Exchange`]s plus [`Problem`]s describing every way data was lost or
//! rejected, so the caller can count them (as the trackers' [`Output`], problems wrapped in
//! [`crate::protocols::Problem::Http1`]).
//!
//! Layering (each file owns one job):
//! - `detect`: cheap "could this be the start of an HTTP/1 message?" checks, so TLS ciphertext
//!   and binary protocols are rejected after a few bytes instead of being buffered.
//! - `head`: request/response heads via `httparse`, plus the framing-relevant header analysis.
//! - `framing`: which body a message has (none, length, chunked, until close) and whether the
//!   stream switches protocol afterwards.
//! - `chunked` / `body`: incremental body skipping; bodies are never buffered beyond a sample.
//! - `reader`: [`MessageReader`](reader::MessageReader), one direction of one connection.
//! - `connection`: [`Connection`], both directions, request/response pairing, role detection.
//!
//! HTTP/2 lives in a sibling module; here an HTTP/2 preface or an upgrade simply stops parsing.

mod body;
mod chunked;
mod connection;
mod detect;
mod framing;
mod head;
mod message;
mod problem;
pub(crate) mod reader;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;

pub use connection::{Connection, H2cUpgrade};
pub use problem::Problem;

// The shared exchange model, re-exported so the parser's own files read as before.
pub use crate::protocols::{
    Direction, Exchange, Header, HeaderRef, Headers, HttpVersion, MessageStats, Request,
    RequestHead, Response, ResponseHead, Role,
};

/// Bounds on memory and on how long we keep trying to parse a connection.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A head (start line + headers, or a chunked trailer section) larger than this is a
    /// [`Problem::HeadTooLarge`]; the direction then resyncs.
    pub max_head_bytes: usize,
    /// Requests awaiting a response; beyond this the oldest is dropped
    /// ([`Problem::PipelineOverflow`]).
    pub max_pipelined: usize,
    /// First bytes of each body kept in [`MessageStats::body_sample`].
    pub body_sample_bytes: usize,
    /// If no message start is recognised in this many bytes of a connection's first data, the
    /// connection is declared not-HTTP.
    pub detect_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 32 * 1024,
            max_pipelined: 64,
            body_sample_bytes: 4096,
            detect_bytes: 1024,
        }
    }
}

/// What [`Connection`] reports: the trackers' own output (exchanges, and problems as
/// [`crate::protocols::Problem::Http1`]), pushed straight into the tracker's vector. A type of
/// its own here meant moving every exchange, a few hundred bytes, from one vector to the other.
pub use crate::protocols::Output;

/// Whether these first bytes of a direction could start an HTTP/1 message (or need more bytes
/// to tell): the sniffer's test before handing a connection to this parser.
pub(crate) fn could_start_message(bytes: &[u8]) -> bool {
    detect::classify(bytes) != detect::Class::Neither
}
