//! Drives the stages after capture for each event: streams → protocols (HTTP/1, HTTP/2) → enrich → calls → inspect
//! (credentials, policy, rates → alerts) → output.
//!
//! Synchronous and free of I/O except the output sink, so that tests drive it with synthetic
//! events exactly as the daemon does with kernel records.
use std::sync::Arc;

use serde::Serialize;

use crate::{
    alerts::Alert,
    calls::{ApiCall, build_api_call},
    capture::{CaptureEvent, EventKind, LibraryRegistry},
    enrich::{ProcessInfo, ProcessTable, SocketTable},
    inspect::{Authority, Inspector, split_host_port},
    kubernetes::{K8sIdentity, PodSource},
    metrics::Metrics,
    policy::Policy,
    streams::{ConnectionExchange, StreamLimits, StreamTable},
    time::WallClock,
};

/// What the pipeline produces, in the order it happens. Serialises to the JSON lines users read
/// (each object says what it is in its `event` field).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    Call(ApiCall),
    Alert(Alert),
}

pub struct Pipeline {
    streams: StreamTable,
    sockets: SocketTable,
    inspector: Option<Inspector>,
    alerts: Vec<Alert>,
    pub(crate) processes: ProcessTable,
    libraries: LibraryRegistry,
    clock: WallClock,
    metrics: Arc<Metrics>,
    exchanges: Vec<ConnectionExchange>,
    /// Command names whose traffic is not reported (`--exclude-command`).
    excluded_commands: Vec<String>,
    /// Pod metadata, in Kubernetes.
    pods: Option<Box<dyn PodSource>>,
}

impl Pipeline {
    pub fn new(
        limits: StreamLimits,
        processes: ProcessTable,
        libraries: LibraryRegistry,
        clock: WallClock,
        metrics: Arc<Metrics>,
        inspector: Option<Inspector>,
    ) -> Self {
        Self {
            streams: StreamTable::new(limits),
            sockets: SocketTable::default(),
            inspector,
            alerts: Vec::new(),
            processes,
            libraries,
            clock,
            metrics,
            exchanges: Vec::new(),
            excluded_commands: Vec::new(),
            pods: None,
        }
    }

    /// Gives calls and alerts of processes in pods their pod's metadata from there.
    pub fn with_pods(mut self, pods: Box<dyn PodSource>) -> Self {
        self.pods = Some(pods);
        self
    }

    /// Publishes the API inventory's snapshots there (no-op without checks).
    pub fn publish_inventory_to(&mut self, published: crate::inventory::PublishedInventory) {
        if let Some(inspector) = &mut self.inspector {
            inspector.publish_inventory_to(published);
        }
    }

    /// Drops (and counts) the traffic of processes with these command names from now on.
    pub fn exclude_commands(&mut self, commands: Vec<String>) {
        self.excluded_commands = commands;
    }

    /// The event is traffic of an excluded process. Decided by the process's command as first
    /// seen, not the thread's: threads may rename themselves.
    fn is_excluded(&mut self, event: &CaptureEvent) -> bool {
        if self.excluded_commands.is_empty()
            || !matches!(
                event.kind,
                EventKind::Data(_)
                    | EventKind::SocketOpen(_)
                    | EventKind::TlsHandshake(_)
                    | EventKind::Close(_)
            )
        {
            return false;
        }
        let process = self.processes.get(event.tgid, &event.comm, event.uid);
        self.excluded_commands
            .iter()
            .any(|c| c.as_str() == &*process.command)
    }

