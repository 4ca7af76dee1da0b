//! Every way a parser loses or rejects data, tagged with the protocol that saw it, so one
//! counter (`monitor_http_problems_total{protocol, problem}`) covers them all.
use super::{Protocol, http1, http2};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("HTTP/1: {0}")]
    Http1(#[from] http1::Problem),
    #[error("HTTP/2: {0}")]
    Http2(#[from] http2::Problem),
}

impl Problem {
    pub fn protocol(&self) -> Protocol {
        match self {
            Problem::Http1(_) => Protocol::Http1,
            Problem::Http2(_) => Protocol::Http2,
        }
    }

    /// Stable metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Problem::Http1(p) => p.label(),
            Problem::Http2(p) => p.label(),
        }
    }
}
