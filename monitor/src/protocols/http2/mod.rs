//! HTTP/2 (RFC 9113) on captured byte streams, TLS (`h2`) and cleartext (`h2c`) alike.
//!
//! Layering (each file owns one job):
//! - `frame`: an incremental, gap-aware frame reader per direction (header blocks assembled
//!   across CONTINUATION, DATA streamed, resync after a hole over a frame header).
//! - `hpack`: a passive HPACK decoder per direction that survives table entries it never saw:
//!   those fields are *unknown*, never guessed.
//! - `stream`: one stream's two sides until it becomes an exchange.
//! - `grpc`: the gRPC view of a call (service, method, status, message counts).
//! - `call`: what an HTTP/2 exchange reports beyond the shared model.
//! - `connection`: [`Connection`], both directions, stream bookkeeping and reporting.
mod call;
mod connection;
pub mod frame;
mod grpc;
pub mod hpack;
mod stream;

#[cfg(test)]
mod tests;

pub use call::{CaptureStart, GrpcCall, Http2Call, StreamReset, UnknownField, error_name};
pub use connection::Connection;

/// Bounds on memory per connection.
#[derive(Clone, Debug)]
pub struct Limits {
    pub frames: frame::FrameLimits,
    /// Open streams tracked at most; beyond it the oldest is dropped (counted).
    pub max_streams: usize,
    /// First bytes of each side's body kept for the detectors.
    pub body_sample_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frames: frame::FrameLimits::default(),
            max_streams: 1024,
            body_sample_bytes: 4096,
        }
    }
}

/// Every way an HTTP/2 connection loses or rejects data (`monitor_http_problems_total`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("frame: {0:?}")]
    Frame(frame::FrameProblem),
    #[error("undecodable header block")]
    HpackError,
    /// A connection seen mid-stream began inside a frame: its first chunks were skipped.
    #[error("capture started inside a frame")]
    StartedInsideFrame,
}

impl Problem {
    pub fn label(&self) -> &'static str {
        match self {
            Problem::Frame(p) => frame_problem_label(p),
            Problem::HpackError => "hpack_error",
            Problem::StartedInsideFrame => "started_inside_frame",
        }
    }
}

fn frame_problem_label(p: &frame::FrameProblem) -> &'static str {
    use frame::FrameProblem as P;
    match p {
        P::NotHttp2 => "not_http2",
        P::Malformed { .. } => "malformed_frame",
        P::GapLostSync => "gap_lost_sync",
        P::Resynced { .. } => "resynced",
        P::NoSync { .. } => "no_sync",
        P::BlockInterrupted { .. } => "header_block_interrupted",
        P::OrphanContinuation { .. } => "orphan_continuation",
        P::ControlFrameGap { .. } => "control_frame_gap",
        P::TooManySettings => "too_many_settings",
    }
}

/// Counted facts about HTTP/2 connections (`monitor_http2_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    Connection(CaptureStart),
    UnknownField(UnknownField),
    HeaderBlockLost,
    StreamEvicted,
    Push,
    Reset,
    Goaway,
}
