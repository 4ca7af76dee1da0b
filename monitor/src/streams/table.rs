//! The connection table: one entry per live connection.
use crate::{
    capture::{ConnKey, DataChunk},
    metrics::Metrics,
    protocols::{self, Exchange, Output, Tracker},
};

#[derive(Clone, Debug)]
pub struct StreamLimits {
    pub protocols: protocols::Limits,
    /// Connections tracked at most; beyond it the least recently active are freed.
    pub max_connections: usize,
    /// A connection with no data for this long is freed (its pending calls reported).
    pub idle_timeout_ns: u64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            protocols: protocols::Limits::default(),
            max_connections: 65_536,
            idle_timeout_ns: 300 * 1_000_000_000,
        }
    }
}

/// A completed exchange and where it came from.
pub struct ConnectionExchange {
    pub conn: ConnKey,
    /// Attach cookie of the library that carried it.
    pub library: u64,
    /// Thread that sent the first bytes of the connection we saw.
    pub tid: u32,
    pub uid: u32,
    pub comm: crate::capture::Comm,
    /// The TCP connection under it (`SocketOpen` id), 0 if unknown.
    pub socket_id: u64,
    pub exchange: Exchange,
}

struct TrackedConnection {
    tracker: Tracker,
    library: u64,
    tid: u32,
    uid: u32,
    comm: crate::capture::Comm,
    socket_id: u64,
    last_seen_ns: u64,
    /// Reported in `widened` once (the kernel copies its calls further).
    widened: bool,
}

pub struct StreamTable {
    limits: StreamLimits,
    connections: crate::IdMap<ConnKey, TrackedConnection>,
    /// Connections per process, so that a process exit frees its connections without a scan.
    by_process: crate::IdMap<u32, Vec<ConnKey>>,
    /// Connections that became HTTP/2 since the last `take_widened`.
    widened: Vec<ConnKey>,
    /// The parsers' outputs for one chunk, kept between chunks: a new `Vec` per chunk was an
    /// allocation per chunk.
    outputs: Vec<Output>,
}

/// `widened` entries kept at most when nobody takes them (replays have no kernel to tell).
const MAX_WIDENED: usize = 4096;

/// Why a connection's state was freed (metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Closed,
    ProcessExit,
    Idle,
    Evicted,
    /// A TLS handle's records came with another TCP connection under them than before: the
    /// library reused the handle (OpenSSL's `SSL_clear` and `SSL_set_fd`).
    Moved,
    Shutdown,
}

impl CloseReason {
    fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::ProcessExit => "process_exit",
            Self::Idle => "idle",
            Self::Evicted => "evicted",
            Self::Moved => "moved",
            Self::Shutdown => "shutdown",
        }
    }
}

impl StreamTable {
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            connections: Default::default(),
            by_process: Default::default(),
            widened: Vec::new(),
            outputs: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.connections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Bytes held by all trackers (head buffers, body samples).
    pub fn buffered_bytes(&self) -> usize {
        self.connections
            .values()
            .map(|c| c.tracker.buffered_bytes())
            .sum()
    }

    pub fn on_chunk(
        &mut self,
        ts_ns: u64,
        (tid, uid): (u32, u32),
        comm: crate::capture::Comm,
        chunk: &DataChunk,
        metrics: &Metrics,
        out: &mut Vec<ConnectionExchange>,
    ) {
        let known = match self.connections.get(&chunk.conn) {
            // The handle now runs over another connection: what it carried before is over, as
            // at a close, and what comes is the new connection's (its ends, a fresh parser).
            Some(conn) if moved(conn.socket_id, chunk.socket_id) => {
                self.forget(chunk.conn, ts_ns, CloseReason::Moved, metrics, out);
                false
            }
            known => known.is_some(),
        };
        if !known {
            if self.connections.len() >= self.limits.max_connections {
                self.evict_oldest(ts_ns, metrics, out);
            }
            self.connections.insert(
                chunk.conn,
                TrackedConnection {
                    tracker: Tracker::new(),
                    library: chunk.library,
                    tid,
                    uid,
                    comm,
                    socket_id: chunk.socket_id,
                    last_seen_ns: ts_ns,
                    widened: false,
                },
            );
            self.by_process
                .entry(chunk.conn.tgid)
                .or_default()
                .push(chunk.conn);
        }
        let Some(conn) = self.connections.get_mut(&chunk.conn) else {
            return;
        };
        conn.last_seen_ns = ts_ns;
        if conn.socket_id == 0 {
            conn.socket_id = chunk.socket_id;
        }
        // Counted whatever the connection turned out to be: a byte the kernel lost is lost
        // even on a connection we stopped parsing.
        let truncated = chunk.truncated_after();
        if chunk.lost_before > 0 {
            metrics.stream_gap("lost", chunk.lost_before);
        }
        if truncated > 0 {
            metrics.stream_gap("truncated", truncated);
        }
        if !conn.tracker.is_parsing() {
            return;
        }
        let mut outputs = std::mem::take(&mut self.outputs);
        if chunk.lost_before > 0 {
            conn.tracker.on_gap(
                &self.limits.protocols,
                chunk.direction,
                ts_ns,
                chunk.lost_before,
                &mut outputs,
            );
        }
        conn.tracker.on_data(
            &self.limits.protocols,
            chunk.direction,
            ts_ns,
            &chunk.data,
            &mut outputs,
        );
        if truncated > 0 {
            conn.tracker.on_gap(
                &self.limits.protocols,
                chunk.direction,
                ts_ns,
                truncated,
                &mut outputs,
            );
        }
        if !conn.widened && conn.tracker.wants_wide_copies() {
            conn.widened = true;
            if self.widened.len() < MAX_WIDENED {
                self.widened.push(chunk.conn);
            }
        }
        collect(chunk.conn, conn, &mut outputs, metrics, out);
        self.outputs = outputs;
    }

