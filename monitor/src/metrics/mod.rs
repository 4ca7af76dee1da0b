//! Every counter the pipeline keeps, in one Prometheus registry. Every way data can be lost, cut or
//! rejected has a counter here ("nothing is lost silently"); label values are fixed sets chosen by
//! the code, never taken from traffic, so label cardinality stays bounded.
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub struct Metrics {
    pub registry: Registry,
    records: IntCounterVec,
    record_bytes: IntCounter,
    decode_errors: IntCounterVec,
    kernel: IntCounterVec,
    stream_gaps: IntCounterVec,
    http_problems: IntCounterVec,
    api_calls: IntCounterVec,
    connections_active: IntGauge,
    connections_closed: IntCounterVec,
    output_dropped: IntCounter,
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
        let record_bytes = IntCounter::new(
            "monitor_capture_record_bytes_total",
            "Bytes read from the kernel ring buffer.",
        )
        .expect("valid");
        registry
            .register(Box::new(record_bytes.clone()))
            .expect("unique");
        let connections_active = IntGauge::new(
            "monitor_connections_active",
            "Connections whose streams are being tracked.",
        )
        .expect("valid");
        registry
            .register(Box::new(connections_active.clone()))
            .expect("unique");
        let output_dropped = IntCounter::new(
            "monitor_output_dropped_total",
            "API-call events dropped because the output sink could not keep up.",
        )
        .expect("valid");
        registry
            .register(Box::new(output_dropped.clone()))
            .expect("unique");
        Self {
            records: counter_vec(
                &registry,
                "monitor_capture_records_total",
                "Records read from the kernel ring buffer, by kind.",
                &["kind"],
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
            http_problems: counter_vec(
                &registry,
                "monitor_http_problems_total",
                "HTTP/1.x parse failures and give-ups, by problem.",
                &["problem"],
            ),
            api_calls: counter_vec(
                &registry,
                "monitor_api_calls_total",
                "API calls reported, by role and whether request and response were both seen whole.",
                &["role", "complete"],
            ),
            connections_closed: counter_vec(
                &registry,
                "monitor_connections_closed_total",
                "Connections whose state was freed, by reason (closed, process_exit, idle, evicted).",
                &["reason"],
            ),
            record_bytes,
            connections_active,
            output_dropped,
            registry,
        }
    }

    pub fn capture_record(&self, bytes: usize) {
        self.record_bytes.inc_by(bytes as u64);
    }
    pub fn record_kind(&self, kind: &'static str) {
        self.records.with_label_values(&[kind]).inc();
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
    pub fn http_problem(&self, problem: &'static str) {
        self.http_problems.with_label_values(&[problem]).inc();
    }
    pub fn api_call(&self, role: &'static str, complete: bool) {
        let complete = if complete { "true" } else { "false" };
        self.api_calls.with_label_values(&[role, complete]).inc();
    }
    pub fn set_connections_active(&self, n: usize) {
        self.connections_active.set(n as i64);
    }
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed.with_label_values(&[reason]).inc();
    }
    pub fn output_dropped(&self) {
        self.output_dropped.inc();
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
