//! Every counter the pipeline keeps, in one Prometheus registry. Every way data can be lost, cut or
//! rejected has a counter here ("nothing is lost silently"); label values are fixed sets chosen by
//! the code, never taken from traffic, so label cardinality stays bounded.
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

mod delivery;
mod http2;
mod inspect;
mod kubernetes;
mod resolved;
mod sensitive;
mod workloads;

use delivery::DeliveryMetrics;
pub use delivery::SinkCounters;
use http2::Http2Metrics;
use inspect::InspectMetrics;
pub use inspect::InspectState;
use kubernetes::KubernetesMetrics;
use resolved::{Destinations, StaticLabels};
use sensitive::SensitiveMetrics;
pub use sensitive::{MAX_SENSITIVE_ENDPOINTS, SensitiveCount};
use workloads::Workloads;

/// Record kinds the pipeline counts (`monitor_capture_records_total{kind}`), resolved at start.
const RECORD_KINDS: &[&str] = &[
    "data",
    "close",
    "socket_open",
    "tls_handshake",
    "exec",
    "exit",
    "code_mapped",
    "excluded_process",
    "nspr_non_socket",
    "tls_unreadable_connection",
    "wide_connection_refused",
];

pub struct Metrics {
    ready: IntGauge,
    pub registry: Registry,
    records: StaticLabels,
    record_bytes: IntCounter,
    reader_wakeups: IntCounterVec,
    decode_errors: IntCounterVec,
    kernel: IntCounterVec,
    stream_gaps: IntCounterVec,
    http_problems: IntCounterVec,
    http2: Http2Metrics,
    inspect: InspectMetrics,
    kubernetes: KubernetesMetrics,
    delivery: DeliveryMetrics,
    sensitive: SensitiveMetrics,
    /// `monitor_api_calls_total{role, complete}`: [client, server] × [incomplete, complete].
    api_calls: [[IntCounter; 2]; 2],
    calls_without_socket: IntCounterVec,
    socket_ties: IntCounterVec,
    connections_active: IntGauge,
    connections_closed: IntCounterVec,
    output_dropped: IntCounterVec,
    output_rotations: IntCounterVec,
    output_rotation_failures: IntCounterVec,
    output_oversize_lines: IntCounterVec,
    calls_by_destination: Destinations,
    workloads: Workloads,
    alerts: IntCounterVec,
    alerts_suppressed: IntCounterVec,
    credentials: IntCounterVec,
    body_decoding: IntCounterVec,
    body_scan_cut: IntCounter,
    policy_reloads: IntCounterVec,
    rate_keys: IntGauge,
    coverage: prometheus::IntGaugeVec,
    rate_keys_evicted: IntGauge,
    inventory_evicted: IntGauge,
    api_inventory_entries: IntGauge,
    api_inventory_evictions: IntCounter,
    api_inventory_writes: IntCounterVec,
    probed_files: IntGauge,
    probe_detaches: IntCounter,
}

