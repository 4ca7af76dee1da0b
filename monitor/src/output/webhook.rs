//! The webhook sink: alerts posted as JSON batches to a receiver of the user's (a chat bridge,
//! a SOAR, a ticketing hook). The body is `{"version": 1, "node": ..., "sent_at": ...,
//! "alerts": [...]}`, each alert exactly as on stdout (`docs/alert-schema.md`).
//!
//! The receiver can trust what it gets: a bearer token (`Authorization`) and/or an HMAC-SHA256
//! signature of `<timestamp>.<body>` (`X-Monitor-Signature: sha256=<hex>`, with
//! `X-Monitor-Timestamp`, so a replayed request can be refused). TLS is verified unless turned
//! off. Delivery never blocks capture: a bounded queue (full: dropped, counted), batches of up
//! to `batch_size` alerts or `batch_wait`, a timeout per request, retries with backoff for
//! failures worth retrying, and a counted drop of the batch when they are exhausted.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tracing::{error, info, warn};

use super::{
    Sink,
    http::{self, Backoff, HttpSettings, SetupError},
    json_line,
    worker::QueuedWorker,
};
use crate::{metrics::SinkCounters, pipeline::Output};

/// Header names a receiver checks.
const SIGNATURE_HEADER: &str = "X-Monitor-Signature";
const TIMESTAMP_HEADER: &str = "X-Monitor-Timestamp";

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookSettings {
    /// Counter label (`webhook`, `webhook_2`... unless configured).
    pub name: String,
    pub url: String,
    pub http: HttpSettings,
    /// Alerts per request at most.
    pub batch_size: usize,
    /// How long the first alert of a batch waits for others.
    pub batch_wait: Duration,
    /// Attempts after the first, for a failure worth retrying (no answer, 408, 429, 5xx).
    pub max_retries: u32,
    pub bearer_token_file: Option<std::path::PathBuf>,
    pub hmac_key_file: Option<std::path::PathBuf>,
    pub node: String,
    /// Alerts queued between the pipeline and the worker.
    pub queue: usize,
}

pub struct WebhookSink {
    name: String,
    worker: QueuedWorker<String>,
    closing: Arc<AtomicBool>,
    counters: SinkCounters,
}

impl WebhookSink {
    pub fn start(settings: WebhookSettings, counters: SinkCounters) -> Result<Self, SetupError> {
        http::check_url(&settings.url)?;
        let agent = http::agent(&settings.http)?;
        let bearer = settings
            .bearer_token_file
            .as_deref()
            .map(|path| http::read_secret("the bearer token", path))
            .transpose()?
            .map(|token| format!("Bearer {}", String::from_utf8_lossy(&token)));
        let hmac_key = settings
            .hmac_key_file
            .as_deref()
            .map(|path| http::read_secret("the HMAC key", path))
            .transpose()?;
        let closing = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            agent,
            shown: http::redacted_url(&settings.url),
            url: settings.url,
            bearer,
            hmac_key,
            node: settings.node,
            batch_size: settings.batch_size.max(1),
            batch_wait: settings.batch_wait,
            max_retries: settings.max_retries,
            closing: closing.clone(),
            counters: counters.clone(),
            failing: false,
        };
        let worker = QueuedWorker::spawn(&settings.name, settings.queue, move |alerts| {
            worker.run(alerts)
        });
        Ok(Self {
            name: settings.name,
            worker,
            closing,
            counters,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, output: &Output) {
        let Output::Alert(alert) = output else {
            return;
        };
        match json_line(alert) {
            Ok(line) => {
                if !self.worker.offer(line) {
                    self.counters.dropped.inc();
                }
            }
            Err(e) => {
                error!(error = %e, "cannot serialise an alert");
                self.counters.dropped.inc();
            }
        }
    }

    fn close(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        self.worker.close();
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // Stop retrying before the worker is joined (by `QueuedWorker`'s own drop).
        self.closing.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    agent: ureq::Agent,
    url: String,
    shown: String,
    bearer: Option<String>,
    hmac_key: Option<Vec<u8>>,
    node: String,
    batch_size: usize,
    batch_wait: Duration,
    max_retries: u32,
    closing: Arc<AtomicBool>,
    counters: SinkCounters,
    /// The last delivery failed for good: at shutdown, what is queued is dropped (counted)
    /// rather than waiting a timeout per batch on a receiver that is down.
    failing: bool,
}

impl Worker {
    fn run(mut self, alerts: mpsc::Receiver<String>) {
        while let Ok(first) = alerts.recv() {
            let mut batch = vec![first];
            let deadline = Instant::now() + self.batch_wait;
            while batch.len() < self.batch_size && !self.closing.load(Ordering::Relaxed) {
                let left = deadline.saturating_duration_since(Instant::now());
                match alerts.recv_timeout(left) {
                    Ok(alert) => batch.push(alert),
                    Err(_) => break,
                }
            }
            self.deliver(&batch);
        }
    }

    /// Posts one batch, retrying what is worth retrying; counts it sent or dropped.
    fn deliver(&mut self, batch: &[String]) {
        let count = batch.len() as u64;
        if self.failing && self.closing.load(Ordering::Relaxed) {
            self.counters.dropped.inc_by(count);
            return;
        }
        let body = self.body(batch);
        let mut backoff = Backoff::default();
        let mut attempt = 0;
        let outcome = loop {
            let result = http::post_json(&self.agent, &self.url, &self.headers(&body), &body);
            match result {
                Ok(()) => break Ok(()),
                Err(e) => {
                    self.counters.failed.inc();
                    let give_up = !e.retryable()
                        || attempt >= self.max_retries
                        || self.closing.load(Ordering::Relaxed);
                    if give_up {
                        break Err(e);
                    }
                    if !self.failing && attempt == 0 {
                        warn!(webhook = %self.shown, error = %e, "cannot post alerts; retrying with backoff");
                    }
                    if !self.sleep(backoff.next_delay()) {
                        break Err(e);
                    }
                    attempt += 1;
                    self.counters.retries.inc();
                }
            }
        };
        match outcome {
            Ok(()) => {
                if self.failing {
                    info!(webhook = %self.shown, "webhook receiver reachable again");
                }
                self.failing = false;
                self.counters.sent.inc_by(count);
            }
            Err(e) => {
                if !self.failing {
                    error!(webhook = %self.shown, error = %e, alerts = count, retries = attempt, "alerts dropped: the webhook receiver did not take them");
                }
                self.failing = e.retryable();
                self.counters.dropped.inc_by(count);
            }
        }
    }

    /// Sleeps `delay` unless the sink is closing; false when it is.
    fn sleep(&self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if self.closing.load(Ordering::Relaxed) {
                return false;
            }
            thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
        }
        !self.closing.load(Ordering::Relaxed)
    }

    /// The batch document; alerts are already JSON, so they are joined, not re-serialised.
    fn body(&self, batch: &[String]) -> Vec<u8> {
        let node = serde_json::to_string(&self.node).unwrap_or_else(|_| "\"\"".into());
        let sent_at = crate::time::format_system_time(SystemTime::now());
        let mut body = Vec::with_capacity(batch.iter().map(|a| a.len() + 1).sum::<usize>() + 96);
        body.extend_from_slice(b"{\"version\":1,\"node\":");
        body.extend_from_slice(node.as_bytes());
        body.extend_from_slice(b",\"sent_at\":\"");
        body.extend_from_slice(sent_at.as_bytes());
        body.extend_from_slice(b"\",\"alerts\":[");
        for (i, alert) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(alert.as_bytes());
        }
        body.extend_from_slice(b"]}");
        body
    }

