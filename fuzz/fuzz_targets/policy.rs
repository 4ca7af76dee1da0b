//! Drives the policy loader (`monitor::policy::Policy::from_yaml`, what `monitor policy check`
//! and the daemon's reload use) with arbitrary text, and evaluates every policy it accepts
//! against a few calls. Seeds: the built-in default policy, the examples in `docs/policy.md`
//! and the documents in the policy unit tests.
//!
//! Invariants, beyond "no panic" (and no hang: aliases and deep nesting must stay bounded):
//! - a rejected document gets at least one error, each with a non-empty message and a line and
//!   column inside the text as YAML counts them (column 1 past the end of the line allowed);
//! - errors come sorted by position and without duplicates, as `policy check` prints them;
//! - loading is deterministic: the same text gives the same errors;
//! - an accepted policy evaluates calls without panicking, and every violation it reports names
//!   a rule and, when it points at a finding, one that exists.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use monitor::{
    credentials::{CredentialKind, Finding, Location},
    policy::{CallView, Client, Destination, Policy, PolicyErrors, Workload},
    protocols::CallDirection,
};

/// YAML's lines: it breaks on LF, CRLF, CR, NEL, LS and PS. Returns each line's length in
/// characters.
fn yaml_lines(text: &str) -> Vec<usize> {
    let mut lines = vec![0usize];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(0);
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => lines.push(0),
            _ => *lines.last_mut().expect("never empty") += 1,
        }
    }
    lines
}

fn check_errors(text: &str, errors: &PolicyErrors) {
    assert!(!errors.errors.is_empty(), "rejected without an error");
    let lines = yaml_lines(text);
    for e in &errors.errors {
        assert!(!e.message.trim().is_empty(), "empty error message");
        assert!(
            e.line >= 1 && e.line <= lines.len(),
            "line {} outside the {} lines of the text: {e}",
            e.line,
            lines.len()
        );
        let width = lines[e.line - 1];
        assert!(
            e.column >= 1 && e.column <= width + 1,
            "column {} outside line {} ({width} characters): {e}",
            e.column,
            e.line
        );
        if let Some(hint) = &e.hint {
            assert!(!hint.trim().is_empty(), "empty hint");
        }
    }
    for pair in errors.errors.windows(2) {
        assert!(pair[0] < pair[1], "errors not sorted or duplicated");
    }
}

fn finding(kind: CredentialKind, location: Location) -> Finding {
    Finding {
        kind,
        location,
        length: 40,
        prefix: None,
        fingerprint: "0123456789abcdef".into(),
        jwt: None,
    }
}

fn evaluate(policy: &Policy) {
    let findings = [
        finding(
            CredentialKind::BearerToken,
            Location::Header {
                name: "authorization".into(),
            },
        ),
        finding(
            CredentialKind::AwsAccessKey,
            Location::Query {
                parameter: "key".into(),
            },
        ),
        finding(CredentialKind::GithubToken, Location::Path),
    ];
    // A pod's process, so that fuzzed `k8s` selectors are evaluated too.
    let pod = monitor::kubernetes::PodMeta {
        uid: "5f0c2a8e-9a51-4f8e-8f0e-3b2a1c9d7e6f".into(),
        namespace: "payments".into(),
        name: "checkout-6d4b9c7f5d-x2k8q".into(),
        labels: [
            ("app".to_owned(), "checkout".to_owned()),
            ("team".to_owned(), "payments".to_owned()),
        ]
        .into(),
        owner: Some(monitor::kubernetes::Owner {
            kind: "Deployment".into(),
            name: "checkout".into(),
        }),
        service_account: Some("checkout".into()),
        containers: Default::default(),
        mirror_of: None,
    };
    let labels = monitor::kubernetes::Labels(std::sync::Arc::new(pod.labels.clone()));
    let identity = monitor::kubernetes::K8sIdentity::in_pod(&pod, &labels, None);
    let workloads = [
        Workload {
            pid: 1,
            command: "curl",
            executable: Some("/usr/bin/curl"),
            uid: Some(1000),
            container_id: None,
            k8s: None,
        },
        Workload {
            pid: 2,
            command: "python3",
            executable: None,
            uid: None,
            container_id: Some("0123456789ab"),
            k8s: Some(&identity),
        },
    ];
    let destinations = [
        Destination {
            host: Some("api.github.com"),
            port: Some(443),
            ip: Some(IpAddr::V4(Ipv4Addr::new(140, 82, 112, 5))),
            tls: true,
        },
        Destination {
            host: None,
            port: Some(80),
            ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            tls: false,
        },
    ];
    for workload in &workloads {
        for destination in &destinations {
            for (method, path, found, direction) in [
                ("GET", "/", &findings[..0], CallDirection::Outbound),
                (
                    "POST",
                    "/v1/users/{id}",
                    &findings[..],
                    CallDirection::Outbound,
                ),
                (
                    "POST",
                    "/v1/users/{id}",
                    &findings[..],
                    CallDirection::Inbound,
                ),
            ] {
                let call = CallView {
                    direction,
                    workload,
                    client: Client {
                        label: Some("203.0.113.9"),
                        ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
                    },
                    destination,
                    method,
                    path_template: path,
                    findings: found,
                };
                for v in policy.evaluate(&call) {
                    assert!(!v.rule_id.is_empty(), "violation without a rule id");
                    assert!(
                        v.finding.is_none_or(|i| i < found.len()),
                        "violation points past the findings"
                    );
                }
                let _ = policy.rate_rules_for(&call);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // `policy check` reads the file as UTF-8; other bytes never reach the loader.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::from_yaml(text) {
        Ok(policy) => evaluate(&policy),
        Err(errors) => {
            check_errors(text, &errors);
            let again = Policy::from_yaml(text).expect_err("accepted on the second load");
            assert_eq!(errors, again, "loading is not deterministic");
            assert!(!errors.to_string().is_empty());
        }
    }
});
