//! [`Tracker`]: the parser one connection's bytes go to, dispatched through a closed enum.
//!
//! The contract every parser keeps: `on_data` / `on_gap` per direction, `on_close` once, and a
//! status after each call (still parsing, not this protocol, or hand over to another parser).
//! Keeping the dispatch here is what lets `streams/` know nothing about any protocol.
use super::{Direction, Exchange, Problem, http1};

/// Bounds for every parser.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub http1: http1::Limits,
}

/// What a tracker reports.
#[allow(
    clippy::large_enum_variant,
    reason = "exchanges are the common case; boxing would add an allocation to each"
)]
#[derive(Debug)]
pub enum Output {
    Exchange(Exchange),
    Problem(Problem),
}

/// One connection's parser.
#[derive(Debug)]
pub enum Tracker {
    // Boxed: parsers are large, and a table of mostly idle connections should not pay for the
    // largest one in every entry.
    Http1(Box<http1::Connection>),
    /// Given up (not a protocol we parse, or switched to one we do not): bytes are only counted.
    Opaque,
}

impl Tracker {
    pub fn new(limits: &Limits) -> Self {
        Tracker::Http1(Box::new(http1::Connection::new(limits.http1.clone())))
    }

    /// False once the connection is no longer parsed.
    pub fn is_parsing(&self) -> bool {
        match self {
            Tracker::Http1(c) => c.is_http() && !c.is_upgraded(),
            Tracker::Opaque => false,
        }
    }

    /// Bytes held (buffers, samples, messages awaiting their partner).
    pub fn buffered_bytes(&self) -> usize {
        match self {
            Tracker::Http1(c) => c.buffered_bytes(),
            Tracker::Opaque => 0,
        }
    }

    pub fn on_data(&mut self, dir: Direction, ts_ns: u64, data: &[u8], out: &mut Vec<Output>) {
        match self {
            Tracker::Http1(c) => {
                let mut outputs = Vec::new();
                c.on_data(dir, ts_ns, data, &mut outputs);
                forward_http1(outputs, out);
            }
            Tracker::Opaque => {}
        }
    }

    pub fn on_gap(&mut self, dir: Direction, ts_ns: u64, len: u64, out: &mut Vec<Output>) {
        match self {
            Tracker::Http1(c) => {
                let mut outputs = Vec::new();
                c.on_gap(dir, ts_ns, len, &mut outputs);
                forward_http1(outputs, out);
            }
            Tracker::Opaque => {}
        }
    }

    pub fn on_close(&mut self, ts_ns: u64, out: &mut Vec<Output>) {
        match self {
            Tracker::Http1(c) => {
                let mut outputs = Vec::new();
                c.on_close(ts_ns, &mut outputs);
                forward_http1(outputs, out);
            }
            Tracker::Opaque => {}
        }
    }
}

fn forward_http1(outputs: Vec<http1::Output>, out: &mut Vec<Output>) {
    out.extend(outputs.into_iter().map(|o| match o {
        http1::Output::Exchange(e) => Output::Exchange(e),
        http1::Output::Problem(p) => Output::Problem(p.into()),
    }));
}
