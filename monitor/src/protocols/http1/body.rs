//! Skipping one message body while keeping its size and a bounded sample.
//!
//! The body itself is never stored: only the first `sample_cap` bytes (for secret scanning)
//! are copied into [`MessageStats::body_sample`]; everything else is counted and dropped.
//! Counts saturate: hole sizes come from the kernel's loss counters, and a corrupt record must
//! not overflow them.

use super::MessageStats;
use super::chunked::{ChunkedDecoder, GapResult};
use super::framing::BodyKind;
use super::problem::Problem;

#[derive(Debug)]
enum Kind {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// What a hole did to the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyGap {
    /// Skipped; the body continues.
    Skipped,
    /// The body ended inside the hole; `rest` more bytes of the hole lie beyond it.
    Ended { rest: u64 },
    /// The hole hit framing we must read: the message cannot be finished.
    Lost,
}

#[derive(Debug)]
pub(crate) struct BodyReader {
    kind: Kind,
    sample_cap: usize,
}

fn add_sample(stats: &mut MessageStats, cap: usize, bytes: &[u8]) {
    let room = cap.saturating_sub(stats.body_sample.len());
    if room > 0 {
        stats
            .body_sample
            .extend_from_slice(&bytes[..room.min(bytes.len())]);
    }
}

impl BodyReader {
    /// `None` for an empty body.
    pub(crate) fn new(kind: BodyKind, sample_cap: usize, max_line: usize) -> Option<Self> {
        let kind = match kind {
            BodyKind::Empty | BodyKind::Length(0) => return None,
            BodyKind::Length(n) => Kind::Length(n),
            BodyKind::Chunked => Kind::Chunked(ChunkedDecoder::new(max_line)),
            BodyKind::UntilClose => Kind::UntilClose,
        };
        Some(Self { kind, sample_cap })
    }

    pub(crate) fn held_bytes(&self) -> usize {
        match &self.kind {
            Kind::Chunked(d) => d.held_bytes(),
            _ => 0,
        }
    }

    /// Consumes body bytes from `data`; returns bytes consumed and whether the body is done.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        stats: &mut MessageStats,
    ) -> Result<(usize, bool), Problem> {
        let cap = self.sample_cap;
        match &mut self.kind {
            Kind::Length(remaining) => {
                let n = usize::try_from(*remaining).map_or(data.len(), |r| r.min(data.len()));
                add_sample(stats, cap, &data[..n]);
                stats.body_bytes = stats.body_bytes.saturating_add(n as u64);
                *remaining -= n as u64;
                Ok((n, *remaining == 0))
            }
            Kind::UntilClose => {
                add_sample(stats, cap, data);
                stats.body_bytes = stats.body_bytes.saturating_add(data.len() as u64);
                Ok((data.len(), false))
            }
            Kind::Chunked(dec) => dec.feed(data, &mut |payload| {
                add_sample(stats, cap, payload);
                stats.body_bytes = stats.body_bytes.saturating_add(payload.len() as u64);
            }),
        }
    }

    pub(crate) fn gap(&mut self, len: u64, stats: &mut MessageStats) -> BodyGap {
        match &mut self.kind {
            Kind::Length(remaining) => {
                let skipped = len.min(*remaining);
                stats.body_bytes = stats.body_bytes.saturating_add(skipped);
                *remaining -= skipped;
                if *remaining == 0 {
                    BodyGap::Ended {
                        rest: len - skipped,
                    }
                } else {
                    BodyGap::Skipped
                }
            }
            Kind::UntilClose => {
                stats.body_bytes = stats.body_bytes.saturating_add(len);
                BodyGap::Skipped
            }
            Kind::Chunked(dec) => match dec.gap(len) {
                GapResult::Skipped => {
                    stats.body_bytes = stats.body_bytes.saturating_add(len);
                    BodyGap::Skipped
                }
                GapResult::Lost => BodyGap::Lost,
            },
        }
    }

    /// Whether the end of the stream completes this body.
    pub(crate) fn ends_at_close(&self) -> bool {
        matches!(self.kind, Kind::UntilClose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::http1::{Connection, Direction, Limits, Output};

    #[test]
    fn huge_holes_saturate_the_body_count() {
        // Found by `cargo xtask fuzz` (http1): two holes claiming nearly 2^64 bytes in a body
        // delimited by the close overflowed `body_bytes` (a panic with overflow checks).
        let mut body = BodyReader::new(BodyKind::UntilClose, 16, 256).unwrap();
        let mut stats = MessageStats::default();
        assert_eq!(body.gap(u64::MAX - 2, &mut stats), BodyGap::Skipped);
        assert_eq!(body.gap(u64::MAX - 2, &mut stats), BodyGap::Skipped);
        assert_eq!(body.feed(b"ok", &mut stats), Ok((2, false)));
        assert_eq!(stats.body_bytes, u64::MAX);

        let mut conn = Connection::new(Limits::default());
        let mut out = Vec::new();
        conn.on_data(
            Direction::Egress,
            1,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            &mut out,
        );
        conn.on_data(Direction::Ingress, 2, b"HTTP/1.1 200 OK\r\n\r\nx", &mut out);
        conn.on_gap(Direction::Ingress, 3, u64::MAX - 1, &mut out);
        conn.on_gap(Direction::Ingress, 4, u64::MAX - 1, &mut out);
        conn.on_close(5, &mut out);
        let Some(Output::Exchange(exchange)) = out.first() else {
            panic!("expected the exchange, got {out:?}")
        };
        assert_eq!(
            exchange.response.as_ref().unwrap().stats.body_bytes,
            u64::MAX
        );
    }
}
