//! [`Tracker`]: the parser one connection's bytes go to, dispatched through a closed enum.
//!
//! The contract every parser keeps: `on_data` / `on_gap` per direction, `on_close` once, and
//! after each call it may have given up (not this protocol) or asked to hand over to another
//! parser (HTTP/1.1 `Upgrade: h2c`). Keeping the dispatch here is what lets `streams/` know
//! nothing about any protocol.
use super::{
    Direction, Exchange, Problem, http1, http2,
    sniff::{self, Decision, Verdict},
};

/// Bounds for every parser.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub http1: http1::Limits,
    pub http2: http2::Limits,
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
    /// A fact about an HTTP/2 connection, counted (`monitor_http2_*`).
    Http2Stat(http2::Stat),
}

/// Bytes held while sniffing: per direction, each chunk with its capture time.
#[derive(Debug, Default)]
pub struct Sniffing {
    held: [Vec<(u64, Vec<u8>)>; 2],
    /// Which direction spoke first (its bytes are replayed first).
    first: Option<Direction>,
}

impl Sniffing {
    fn bytes(&self, dir: Direction) -> Vec<u8> {
        self.held[dir.index()]
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }
}

/// One connection's parser.
#[derive(Debug)]
pub enum Tracker {
    Sniffing(Sniffing),
    // Boxed: parsers are large, and a table of mostly idle connections should not pay for the
    // largest one in every entry.
    Http1(Box<http1::Connection>),
    Http2(Box<http2::Connection>),
    /// Given up (not a protocol we parse): bytes are only counted.
    Opaque,
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::Sniffing(Sniffing::default())
    }

    /// False once the connection is no longer parsed.
    pub fn is_parsing(&self) -> bool {
        match self {
            Tracker::Http1(c) => c.is_http() && !c.is_upgraded(),
            Tracker::Sniffing(_) | Tracker::Http2(_) => true,
            Tracker::Opaque => false,
        }
    }

    /// HTTP/2: every byte of a header block matters to every later call of the connection, so
    /// its calls are worth copying past the usual per-call cap.
    pub fn wants_wide_copies(&self) -> bool {
        matches!(self, Tracker::Http2(_))
    }

    /// Bytes held (buffers, samples, messages awaiting their partner).
    pub fn buffered_bytes(&self) -> usize {
        match self {
            Tracker::Sniffing(s) => s.held.iter().flatten().map(|(_, b)| b.len()).sum(),
            Tracker::Http1(c) => c.buffered_bytes(),
            Tracker::Http2(c) => c.buffered_bytes(),
            Tracker::Opaque => 0,
        }
    }

    pub fn on_data(
        &mut self,
        limits: &Limits,
        dir: Direction,
        ts: u64,
        data: &[u8],
        out: &mut Vec<Output>,
    ) {
        match self {
            Tracker::Sniffing(s) => {
                s.first.get_or_insert(dir);
                let held = &mut s.held[dir.index()];
                held.push((ts, data.to_vec()));
                let chunks = held.len();
                match sniff::decide(&s.bytes(dir), data, chunks) {
                    Decision::NeedMore => {}
                    Decision::FromStart(verdict) => self.decide(limits, dir, verdict, out),
                    Decision::MidConnectionFromLatest => {
                        // The earlier chunks of this direction were inside a frame.
                        let held = &mut s.held[dir.index()];
                        let dropped = held.len().saturating_sub(1);
                        held.drain(..dropped);
                        out.push(Output::Problem(http2::Problem::StartedInsideFrame.into()));
                        self.decide(limits, dir, Verdict::Http2MidConnection, out);
                    }
                }
            }
            Tracker::Http1(c) => {
                c.on_data(dir, ts, data, out);
                self.hand_over(limits, out);
            }
            Tracker::Http2(c) => c.on_data(dir, ts, data, out),
            Tracker::Opaque => {}
        }
    }

    pub fn on_gap(
        &mut self,
        limits: &Limits,
        dir: Direction,
        ts: u64,
        len: u64,
        out: &mut Vec<Output>,
    ) {
        match self {
            Tracker::Sniffing(_) => {
                // The start is gone: HTTP/1 knows how to resync on a message start.
                self.decide(limits, dir, Verdict::Http1, out);
                self.on_gap(limits, dir, ts, len, out);
            }
            Tracker::Http1(c) => {
                c.on_gap(dir, ts, len, out);
            }
            Tracker::Http2(c) => c.on_gap(dir, ts, len, out),
            Tracker::Opaque => {}
        }
    }

    pub fn on_close(&mut self, ts: u64, out: &mut Vec<Output>) {
        match self {
            Tracker::Http1(c) => {
                c.on_close(ts, out);
            }
            Tracker::Http2(c) => c.on_close(ts, out),
            Tracker::Sniffing(s) => {
                // Bytes that never looked like a protocol we parse: counted like HTTP/1's
                // give-up, which is where they would have gone.
                if s.held.iter().any(|h| !h.is_empty()) {
                    out.push(Output::Problem(http1::Problem::NotHttp.into()));
                }
            }
            Tracker::Opaque => {}
        }
        // Closed: nothing more is parsed or reported (an HTTP/2 connection would otherwise open
        // new streams from later bytes and report them at a second close).
        *self = Tracker::Opaque;
    }

    /// Becomes the parser `verdict` names and replays the held bytes into it.
    fn decide(&mut self, limits: &Limits, dir: Direction, verdict: Verdict, out: &mut Vec<Output>) {
        let Tracker::Sniffing(sniffing) = std::mem::replace(self, Tracker::Opaque) else {
            return;
        };
        *self = match verdict {
            Verdict::Http2Preface => http2_tracker(
                http2::Connection::from_preface(limits.http2.clone(), dir),
                out,
            ),
            Verdict::Http2ServerSettings => http2_tracker(
                http2::Connection::from_preface(limits.http2.clone(), dir.opposite()),
                out,
            ),
            Verdict::Http2MidConnection => {
                http2_tracker(http2::Connection::mid_connection(limits.http2.clone()), out)
            }
            Verdict::Http1 | Verdict::NeedMore => {
                Tracker::Http1(Box::new(http1::Connection::new(limits.http1.clone())))
            }
        };
        let first = sniffing.first.unwrap_or(dir);
        let Sniffing { held, .. } = sniffing;
        let [egress, ingress] = held;
        let ordered = match first {
            Direction::Egress => [(Direction::Egress, egress), (Direction::Ingress, ingress)],
            Direction::Ingress => [(Direction::Ingress, ingress), (Direction::Egress, egress)],
        };
        for (d, chunks) in ordered {
            for (ts, bytes) in chunks {
                self.on_data(limits, d, ts, &bytes, out);
            }
        }
    }

    /// An HTTP/1 connection that switched to HTTP/2 continues in the HTTP/2 parser.
    fn hand_over(&mut self, limits: &Limits, out: &mut Vec<Output>) {
        let Tracker::Http1(c) = self else {
            return;
        };
        let Some(upgrade) = c.take_h2c_upgrade() else {
            return;
        };
        *self = http2_tracker(
            http2::Connection::upgraded(limits.http2.clone(), upgrade.requests, &upgrade.request),
            out,
        );
        for (dir, ts, bytes) in upgrade.leftovers {
            self.on_data(limits, dir, ts, &bytes, out);
        }
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

fn http2_tracker(conn: http2::Connection, out: &mut Vec<Output>) -> Tracker {
    out.push(Output::Http2Stat(http2::Stat::Connection(
        conn.capture_start(),
    )));
    Tracker::Http2(Box::new(conn))
}
