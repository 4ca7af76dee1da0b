//! What an HTTP/2 exchange says beyond the shared model: its stream, how the capture started,
//! which fields could not be known, a reset, and the gRPC view of it.
use serde::Serialize;

/// How the monitor came to see the connection, which says how much of its HPACK state it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureStart {
    /// From the client preface: every header block was seen, nothing is unknown unless lost.
    Preface,
    /// From an HTTP/1.1 `Upgrade: h2c` (stream 1 is the upgraded request).
    Upgrade,
    /// Somewhere after the preface (the connection predates the capture): table entries sent
    /// before are unknown.
    MidConnection,
}

impl CaptureStart {
    pub fn label(self) -> &'static str {
        match self {
            CaptureStart::Preface => "preface",
            CaptureStart::Upgrade => "upgrade",
            CaptureStart::MidConnection => "mid_connection",
        }
    }
}

/// Fields of a call the monitor could not know (they refer to HPACK table entries it never
/// saw). Reported as `null` and named in `unknown_fields`, never guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownField {
    Method,
    Path,
    Host,
    Status,
    /// Some request headers could not be read: the credential checks saw an incomplete request.
    RequestHeaders,
    /// Some response headers or trailers could not be read (a gRPC status among them, maybe).
    ResponseHeaders,
}

impl UnknownField {
    pub fn label(self) -> &'static str {
        match self {
            UnknownField::Method => "method",
            UnknownField::Path => "path",
            UnknownField::Host => "host",
            UnknownField::Status => "status",
            UnknownField::RequestHeaders => "request_headers",
            UnknownField::ResponseHeaders => "response_headers",
        }
    }
}

/// A stream ended by RST_STREAM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamReset {
    /// `client` or `server`: who sent the RST_STREAM.
    pub by: crate::protocols::Role,
    pub error_code: u32,
    /// The RFC 9113 name of the code (`CANCEL`...), `UNKNOWN` for others.
    pub error: &'static str,
}

/// The gRPC view of a call (`content-type: application/grpc*`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GrpcCall {
    /// `pkg.Service` from `/pkg.Service/Method`; `None` when the path is unknown or not of
    /// that shape.
    pub service: Option<String>,
    pub method: Option<String>,
    /// `grpc-status` from the trailers (or a Trailers-Only response); `None` when none was
    /// seen or it was unreadable.
    pub status: Option<u32>,
    pub status_name: Option<&'static str>,
    /// Whether a non-empty `grpc-message` came back; its text is never reported (it can echo
    /// input).
    pub message_present: bool,
    pub message_length: Option<usize>,
    /// Length-prefixed messages seen per side; `None` when a gap made the count unknowable.
    pub request_messages: Option<u64>,
    pub response_messages: Option<u64>,
}

/// Everything HTTP/2-specific about one exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http2Call {
    pub stream_id: u32,
    pub capture_start: CaptureStart,
    /// False when only the response was seen (the request went by before the capture).
    pub request_seen: bool,
    pub unknown_fields: Vec<UnknownField>,
    pub reset: Option<StreamReset>,
    pub grpc: Option<GrpcCall>,
}

/// RFC 9113 §7 error code names.
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "UNKNOWN",
    }
}