    /// Connections whose calls the kernel should copy past the usual per-call cap (they carry
    /// HTTP/2), each once.
    pub fn take_widened(&mut self) -> Vec<ConnKey> {
        std::mem::take(&mut self.widened)
    }

    pub fn on_close(
        &mut self,
        conn: ConnKey,
        ts_ns: u64,
        metrics: &Metrics,
        out: &mut Vec<ConnectionExchange>,
    ) {
        self.forget(conn, ts_ns, CloseReason::Closed, metrics, out);
    }

    pub fn on_process_exit(
        &mut self,
        tgid: u32,
        ts_ns: u64,
        metrics: &Metrics,
        out: &mut Vec<ConnectionExchange>,
    ) {
        for conn in self.by_process.remove(&tgid).unwrap_or_default() {
            self.free(conn, ts_ns, CloseReason::ProcessExit, metrics, out);
        }
    }

    /// Frees connections idle for longer than the idle timeout.
    pub fn evict_idle(
        &mut self,
        now_ns: u64,
        metrics: &Metrics,
        out: &mut Vec<ConnectionExchange>,
    ) {
        let timeout = self.limits.idle_timeout_ns;
        let idle: Vec<ConnKey> = self
            .connections
            .iter()
            .filter(|(_, c)| now_ns.saturating_sub(c.last_seen_ns) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for conn in idle {
            self.forget(conn, now_ns, CloseReason::Idle, metrics, out);
        }
    }

    /// Reports everything pending and frees every connection (shutdown).
    pub fn flush_all(&mut self, now_ns: u64, metrics: &Metrics, out: &mut Vec<ConnectionExchange>) {
        let all: Vec<ConnKey> = self.connections.keys().copied().collect();
        for conn in all {
            self.free(conn, now_ns, CloseReason::Shutdown, metrics, out);
        }
        self.by_process.clear();
    }

    fn evict_oldest(&mut self, now_ns: u64, metrics: &Metrics, out: &mut Vec<ConnectionExchange>) {
        // A linear scan, but only when the table is full; evicting a tenth at a time keeps that
        // rare under a flood of new connections.
        let mut by_age: Vec<(u64, ConnKey)> = self
            .connections
            .iter()
            .map(|(k, c)| (c.last_seen_ns, *k))
            .collect();
        by_age.sort_unstable();
        let n = (self.limits.max_connections / 10).max(1);
        for (_, conn) in by_age.into_iter().take(n) {
            self.forget(conn, now_ns, CloseReason::Evicted, metrics, out);
        }
    }

    /// Frees a connection and removes it from the per-process index.
    fn forget(
        &mut self,
        conn: ConnKey,
        ts_ns: u64,
        reason: CloseReason,
        metrics: &Metrics,
        out: &mut Vec<ConnectionExchange>,
    ) {
        if let Some(keys) = self.by_process.get_mut(&conn.tgid) {
            keys.retain(|k| *k != conn);
            if keys.is_empty() {
                self.by_process.remove(&conn.tgid);
            }
        }
        self.free(conn, ts_ns, reason, metrics, out);
    }

    fn free(
        &mut self,
        conn: ConnKey,
        ts_ns: u64,
        reason: CloseReason,
        metrics: &Metrics,
        out: &mut Vec<ConnectionExchange>,
    ) {
        let Some(mut tracked) = self.connections.remove(&conn) else {
            return;
        };
        let mut outputs = Vec::new();
        tracked.tracker.on_close(ts_ns, &mut outputs);
        collect(conn, &tracked, &mut outputs, metrics, out);
        metrics.connection_closed(reason.label());
    }
}

/// True when a record with the TCP connection `now` under it belongs to another connection
/// than the one its handle had (`before`); 0 is "not known".
fn moved(before: u64, now: u64) -> bool {
    before != 0 && now != 0 && before != now
}

fn collect(
    key: ConnKey,
    conn: &TrackedConnection,
    outputs: &mut Vec<Output>,
    metrics: &Metrics,
    out: &mut Vec<ConnectionExchange>,
) {
    for output in outputs.drain(..) {
        match output {
            Output::Exchange(exchange) => out.push(ConnectionExchange {
                conn: key,
                library: conn.library,
                tid: conn.tid,
                uid: conn.uid,
                comm: conn.comm,
                socket_id: conn.socket_id,
                exchange,
            }),
            Output::Http2Stat(stat) => metrics.http2_stat(stat),
            Output::Problem(problem) => {
                metrics.protocol_problem(problem.protocol().label(), problem.label())
            }
        }
    }
}
