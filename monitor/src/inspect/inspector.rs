//! The inspector: state that outlives one call (rate buckets, the destination inventory,
//! suppression windows) and the policy in force.
use std::{net::IpAddr, sync::Arc};

use thiserror::Error;

use super::split_host_port;
use crate::{
    alerts::{
        Alert, AlertDestination, AlertRequest, AlertWorkload, Evidence, RateEvidence, Suppressor,
    },
    calls::ApiCall,
    credentials::{Detector, DetectorError, DetectorSettings, Finding, Fingerprinter},
    metrics::Metrics,
    policy::{CallView, Destination, Policy, Severity, Workload, rule_ids},
    rates::{Decision, Inventory, RateKey, RateLimit, RateLimiter, path_template},
    streams::ConnectionExchange,
    time::WallClock,
};

/// Rate-limit keys and inventory pairs kept at most; beyond, the least recent are evicted
/// (counted in metrics).
const MAX_RATE_KEYS: usize = 100_000;
const MAX_INVENTORY: usize = 100_000;
/// Open suppression windows kept at most.
const MAX_SUPPRESSION_ENTRIES: usize = 10_000;

#[derive(Debug, Error)]
pub enum InspectError {
    #[error("cannot build the credential detectors for this policy")]
    Detector(#[source] DetectorError),
}

/// Stands for a method or path an HTTP/2 capture could not know (in alerts and policy views).
const UNKNOWN_FIELD: &str = "<unknown>";

pub struct Inspector {
    policy: Arc<Policy>,
    detector: Detector,
    key: Vec<u8>,
    limiter: RateLimiter,
    inventory: Inventory,
    suppressor: Suppressor,
    sequence: u64,
    clock: WallClock,
    metrics: Arc<Metrics>,
}

fn detector_for(policy: &Policy, key: &[u8]) -> Result<Detector, InspectError> {
    let settings = &policy.settings().detector;
    Detector::new(
        &DetectorSettings {
            extra_api_key_headers: settings.extra_api_key_headers.clone(),
            extra_query_parameters: settings.extra_query_parameters.clone(),
        },
        Fingerprinter::new(key),
    )
    .map_err(InspectError::Detector)
}

/// `90s` → "1m30s"-style text for summaries.
fn humanize(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, 0) => format!("{}ms", duration.as_millis()),
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

fn window_ns(policy: &Policy) -> u64 {
    u64::try_from(policy.settings().suppression_window.as_nanos()).unwrap_or(u64::MAX)
}

impl Inspector {
    pub fn new(
        policy: Policy,
        fingerprint_key: Vec<u8>,
        clock: WallClock,
        metrics: Arc<Metrics>,
    ) -> Result<Self, InspectError> {
        let detector = detector_for(&policy, &fingerprint_key)?;
        Ok(Self {
            suppressor: Suppressor::new(window_ns(&policy), MAX_SUPPRESSION_ENTRIES),
            policy: Arc::new(policy),
            detector,
            key: fingerprint_key,
            limiter: RateLimiter::new(MAX_RATE_KEYS),
            inventory: Inventory::new(MAX_INVENTORY),
            sequence: 0,
            clock,
            metrics,
        })
    }

    /// Puts a new policy in force. Rate buckets, the inventory and open suppression windows are
    /// kept: a reload must not re-alert on every known destination.
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), InspectError> {
        self.detector = detector_for(&policy, &self.key)?;
        self.suppressor.set_window(window_ns(&policy));
        self.policy = Arc::new(policy);
        Ok(())
    }