/// Distinct destination hosts given their own label value; the rest share `other`, so that a
/// workload calling random hosts cannot blow up the label set.
pub const MAX_DESTINATION_LABELS: usize = 200;

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("static metric definitions are valid");
    registry
        .register(Box::new(gauge.clone()))
        .expect("metric names are unique");
    gauge
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("static metric definitions are valid");
    registry
        .register(Box::new(counter.clone()))
        .expect("metric names are unique");
    counter
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .expect("static metric definitions are valid");
    registry
        .register(Box::new(vec.clone()))
        .expect("metric names are unique");
    vec
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // The monitor's own CPU, memory, threads and file descriptors (`process_*`), read from
        // /proc/self at each scrape: what a dashboard shows of its cost on each node.
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("the process collector registers once");
        Self {
            ready: gauge(
                &registry,
                "monitor_ready",
                "1 once every probe is attached and the monitor reports calls (what /readyz answers), 0 before.",
            ),
            record_bytes: counter(
                &registry,
                "monitor_capture_record_bytes_total",
                "Bytes read from the kernel ring buffer.",
            ),
            reader_wakeups: counter_vec(
                &registry,
                "monitor_capture_reader_wakeups_total",
                "Times the ring-buffer reader ran, by cause (kernel: woken by a record; timer: its poll while records flow).",
                &["cause"],
            ),
            connections_active: gauge(
                &registry,
                "monitor_connections_active",
                "Connections whose streams are being tracked.",
            ),
            output_dropped: counter_vec(
                &registry,
                "monitor_output_dropped_total",
                "Events dropped because an output sink could not keep up or failed, by sink.",
                &["sink"],
            ),
            output_rotations: counter_vec(
                &registry,
                "monitor_output_rotations_total",
                "Times a sink's file reached its maximum size and was rotated, by sink.",
                &["sink"],
            ),
            output_rotation_failures: counter_vec(
                &registry,
                "monitor_output_rotation_failures_total",
                "Rotations that failed, by sink (the sink kept appending to its current file: nothing lost).",
                &["sink"],
            ),
            output_oversize_lines: counter_vec(
                &registry,
                "monitor_output_oversize_lines_total",
                "Lines longer than a sink file's maximum size, written alone to a fresh file, by sink.",
                &["sink"],
            ),
            calls_by_destination: Destinations::new(
                counter_vec(
                    &registry,
                    "monitor_api_calls_by_destination_total",
                    "API calls by destination host (the first 200 distinct hosts, then \"other\"), method, status class and TLS.",
                    &["host", "method", "status_class", "tls"],
                ),
                MAX_DESTINATION_LABELS,
            ),
            workloads: Workloads::new(
                counter_vec(
                    &registry,
                    "monitor_api_calls_by_workload_total",
                    "API calls by workload (Kubernetes namespace/Kind/owner, else the executable's name and short container id; the first 200, then \"other\") and role (client: calls made, server: calls served).",
                    &["workload", "role"],
                ),
                {
                    let vec = prometheus::HistogramVec::new(
                        prometheus::HistogramOpts::new(
                            "monitor_api_call_duration_seconds",
                            "API call latency, from the request's first byte to the response's last, by destination host (the first 200, then \"other\") and role.",
                        )
                        .buckets(workloads::DURATION_BUCKETS.to_vec()),
                        &["host", "role"],
                    )
                    .expect("static metric definitions are valid");
                    registry
                        .register(Box::new(vec.clone()))
                        .expect("metric names are unique");
                    vec
                },
                MAX_DESTINATION_LABELS,
            ),
            alerts: counter_vec(
                &registry,
                "monitor_alerts_total",
                "Alerts raised, by rule and severity (a summary alert adds the repeats it covers).",
                &["rule", "severity"],
            ),
            alerts_suppressed: counter_vec(
                &registry,
                "monitor_alerts_suppressed_total",
                "Repeated alerts held back inside their suppression window, by rule.",
                &["rule"],
            ),
            credentials: counter_vec(
                &registry,
                "monitor_credentials_seen_total",
                "Credentials seen in requests, by kind (never the credential).",
                &["kind"],
            ),
            body_decoding: counter_vec(
                &registry,
                "monitor_body_decoding_total",
                "Request bodies with a Content-Encoding, by encoding and result (decoded, cut: a \
                 bound on output or ratio stopped it, failed, unsupported: scanned as sent).",
                &["encoding", "result"],
            ),
            body_scan_cut: counter(
                &registry,
                "monitor_body_scan_cut_total",
                "Request bodies longer than the scan budget (--body-scan-bytes): only their first \
                 bytes were scanned for credentials.",
            ),
            policy_reloads: counter_vec(
                &registry,
                "monitor_policy_reloads_total",
                "Policy loads, by result (success, failure: the last good policy stays in force).",
                &["result"],
            ),
            coverage: {
                let vec = prometheus::IntGaugeVec::new(
                    Opts::new(
                        "monitor_coverage_processes",
                        "Processes with TCP connections, by TLS stack and whether the monitor reads it (see `monitor coverage`).",
                    ),
                    &["stack", "state"],
                )
                .expect("static metric definitions are valid");
                registry
                    .register(Box::new(vec.clone()))
                    .expect("metric names are unique");
                vec
            },
            rate_keys: gauge(
                &registry,
                "monitor_rate_limit_keys",
                "Rate-limit buckets currently tracked.",
            ),
            rate_keys_evicted: gauge(
                &registry,
                "monitor_rate_limit_keys_evicted",
                "Rate-limit buckets evicted because the table was full (running total).",
            ),
            inventory_evicted: gauge(
                &registry,
                "monitor_inventory_evicted",
                "Workload/destination pairs forgotten because the inventory was full (running total).",
            ),
            api_inventory_entries: gauge(
                &registry,
                "monitor_inventory_entries",
                "Endpoints in the API inventory (direction, workload, host, method, path template).",
            ),
            api_inventory_evictions: counter(
                &registry,
                "monitor_inventory_evictions_total",
                "Endpoints forgotten by the API inventory because it was full (least recently seen first).",
            ),
            api_inventory_writes: counter_vec(
                &registry,
                "monitor_inventory_file_writes_total",
                "Writes of the API inventory file (--inventory-file), by result (success, failure).",
                &["result"],
            ),
            probed_files: gauge(
                &registry,
                "monitor_tls_probed_files",
                "Binary and library files (by inode) with TLS probes attached now.",
            ),
            probe_detaches: counter(
                &registry,
                "monitor_tls_probe_detaches_total",
                "Files whose TLS probes were detached because nothing used them any more.",
            ),
            records: StaticLabels::new(
                counter_vec(
                    &registry,
                    "monitor_capture_records_total",
                    "Records read from the kernel ring buffer, by kind.",
                    &["kind"],
                ),
                RECORD_KINDS,
            ),
            decode_errors: counter_vec(
                &registry,
                "monitor_capture_decode_errors_total",
                "Ring-buffer records that could not be decoded, by reason.",
                &["reason"],
            ),
            kernel: counter_vec(
                &registry,
                "monitor_kernel_loss_total",
                "Data the kernel programs lost or cut, by counter (ring_full_records, truncated_bytes, ...).",
                &["counter"],
            ),
            stream_gaps: counter_vec(
                &registry,
                "monitor_stream_gap_bytes_total",
                "Bytes missing from connection streams, by cause (truncated: over the per-call cap; lost: ring buffer full).",
                &["cause"],
            ),
            http2: Http2Metrics::new(&registry),
            inspect: InspectMetrics::new(&registry),
            kubernetes: KubernetesMetrics::new(&registry),
            delivery: DeliveryMetrics::new(&registry),
            sensitive: SensitiveMetrics::new(&registry),
            http_problems: counter_vec(
                &registry,
                "monitor_http_problems_total",
                "Protocol parse failures, losses and give-ups, by protocol (http1, http2) and problem.",
                &["protocol", "problem"],
            ),
            api_calls: {
                let vec = counter_vec(
                    &registry,
                    "monitor_api_calls_total",
                    "API calls reported, by role and whether request and response were both seen whole.",
                    &["role", "complete"],
                );
                ["client", "server"].map(|role| {
                    ["false", "true"].map(|complete| vec.with_label_values(&[role, complete]))
                })
            },
            calls_without_socket: counter_vec(
                &registry,
                "monitor_api_calls_without_socket_total",
                "API calls reported with neither end's address (local and remote null): their TCP connection is unknown, by TLS library (\"none\" for plaintext).",
                &["tls_library"],
            ),
            socket_ties: counter_vec(
                &registry,
                "monitor_tls_socket_ties_total",
                "TLS calls emitted before their socket was known (memory BIOs, as in node) and held for the tie: tied (the tie came and the held records got the socket), late (a tie for records already passed on), not_found (none came in time: they went on without a socket).",
                &["outcome"],
            ),
            connections_closed: counter_vec(
                &registry,
                "monitor_connections_closed_total",
                "Connections whose state was freed, by reason (closed, process_exit, idle, evicted, moved: a TLS handle was reused on another TCP connection, shutdown).",
                &["reason"],
            ),
            registry,
        }
    }

    pub fn set_ready(&self) {
        self.ready.set(1);
    }
    pub fn capture_record(&self, bytes: usize) {
        self.record_bytes.inc_by(bytes as u64);
    }
    pub fn reader_wakeup(&self, cause: &'static str) {
        self.reader_wakeups.with_label_values(&[cause]).inc();
    }
    pub fn record_kind(&self, kind: &'static str) {
        self.records.inc(kind);
    }
    pub fn decode_error(&self, reason: &'static str) {
        self.decode_errors.with_label_values(&[reason]).inc();
    }
    /// Sets a kernel counter to its current total (the kernel keeps the running sum).
    pub fn kernel_counter(&self, name: &'static str, total: u64) {
        let counter = self.kernel.with_label_values(&[name]);
        let delta = total.saturating_sub(counter.get());
        counter.inc_by(delta);
    }
    pub fn stream_gap(&self, cause: &'static str, bytes: u64) {
        self.stream_gaps.with_label_values(&[cause]).inc_by(bytes);
    }
    pub fn http2_stat(&self, stat: crate::protocols::http2::Stat) {
        self.http2.count(stat);
    }
    pub fn protocol_problem(&self, protocol: &'static str, problem: &'static str) {
        self.http_problems
            .with_label_values(&[protocol, problem])
            .inc();
    }
    pub fn api_call(&self, role: crate::protocols::Role, complete: bool) {
        let role = usize::from(role == crate::protocols::Role::Server);
        self.api_calls[role][usize::from(complete)].inc();
    }
    /// An API call about to be reported: counted when it has neither address.
    pub fn api_call_without_socket(&self, call: &crate::calls::ApiCall) {
        if call.local.is_none() && call.remote.is_none() {
            let library = call
                .tls_library
                .as_ref()
                .map_or("none", |l| l.name.as_str());
            self.calls_without_socket
                .with_label_values(&[library])
                .inc();
        }
    }
    /// What became of TLS calls held for their socket tie (see `capture::tie`).
    pub fn socket_tie(&self, outcome: &'static str, by: u64) {
        self.socket_ties.with_label_values(&[outcome]).inc_by(by);
    }
    pub fn set_connections_active(&self, n: usize) {
        self.connections_active.set(n as i64);
    }
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed.with_label_values(&[reason]).inc();
    }
    pub fn output_dropped(&self, sink: &str) {
        self.output_dropped.with_label_values(&[sink]).inc();
    }
    pub fn output_dropped_many(&self, sink: &str, events: u64) {
        self.output_dropped
            .with_label_values(&[sink])
            .inc_by(events);
    }

    /// A network sink's delivery counters (sent, failed, retries, dropped), resolved once.
    pub fn sink_counters(&self, sink: &str) -> SinkCounters {
        self.delivery
            .sink(sink, self.output_dropped.with_label_values(&[sink]))
    }
    pub fn output_rotation(&self, sink: &'static str) {
        self.output_rotations.with_label_values(&[sink]).inc();
    }
    pub fn output_rotation_failure(&self, sink: &'static str) {
        self.output_rotation_failures
            .with_label_values(&[sink])
            .inc();
    }
    pub fn output_oversize_line(&self, sink: &'static str) {
        self.output_oversize_lines.with_label_values(&[sink]).inc();
    }

    pub fn api_call_destination(&self, host: &str, method: &str, status: Option<u16>, tls: bool) {
        self.calls_by_destination.inc(host, method, status, tls);
    }

    /// The call by workload, and its latency by destination host.
    pub fn api_call_workload(&self, call: &crate::calls::ApiCall, host: &str) {
        self.workloads.observe(call, host);
    }

    /// Replaces the coverage gauges with a new survey's counts.
    pub fn set_coverage(&self, counts: &[((String, &'static str), i64)]) {
        self.coverage.reset();
        for ((stack, state), n) in counts {
            self.coverage
                .with_label_values(&[stack.as_str(), state])
                .set(*n);
        }
    }

    pub fn alert(&self, rule: &str, severity: &'static str, count: u64) {
        self.alerts
            .with_label_values(&[rule, severity])
            .inc_by(count);
    }
    pub fn alert_merged(&self, rule: &str) {
        self.inspect.merged(rule);
    }
    pub fn k8s_set_pods(&self, pods: usize) {
        self.kubernetes.set_pods(pods);
    }

    pub fn k8s_set_synced(&self, synced: bool) {
        self.kubernetes.set_synced(synced);
    }

    /// `kind`: a pod watch event type (a fixed set).
    pub fn k8s_watch_event(&self, kind: &str) {
        self.kubernetes.event(kind);
    }

    /// `kind`: a pod watch failure kind (a fixed set).
    pub fn k8s_watch_error(&self, kind: &str) {
        self.kubernetes.error(kind);
    }

    /// `result`: `found`, `unknown_pod` or `unknown_container`.
    pub fn k8s_pod_lookup(&self, result: &'static str) {
        self.kubernetes.lookup(result);
    }

    /// A pod with this many labels was applied.
    pub fn k8s_labels_omitted(&self, labels: usize) {
        self.kubernetes.labels(labels);
    }

    pub fn inspect_state(&self, state: &InspectState) {
        self.inspect.set(state);
    }
    pub fn alert_suppressed(&self, rule: &str) {
        self.alerts_suppressed.with_label_values(&[rule]).inc();
    }
    /// Sensitive values found in one part of one call (`monitor_sensitive_fields_total`).
    pub fn sensitive_fields(&self, count: &SensitiveCount<'_>) {
        self.sensitive.fields(count);
    }
    /// Sensitive-data scanning cut short (`reason`: bytes, candidates, findings).
    pub fn sensitive_scan_cut(&self, reason: &'static str, by: u64) {
        self.sensitive.cut(reason, by);
    }
    pub fn credential_seen(&self, kind: &'static str) {
        self.credentials.with_label_values(&[kind]).inc();
    }
    pub fn body_scan_cut(&self) {
        self.body_scan_cut.inc();
    }
    pub fn body_decoded(&self, encoding: &'static str, result: &'static str) {
        self.body_decoding
            .with_label_values(&[encoding, result])
            .inc();
    }
    pub fn set_probed_files(&self, files: usize) {
        self.probed_files.set(files as i64);
    }
    pub fn probes_detached(&self, files: usize) {
        self.probe_detaches.inc_by(files as u64);
    }
    pub fn policy_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.policy_reloads.with_label_values(&[result]).inc();
    }
    pub fn rate_state(&self, keys: usize, evicted: u64, inventory_evicted: u64) {
        self.rate_keys.set(keys as i64);
        self.rate_keys_evicted
            .set(i64::try_from(evicted).unwrap_or(i64::MAX));
        self.inventory_evicted
            .set(i64::try_from(inventory_evicted).unwrap_or(i64::MAX));
    }

    /// The API inventory's size and its running total of evictions (as published).
    pub fn api_inventory_state(&self, entries: usize, evicted_total: u64) {
        self.api_inventory_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        // The inventory keeps the running total: add what is new since the last call.
        let delta = evicted_total.saturating_sub(self.api_inventory_evictions.get());
        self.api_inventory_evictions.inc_by(delta);
    }
    pub fn inventory_file_write(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.api_inventory_writes.with_label_values(&[result]).inc();
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

mod server;

pub use server::{Readiness, serve};

#[cfg(test)]
mod tests {
    use super::*;

    fn value(metrics: &Metrics, name: &str) -> Option<String> {
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .map(|l| l[name.len() + 1..].to_owned())
    }

    #[test]
    fn api_inventory_state_follows_the_running_total() {
        let metrics = Metrics::new();
        metrics.api_inventory_state(10, 3);
        metrics.api_inventory_state(7, 5);
        // A stale (smaller) total never takes the counter back.
        metrics.api_inventory_state(7, 4);
        assert_eq!(
            value(&metrics, "monitor_inventory_entries").as_deref(),
            Some("7")
        );
        assert_eq!(
            value(&metrics, "monitor_inventory_evictions_total").as_deref(),
            Some("5")
        );
    }
}
