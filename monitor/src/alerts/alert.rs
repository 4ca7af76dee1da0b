//! The alert record.
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::{calls::ProcessOut, credentials::Finding, policy::Severity, protocols::CallDirection};

#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// When the call that raised it started (RFC 3339, UTC).
    pub time: String,
    /// Always `"alert"`: tells alerts from API calls in a shared stream.
    pub event: &'static str,
    /// Unique per alert; a summary alert names the alert it summarises in `summary_of`.
    pub id: String,
    pub severity: Severity,
    pub rule_id: String,
    pub summary: String,
    /// Occurrences this alert stands for: 1, or the number of repeats a summary covers.
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_of: Option<String>,
    /// The view that raised it: `outbound` (a call made) or `inbound` (a call served).
    pub direction: CallDirection,
    /// The caller when it runs on this host; otherwise (an inbound call from elsewhere, or a
    /// connection-level alert) the process the monitor saw.
    pub workload: AlertWorkload,
    /// The server, when both ends of the exchange run on this host.
    pub peer_workload: Option<AlertWorkload>,
    /// The server end of the exchange: where an outbound call went, what an inbound call reached.
    pub destination: AlertDestination,
    /// The caller's address, when known.
    pub client: Option<AlertEndpoint>,
    /// The request that raised it; `None` for alerts about a connection (coverage).
    pub request: Option<AlertRequest>,
    pub evidence: Option<Evidence>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash)]
pub struct AlertWorkload {
    pub pid: u32,
    pub command: std::sync::Arc<str>,
    pub executable: Option<std::sync::Arc<str>>,
    pub uid: u32,
    pub container_id: Option<std::sync::Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s: Option<std::sync::Arc<crate::kubernetes::K8sIdentity>>,
}

impl From<&ProcessOut> for AlertWorkload {
    fn from(process: &ProcessOut) -> Self {
        Self {
            pid: process.pid,
            command: process.command.clone(),
            executable: process.executable.clone(),
            uid: process.uid,
            container_id: process.container_id.clone(),
            k8s: process.k8s.clone(),
        }
    }
}

impl AlertWorkload {
    /// The workload as people name it (`calls::workload_name`): what Alertmanager routes on.
    pub fn workload_name(&self) -> std::borrow::Cow<'_, str> {
        crate::calls::workload_name(
            self.k8s.as_deref(),
            self.executable.as_deref(),
            &self.command,
            self.container_id.as_deref(),
        )
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash)]
pub struct AlertEndpoint {
    pub ip: String,
    pub port: u16,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash)]
pub struct AlertDestination {
    pub host: Option<String>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub tls: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash)]
pub struct AlertRequest {
    pub method: String,
    pub path_template: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A redacted credential: kind, location, length, public prefix, keyed fingerprint.
    Credential(Finding),
    Rate(RateEvidence),
    AuthFailures(AuthFailureEvidence),
    /// Card or personal data: kind, location, count (cards: brand and last four), no value.
    SensitiveData(SensitiveEvidence),
}

/// The sensitive-data findings an alert is about.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SensitiveEvidence {
    pub findings: Vec<crate::sensitive::SensitiveFinding>,
}

impl SensitiveEvidence {
    /// `card,email`: the kinds, sorted, for the suppression key.
    fn kinds(&self) -> String {
        let mut kinds: Vec<&str> = self.findings.iter().map(|f| f.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds.join(",")
    }
}

/// A burst of rejected authentication: how many 401/403 in how long, and the credential they
/// were for (`auth.credential_rejected`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuthFailureEvidence {
    pub failures: u32,
    pub unauthorized_401: u32,
    pub forbidden_403: u32,
    pub window_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Finding>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RateEvidence {
    pub observed_per_second: f64,
    pub limit_per_second: f64,
}

impl Alert {
    /// A stable id from what the alert is about and when: a replay of the same recording gives
    /// the same ids.
    pub fn make_id(rule_id: &str, time_ns: u64, workload_pid: u32, sequence: u64) -> String {
        let mut hash = Sha256::new();
        hash.update(rule_id.as_bytes());
        hash.update(time_ns.to_le_bytes());
        hash.update(workload_pid.to_le_bytes());
        hash.update(sequence.to_le_bytes());
        let digest = hash.finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What makes two alerts "the same" for suppression: rule, direction (unless it names both
    /// ends), caller address, workload (and peer), destination, request shape and which
    /// credential (by fingerprint). Not the direction: when both ends
    /// run here, repeats of one finding may be raised from either view.
    pub fn suppression_key(&self) -> String {
        let sensitive_kinds;
        let evidence = match &self.evidence {
            Some(Evidence::Credential(finding)) => finding.fingerprint.as_str(),
            Some(Evidence::AuthFailures(AuthFailureEvidence {
                credential: Some(finding),
                ..
            })) => finding.fingerprint.as_str(),
            // Which kinds: an alert about e-mails does not hide one about cards.
            Some(Evidence::SensitiveData(sensitive)) => {
                sensitive_kinds = sensitive.kinds();
                sensitive_kinds.as_str()
            }
            _ => "",
        };
        let (method, template) = self
            .request
            .as_ref()
            .map(|r| (r.method.as_str(), r.path_template.as_str()))
            .unwrap_or_default();
        // An alert naming both ends may come from either view, so its direction is not part of
        // what it is about; one naming a single process is (a connection it made is not one it
        // accepted, even from the same executable).
        let (peer, direction) = match &self.peer_workload {
            Some(p) => (p.executable.as_deref().unwrap_or(&p.command), ""),
            None => ("", self.direction.as_str()),
        };
        // The caller's address: a served call's alerts name the server as `workload`, and
        // client B's burst must not be folded into client A's alert.
        let client = self.client.as_ref().map_or("", |c| c.ip.as_str());
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.rule_id,
            direction,
            client,
            self.workload
                .executable
                .as_deref()
                .unwrap_or(&self.workload.command),
            self.workload.container_id.as_deref().unwrap_or(""),
            peer,
            self.destination.host.as_deref().unwrap_or(""),
            self.destination.ip.as_deref().unwrap_or(""),
            self.destination.port.unwrap_or(0),
            method,
            template,
            evidence,
        )
    }
}

#[cfg(test)]
impl Alert {
    /// An outbound alert from `curl` to `api.example.com`, for tests of what consumes alerts.
    pub(crate) fn example(rule_id: &str, severity: Severity) -> Self {
        Self {
            time: "2026-11-27T10:00:00.000000000Z".into(),
            event: "alert",
            id: format!("id-{rule_id}"),
            severity,
            rule_id: rule_id.into(),
            summary: format!("{rule_id} happened"),
            count: 1,
            summary_of: None,
            direction: CallDirection::Outbound,
            workload: AlertWorkload {
                pid: 4242,
                command: "curl".into(),
                executable: Some("/usr/bin/curl".into()),
                uid: 1000,
                container_id: None,
                k8s: None,
            },
            peer_workload: None,
            destination: AlertDestination {
                host: Some("api.example.com".into()),
                ip: Some("203.0.113.7".into()),
                port: Some(443),
                tls: true,
            },
            client: None,
            request: Some(AlertRequest {
                method: "GET".into(),
                path_template: "/v1/users/{id}".into(),
            }),
            evidence: None,
        }
    }
}