    /// Handles one captured event; `emit` receives every API call it completes.
    pub fn handle(&mut self, event: CaptureEvent, emit: &mut impl FnMut(Output)) {
        if self.is_excluded(&event) {
            self.metrics.record_kind("excluded_process");
            return;
        }
        match &event.kind {
            EventKind::Data(chunk) if self.is_nspr_non_socket_io(chunk) => {
                // NSPR carries every kind of I/O (files, pipes, stdin), not only TLS: a real
                // NSS TLS call reads or writes its TCP socket inside the call, which ties it to
                // that socket. Without such a tie it is not network traffic.
                self.metrics.record_kind("nspr_non_socket");
            }
            EventKind::Data(chunk) => {
                self.metrics.record_kind("data");
                // Learn who this is while the process most likely still exists.
                self.processes.learn(event.tgid, &event.comm, event.uid);
                if chunk.socket_id != 0 {
                    self.sockets
                        .on_use(event.tgid, chunk.socket_id, &mut self.processes);
                    if chunk.library != 0 {
                        self.sockets.on_tls_read(event.tgid, chunk.socket_id);
                    }
                }
                self.streams.on_chunk(
                    event.timestamp_ns,
                    (event.tid, event.uid),
                    event.comm,
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
                if conn.source == monitor_common::source::SOCKET {
                    let unread = self.sockets.take_unread_tls(conn.tgid, Some(conn.id));
                    self.report_unread_tls(&event, unread);
                    self.sockets
                        .on_close(conn.tgid, conn.id, event.timestamp_ns);
                }
            }
            EventKind::TlsHandshake(conn) => {
                self.metrics.record_kind("tls_handshake");
                self.sockets.on_tls_handshake(conn.tgid, conn.id);
            }
            EventKind::SocketOpen(opened) => {
                self.metrics.record_kind("socket_open");
                self.sockets
                    .on_open(event.tgid, opened, &mut self.processes);
            }
            EventKind::ProcessExec { filename } => {
                self.metrics.record_kind("exec");
                self.processes
                    .on_exec(event.tgid, &event.comm, event.uid, filename);
            }
            // The daemon scans the process for TLS libraries; nothing to parse here.
            EventKind::CodeMapped => self.metrics.record_kind("code_mapped"),
            EventKind::ProcessExit => {
                self.metrics.record_kind("exit");
                let unread = self.sockets.take_unread_tls(event.tgid, None);
                self.report_unread_tls(&event, unread);
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
            self.sockets.on_process_exit(event.tgid);
        }
    }

    /// Periodic housekeeping: idle connections, ended suppression windows, idle rate buckets.
    pub fn tick(&mut self, now_ns: u64, emit: &mut impl FnMut(Output)) {
        self.streams
            .evict_idle(now_ns, &self.metrics, &mut self.exchanges);
        self.report(emit);
        self.sockets.expire(now_ns);
        if let Some(inspector) = &mut self.inspector {
            inspector.tick(now_ns, &mut self.alerts);
            self.alerts.drain(..).for_each(|a| emit(Output::Alert(a)));
        }
    }

    /// Puts a new policy in force; on error the previous one stays.
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), crate::inspect::InspectError> {
        match &mut self.inspector {
            Some(inspector) => inspector.set_policy(policy),
            None => Ok(()),
        }
    }

    /// Reports every pending call (shutdown).
    pub fn flush(&mut self, now_ns: u64, emit: &mut impl FnMut(Output)) {
        self.streams
            .flush_all(now_ns, &self.metrics, &mut self.exchanges);
        self.report(emit);
        if let Some(inspector) = &mut self.inspector {
            inspector.flush(&mut self.alerts);
            self.alerts.drain(..).for_each(|a| emit(Output::Alert(a)));
        }
    }

    /// TLS connections no probed library read: the monitor is blind to them, which users must
    /// know (`monitor coverage` says why for each process).
    fn report_unread_tls(&mut self, event: &CaptureEvent, unread: Vec<crate::enrich::SocketInfo>) {
        if unread.is_empty() {
            return;
        }
        let process = self.processes.get(event.tgid, &event.comm, event.uid);
        for socket in unread {
            self.metrics.record_kind("tls_unreadable_connection");
            // Looked up with or without checks: a replay without a policy must make the same
            // pod lookups as the live run, which always has one (see `kubernetes::source`).
            let k8s = k8s_of(&mut self.pods, &self.metrics, &process);
            let Some(inspector) = &mut self.inspector else {
                continue;
            };
            let remote = socket
                .remote
                .map(|r| r.to_string())
                .unwrap_or_else(|| "an unknown peer".into());
            let who = process.executable.as_deref().unwrap_or(&process.command);
            let served = socket.role == monitor_common::role::SERVER;
            let (direction, made, server_end, client_end) = if served {
                (
                    crate::protocols::CallDirection::Inbound,
                    "accepted a TLS connection from",
                    socket.local,
                    socket.remote,
                )
            } else {
                (
                    crate::protocols::CallDirection::Outbound,
                    "made a TLS connection to",
                    socket.remote,
                    socket.local,
                )
            };
            let alert = Alert {
                time: self.clock.format(event.timestamp_ns),
                event: "alert",
                id: Alert::make_id(
                    "coverage.tls_unreadable",
                    event.timestamp_ns,
                    event.tgid,
                    socket.fd.into(),
                ),
                severity: crate::policy::Severity::Info,
                rule_id: "coverage.tls_unreadable".into(),
                summary: format!(
                    "{who} {made} {remote} that the monitor cannot read: its TLS library is not probed (see `monitor coverage`)"
                ),
                count: 1,
                summary_of: None,
                direction,
                peer_workload: None,
                client: client_end.map(|c| crate::alerts::AlertEndpoint {
                    ip: c.ip().to_string(),
                    port: c.port(),
                }),
                workload: crate::alerts::AlertWorkload {
                    pid: process.pid,
                    command: process.command.clone(),
                    executable: process.executable.clone(),
                    uid: process.uid,
                    container_id: process.container_id.clone(),
                    k8s,
                },
                destination: crate::alerts::AlertDestination {
                    host: None,
                    ip: server_end.map(|r| r.ip().to_string()),
                    port: server_end.map(|r| r.port()),
                    tls: true,
                },
                request: None,
                evidence: None,
            };
            inspector.raise(alert, event.timestamp_ns, &mut self.alerts);
        }
    }

    fn is_nspr_non_socket_io(&self, chunk: &crate::capture::DataChunk) -> bool {
        chunk.socket_id == 0
            && chunk.library != 0
            && self
                .libraries
                .get(chunk.library)
                .is_some_and(|l| l.kind == crate::capture::TlsLibraryKind::Nss)
    }

    /// Connections the kernel should copy past the per-call cap (HTTP/2), each once.
    pub fn take_widened(&mut self) -> Vec<crate::capture::ConnKey> {
        self.streams.take_widened()
    }

    pub fn connections(&self) -> usize {
        self.streams.len()
    }

    pub fn buffered_bytes(&self) -> usize {
        self.streams.buffered_bytes()
    }

    fn report(&mut self, emit: &mut impl FnMut(Output)) {
        // Alerts raised by the event itself (coverage) come before the calls it completed.
        self.alerts.drain(..).for_each(|a| emit(Output::Alert(a)));
        self.metrics.set_connections_active(self.streams.len());
        // Read in place and cleared after: an exchange is a few hundred bytes, and moving each
        // out of the vector was a copy per call.
        let mut exchanges = std::mem::take(&mut self.exchanges);
        for item in &exchanges {
            let process = self.processes.get(item.conn.tgid, &item.comm, item.uid);
            let library = self.libraries.get(item.library);
            let socket = self.sockets.get(item.conn.tgid, item.socket_id);
            let mut call = build_api_call(item, &process, library.as_ref(), socket, &self.clock);
            call.process.k8s = k8s_of(&mut self.pods, &self.metrics, &process);
            let addresses = socket.and_then(|s| s.local.zip(s.remote));
            // Loopback addresses repeat in every network namespace (each pod has its own
            // 127.0.0.1): the two ends of a loopback connection are only taken to be each other
            // when they run in the same container. Containers of one pod share a loopback but
            // not a container id: their exchanges stay unlinked (each end alerts on its own).
            let loopback = addresses.is_some_and(|(local, _)| local.ip().is_loopback());
            let peer = addresses
                .and_then(|_| {
                    self.sockets
                        .peer_of_connection(item.conn.tgid, item.socket_id)
                })
                .and_then(|pid| self.processes.known(pid))
                .filter(|peer| !loopback || peer.container_id == process.container_id);
            call.peer_process = peer.map(|peer| {
                let mut out = crate::calls::ProcessOut::of(&peer);
                out.k8s = k8s_of(&mut self.pods, &self.metrics, &peer);
                out
            });
            self.metrics.api_call(call.role, call.complete);
            self.metrics.api_call_without_socket(&call);
            let split = call.host.as_deref().map(split_host_port);
            // The host without its port: ports would only multiply label values.
            let host = split.as_ref().map_or("none", |(host, _)| host.as_ref());
            self.metrics.api_call_destination(
                host,
                call.method.as_deref().unwrap_or("unknown"),
                call.status,
                call.tls,
            );
            self.metrics.api_call_workload(&call, host);
            if let Some(inspector) = &mut self.inspector {
                let authority = split.map(|(host, port)| Authority::new(&host, port));
                inspector.inspect(item, &mut call, authority, &mut self.alerts);
            }
            emit(Output::Call(call));
            self.alerts.drain(..).for_each(|a| emit(Output::Alert(a)));
        }
        exchanges.clear();
        self.exchanges = exchanges;
    }
}

/// The Kubernetes identity of a process in a pod: its pod's metadata if known, else only
/// the pod UID (counted). Processes outside pods have none, with or without a watch.
fn k8s_of(
    pods: &mut Option<Box<dyn PodSource>>,
    metrics: &Metrics,
    process: &ProcessInfo,
) -> Option<Arc<K8sIdentity>> {
    let pod_uid = process.pod_uid.as_deref()?;
    let entry = pods.as_mut().and_then(|pods| pods.pod(pod_uid));
    let Some(entry) = entry else {
        metrics.k8s_pod_lookup("unknown_pod");
        return Some(Arc::new(K8sIdentity::unknown_pod(pod_uid)));
    };
    let container = process.container_id.as_deref();
    let known = container.is_some_and(|id| entry.knows_container(id));
    metrics.k8s_pod_lookup(if known { "found" } else { "unknown_container" });
    Some(entry.identity(container))
}

#[cfg(test)]
mod tests;
