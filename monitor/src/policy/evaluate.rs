//! Checks one call against the compiled rules: destinations, then transport, then credentials
//! (one violation per finding and problem), and selects the rate rules that apply to it. Runs
//! for every call, so it only reads precompiled data; summaries name rule ids, credential
//! kinds, the host, the method and the path template, never a header value or a credential.
//!
//! Every rule first asks the call's direction. Where a call goes (destination rules, the
//! allowlist, `credential.wrong_destination` / `not_allowed`, plaintext to an external
//! destination) is a question about outbound calls only: a server did not choose to be called.
//! Inbound calls get their own checks: a credential received in plaintext from a client that is
//! not internal, a credential in the URL of a served request.
use std::{fmt, net::IpAddr};

use crate::protocols::CallDirection;

use super::{
    CallView, Client, Mode, Settings, Severity, Violation,
    hosts::{host_ip, normalize_host},
    model::Action,
    rule_ids,
    rules::{DestinationRule, RateRule, Rules},
};

/// The call as the summaries describe it: `POST /v1/charges to api.stripe.com` for a call made,
/// `GET /v1/users/{id} served to 10.0.0.7` for a call served.
struct Described<'a> {
    direction: CallDirection,
    method: &'a str,
    path_template: &'a str,
    host: Option<&'a str>,
    ip: Option<IpAddr>,
    client: Client<'a>,
}

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.method, self.path_template)?;
        if self.direction == CallDirection::Inbound {
            f.write_str("served to ")?;
            return match (self.client.label, self.client.ip) {
                (Some(label), _) => f.write_str(label),
                (None, Some(ip)) => write!(f, "{ip}"),
                (None, None) => f.write_str("an unknown client"),
            };
        }
        f.write_str("to ")?;
        match (self.host, self.ip) {
            (Some(host), _) => f.write_str(host),
            (None, Some(ip)) => write!(f, "{ip}"),
            (None, None) => f.write_str("an unknown host"),
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, from dual-stack sockets) as IPv4.
pub(super) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn destination_matches(
    rule: &DestinationRule,
    call: &CallView,
    host: Option<&str>,
    ip: Option<IpAddr>,
) -> bool {
    let restricts_where = !rule.hosts.is_empty() || !rule.cidrs.is_empty();
    let where_ok = !restricts_where
        || host.is_some_and(|h| rule.hosts.matches(h))
        || ip.is_some_and(|ip| rule.cidrs.iter().any(|net| net.contains(&ip)));
    let port = call.destination.port;
    let port_ok = rule.ports.is_empty() || port.is_some_and(|p| rule.ports.contains(&p));
    rule.direction.includes(call.direction)
        && where_ok
        && port_ok
        && methods_match(&rule.methods, call.method)
        && (rule.paths.is_empty() || rule.paths.iter().any(|p| p.matches(call.path_template)))
}

/// Upper-case `methods`; empty matches any method.
fn methods_match(methods: &[String], method: &str) -> bool {
    methods.is_empty() || methods.iter().any(|m| m.eq_ignore_ascii_case(method))
}

pub(super) fn is_internal(settings: &Settings, host: Option<&str>, ip: Option<IpAddr>) -> bool {
    let inside = |ip: IpAddr| settings.is_internal_ip(ip);
    match ip {
        Some(ip) => inside(ip),
        None => host.is_some_and(|h| {
            h == "localhost" || h.ends_with(".localhost") || host_ip(h).is_some_and(inside)
        }),
    }
}

