//! The exchange model every protocol parser produces and every later stage reads: heads,
//! per-message statistics, a request paired with its response.
//!
//! Header values may carry credentials, so they are kept as raw bytes for the policy checks and
//! the `Debug` impl of [`Header`] deliberately prints only the value's length.

use std::fmt;

use super::Role;

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

/// One header as sent. The name keeps its original case; compare with `eq_ignore_ascii_case`.
/// HTTP/2 pseudo-headers (`:method`...) keep their colon.
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

/// A message's headers in the order sent, names and values in one buffer: two allocations per
/// head instead of two per field (a small request's headers were a dozen allocations, a
/// large part of the pipeline's cost per call). Read through [`Headers::iter`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    bytes: Vec<u8>,
    /// Per field, where its name ends and where its value ends in `bytes`; each field starts
    /// where the previous one ends.
    ends: Vec<(u32, u32)>,
}

/// One header of [`Headers`], borrowed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

impl Headers {
    /// Room for `fields` headers holding `bytes` bytes of names and values together.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(fields),
        }
    }

    /// Appends a header. A head is at most a few hundred KiB, far below `u32::MAX`; a field
    /// that would pass it is dropped rather than wrapping the offsets.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let end = self.bytes.len() + name.len() + value.len();
        let (Ok(name_end), Ok(value_end)) = (
            u32::try_from(self.bytes.len() + name.len()),
            u32::try_from(end),
        ) else {
            return;
        };
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(value);
        self.ends.push((name_end, value_end));
    }

    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            headers: self,
            fields: 0..self.ends.len(),
        }
    }

    fn field(&self, i: usize) -> HeaderRef<'_> {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1].1 as usize
        };
        let (name_end, end) = (self.ends[i].0 as usize, self.ends[i].1 as usize);
        let name = &self.bytes[start..name_end];
        HeaderRef {
            // SAFETY: `push` is the only writer of `bytes` and `ends`, and it copies each name
            // from a `&str` to exactly `start..name_end`: those bytes are valid UTF-8.
            // Validating them again was 5 % of the pipeline's instructions per call (the
            // detectors walk every header several times).
            name: unsafe { std::str::from_utf8_unchecked(name) },
            value: &self.bytes[name_end..end],
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of names and values together.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The fields of [`Headers`], in order.
pub struct HeadersIter<'a> {
    headers: &'a Headers,
    fields: std::ops::Range<usize>,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = HeaderRef<'a>;
    fn next(&mut self) -> Option<HeaderRef<'a>> {
        self.fields.next().map(|i| self.headers.field(i))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl DoubleEndedIterator for HeadersIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.fields.next_back().map(|i| self.headers.field(i))
    }
}

impl ExactSizeIterator for HeadersIter<'_> {}

impl<'a> IntoIterator for &'a Headers {
    type Item = HeaderRef<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Debug for HeaderRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As for `Header`: never the value.
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(fields: I) -> Self {
        let mut headers = Headers::default();
        for h in fields {
            headers.push(&h.name, &h.value);
        }
        headers
    }
}

impl<'a> FromIterator<HeaderRef<'a>> for Headers {
    fn from_iter<I: IntoIterator<Item = HeaderRef<'a>>>(fields: I) -> Self {
        let mut headers = Headers::default();
        for h in fields {
            headers.push(h.name, h.value);
        }
        headers
    }
}

impl From<Vec<Header>> for Headers {
    fn from(fields: Vec<Header>) -> Self {
        fields.into_iter().collect()
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

/// [`method_of`] for a method already in a string of its own (HTTP/2's decoded `:method`).
pub fn method_from(text: String) -> Method {
    match KNOWN_METHODS.iter().find(|m| **m == text) {
        Some(known) => Method::Borrowed(known),
        None => Method::Owned(text),
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
    pub host: Option<String>,
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
    /// First `body_sample_bytes` of the decoded body (holes are not represented).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_names_and_values_and_never_print_a_value() {
        let mut headers = Headers::with_capacity(3, 64);
        headers.push("Host", b"api.example.com");
        headers.push("Authorization", b"Bearer s3cr3t-value");
        headers.push("X-Empty", b"");
        let seen: Vec<(&str, &[u8])> = headers.iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(
            seen,
            [
                ("Host", &b"api.example.com"[..]),
                ("Authorization", b"Bearer s3cr3t-value"),
                ("X-Empty", b""),
            ]
        );
        assert_eq!(headers.len(), 3);
        assert_eq!(headers.iter().next_back().map(|h| h.name), Some("X-Empty"));
        assert_eq!(
            headers.byte_len(),
            "HostAuthorizationX-Empty".len() + 15 + 19
        );
        let printed = format!("{headers:?}");
        assert!(printed.contains("Authorization: <19 bytes>"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        let owned: Headers = vec![Header {
            name: "a".into(),
            value: b"1".to_vec(),
        }]
        .into();
        assert_eq!(owned.iter().next().map(|h| h.value), Some(&b"1"[..]));
    }
}
