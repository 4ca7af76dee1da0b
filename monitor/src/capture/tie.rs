//! Holds back TLS calls emitted before their socket was known, until the kernel ties them.
//!
//! A library behind memory BIOs (node's OpenSSL) writes its ciphertext only after `SSL_write`
//! returns. When the handle is not tied yet (normally it is, by the ciphertext read before an
//! earlier call), the kernel emits the call with no socket and the flag `TIE_PENDING`; the
//! socket write that follows, microseconds later, ties the handle and emits an `SSL_TIE` record.
//! Passing the call on at once would report it without addresses whenever it completes an API
//! call (a server's response does), and a call is reported only once.
//!
//! So from the first pending record on, records are held, in order, until its tie arrives (the
//! held records of that handle then get the socket) or the producer gives up waiting (end of
//! the ring drain plus one short wait live; a bounded number of records in a replay): they then
//! go on as they are, counted (`monitor_tls_socket_ties_total{outcome="not_found"}`), and the
//! call counts in `monitor_api_calls_without_socket_total` if no later record brings its socket.
//! Holding every record behind the first pending one, not only that handle's, keeps the order of
//! all records, which the pipeline relies on (a close or a process exit after its calls).
//!
//! The resolver works on raw records (before decoding), so that the socket is written into the
//! record exactly where the kernel would have put it, and `SSL_TIE` records never reach the
//! pipeline as events.
use std::collections::VecDeque;

use monitor_common::{HEADER_LEN, RecordHeader, flags, record_kind, source};

use crate::metrics::Metrics;

/// Records held at most while waiting: past it everything held goes on (a tie that would come
/// after this many records is not worth more memory).
pub const MAX_HELD: usize = 4096;

#[derive(Default)]
pub struct TieResolver {
    /// Records held back, oldest first.
    held: VecDeque<Vec<u8>>,
    /// Handles (process, `SSL*`) whose tie the held records wait for.
    waiting: crate::IdSet<(u32, u64)>,
    /// Records released, to be passed on before anything else.
    ready: Vec<Vec<u8>>,
}

/// The header fields the resolver reads.
struct Head {
    kind: u8,
    flags: u8,
    source: u8,
    tgid: u32,
    conn_id: u64,
    socket_id: u64,
}

fn head(raw: &[u8]) -> Option<Head> {
    if raw.len() < HEADER_LEN {
        return None;
    }
    // SAFETY: at least HEADER_LEN bytes; every bit pattern is a valid `RecordHeader`; the read
    // is unaligned-safe.
    let h: RecordHeader = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
    Some(Head {
        kind: h.kind,
        flags: h.flags,
        source: h.source,
        tgid: h.tgid,
        conn_id: h.conn_id,
        socket_id: h.socket_id,
    })
}

impl TieResolver {
    /// Takes the next record from the kernel. Returns it when it can be passed on now (nothing
    /// is held); `None` when it was held, or was a tie (consumed). Then, and after
    /// [`Self::give_up`], [`Self::take_ready`] has the records to pass on, in order, first.
    pub fn offer<'a>(&mut self, raw: &'a [u8], metrics: &Metrics) -> Option<&'a [u8]> {
        // A record too short for its header passes on: decoding reports it.
        let Some(h) = head(raw) else {
            return self.pass_or_hold(raw, metrics);
        };
        if h.kind == record_kind::SSL_TIE {
            self.apply_tie(h.tgid, h.conn_id, h.socket_id, metrics);
            return None;
        }
        if h.kind == record_kind::DATA
            && h.flags & flags::TIE_PENDING != 0
            && h.socket_id == 0
            && h.source == source::OPENSSL
        {
            self.waiting.insert((h.tgid, h.conn_id));
            self.hold(raw, metrics);
            return None;
        }
        self.pass_or_hold(raw, metrics)
    }

    fn pass_or_hold<'a>(&mut self, raw: &'a [u8], metrics: &Metrics) -> Option<&'a [u8]> {
        if self.waiting.is_empty() {
            return Some(raw);
        }
        self.hold(raw, metrics);
        None
    }

    fn hold(&mut self, raw: &[u8], metrics: &Metrics) {
        self.held.push_back(raw.to_vec());
        if self.held.len() >= MAX_HELD {
            self.give_up(metrics);
        }
    }

    fn apply_tie(&mut self, tgid: u32, ssl: u64, socket_id: u64, metrics: &Metrics) {
        if !self.waiting.remove(&(tgid, ssl)) {
            // Its records already went on (or it had none held): later records of the handle
            // carry the socket from the kernel's own table.
            metrics.socket_tie("late", 1);
            return;
        }
        metrics.socket_tie("tied", 1);
        let at = std::mem::offset_of!(RecordHeader, socket_id);
        for raw in &mut self.held {
            let Some(h) = head(raw) else { continue };
            if h.kind == record_kind::DATA
                && h.source == source::OPENSSL
                && h.tgid == tgid
                && h.conn_id == ssl
                && h.socket_id == 0
            {
                raw[at..at + 8].copy_from_slice(&socket_id.to_ne_bytes());
            }
        }
        if self.waiting.is_empty() {
            self.ready.extend(self.held.drain(..));
        }
    }

    /// True while records wait for a tie.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Records held back so far.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// No more waiting: everything held goes on as it is.
    pub fn give_up(&mut self, metrics: &Metrics) {
        if !self.waiting.is_empty() {
            metrics.socket_tie("not_found", self.waiting.len() as u64);
            self.waiting.clear();
        }
        self.ready.extend(self.held.drain(..));
    }

    /// Records to pass on now, in order.
    pub fn take_ready(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.ready)
    }
}