    fn headers(&self, body: &[u8]) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(3);
        if let Some(bearer) = &self.bearer {
            headers.push(("Authorization", bearer.clone()));
        }
        if let Some(key) = &self.hmac_key {
            let timestamp = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .to_string();
            headers.push((SIGNATURE_HEADER, sign(key, &timestamp, body)));
            headers.push((TIMESTAMP_HEADER, timestamp));
        }
        headers
    }
}

/// `sha256=<hex of HMAC-SHA256(key, "<timestamp>.<body>")>`: what a receiver recomputes.
fn sign(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{alerts::Alert, metrics::Metrics, output::WebhookConfig, policy::Severity};

    /// A receiver that accepts and never answers: `send` returns at once, overflow is counted,
    /// and `close` stops retrying instead of waiting out the backoff.
    #[test]
    fn a_hung_receiver_costs_counted_drops_not_a_blocked_sender() {
        let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let metrics = Metrics::new();
        let counters = metrics.sink_counters("hook_test");
        let mut config = WebhookConfig::new(format!("http://{}/x", hung.local_addr().unwrap()));
        config.timeout = Duration::from_millis(300);
        config.queue = 4;
        config.batch_size = 2;
        config.batch_wait = Duration::from_millis(10);
        let settings = config.settings("hook_test".into(), "n");
        let mut sink = WebhookSink::start(settings, counters.clone()).unwrap();
        for i in 0..200 {
            let alert = Alert::example(&format!("rule.{i}"), Severity::High);
            sink.send(&Output::Alert(alert));
        }
        assert!(
            counters.dropped.get() >= 150,
            "dropped {}",
            counters.dropped.get()
        );
        let closing = Instant::now();
        sink.close();
        // Bounded by one request's timeout (and a batch or two), not by 5 retries' backoff.
        assert!(
            closing.elapsed() < Duration::from_secs(5),
            "{:?}",
            closing.elapsed()
        );
        assert_eq!(counters.sent.get(), 0);
        // Every alert is accounted for: none sent, so all of them dropped.
        assert_eq!(counters.dropped.get(), 200);
    }

    /// What is queued when the sink closes is delivered, not lost: the batch that was still
    /// gathering goes out at once, in order.
    #[test]
    fn closing_delivers_what_is_queued() {
        let (url, received) = crate::output::test_receiver::start();
        let metrics = Metrics::new();
        let counters = metrics.sink_counters("hook_test");
        let mut config = WebhookConfig::new(format!("{url}/x"));
        config.batch_wait = Duration::from_secs(3600);
        let settings = config.settings("hook_test".into(), "node-1");
        let mut sink = WebhookSink::start(settings, counters.clone()).unwrap();
        for rule in ["rule.a", "rule.b", "rule.c"] {
            sink.send(&Output::Alert(Alert::example(rule, Severity::High)));
        }
        sink.close();
        // One batch, or two when the close came while the first alert was being taken.
        let mut rules = Vec::new();
        for body in received.bodies() {
            let batch: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(batch["version"], 1);
            assert_eq!(batch["node"], "node-1");
            for alert in batch["alerts"].as_array().unwrap() {
                rules.push(alert["rule_id"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(rules, ["rule.a", "rule.b", "rule.c"]);
        assert_eq!(counters.sent.get(), 3);
    }

    /// The expected value is Python's `hmac.new(b"Jefe", b'1700000000.{"alerts":[]}',
    /// hashlib.sha256).hexdigest()`: what a receiver in another language computes.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        assert_eq!(
            sign(b"Jefe", "1700000000", br#"{"alerts":[]}"#),
            "sha256=136f8c44ea568569e59a46c69f445291ba9371b15959d03dc6d930b9205c14fb"
        );
        assert_ne!(sign(b"Jefe", "1", b"a"), sign(b"Jefe", "2", b"a"));
    }
}
