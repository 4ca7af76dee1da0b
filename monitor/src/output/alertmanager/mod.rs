//! The Alertmanager sink: alerts posted to Alertmanager's v2 API (`POST /api/v2/alerts`), to
//! every Alertmanager of a cluster as Prometheus does, so Alertmanager deduplicates, groups,
//! silences and routes them with the rest of the fleet's alerts. No sidecar.
//!
//! The pipeline hands each alert to a bounded queue (full: dropped and counted); a worker thread
//! keeps the firing alerts (`state.rs`), posts changes at once, re-sends every firing alert each
//! resend interval, and resolves an alert that has been quiet for a suppression window. An
//! Alertmanager that is down or slow costs that worker retries with backoff; an alert that ends
//! before any Alertmanager heard of it is counted as dropped.
mod payload;
mod state;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use tracing::{info, warn};

pub use payload::Labels;
use state::{ActiveAlerts, Admitted, PostableAlert};

use super::{
    Sink,
    http::{self, Backoff, HttpSettings, SetupError},
    worker::QueuedWorker,
};
use crate::{alerts::Alert, metrics::SinkCounters, pipeline::Output};

/// Firing alerts tracked at most; more distinct ones at once are dropped (and counted).
const MAX_ACTIVE: usize = 10_000;
/// How long the worker lets a burst of alerts gather before posting it.
const GATHER: Duration = Duration::from_millis(200);

#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerSettings {
    /// Counter label (`alertmanager` unless configured).
    pub name: String,
    /// Base URLs (`http://alertmanager:9093`), one per Alertmanager of the cluster.
    pub urls: Vec<String>,
    pub http: HttpSettings,
    /// Every firing alert is posted again this often (Prometheus: 1 minute).
    pub resend_interval: Duration,
    /// Labels added to every alert (`cluster`, `env`).
    pub labels: Labels,
    /// The node label (the Kubernetes node name, or the host name).
    pub node: String,
    /// Alerts queued between the pipeline and the worker.
    pub queue: usize,
}

struct Target {
    /// `.../api/v2/alerts`.
    endpoint: String,
    /// For logs: scheme, host and port only.
    shown: String,
    /// Has every alert of the table: changes are enough. Otherwise it gets them all.
    synced: bool,
    failures: u32,
    retry_at: Option<Instant>,
    backoff: Backoff,
}

pub struct AlertmanagerSink {
    name: String,
    worker: QueuedWorker<Box<Alert>>,
    window_ns: Arc<AtomicU64>,
    counters: SinkCounters,
}

impl AlertmanagerSink {
    pub fn start(
        settings: AlertmanagerSettings,
        counters: SinkCounters,
    ) -> Result<Self, SetupError> {
        for url in &settings.urls {
            http::check_url(url)?;
        }
        let agent = http::agent(&settings.http)?;
        let targets = settings
            .urls
            .iter()
            .map(|url| Target {
                endpoint: endpoint(url),
                shown: http::redacted_url(url),
                synced: true,
                failures: 0,
                retry_at: None,
                backoff: Backoff::default(),
            })
            .collect();
        let window_ns = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            agent,
            targets,
            active: ActiveAlerts::new(MAX_ACTIVE, Duration::ZERO),
            window_ns: window_ns.clone(),
            counters: counters.clone(),
            resend_interval: settings.resend_interval.max(Duration::from_secs(1)),
            labels: settings.labels,
            node: settings.node,
        };
        let worker = QueuedWorker::spawn(&settings.name, settings.queue, move |alerts| {
            worker.run(alerts)
        });
        Ok(Self {
            name: settings.name,
            worker,
            window_ns,
            counters,
        })
    }
}

impl Sink for AlertmanagerSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, output: &Output) {
        if let Output::Alert(alert) = output
            && !self.worker.offer(Box::new(alert.clone()))
        {
            self.counters.dropped.inc();
        }
    }

    fn set_suppression_window(&mut self, window: Duration) {
        let ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        self.window_ns.store(ns, Ordering::Relaxed);
    }

    fn close(&mut self) {
        self.worker.close();
    }
}