pub(super) fn evaluate(settings: &Settings, rules: &Rules, call: &CallView) -> Vec<Violation> {
    let destination = call.destination;
    let matched: Vec<bool> = rules
        .selectors
        .iter()
        .map(|s| s.matches(call.workload))
        .collect();
    let host = destination.host.map(normalize_host);
    let host = host.as_deref();
    let ip = destination.ip.map(canonical_ip);
    let described = Described {
        direction: call.direction,
        method: call.method,
        path_template: call.path_template,
        host,
        ip,
        client: call.client,
    };
    let outbound = call.direction == CallDirection::Outbound;
    let mut out = Vec::new();

    // Destinations: every matching deny rule alerts; in allowlist mode, so does no allow match.
    let mut denied_by: Option<&str> = None;
    let mut allowed = false;
    for rule in &rules.destinations {
        if !rule.scope.applies(&matched) || !destination_matches(rule, call, host, ip) {
            continue;
        }
        match rule.action {
            Action::Allow => allowed = true,
            Action::Deny => {
                denied_by.get_or_insert(&rule.id);
                out.push(Violation {
                    rule_id: rule.id.clone(),
                    severity: rule.severity,
                    summary: format!("{described} is denied by rule `{}`", rule.id),
                    finding: None,
                });
            }
        }
    }
    // The allowlist lists where workloads may call; it says nothing about who may call them.
    let not_allowed =
        outbound && settings.mode == Mode::Allowlist && !allowed && denied_by.is_none();
    if not_allowed {
        out.push(Violation {
            rule_id: rule_ids::DESTINATION_NOT_ALLOWED.to_owned(),
            severity: settings.not_allowed_severity,
            summary: format!("{described} matches no allow rule (allowlist mode)"),
            finding: None,
        });
    }

    // Transport: plaintext to a destination that is not internal; inbound, a credential
    // received in plaintext from a client that is not internal (it crossed a network in clear).
    let transport = &rules.transport;
    let plaintext_checked = transport.require_tls
        && !destination.tls
        && transport.direction.includes(call.direction)
        && transport.scope.applies(&matched);
    if plaintext_checked && outbound {
        if !host.is_some_and(|h| transport.exempt_hosts.matches(h))
            && !is_internal(settings, host, ip)
        {
            if call.findings.is_empty() {
                out.push(Violation {
                    rule_id: rule_ids::TRANSPORT_PLAINTEXT.to_owned(),
                    severity: transport.severity,
                    summary: format!("{described} is plaintext HTTP to a non-internal destination"),
                    finding: None,
                });
            }
            for (i, finding) in call.findings.iter().enumerate() {
                out.push(Violation {
                    rule_id: rule_ids::CREDENTIAL_PLAINTEXT.to_owned(),
                    severity: for_finding(finding, transport.with_credential_severity),
                    summary: format!(
                        "{} credential sent in plaintext HTTP: {described}",
                        finding.kind.as_str()
                    ),
                    finding: Some(i),
                });
            }
        }
    } else if plaintext_checked && !is_internal(settings, None, call.client.ip) {
        // An unknown client address counts as external: the credential did travel in clear.
        for (i, finding) in call.findings.iter().enumerate() {
            out.push(Violation {
                rule_id: rule_ids::CREDENTIAL_PLAINTEXT.to_owned(),
                severity: for_finding(finding, transport.with_credential_severity),
                summary: format!(
                    "{} credential received in plaintext HTTP from a non-internal client: {described}",
                    finding.kind.as_str()
                ),
                finding: Some(i),
            });
        }
    }

    // Credentials: one violation per finding and problem.
    let credentials = &rules.credentials;
    if credentials.direction.includes(call.direction) && credentials.scope.applies(&matched) {
        for (i, finding) in call.findings.iter().enumerate() {
            let kind = finding.kind.as_str();
            let mut push = |rule_id: &str, severity, summary: String| {
                out.push(Violation {
                    rule_id: rule_id.to_owned(),
                    severity: for_finding(finding, severity),
                    summary,
                    finding: Some(i),
                });
            };
            if finding.location.is_in_url() {
                push(
                    rule_ids::CREDENTIAL_IN_URL,
                    credentials.in_url,
                    format!("{kind} credential in the URL of {described}"),
                );
            }
            if outbound
                && let Some(allowed_hosts) = credentials.allowed_destinations.get(&finding.kind)
                && !host.is_some_and(|h| allowed_hosts.matches(h))
            {
                push(
                    rule_ids::CREDENTIAL_WRONG_DESTINATION,
                    credentials.wrong_destination,
                    format!(
                        "{kind} credential sent to a host that is not among its allowed destinations: {described}"
                    ),
                );
            }
            // Where a credential goes is the caller's choice: only the outbound view asks.
            if let Some(rule) = denied_by.filter(|_| outbound) {
                push(
                    rule_ids::CREDENTIAL_NOT_ALLOWED,
                    credentials.not_allowed,
                    format!(
                        "{kind} credential sent to a destination denied by rule `{rule}`: {described}"
                    ),
                );
            } else if not_allowed {
                push(
                    rule_ids::CREDENTIAL_NOT_ALLOWED,
                    credentials.not_allowed,
                    format!(
                        "{kind} credential sent to a destination no allow rule matches: {described}"
                    ),
                );
            }
            if let Some(jwt) = &finding.jwt {
                if jwt.unsigned {
                    push(
                        rule_ids::CREDENTIAL_JWT_UNSIGNED,
                        credentials.jwt_unsigned,
                        format!("unsigned JWT (alg none) sent in {described}"),
                    );
                }
                if jwt.expired {
                    push(
                        rule_ids::CREDENTIAL_JWT_EXPIRED,
                        credentials.jwt_expired,
                        format!("expired JWT sent in {described}"),
                    );
                }
            }
        }
    }
    out
}

/// A credential's violations at their configured severity, one step lower for a token that is
/// public by design (a Supabase `anon` key): still reported, not silenced.
fn for_finding(finding: &crate::credentials::Finding, severity: Severity) -> Severity {
    if finding.jwt.as_ref().is_some_and(|j| j.public) {
        severity.lower()
    } else {
        severity
    }
}

pub(super) fn rate_rules_for<'p>(rules: &'p Rules, call: &CallView) -> Vec<&'p RateRule> {
    if rules.rate.is_empty() {
        return Vec::new();
    }
    let matched: Vec<bool> = rules
        .selectors
        .iter()
        .map(|s| s.matches(call.workload))
        .collect();
    let host = call.destination.host.map(normalize_host);
    let host = host.as_deref();
    rules
        .rate
        .iter()
        .filter(|rule| {
            rule.direction.includes(call.direction)
                && rule.scope.applies(&matched)
                && (rule.hosts.is_empty() || host.is_some_and(|h| rule.hosts.matches(h)))
                && methods_match(&rule.methods, call.method)
                && rule
                    .path
                    .as_ref()
                    .is_none_or(|p| p.matches(call.path_template))
        })
        .collect()
}
