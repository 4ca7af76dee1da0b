//! Drives the stages after capture for each event: streams → http1 → enrich → calls → output.
//!
//! Synchronous and free of I/O except the output sink, so that tests drive it with synthetic
//! events exactly as the daemon does with kernel records.
use std::sync::Arc;

use crate::{
    calls::{ApiCall, build_api_call},
    capture::{CaptureEvent, EventKind, LibraryRegistry},
    enrich::ProcessTable,
    metrics::Metrics,
    streams::{ConnectionExchange, StreamLimits, StreamTable},
    time::WallClock,
};

pub struct Pipeline {
    streams: StreamTable,
    pub(crate) processes: ProcessTable,
    libraries: LibraryRegistry,
    clock: WallClock,
    metrics: Arc<Metrics>,
    exchanges: Vec<ConnectionExchange>,
}

impl Pipeline {
    pub fn new(
        limits: StreamLimits,
        processes: ProcessTable,
        libraries: LibraryRegistry,
        clock: WallClock,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            streams: StreamTable::new(limits),
            processes,
            libraries,
            clock,
            metrics,
            exchanges: Vec::new(),
        }
    }

    /// Handles one captured event; `emit` receives every API call it completes.
    pub fn handle(&mut self, event: CaptureEvent, emit: &mut impl FnMut(ApiCall)) {
        match &event.kind {
            EventKind::Data(chunk) => {
                self.metrics.record_kind("data");
                // Learn who this is while the process most likely still exists.
                self.processes.get(event.tgid, &event.comm, event.uid);
                self.streams.on_chunk(
                    event.timestamp_ns,
                    (event.tid, event.uid),
                    &event.comm,
                    chunk,
                    &self.metrics,
                    &mut self.exchanges,
                );
            }
            EventKind::Close(conn) => {
                self.metrics.record_kind("close");
                self.streams.on_close(
                    *conn,
                    event.timestamp_ns,
                    &self.metrics,
                    &mut self.exchanges,
                );
            }
            EventKind::ProcessExec { filename } => {
                self.metrics.record_kind("exec");
                self.processes
                    .on_exec(event.tgid, &event.comm, event.uid, filename);
            }
            EventKind::ProcessExit => {
                self.metrics.record_kind("exit");
                self.streams.on_process_exit(
                    event.tgid,
                    event.timestamp_ns,
                    &self.metrics,
                    &mut self.exchanges,
                );
            }
        }
        self.report(emit);
        if matches!(event.kind, EventKind::ProcessExit) {
            // After reporting: the calls flushed by the exit still needed the identity.
            self.processes.on_exit(event.tgid);
        }
    }

    /// Periodic housekeeping: idle connections.
    pub fn tick(&mut self, now_ns: u64, emit: &mut impl FnMut(ApiCall)) {
        self.streams
            .evict_idle(now_ns, &self.metrics, &mut self.exchanges);
        self.report(emit);
    }

    /// Reports every pending call (shutdown).
    pub fn flush(&mut self, now_ns: u64, emit: &mut impl FnMut(ApiCall)) {
        self.streams
            .flush_all(now_ns, &self.metrics, &mut self.exchanges);
        self.report(emit);
    }

    pub fn connections(&self) -> usize {
        self.streams.len()
    }

    pub fn buffered_bytes(&self) -> usize {
        self.streams.buffered_bytes()
    }

    fn report(&mut self, emit: &mut impl FnMut(ApiCall)) {
        self.metrics.set_connections_active(self.streams.len());
        for item in self.exchanges.drain(..) {
            let process = self.processes.get(item.conn.tgid, &item.comm, item.uid);
            let library = self.libraries.get(item.library);
            let call = build_api_call(&item, &process, library.as_deref(), &self.clock);
            self.metrics.api_call(call.role.as_str(), call.complete);
            emit(call);
        }
    }
}

#[cfg(test)]
mod tests;
