//! The exchange model every protocol parser produces and every later stage reads: heads,
//! per-message statistics, a request paired with its response. The headers themselves are
//! [`Headers`] (`headers.rs`).

use compact_str::CompactString;

use super::{Headers, Role};

/// The HTTP version a message was carried in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    Http10,
    Http11,
    Http2,
}

impl HttpVersion {
    /// As printed in API calls (`"HTTP/1.1"`, `"HTTP/2"`).
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
        }
    }

    /// HTTP/1.x from its minor version (anything but 0 is read as 1.1, as httparse does).
    pub fn http1(minor: u8) -> Self {
        if minor == 0 {
            HttpVersion::Http10
        } else {
            HttpVersion::Http11
        }
    }
}

/// A request method: a registered one is borrowed from a static table, any other is kept as
/// sent. Every request and its API call carry one, and copying "GET" into a new string three
/// times per call (head, reader, call) was a tenth of the pipeline's allocations.
pub type Method = std::borrow::Cow<'static, str>;

/// The methods requests nearly always carry (RFC 9110 §9, PATCH, and HTTP/2's preface `PRI`).
/// Methods are case-sensitive: only these exact spellings are borrowed.
const KNOWN_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PRI",
];

/// The method as sent, without a copy when it is a known one.
pub fn method_of(text: &str) -> Method {
    match KNOWN_METHODS.iter().find(|m| **m == text) {
        Some(known) => Method::Borrowed(known),
        None => Method::Owned(text.to_owned()),
    }
}

/// Start line (or pseudo-headers) and headers of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Empty when unknown (an HTTP/2 field the capture could not resolve: see
    /// [`Http2Call::unknown_fields`](super::http2::Http2Call)).
    pub method: Method,
    /// The request target exactly as sent (queries included; callers strip before printing).
    pub target: String,
    pub version: HttpVersion,
    /// Value of the first `Host` header (HTTP/2: `:authority`, else `Host`), trimmed.
    pub host: Option<CompactString>,
    /// Regular headers, plus HTTP/2 pseudo-headers other than `:path` (which is `target`).
    pub headers: Headers,
}

/// Status line (or `:status`) and headers of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// 0 when unknown (see [`Http2Call::unknown_fields`](super::http2::Http2Call)).
    pub status: u16,
    pub version: HttpVersion,
    pub headers: Headers,
}

/// The first bytes of a body, as [`MessageStats::body_sample`] keeps them.
pub type BodySample = smallvec::SmallVec<[u8; 24]>;

/// Timing and size of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageStats {
    /// Capture timestamp of the chunk holding the message's first byte.
    pub start_ns: u64,
    /// Capture timestamp of the chunk (or hole) holding the message's last byte.
    pub end_ns: u64,
    /// Start line + headers, including the blank line (HTTP/2: the frames of its header blocks).
    pub head_bytes: u64,
    /// Body payload length: Content-Length / close-delimited bodies count the bytes on the wire,
    /// chunked bodies count the decoded payload (chunk framing excluded), HTTP/2 the DATA
    /// payload without padding. Bytes that were in skipped holes are included.
    pub body_bytes: u64,
    /// First `body_sample_bytes` of the decoded body (holes are not represented). Inline up to
    /// 24 bytes: a small JSON answer or acknowledgement was a heap allocation per call.
    pub body_sample: BodySample,
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
    /// What HTTP/2 adds (stream, capture start, unknown fields, reset, gRPC); boxed so HTTP/1
    /// exchanges stay small.
    pub http2: Option<Box<super::http2::Http2Call>>,
    /// HTTP/1: not a parsed request but request bytes the parser rejected or skipped (the label
    /// of the problem that rejected them); the request's head is unknown and its body sample
    /// holds the raw bytes, so that the detectors still scan what a lenient server may read.
    pub rejected: Option<&'static str>,
}

fn headers_bytes(headers: &Headers) -> usize {
    headers.byte_len()
}

impl Request {
    /// Rough bytes held (headers + sample), for `buffered_bytes`.
    pub fn held_bytes(&self) -> usize {
        self.head.method.len()
            + self.head.target.len()
            + headers_bytes(&self.head.headers)
            + self.stats.body_sample.len()
    }
}

impl Response {
    /// Rough bytes held (headers + sample), for `buffered_bytes`.
    pub fn held_bytes(&self) -> usize {
        headers_bytes(&self.head.headers) + self.stats.body_sample.len()
    }
}

/// What detectors read of a request, whatever protocol carried it: every header (HTTP/2
/// pseudo-headers included, `:path` being the target), the target, the host and the first bytes
/// of the body.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    pub headers: &'a Headers,
    pub target: &'a str,
    pub host: Option<&'a str>,
    pub body_sample: &'a [u8],
}

impl<'a> RequestView<'a> {
    pub fn new(head: &'a RequestHead, body_sample: &'a [u8]) -> Self {
        Self {
            headers: &head.headers,
            target: &head.target,
            host: head.host.as_deref(),
            body_sample,
        }
    }

    pub fn of(request: &'a Request) -> Self {
        Self::new(&request.head, &request.stats.body_sample)
    }
}