#[cfg(test)]
mod tests {
    use monitor_common::{COMM_LEN, RecordHeader, direction, flags, record_kind, source};

    use super::*;
    use crate::capture::{EventKind, decode, encode};

    fn record(kind: u8, tgid: u32, conn_id: u64, socket_id: u64, flag: u8, src: u8) -> Vec<u8> {
        let head = RecordHeader {
            timestamp_ns: 1,
            conn_id,
            call_len: if kind == record_kind::DATA { 3 } else { 0 },
            lost_before: 0,
            attach_cookie: 7,
            socket_id,
            tgid,
            tid: tgid,
            offset: 0,
            data_len: if kind == record_kind::DATA { 3 } else { 0 },
            kind,
            direction: if kind == record_kind::DATA {
                direction::EGRESS
            } else {
                0
            },
            source: src,
            flags: flag,
            uid: 0,
            comm: [0; COMM_LEN],
        };
        let payload: &[u8] = if kind == record_kind::DATA {
            b"abc"
        } else {
            b""
        };
        encode(&head, payload)
    }

    fn pending(tgid: u32, ssl: u64) -> Vec<u8> {
        record(
            record_kind::DATA,
            tgid,
            ssl,
            0,
            flags::LAST_CHUNK | flags::TIE_PENDING,
            source::OPENSSL,
        )
    }

    fn tie(tgid: u32, ssl: u64, socket: u64) -> Vec<u8> {
        record(record_kind::SSL_TIE, tgid, ssl, socket, 0, source::OPENSSL)
    }

    fn plain(tgid: u32, conn: u64) -> Vec<u8> {
        record(
            record_kind::DATA,
            tgid,
            conn,
            conn,
            flags::LAST_CHUNK,
            source::SOCKET,
        )
    }

    fn socket_of(raw: &[u8]) -> (u64, u64) {
        match decode(raw).unwrap().kind {
            EventKind::Data(chunk) => (chunk.conn.id, chunk.socket_id),
            other => panic!("not data: {other:?}"),
        }
    }

    #[test]
    fn records_pass_untouched_when_nothing_waits() {
        let metrics = Metrics::new();
        let mut resolver = TieResolver::default();
        let raw = plain(1, 5);
        assert_eq!(resolver.offer(&raw, &metrics), Some(&raw[..]));
        assert!(resolver.take_ready().is_empty());
    }

    #[test]
    fn a_pending_call_and_what_follows_wait_for_the_tie_which_gives_the_socket() {
        let metrics = Metrics::new();
        let mut resolver = TieResolver::default();
        assert_eq!(resolver.offer(&pending(1, 0xabc), &metrics), None);
        // Another connection's record keeps its place behind the held call.
        assert_eq!(resolver.offer(&plain(1, 5), &metrics), None);
        // A tie for another handle (or process) changes nothing.
        assert_eq!(resolver.offer(&tie(2, 0xabc, 99), &metrics), None);
        assert!(resolver.take_ready().is_empty());
        assert_eq!(resolver.offer(&tie(1, 0xabc, 42), &metrics), None);
        let ready = resolver.take_ready();
        assert_eq!(ready.len(), 2);
        assert_eq!(socket_of(&ready[0]), (0xabc, 42));
        assert_eq!(socket_of(&ready[1]), (5, 5));
        assert!(!resolver.is_waiting());
        assert_eq!(metrics_value(&metrics, "tied"), 1);
        assert_eq!(metrics_value(&metrics, "late"), 1);
    }

    #[test]
    fn without_a_tie_the_held_records_go_on_unchanged_and_in_order() {
        let metrics = Metrics::new();
        let mut resolver = TieResolver::default();
        resolver.offer(&pending(1, 0xabc), &metrics);
        resolver.offer(&pending(1, 0xdef), &metrics);
        resolver.offer(&plain(1, 5), &metrics);
        resolver.offer(&tie(1, 0xdef, 43), &metrics);
        // Still waiting for 0xabc.
        assert!(resolver.take_ready().is_empty());
        resolver.give_up(&metrics);
        let ready = resolver.take_ready();
        let got: Vec<_> = ready.iter().map(|r| socket_of(r)).collect();
        assert_eq!(got, vec![(0xabc, 0), (0xdef, 43), (5, 5)]);
        assert_eq!(metrics_value(&metrics, "not_found"), 1);
    }

    #[test]
    fn the_held_queue_is_bounded() {
        let metrics = Metrics::new();
        let mut resolver = TieResolver::default();
        resolver.offer(&pending(1, 0xabc), &metrics);
        let mut passed = 0;
        for _ in 0..MAX_HELD {
            passed += usize::from(resolver.offer(&plain(1, 5), &metrics).is_some());
        }
        // Released at the bound, nothing lost.
        assert_eq!(resolver.take_ready().len(), MAX_HELD);
        assert_eq!(passed + resolver.held(), 1);
        assert!(!resolver.is_waiting());
    }

    fn metrics_value(metrics: &Metrics, outcome: &str) -> u64 {
        use prometheus::Encoder as _;
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&metrics.registry.gather(), &mut out)
            .unwrap();
        let page = String::from_utf8(out).unwrap();
        let series = format!("monitor_tls_socket_ties_total{{outcome=\"{outcome}\"}} ");
        page.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |v| v.trim().parse().unwrap())
    }
}
