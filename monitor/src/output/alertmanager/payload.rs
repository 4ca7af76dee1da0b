//! An alert as Alertmanager sees it: labels that identify and route it, annotations that
//! describe it. Labels are what Alertmanager deduplicates and groups on, so they hold only
//! bounded values that stay the same while the alert is the same: the rule, its severity, the
//! direction, the workload (never a pid or a pod name when the workload has an owner), its
//! namespace, the destination host and the node. Everything else (the request's path template,
//! the redacted evidence, the pid and pod, counts) goes in annotations. Neither ever holds a
//! credential: the alert carries only redacted evidence to begin with.
use std::collections::BTreeMap;

use crate::{
    alerts::{Alert, Evidence},
    protocols::CallDirection,
};

/// Label names, as Alertmanager routes (`route.matchers`) and inhibition rules name them.
pub const ALERTNAME: &str = "alertname";

pub type Labels = BTreeMap<String, String>;

/// The labels of `alert`: its identity in Alertmanager. `extra` (e.g. `cluster`) is added, and
/// cannot replace the monitor's own labels.
pub fn labels(alert: &Alert, node: &str, extra: &Labels) -> Labels {
    let mut labels = extra.clone();
    labels.insert(ALERTNAME.into(), alert.rule_id.clone());
    labels.insert("severity".into(), alert.severity.as_str().into());
    labels.insert("direction".into(), alert.direction.as_str().into());
    labels.insert(
        "workload".into(),
        alert.workload.workload_name().into_owned(),
    );
    if let Some(namespace) = alert
        .workload
        .k8s
        .as_deref()
        .and_then(|k| k.namespace.as_deref())
    {
        labels.insert("namespace".into(), namespace.into());
    }
    let destination = alert
        .destination
        .host
        .as_deref()
        .or(alert.destination.ip.as_deref());
    if let Some(destination) = destination {
        labels.insert("destination".into(), destination.into());
    }
    if !node.is_empty() {
        labels.insert("node".into(), node.into());
    }
    labels.insert("source".into(), "api-monitor".into());
    labels
}

/// What a human reads in the notification: the summary, a description, and the details that
/// must not be labels.
pub fn annotations(alert: &Alert, occurrences: u64) -> Labels {
    let mut notes = Labels::new();
    notes.insert("summary".into(), alert.summary.clone());
    let mut description = format!(
        "{} ({}): {} {} by {} (pid {}, {})",
        alert.rule_id,
        alert.severity.as_str(),
        alert.direction.as_str(),
        match alert.direction {
            CallDirection::Inbound => "call served",
            CallDirection::Outbound => "call made",
        },
        alert.workload.workload_name(),
        alert.workload.pid,
        alert.workload.command,
    );
    if let Some(host) = alert
        .destination
        .host
        .as_deref()
        .or(alert.destination.ip.as_deref())
    {
        description.push_str(&format!(" to {host}"));
        if let Some(port) = alert.destination.port {
            description.push_str(&format!(":{port}"));
        }
    }
    if let Some(request) = &alert.request {
        description.push_str(&format!(", {} {}", request.method, request.path_template));
        notes.insert(
            "request".into(),
            format!("{} {}", request.method, request.path_template),
        );
    }
    description.push_str(&format!("; {occurrences} occurrence(s) so far"));
    notes.insert("description".into(), description);
    notes.insert("occurrences".into(), occurrences.to_string());
    notes.insert("alert_id".into(), alert.id.clone());
    notes.insert("pid".into(), alert.workload.pid.to_string());
    if let Some(container) = &alert.workload.container_id {
        notes.insert("container_id".into(), container.to_string());
    }
    if let Some(pod) = alert.workload.k8s.as_deref().and_then(|k| k.pod.as_deref()) {
        notes.insert("pod".into(), pod.into());
    }
    if let Some(client) = &alert.client {
        notes.insert("client".into(), format!("{}:{}", client.ip, client.port));
    }
    if let Some(evidence) = &alert.evidence {
        notes.insert("evidence_kind".into(), evidence_kind(evidence).into());
        if let Ok(json) = serde_json::to_string(evidence) {
            notes.insert("evidence".into(), json);
        }
    }
    notes
}

fn evidence_kind(evidence: &Evidence) -> &'static str {
    match evidence {
        Evidence::Credential(_) => "credential",
        Evidence::Rate(_) => "rate",
        Evidence::AuthFailures(_) => "auth_failures",
        Evidence::SensitiveData(_) => "sensitive_data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        kubernetes::{K8sIdentity, Owner},
        policy::Severity,
    };

    #[test]
    fn labels_are_bounded_and_name_the_workload_not_the_pod() {
        let mut alert = Alert::example("credential.plaintext", Severity::High);
        let mut k8s = K8sIdentity::unknown_pod("uid-1");
        k8s.namespace = Some("payments".into());
        k8s.pod = Some("checkout-7d9f8c-abcde".into());
        k8s.owner = Some(Owner {
            kind: "Deployment".into(),
            name: "checkout".into(),
        });
        alert.workload.k8s = Some(k8s.into());
        alert.workload.container_id = Some("c0ffee0123456789".into());
        let extra = Labels::from([("cluster".to_owned(), "prod-eu".to_owned())]);
        let labels = labels(&alert, "node-7", &extra);
        let expected: Labels = [
            ("alertname", "credential.plaintext"),
            ("cluster", "prod-eu"),
            ("destination", "api.example.com"),
            ("direction", "outbound"),
            ("namespace", "payments"),
            ("node", "node-7"),
            ("severity", "high"),
            ("source", "api-monitor"),
            ("workload", "payments/Deployment/checkout"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(labels, expected);
        let notes = annotations(&alert, 3);
        assert_eq!(notes["pod"], "checkout-7d9f8c-abcde");
        assert_eq!(notes["request"], "GET /v1/users/{id}");
        assert_eq!(notes["occurrences"], "3");
        assert!(notes["description"].contains("to api.example.com:443"));
    }

    #[test]
    fn extra_labels_cannot_replace_the_monitors_own() {
        let alert = Alert::example("rate.exceeded", Severity::Medium);
        let extra = Labels::from([("severity".to_owned(), "none".to_owned())]);
        assert_eq!(labels(&alert, "n", &extra)["severity"], "medium");
    }
}