    pub fn inspect(&mut self, item: &ConnectionExchange, call: &ApiCall, out: &mut Vec<Alert>) {
        let before = out.len();
        let request = &item.exchange.request;
        let start_ns = request.stats.start_ns;
        let unix_secs = self.clock.unix_secs(start_ns);
        let findings = self
            .detector
            .scan(crate::protocols::RequestView::of(request), unix_secs);
        for finding in &findings {
            self.metrics.credential_seen(finding.kind.as_str());
        }

        let (host, port) = match call.host.as_deref() {
            Some(authority) => {
                let (host, port) = split_host_port(authority);
                (Some(host), port)
            }
            None => (None, None),
        };
        let tls = call.tls;
        // The socket's address on the destination side: the peer for a client, our own end for
        // a server. Without it, a literal IP in the Host header stands in.
        let endpoint = match call.role {
            crate::protocols::Role::Client => call.remote.as_ref(),
            crate::protocols::Role::Server => call.local.as_ref(),
        };
        let port = endpoint
            .map(|e| e.port)
            .or(port)
            .or(Some(if tls { 443 } else { 80 }));
        // A wildcard address (a server's listening socket, when the connection was gone before
        // its own address could be read) says nothing about where the call went.
        let ip = endpoint
            .and_then(|e| e.ip.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified())
            .or_else(|| host.as_deref().and_then(|h| h.parse::<IpAddr>().ok()));
        // HTTP/2 fields the capture could not know: the call still counts for its destination
        // (rates per destination, destination and credential rules), never for a rule or a
        // rate key that names a method or a path.
        let method_known = call.method.is_some();
        let path_known = call.path.is_some();
        let method = call.method.as_deref().unwrap_or(UNKNOWN_FIELD);
        let template = call
            .path
            .as_deref()
            .map_or_else(|| UNKNOWN_FIELD.to_owned(), path_template);
        let workload = Workload {
            pid: call.process.pid,
            command: &call.process.command,
            executable: call.process.executable.as_deref(),
            uid: Some(call.process.uid),
            container_id: call.process.container_id.as_deref(),
        };
        let destination = Destination {
            host: host.as_deref(),
            port,
            ip,
            tls,
        };
        let view = CallView {
            workload: &workload,
            destination: &destination,
            method,
            path_template: &template,
            findings: &findings,
        };

        let mut raised: Vec<(String, Severity, String, Option<Evidence>)> = self
            .policy
            .evaluate(&view)
            .into_iter()
            .map(|v| {
                let evidence = v
                    .finding
                    .and_then(|i| findings.get(i))
                    .map(|f: &Finding| Evidence::Credential(f.clone()));
                (v.rule_id, v.severity, v.summary, evidence)
            })
            .collect();

        let workload_key = format!(
            "{}@{}",
            call.process
                .executable
                .as_deref()
                .unwrap_or(&call.process.command),
            call.process.container_id.as_deref().unwrap_or("host")
        );
        let host_key = host.clone().unwrap_or_default();
        for rule in self.policy.rate_rules_for(&view) {
            if (rule.by_method && !method_known) || (rule.by_path && !path_known) {
                continue;
            }
            let key = RateKey {
                rule: rule.id.clone(),
                workload: workload_key.clone(),
                host: host_key.clone(),
                method: rule.by_method.then(|| method.to_owned()),
                path_template: rule.by_path.then(|| template.clone()),
            };
            let limit = RateLimit {
                limit: rule.limit,
                per: rule.per,
                burst: rule.burst,
            };
            if let Decision::Exceeded {
                observed_per_second,
                limit_per_second,
            } = self.limiter.check(&key, limit, start_ns)
            {
                raised.push((
                    rule.id.clone(),
                    rule.severity,
                    format!(
                        "{} {} to {}: over the limit of {} calls per {} (burst {}) of rule {}",
                        method,
                        template,
                        host_key,
                        rule.limit,
                        humanize(rule.per),
                        rule.burst,
                        rule.id
                    ),
                    Some(Evidence::Rate(RateEvidence {
                        observed_per_second,
                        limit_per_second,
                    })),
                ));
            }
        }

        if let (Some(severity), Some(host)) = (self.policy.settings().discovery, host.as_deref())
            && self.inventory.observe(&workload_key, host)
        {
            raised.push((
                rule_ids::DESTINATION_DISCOVERED.to_owned(),
                severity,
                format!("{workload_key} called {host} for the first time"),
                None,
            ));
        }

        for (rule_id, severity, summary, evidence) in raised {
            self.sequence += 1;
            let alert = Alert {
                time: call.time.clone(),
                event: "alert",
                id: Alert::make_id(&rule_id, start_ns, call.process.pid, self.sequence),
                severity,
                rule_id,
                summary,
                count: 1,
                summary_of: None,
                workload: AlertWorkload {
                    pid: call.process.pid,
                    command: call.process.command.clone(),
                    executable: call.process.executable.clone(),
                    uid: call.process.uid,
                    container_id: call.process.container_id.clone(),
                },
                destination: AlertDestination {
                    host: host.clone(),
                    ip: ip.map(|ip| ip.to_string()),
                    port,
                    tls,
                },
                request: Some(AlertRequest {
                    method: method.to_owned(),
                    path_template: template.clone(),
                }),
                evidence,
            };
            let rule = alert.rule_id.clone();
            if !self.suppressor.admit(alert, start_ns, out) {
                self.metrics.alert_suppressed(&rule);
            }
        }
        self.count(&out[before..]);
        self.metrics.rate_state(
            self.limiter.len(),
            self.limiter.evicted(),
            self.inventory.evicted(),
        );
    }

    /// Raises an alert found outside `inspect` (coverage), through the same suppression.
    pub fn raise(&mut self, alert: Alert, now_ns: u64, out: &mut Vec<Alert>) {
        let before = out.len();
        let rule = alert.rule_id.clone();
        if !self.suppressor.admit(alert, now_ns, out) {
            self.metrics.alert_suppressed(&rule);
        }
        self.count(&out[before..]);
    }

    /// Closes ended suppression windows and drops idle rate buckets.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Alert>) {
        let before = out.len();
        self.suppressor.expire(now_ns, out);
        self.limiter.expire_idle(now_ns);
        self.count(&out[before..]);
    }

    /// Emits every pending summary (shutdown).
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        let before = out.len();
        self.suppressor.flush(out);
        self.count(&out[before..]);
    }

    fn count(&self, out: &[Alert]) {
        for alert in out {
            self.metrics
                .alert(&alert.rule_id, alert.severity.as_str(), alert.count);
        }
    }
}
