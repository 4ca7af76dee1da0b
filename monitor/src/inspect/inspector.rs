//! The inspector: state that outlives one call (rate buckets, the destination inventory,
//! auth-failure windows, credential owners, alerts waiting for their twin, suppression windows)
//! and the policy in force. Each check is a method of its own; `inspect` runs them in order and
//! sends what they raise through the linker (one exchange, one alert) and suppression.
use std::sync::Arc;

use thiserror::Error;

use super::{
    auth_failures::{AuthFailureCounter, Burst, is_auth_failure},
    context::CallContext,
    credential_owners::CredentialOwners,
    destination::Authority,
    linker::{ExchangeLinker, LinkKey},
};
use crate::{
    alerts::{Alert, AuthFailureEvidence, Evidence, RateEvidence, SensitiveEvidence, Suppressor},
    calls::ApiCall,
    credentials::{Detector, DetectorError, DetectorSettings, Finding, Fingerprinter},
    inventory::{ApiInventory, DEFAULT_MAX_ENTRIES, Observation, PublishedInventory, auth_schemes},
    metrics::{InspectState, Metrics, SensitiveCount},
    policy::{CallView, Client, Policy, Severity, Workload, rule_ids},
    protocols::CallDirection,
    rates::{Decision, Inventory, RateKey, RateLimit, RateLimiter},
    sensitive::{
        ResponseView, SensitiveError, SensitiveLocation, SensitiveReport, SensitiveScanner,
    },
    streams::ConnectionExchange,
    time::WallClock,
};

/// Rate-limit keys and inventory pairs kept at most; beyond, the least recent are evicted
/// (counted in metrics).
const MAX_RATE_KEYS: usize = 100_000;
const MAX_INVENTORY: usize = 100_000;
/// Open suppression windows kept at most.
const MAX_SUPPRESSION_ENTRIES: usize = 10_000;
/// Auth-failure windows, credential fingerprints and alerts waiting for their twin kept at most.
const MAX_AUTH_FAILURE_KEYS: usize = 50_000;
const MAX_CREDENTIAL_OWNERS: usize = 50_000;
const MAX_LINKED_ALERTS: usize = 10_000;