/// `http://am:9093` → `http://am:9093/api/v2/alerts`; a URL that already names the endpoint
/// (behind a path-routing proxy) is kept.
fn endpoint(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with("/api/v2/alerts") {
        base.to_owned()
    } else {
        format!("{base}/api/v2/alerts")
    }
}

struct Worker {
    agent: ureq::Agent,
    targets: Vec<Target>,
    active: ActiveAlerts,
    window_ns: Arc<AtomicU64>,
    counters: SinkCounters,
    resend_interval: Duration,
    labels: Labels,
    node: String,
}

impl Worker {
    fn run(mut self, alerts: mpsc::Receiver<Box<Alert>>) {
        let mut next_resend = Instant::now() + self.resend_interval;
        loop {
            let wait = self.wait(next_resend);
            match alerts.recv_timeout(wait) {
                Ok(alert) => {
                    self.admit(&alert);
                    // Let a burst gather: one post for it, not one per alert.
                    thread::sleep(GATHER);
                    for alert in alerts.try_iter() {
                        self.admit(&alert);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Shutdown: what changed goes out once (each post bounded by the timeout);
                    // firing alerts keep their `endsAt`, a restart does not resolve them.
                    for alert in alerts.try_iter() {
                        self.admit(&alert);
                    }
                    self.round(false, true);
                    return;
                }
            }
            let resend = Instant::now() >= next_resend;
            self.round(resend, false);
            if resend {
                next_resend = Instant::now() + self.resend_interval;
            }
        }
    }

    /// How long to wait for alerts before there is something else to do: a re-send, an alert
    /// ending, a retry.
    fn wait(&self, next_resend: Instant) -> Duration {
        let now = Instant::now();
        let mut until = next_resend;
        if let Some(end) = self.active.next_end(SystemTime::now()) {
            let to_end = end
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            until = until.min(now + to_end);
        }
        for target in self.targets.iter().filter(|t| !t.synced) {
            if let Some(retry_at) = target.retry_at {
                until = until.min(retry_at);
            }
        }
        until
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    fn admit(&mut self, alert: &Alert) {
        self.active
            .set_window(Duration::from_nanos(self.window_ns.load(Ordering::Relaxed)));
        let labels = payload::labels(alert, &self.node, &self.labels);
        let admitted = self.active.admit(
            labels,
            |occurrences| payload::annotations(alert, occurrences),
            alert.count.max(1),
            SystemTime::now(),
        );
        if admitted == Admitted::Full {
            self.counters.dropped.inc();
        }
    }

    /// Posts what each Alertmanager needs: the changes, or everything to one that missed a
    /// round (and to all on a re-send). `last`: shutdown, one attempt and no backoff wait.
    fn round(&mut self, resend: bool, last: bool) {
        let now = SystemTime::now();
        let needed =
            resend || self.active.has_changes(now) || self.targets.iter().any(|t| !t.synced);
        if !needed {
            return;
        }
        let round = self.active.round(now);
        let mut delivered = false;
        for target in &mut self.targets {
            let batch: &[PostableAlert] = if resend || !target.synced {
                &round.all
            } else {
                &round.changed
            };
            if batch.is_empty() {
                target.synced = true;
                continue;
            }
            if !last && target.retry_at.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            delivered |= post(&self.agent, target, batch, &self.counters);
        }
        let lost = self.active.finish_round(now, delivered);
        self.counters.dropped.inc_by(lost);
    }
}

/// One post to one Alertmanager; true when it took the batch.
fn post(
    agent: &ureq::Agent,
    target: &mut Target,
    batch: &[PostableAlert],
    counters: &SinkCounters,
) -> bool {
    let body = match serde_json::to_vec(batch) {
        Ok(body) => body,
        Err(e) => {
            warn!(error = %e, "cannot serialise alerts for Alertmanager");
            counters.dropped.inc_by(batch.len() as u64);
            return false;
        }
    };
    if target.failures > 0 {
        counters.retries.inc();
    }
    match http::post_json(agent, &target.endpoint, &[], &body) {
        Ok(()) => {
            if target.failures > 0 {
                info!(alertmanager = %target.shown, after_failures = target.failures, "Alertmanager reachable again");
            }
            counters.sent.inc_by(batch.len() as u64);
            target.synced = true;
            target.failures = 0;
            target.retry_at = None;
            target.backoff.reset();
            true
        }
        Err(e) => {
            counters.failed.inc();
            if target.failures == 0 {
                warn!(alertmanager = %target.shown, error = %e, "cannot post alerts to Alertmanager; retrying with backoff");
            }
            target.synced = false;
            target.failures += 1;
            target.retry_at = Some(Instant::now() + target.backoff.next_delay());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{metrics::Metrics, output::AlertmanagerConfig, policy::Severity};

    /// An Alertmanager that accepts connections and never answers: `send` still returns at
    /// once, what the queue cannot hold is counted as dropped, and `close` is bounded by the
    /// timeout.
    #[test]
    fn a_hung_alertmanager_costs_counted_drops_not_a_blocked_sender() {
        let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let metrics = Metrics::new();
        let counters = metrics.sink_counters("am_test");
        let mut config =
            AlertmanagerConfig::new(vec![format!("http://{}", hung.local_addr().unwrap())]);
        config.timeout = Duration::from_millis(300);
        config.queue = 4;
        let mut sink =
            AlertmanagerSink::start(config.settings("am_test".into(), "n"), counters.clone())
                .unwrap();
        for i in 0..200 {
            let alert = Alert::example(&format!("rule.{i}"), Severity::High);
            sink.send(&Output::Alert(alert));
        }
        assert!(
            counters.dropped.get() >= 150,
            "dropped {}",
            counters.dropped.get()
        );
        sink.close();
        assert!(counters.failed.get() >= 1);
        assert_eq!(counters.sent.get(), 0);
    }

    fn settings(url: String, resend_interval: Duration) -> AlertmanagerSettings {
        let mut config = AlertmanagerConfig::new(vec![url]);
        config.resend_interval = resend_interval;
        config.settings("am_test".into(), "n")
    }

    /// Alerts of one label set, as posted: (alertname, occurrences) per alert of each post.
    fn posts(received: &crate::output::test_receiver::Received) -> Vec<Vec<(String, String)>> {
        received
            .bodies()
            .iter()
            .map(|body| {
                let alerts: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
                alerts
                    .iter()
                    .map(|a| {
                        (
                            a["labels"]["alertname"].as_str().unwrap().to_owned(),
                            a["annotations"]["occurrences"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// A firing alert is posted at once, then again each resend interval while it fires, as
    /// Alertmanager expects; a repeat updates it in place.
    #[test]
    fn a_firing_alert_is_posted_at_once_and_resent() {
        let (url, received) = crate::output::test_receiver::start();
        let metrics = Metrics::new();
        let counters = metrics.sink_counters("am_test");
        let mut sink =
            AlertmanagerSink::start(settings(url, Duration::from_secs(1)), counters.clone())
                .unwrap();
        sink.set_suppression_window(Duration::from_secs(60));
        sink.send(&Output::Alert(Alert::example("rule.a", Severity::High)));
        let deadline = Instant::now() + Duration::from_secs(10);
        while posts(&received).len() < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        let mut repeat = Alert::example("rule.a", Severity::High);
        repeat.count = 4;
        sink.send(&Output::Alert(repeat));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !posts(&received)
            .iter()
            .any(|p| p.contains(&("rule.a".to_owned(), "5".to_owned())))
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(50));
        }
        sink.close();
        let posts = posts(&received);
        let first = ("rule.a".to_owned(), "1".to_owned());
        assert!(posts.len() >= 3, "{posts:?}");
        assert!(
            posts[..3].iter().all(|p| p == std::slice::from_ref(&first)),
            "{posts:?}"
        );
        assert!(
            posts
                .iter()
                .any(|p| p == &[("rule.a".to_owned(), "5".to_owned())]),
            "the repeat updates the one alert: {posts:?}"
        );
        assert_eq!(counters.dropped.get(), 0);
        assert_eq!(counters.failed.get(), 0);
    }

    #[test]
    fn the_v2_endpoint_is_added_to_a_base_url_once() {
        assert_eq!(endpoint("http://am:9093"), "http://am:9093/api/v2/alerts");
        assert_eq!(endpoint("http://am:9093/"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            endpoint("https://proxy/am/api/v2/alerts"),
            "https://proxy/am/api/v2/alerts"
        );
    }
}
