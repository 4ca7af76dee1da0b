//! The error type of the tracker: every way data is lost or rejected.
//!
//! These are not returned as `Err` from the public API (a hostile stream must never stop the
//! caller); they are emitted as [`Output::Problem`](super::Output) so each can be counted in a
//! metric. Variants are deliberately specific for that reason.

/// Data loss or rejection on one connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The connection was given up: no message start within `detect_bytes`, or garbage where a
    /// message had to start. Fired once per connection.
    #[error("not HTTP/1.x")]
    NotHttp,
    /// A head that httparse or our framing checks reject; the reason is a short static phrase.
    #[error("malformed head: {0}")]
    MalformedHead(String),
    /// A request a server could read as two, or frame differently than we would: conflicting
    /// or doubled lengths, Content-Length with Transfer-Encoding, a coding other than chunked,
    /// an obs-fold, a bare LF. Rejected like a malformed head, so its bytes are scanned whole
    /// as rejected bytes rather than split where one parser would split them.
    #[error("ambiguous framing: {0}")]
    AmbiguousFraming(&'static str),
    /// A head (or trailer section) over `Limits::max_head_bytes`.
    #[error("head too large")]
    HeadTooLarge,
    /// Invalid chunk-size line, chunk terminator or trailer section.
    #[error("bad chunked encoding")]
    BadChunkedEncoding,
    /// A hole inside a head, a chunk-size line or between messages: the direction resynced.
    #[error("desynchronised by missing bytes")]
    Desync,
    /// A final response with no request waiting for it.
    #[error("response without request")]
    ResponseWithoutRequest,
    /// More than `Limits::max_pipelined` unanswered requests: the oldest was dropped.
    #[error("too many pipelined requests")]
    PipelineOverflow,
    /// 101 Switching Protocols, a successful CONNECT or an HTTP/2 preface: the connection is no
    /// longer parsed as HTTP/1.
    #[error("protocol upgrade, no longer parsed")]
    UnsupportedUpgrade,
}

impl Problem {
    pub(crate) fn malformed(reason: &str) -> Self {
        Problem::MalformedHead(reason.to_owned())
    }
}

impl Problem {
    /// Stable metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Problem::NotHttp => "not_http",
            Problem::MalformedHead(_) => "malformed_head",
            Problem::AmbiguousFraming(_) => "ambiguous_framing",
            Problem::HeadTooLarge => "head_too_large",
            Problem::BadChunkedEncoding => "bad_chunked_encoding",
            Problem::Desync => "desync",
            Problem::ResponseWithoutRequest => "response_without_request",
            Problem::PipelineOverflow => "pipeline_overflow",
            Problem::UnsupportedUpgrade => "upgrade",
        }
    }
}