#[derive(Debug, Error)]
pub enum InspectError {
    #[error("cannot build the credential detectors for this policy")]
    Detector(#[source] DetectorError),
    #[error("cannot build the sensitive-data detectors")]
    Sensitive(#[source] SensitiveError),
}

/// An alert a check wants raised, before it is linked, built and suppressed.
struct Raised {
    rule_id: String,
    severity: Severity,
    summary: String,
    evidence: Option<Evidence>,
}

impl Raised {
    fn new(rule_id: &str, severity: Severity, summary: String, evidence: Option<Evidence>) -> Self {
        Self {
            rule_id: rule_id.to_owned(),
            severity,
            summary,
            evidence,
        }
    }

    /// The credential the alert is about, by fingerprint; empty if none.
    fn fingerprint(&self) -> &str {
        match &self.evidence {
            Some(Evidence::Credential(finding)) => &finding.fingerprint,
            Some(Evidence::AuthFailures(AuthFailureEvidence {
                credential: Some(finding),
                ..
            })) => &finding.fingerprint,
            _ => "",
        }
    }
}

fn burst_evidence(burst: Burst, window_seconds: u64, credential: Option<Finding>) -> Evidence {
    Evidence::AuthFailures(AuthFailureEvidence {
        failures: burst.failures,
        unauthorized_401: burst.unauthorized,
        forbidden_403: burst.forbidden,
        window_seconds,
        credential,
    })
}

/// The traced process, as workload selectors see it.
fn policy_workload(call: &ApiCall) -> Workload<'_> {
    Workload {
        pid: call.process.pid,
        command: &call.process.command,
        executable: call.process.executable.as_deref(),
        uid: Some(call.process.uid),
        container_id: call.process.container_id.as_deref(),
        k8s: call.process.k8s.as_deref(),
    }
}

pub struct Inspector {
    policy: Arc<Policy>,
    detector: Detector,
    sensitive: SensitiveScanner,
    key: Vec<u8>,
    limiter: RateLimiter,
    inventory: Inventory,
    auth_failures: AuthFailureCounter,
    owners: CredentialOwners,
    linker: ExchangeLinker,
    /// The live API inventory, and where its snapshots go (`/inventory`, `--inventory-file`).
    api_inventory: ApiInventory,
    published: Option<PublishedInventory>,
    inventory_changed: bool,
    suppressor: Suppressor,
    sequence: u64,
    clock: WallClock,
    metrics: Arc<Metrics>,
    /// The text of an outbound call's server address, for the inventory: reused, because the
    /// inventory only copies it for a peer it has not seen.
    peer_text: String,
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
            sensitive: SensitiveScanner::new().map_err(InspectError::Sensitive)?,
            key: fingerprint_key,
            limiter: RateLimiter::new(MAX_RATE_KEYS),
            inventory: Inventory::new(MAX_INVENTORY),
            auth_failures: AuthFailureCounter::new(MAX_AUTH_FAILURE_KEYS),
            owners: CredentialOwners::new(MAX_CREDENTIAL_OWNERS),
            linker: ExchangeLinker::new(MAX_LINKED_ALERTS),
            api_inventory: ApiInventory::new(DEFAULT_MAX_ENTRIES),
            published: None,
            inventory_changed: false,
            sequence: 0,
            clock,
            metrics,
            peer_text: String::new(),
        })
    }

    /// Puts a new policy in force. Rate buckets, the inventories, auth-failure windows,
    /// credential owners and open suppression windows are kept: a reload must not re-alert on
    /// every known destination or forget who owns a key.
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), InspectError> {
        self.detector = detector_for(&policy, &self.key)?;
        self.suppressor.set_window(window_ns(&policy));
        self.policy = Arc::new(policy);
        Ok(())
    }

    /// Where the inventory's snapshots are published (each `tick` that follows new calls).
    pub fn publish_inventory_to(&mut self, published: PublishedInventory) {
        self.published = Some(published);
        self.publish_inventory();
    }

    /// Publishes the inventory now if calls changed it since the last time.
    pub fn publish_inventory(&mut self) {
        if let Some(published) = &self.published {
            published.publish(self.api_inventory.snapshot());
            self.inventory_changed = false;
        }
    }

    pub fn api_inventory(&self) -> &ApiInventory {
        &self.api_inventory
    }

    /// Runs every check on one call, fills its credential audit trail, and appends the alerts
    /// it raises to `out`.
    /// `authority` is the call's host as [`Authority`] keeps it (the caller splits the header for
    /// its metrics too).
    pub fn inspect(
        &mut self,
        item: &ConnectionExchange,
        call: &mut ApiCall,
        authority: Option<Authority>,
        out: &mut Vec<Alert>,
    ) {
        let before = out.len();
        let request = &item.exchange.request;
        let start_ns = request.stats.start_ns;
        let unix_secs = self.clock.unix_secs(start_ns);
        let (findings, decoding) = self
            .detector
            .scan_request(crate::protocols::RequestView::of(request), unix_secs);
        if let Some(d) = decoding {
            self.metrics.body_decoded(d.encoding, d.outcome.as_str());
        }
        if request.stats.body_bytes > request.stats.body_sample.len() as u64 {
            self.metrics.body_scan_cut();
        }
        for finding in &findings {
            self.metrics.credential_seen(finding.kind.as_str());
        }
        let context = CallContext::of(call, authority);
        let workload = policy_workload(call);
        let destination = context.policy_destination();
        let view = CallView {
            direction: context.direction,
            workload: &workload,
            client: Client {
                label: context.client_label.as_deref(),
                ip: context.client.map(|c| c.ip()),
            },
            destination: &destination,
            method: &context.method,
            path_template: &context.template,
            findings: &findings,
        };
        let sensitive = self.scan_sensitive(item);
        let mut raised = self.policy_findings(&view, &findings);
        self.check_sensitive(&view, &sensitive, &mut raised);
        self.check_rates(&view, &context, start_ns, &mut raised);
        self.check_auth_failures(call, &context, &findings, start_ns, &mut raised);
        self.check_credential_owners(call, &context, &findings, &mut raised);
        self.observe_inventory(item, call, &context, &findings, start_ns);
        if context.direction == CallDirection::Outbound
            && let (Some(severity), Some(host)) =
                (self.policy.settings().discovery, context.host.as_deref())
            && self.inventory.observe(&context.workload_key, host)
        {
            raised.push(Raised::new(
                rule_ids::DESTINATION_DISCOVERED,
                severity,
                format!("{} called {host} for the first time", context.workload_key),
                None,
            ));
        }

        for raise in raised {
            if let (Some((client, server_port)), Some(peer)) = (context.link, &call.peer_process)
                && !rule_ids::OUTBOUND_ONLY.contains(&raise.rule_id.as_str())
            {
                let (client_pid, server_pid) = match context.direction {
                    CallDirection::Outbound => (call.process.pid, peer.pid),
                    CallDirection::Inbound => (peer.pid, call.process.pid),
                };
                let key = LinkKey {
                    rule_id: raise.rule_id.clone(),
                    client_pid,
                    server_pid,
                    client,
                    server_port,
                    method: context.method.to_string(),
                    path_template: context.template.to_string(),
                    evidence: raise.fingerprint().to_owned(),
                };
                if !self.linker.admit(key, context.direction, start_ns) {
                    self.metrics.alert_merged(&raise.rule_id);
                    continue;
                }
            }
            self.sequence += 1;
            let (workload, peer_workload) = context.alert_parties(call);
            let alert = Alert {
                time: call.time.to_string(),
                event: "alert",
                id: Alert::make_id(&raise.rule_id, start_ns, call.process.pid, self.sequence),
                severity: raise.severity,
                rule_id: raise.rule_id,
                summary: raise.summary,
                count: 1,
                summary_of: None,
                direction: context.direction,
                workload,
                peer_workload,
                destination: context.destination(),
                client: context.client_endpoint(),
                request: Some(context.request()),
                evidence: raise.evidence,
            };
            let rule = alert.rule_id.clone();
            if !self.suppressor.admit(alert, start_ns, out) {
                self.metrics.alert_suppressed(&rule);
            }
        }
        call.credentials = findings;
        self.record_sensitive(call, &context, sensitive);
        self.count(&out[before..]);
        self.metrics.rate_state(
            self.limiter.len(),
            self.limiter.evicted(),
            self.inventory.evicted(),
        );
        self.metrics.inspect_state(&InspectState {
            auth_failure_keys: self.auth_failures.len(),
            auth_failure_evictions: self.auth_failures.evicted(),
            credential_owners: self.owners.len(),
            credential_owner_evictions: self.owners.evicted(),
            linked_alert_evictions: self.linker.evicted(),
        });
    }

    /// Card and personal data in the request and the response, for the kinds the policy asks
    /// for (nothing is scanned when it asks for none).
    fn scan_sensitive(&self, item: &ConnectionExchange) -> SensitiveReport {
        let kinds = self.policy.sensitive_data().kinds;
        if kinds.is_empty() {
            return SensitiveReport::default();
        }
        let response = item.exchange.response.as_ref().map(|r| ResponseView {
            headers: &r.head.headers,
            body_sample: &r.stats.body_sample,
        });
        self.sensitive.scan(
            crate::protocols::RequestView::of(&item.exchange.request),
            response,
            kinds,
        )
    }

    /// `sensitive_data` rules: the alerts carry the findings they are about (kinds,
    /// locations, counts, card brand and last four), never a value.
    fn check_sensitive(&self, view: &CallView, report: &SensitiveReport, raised: &mut Vec<Raised>) {
        if report.is_empty() {
            return;
        }
        for violation in self.policy.evaluate_sensitive(view, report) {
            let findings = violation
                .findings
                .iter()
                .filter_map(|&i| report.findings.get(i).cloned())
                .collect();
            raised.push(Raised::new(
                violation.rule_id,
                violation.severity,
                violation.summary,
                Some(Evidence::SensitiveData(SensitiveEvidence { findings })),
            ));
        }
    }

    /// Counts what the scan found per endpoint and what it had to cut, puts the kinds and
    /// counts on the API call, and takes any value out of the call's printed path and query
    /// parameter names.
    fn record_sensitive(&self, call: &mut ApiCall, context: &CallContext, report: SensitiveReport) {
        let cuts = report.cuts;
        self.metrics
            .sensitive_scan_cut("bytes", u64::from(cuts.bytes));
        self.metrics
            .sensitive_scan_cut("candidates", u64::from(cuts.candidates));
        self.metrics
            .sensitive_scan_cut("findings", u64::from(cuts.findings));
        if report.is_empty() {
            return;
        }
        let host = context.host_or_ip();
        for finding in &report.findings {
            self.metrics.sensitive_fields(&SensitiveCount {
                kind: finding.kind.as_str(),
                part: finding.location.part().as_str(),
                location: finding.location.label(),
                direction: context.direction.as_str(),
                host: &host,
                method: &context.method,
                path_template: &context.template,
                count: u64::from(finding.count),
            });
        }
        if report.findings.iter().any(|f| {
            matches!(&f.location, SensitiveLocation::Query { parameter } if parameter == "<redacted>")
        }) {
            for name in &mut call.query_params {
                if !self
                    .sensitive
                    .scan_text(name.as_bytes(), None, crate::sensitive::KindSet::all())
                    .is_empty()
                {
                    *name = "<redacted>".into();
                }
            }
        }
        call.sensitive_data = report.summary();
    }

    /// Destination, transport and credential rules.
    fn policy_findings(&self, view: &CallView, findings: &[Finding]) -> Vec<Raised> {
        self.policy
            .evaluate(view)
            .into_iter()
            .map(|v| Raised {
                evidence: v
                    .finding
                    .and_then(|i| findings.get(i))
                    .map(|f| Evidence::Credential(f.clone())),
                rule_id: v.rule_id,
                severity: v.severity,
                summary: v.summary,
            })
            .collect()
    }

    fn check_rates(
        &mut self,
        view: &CallView,
        context: &CallContext,
        start_ns: u64,
        raised: &mut Vec<Raised>,
    ) {
        let rules = self.policy.rate_rules_for(view);
        if rules.is_empty() {
            return;
        }
        let host_key = context.endpoint_key();
        for rule in rules {
            if (rule.by_method && !context.method_known) || (rule.by_path && !context.path_known) {
                continue;
            }
            let key = RateKey {
                rule: rule.id.clone(),
                workload: context.workload_key.to_string(),
                client: rule.by_client.then(|| context.caller_key().to_owned()),
                host: host_key.clone(),
                method: rule.by_method.then(|| context.method.to_string()),
                path_template: rule.by_path.then(|| context.template.to_string()),
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
                let what = match (context.direction, &context.client_label) {
                    (CallDirection::Inbound, Some(client)) => {
                        format!("{} {} served to {client}", context.method, context.template)
                    }
                    (CallDirection::Inbound, None) => {
                        format!("{} {} served", context.method, context.template)
                    }
                    (CallDirection::Outbound, _) => {
                        format!("{} {} to {}", context.method, context.template, host_key)
                    }
                };
                raised.push(Raised::new(
                    &rule.id,
                    rule.severity,
                    format!(
                        "{what}: over the limit of {} calls per {} (burst {}) of rule {}",
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
    }

    /// 401/403 bursts per caller × endpoint and per credential.
    fn check_auth_failures(
        &mut self,
        call: &ApiCall,
        context: &CallContext,
        findings: &[Finding],
        start_ns: u64,
        raised: &mut Vec<Raised>,
    ) {
        let rules = self.policy.auth_failures();
        let Some(status) = call.status.filter(|s| is_auth_failure(*s)) else {
            return;
        };
        if !rules.enabled || !rules.direction.includes(context.direction) {
            return;
        }
        let window_ns = u64::try_from(rules.window.as_nanos()).unwrap_or(u64::MAX);
        let window_seconds = rules.window.as_secs();
        let endpoint = format!(
            "{} {} at {}",
            context.method,
            context.template,
            context.host_or_ip()
        );
        // Keyed by the server end as the caller cannot change it (not the `Host` of a served
        // call), and by the server's workload for calls served.
        let key = format!(
            "{}|{}|{}|{}|{} {}",
            context.direction.as_str(),
            context.caller_key(),
            context.workload_key,
            context.endpoint_key(),
            context.method,
            context.template
        );
        if let Some(burst) =
            self.auth_failures
                .record(&key, status, start_ns, window_ns, rules.threshold)
        {
            let who = match context.direction {
                CallDirection::Outbound => context.workload_key.clone(),
                CallDirection::Inbound => context
                    .client_label
                    .clone()
                    .unwrap_or_else(|| "an unknown client".into()),
            };
            raised.push(Raised::new(
                rule_ids::AUTH_FAILURES,
                rules.severity,
                format!(
                    "{} authentication failures (401/403) in {} for {who} calling {endpoint}",
                    burst.failures,
                    humanize(rules.window)
                ),
                Some(burst_evidence(burst, window_seconds, None)),
            ));
        }
        for finding in findings {
            let key = format!("{}|{}", context.direction.as_str(), finding.fingerprint);
            if let Some(burst) = self.auth_failures.record(
                &key,
                status,
                start_ns,
                window_ns,
                rules.credential_threshold,
            ) {
                raised.push(Raised::new(
                    rule_ids::AUTH_CREDENTIAL_REJECTED,
                    rules.credential_severity,
                    format!(
                        "one {} credential rejected {} times (401/403) in {}, the last time calling {endpoint}: revoked, guessed or stolen",
                        finding.kind.as_str(),
                        burst.failures,
                        humanize(rules.window)
                    ),
                    Some(burst_evidence(
                        burst,
                        window_seconds,
                        Some(finding.clone()),
                    )),
                ));
            }
        }
    }

    fn observe_inventory(
        &mut self,
        item: &ConnectionExchange,
        call: &ApiCall,
        context: &CallContext,
        findings: &[Finding],
        start_ns: u64,
    ) {
        let schemes = auth_schemes(
            &crate::protocols::RequestView::of(&item.exchange.request),
            findings,
        );
        // Inline: nearly every call has zero or one finding, and this runs for every call.
        let mut kinds: smallvec::SmallVec<[&str; 4]> =
            findings.iter().map(|f| f.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut peer_text = std::mem::take(&mut self.peer_text);
        peer_text.clear();
        let (peer, peer_ip) = match context.direction {
            CallDirection::Outbound => {
                if let Some(ip) = context.ip {
                    write_socket_addr(&mut peer_text, ip, context.port.unwrap_or(0));
                }
                (peer_text.as_str(), context.ip)
            }
            CallDirection::Inbound => (context.caller_key(), context.client.map(|c| c.ip())),
        };
        let settings = self.policy.settings();
        let peer_internal = peer_ip.is_some_and(|ip| settings.is_internal_ip(ip));
        let host = context.host_or_ip();
        self.api_inventory.observe(&Observation {
            direction: context.direction,
            workload: &context.workload_key,
            host: &host,
            method: &context.method,
            path_template: &context.template,
            status: call.status,
            auth_schemes: &schemes,
            credential_kinds: &kinds,
            tls: context.tls,
            peer,
            peer_internal,
            unix_ms: self.clock.unix_ms(start_ns),
        });
        self.peer_text = peer_text;
        self.inventory_changed = true;
    }

    /// `credential.new_workload`: the credentials a workload sends, against who sent them first.
    fn check_credential_owners(
        &mut self,
        call: &ApiCall,
        context: &CallContext,
        findings: &[Finding],
        raised: &mut Vec<Raised>,
    ) {
        if context.direction != CallDirection::Outbound || findings.is_empty() {
            return;
        }
        let Some(severity) = self.policy.credential_new_workload(&policy_workload(call)) else {
            return;
        };
        for finding in findings {
            if let Some(owner) = self
                .owners
                .observe(&finding.fingerprint, &context.workload_key)
            {
                raised.push(Raised::new(
                    rule_ids::CREDENTIAL_NEW_WORKLOAD,
                    severity,
                    format!(
                        "{} credential first used by {owner} is now sent by {}",
                        finding.kind.as_str(),
                        context.workload_key
                    ),
                    Some(Evidence::Credential(finding.clone())),
                ));
            }
        }
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

    /// Publishes the inventory if calls changed it, closes ended suppression windows and drops
    /// idle rate buckets.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Alert>) {
        if self.inventory_changed {
            self.publish_inventory();
        }
        let before = out.len();
        self.suppressor.expire(now_ns, out);
        self.limiter.expire_idle(now_ns);
        self.count(&out[before..]);
    }

    /// Emits every pending summary (shutdown).
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.publish_inventory();
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

/// `ip:port` as `SocketAddr`'s `Display` writes it (`[v6]:port`), appended to `out`: through
/// `core::fmt` it cost about 1,600 instructions, on every outbound call.
fn write_socket_addr(out: &mut String, ip: std::net::IpAddr, port: u16) {
    match ip {
        std::net::IpAddr::V4(v4) => out.push_str(crate::calls::Ipv4Text::new(v4).as_str()),
        std::net::IpAddr::V6(v6) => {
            // Writing into a String cannot fail.
            let _ = std::fmt::Write::write_fmt(out, format_args!("[{v6}]"));
        }
    }
    out.push(':');
    out.push_str(itoa::Buffer::new().format(port));
}

#[cfg(test)]
mod socket_addr_text_tests {
    use std::net::{IpAddr, SocketAddr};

    #[test]
    fn the_text_is_socket_addrs_own() {
        for (ip, port) in [
            ("10.1.2.3", 443),
            ("0.0.0.0", 0),
            ("255.255.255.255", 65535),
            ("::1", 8443),
            ("2001:db8::8:800:200c:417a", 80),
            ("::ffff:10.0.0.1", 9),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::from("kept ");
            super::write_socket_addr(&mut out, ip, port);
            assert_eq!(out, format!("kept {}", SocketAddr::new(ip, port)));
        }
    }
}
