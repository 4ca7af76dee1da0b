//! The alert record.
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::{credentials::Finding, policy::Severity};

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
    pub workload: AlertWorkload,
    pub destination: AlertDestination,
    /// The request that raised it; `None` for alerts about a connection (coverage).
    pub request: Option<AlertRequest>,
    pub evidence: Option<Evidence>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash)]
pub struct AlertWorkload {
    pub pid: u32,
    pub command: String,
    pub executable: Option<String>,
    pub uid: u32,
    pub container_id: Option<String>,
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

    /// What makes two alerts "the same" for suppression: rule, workload, destination, request
    /// shape and which credential (by fingerprint) or which rate key.
    pub fn suppression_key(&self) -> String {
        let evidence = match &self.evidence {
            Some(Evidence::Credential(finding)) => finding.fingerprint.as_str(),
            _ => "",
        };
        let (method, template) = self
            .request
            .as_ref()
            .map(|r| (r.method.as_str(), r.path_template.as_str()))
            .unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.rule_id,
            self.workload
                .executable
                .as_deref()
                .unwrap_or(&self.workload.command),
            self.workload.container_id.as_deref().unwrap_or(""),
            self.destination.host.as_deref().unwrap_or(""),
            self.destination.ip.as_deref().unwrap_or(""),
            self.destination.port.unwrap_or(0),
            method,
            template,
            evidence,
        )
    }
}
