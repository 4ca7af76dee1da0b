//! The data model handed to the rest of the crate: heads, per-message statistics, exchanges.
//!
//! Header values may carry credentials, so they are kept as raw bytes for the policy checks and
//! the `Debug` impl of [`Header`] deliberately prints only the value's length.

use std::fmt;

use super::Role;

/// One header as sent. The name keeps its original case; compare with `eq_ignore_ascii_case`.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are secrets-in-waiting; never let a `{:?}` leak them into logs.
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

/// Start line and headers of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target exactly as sent (queries included; callers strip before printing).
    pub target: String,
    /// HTTP/1.x minor version: 0 or 1.
    pub version: u8,
    /// Value of the first `Host` header, trimmed.
    pub host: Option<String>,
    pub headers: Vec<Header>,
}

/// Status line and headers of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// HTTP/1.x minor version: 0 or 1.
    pub version: u8,
    pub headers: Vec<Header>,
}

/// Timing and size of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageStats {
    /// Capture timestamp of the chunk holding the message's first byte.
    pub start_ns: u64,
    /// Capture timestamp of the chunk (or hole) holding the message's last byte.
    pub end_ns: u64,
    /// Start line + headers, including the blank line.
    pub head_bytes: u64,
    /// Body payload length: Content-Length / close-delimited bodies count the bytes on the wire,
    /// chunked bodies count the decoded payload (chunk framing excluded). Bytes that were in
    /// skipped holes are included.
    pub body_bytes: u64,
    /// First `Limits::body_sample_bytes` of the de-chunked body (holes are not represented).
    pub body_sample: Vec<u8>,
    /// Cut by a hole that could not be skipped, by close or by flush.
    pub incomplete: bool,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub head: RequestHead,
    pub stats: MessageStats,
}

#[derive(Clone, Debug)]
pub struct Response {
    pub head: ResponseHead,
    pub stats: MessageStats,
}

/// A request and (if it came) its final response.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub role: Role,
    pub request: Request,
    /// `None` when the connection closed or was flushed with the request unanswered.
    pub response: Option<Response>,
}

/// Either kind of message, as produced by one direction's reader.
#[derive(Clone, Debug)]
pub(crate) enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub(crate) fn stats_mut(&mut self) -> &mut MessageStats {
        match self {
            Message::Request(r) => &mut r.stats,
            Message::Response(r) => &mut r.stats,
        }
    }

    /// Rough bytes held by this message (headers + sample), for `buffered_bytes`.
    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            Message::Request(r) => r.held_bytes(),
            Message::Response(r) => r.held_bytes(),
        }
    }
}

fn headers_bytes(headers: &[Header]) -> usize {
    headers.iter().map(|h| h.name.len() + h.value.len()).sum()
}

impl Request {
    pub(crate) fn held_bytes(&self) -> usize {
        self.head.method.len()
            + self.head.target.len()
            + headers_bytes(&self.head.headers)
            + self.stats.body_sample.len()
    }
}

impl Response {
    pub(crate) fn held_bytes(&self) -> usize {
        headers_bytes(&self.head.headers) + self.stats.body_sample.len()
    }
}
