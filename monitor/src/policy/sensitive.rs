//! The `sensitive_data` rules on one exchange's [`SensitiveReport`]: card data over plaintext
//! to (or from) a party that is not internal, card or personal data in a URL, a kind sent to a
//! destination not allowed to receive it, and a response carrying many values (harvesting).
//! Summaries name kinds, counts, hosts, methods and path templates; never a value.
use std::fmt::Write as _;

use super::{
    CallView, Settings,
    evaluate::{canonical_ip, is_internal},
    hosts::normalize_host,
    rule_ids,
    rules::{Rules, SensitiveRules},
};
use crate::{
    protocols::CallDirection,
    sensitive::{Part, SensitiveKind, SensitiveReport},
};

/// One broken `sensitive_data` rule: which findings of the report it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct SensitiveViolation {
    pub rule_id: &'static str,
    pub severity: super::Severity,
    pub summary: String,
    /// Indexes into [`SensitiveReport::findings`].
    pub findings: Vec<usize>,
}

/// `card x2, email x1` for the findings at `indexes`.
fn describe(report: &SensitiveReport, indexes: &[usize]) -> String {
    let mut counts: Vec<(SensitiveKind, u32)> = Vec::new();
    for f in indexes.iter().filter_map(|&i| report.findings.get(i)) {
        match counts.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, n)) => *n = n.saturating_add(f.count),
            None => counts.push((f.kind, f.count)),
        }
    }
    counts.sort();
    let mut out = String::new();
    for (i, (kind, n)) in counts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} x{n}", kind.as_str());
    }
    out
}

/// `POST /v1/charges to api.example.com` / `GET /v1/users served to 10.0.0.7`.
fn described(call: &CallView, host: Option<&str>) -> String {
    let mut out = format!("{} {} ", call.method, call.path_template);
    match call.direction {
        CallDirection::Outbound => {
            out.push_str("to ");
            match (host, call.destination.ip) {
                (Some(h), _) => out.push_str(h),
                (None, Some(ip)) => {
                    let _ = write!(out, "{ip}");
                }
                (None, None) => out.push_str("an unknown host"),
            }
        }
        CallDirection::Inbound => {
            out.push_str("served to ");
            match (call.client.label, call.client.ip) {
                (Some(label), _) => out.push_str(label),
                (None, Some(ip)) => {
                    let _ = write!(out, "{ip}");
                }
                (None, None) => out.push_str("an unknown client"),
            }
        }
    }
    out
}

pub(super) fn evaluate(
    settings: &Settings,
    rules: &Rules,
    call: &CallView,
    report: &SensitiveReport,
) -> Vec<SensitiveViolation> {
    let sensitive: &SensitiveRules = &rules.sensitive;
    if report.findings.is_empty()
        || sensitive.kinds.is_empty()
        || !sensitive.direction.includes(call.direction)
    {
        return Vec::new();
    }
    let matched: Vec<bool> = rules
        .selectors
        .iter()
        .map(|s| s.matches(call.workload))
        .collect();
    if !sensitive.scope.applies(&matched) {
        return Vec::new();
    }
    let host = call.destination.host.map(normalize_host);
    let host = host.as_deref();
    let ip = call.destination.ip.map(canonical_ip);
    let what = described(call, host);
    let outbound = call.direction == CallDirection::Outbound;
    let wanted = |i: &usize| {
        report
            .findings
            .get(*i)
            .is_some_and(|f| sensitive.kinds.contains(f.kind))
    };
    let all: Vec<usize> = (0..report.findings.len()).filter(wanted).collect();
    let mut out = Vec::new();

    // Card data in clear over a network: to a destination that is not internal (outbound), or
    // between this server and a client that is not internal (inbound; an unknown client
    // counts as external). Request and response alike: a card returned in clear crossed too.
    let exposed = if outbound {
        !is_internal(settings, host, ip)
    } else {
        !is_internal(settings, None, call.client.ip)
    };
    if !call.destination.tls && exposed {
        let cards: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| report.findings[i].kind == SensitiveKind::Card)
            .collect();
        if !cards.is_empty() {
            out.push(SensitiveViolation {
                rule_id: rule_ids::SENSITIVE_CARD_PLAINTEXT,
                severity: sensitive.card_plaintext,
                summary: format!(
                    "card data ({}) in plaintext HTTP: {what}",
                    describe(report, &cards)
                ),
                findings: cards,
            });
        }
    }

    // In the URL: logged by proxies, servers and browsers on the way.
    let in_url: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| report.findings[i].location.is_in_url())
        .collect();
    if !in_url.is_empty() {
        out.push(SensitiveViolation {
            rule_id: rule_ids::SENSITIVE_IN_URL,
            severity: sensitive.in_url,
            summary: format!(
                "sensitive data ({}) in the URL of {what}",
                describe(report, &in_url)
            ),
            findings: in_url,
        });
    }

    // Sent where it may not go: the caller's choice, so calls made only; request data only.
    if outbound && !sensitive.allowed_destinations.is_empty() {
        let unapproved: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| {
                let f = &report.findings[i];
                f.location.part() == Part::Request
                    && sensitive
                        .allowed_destinations
                        .get(&f.kind)
                        .is_some_and(|hosts| !host.is_some_and(|h| hosts.matches(h)))
            })
            .collect();
        if !unapproved.is_empty() {
            out.push(SensitiveViolation {
                rule_id: rule_ids::SENSITIVE_UNAPPROVED_DESTINATION,
                severity: sensitive.unapproved_destination,
                summary: format!(
                    "sensitive data ({}) sent to a destination not allowed to receive it: {what}",
                    describe(report, &unapproved)
                ),
                findings: unapproved,
            });
        }
    }

    // Many values in one response: the data-harvesting signal.
    if sensitive.bulk_response_threshold > 0 {
        let returned: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| report.findings[i].location.part() == Part::Response)
            .collect();
        let total: u32 = returned
            .iter()
            .map(|&i| report.findings[i].count)
            .fold(0, u32::saturating_add);
        if total >= sensitive.bulk_response_threshold {
            out.push(SensitiveViolation {
                rule_id: rule_ids::SENSITIVE_BULK_RESPONSE,
                severity: sensitive.bulk_response,
                summary: format!(
                    "a response carried {total} sensitive values ({}), at or over the threshold of {}: {what}",
                    describe(report, &returned),
                    sensitive.bulk_response_threshold
                ),
                findings: returned,
            });
        }
    }
    out
}
