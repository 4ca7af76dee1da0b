//! The transport rule: plaintext HTTP to a destination that is not internal.
use super::{Call, finding, header, policy};
use crate::{
    credentials::CredentialKind,
    policy::{Policy, Severity},
};

fn minimal() -> Policy {
    policy("version: 1\n")
}

#[test]
fn plaintext_to_a_public_destination() {
    let p = minimal();
    let v = Call::to("api.example.com").plaintext().eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule_id, "transport.plaintext");
    assert_eq!(v[0].severity, Severity::Medium);
    assert_eq!(v[0].finding, None);
    assert!(
        v[0].summary.contains("GET / to api.example.com"),
        "{}",
        v[0].summary
    );
    assert!(Call::to("api.example.com").eval(&p).is_empty());
}

#[test]
fn loopback_is_always_internal() {
    let p = minimal();
    assert!(
        Call::to("svc")
            .plaintext()
            .ip("127.0.0.1")
            .eval(&p)
            .is_empty()
    );
    assert!(
        Call::to("svc")
            .plaintext()
            .ip("127.8.9.10")
            .eval(&p)
            .is_empty()
    );
    assert!(Call::to("svc").plaintext().ip("::1").eval(&p).is_empty());
    assert!(
        Call::to("svc")
            .plaintext()
            .ip("::ffff:127.0.0.1")
            .eval(&p)
            .is_empty()
    );
    assert_eq!(
        Call::to("svc").plaintext().ip("10.0.0.1").ids(&p),
        ["transport.plaintext"]
    );
}

#[test]
fn configured_internal_networks() {
    let p = policy("version: 1\nsettings:\n  internal_networks: [10.0.0.0/8, 'fd00::/8']\n");
    assert!(
        Call::to("svc")
            .plaintext()
            .ip("10.2.3.4")
            .eval(&p)
            .is_empty()
    );
    assert!(
        Call::to("svc")
            .plaintext()
            .ip("fd12::1")
            .eval(&p)
            .is_empty()
    );
    assert!(
        Call::to("svc")
            .plaintext()
            .ip("127.0.0.1")
            .eval(&p)
            .is_empty()
    );
    assert_eq!(
        Call::to("svc").plaintext().ip("192.168.1.1").ids(&p),
        ["transport.plaintext"]
    );
    let nets = &p.settings().internal_networks;
    assert_eq!(nets.len(), 4, "{nets:?}");
}

#[test]
fn without_an_ip_the_host_decides() {
    let p = policy("version: 1\nsettings:\n  internal_networks: [10.0.0.0/8]\n");
    let call = |host: &str| Call::to(host).plaintext().no_ip();
    assert!(call("localhost").eval(&p).is_empty());
    assert!(call("api.localhost").eval(&p).is_empty());
    assert!(call("127.0.0.1").eval(&p).is_empty());
    assert!(call("10.9.9.9").eval(&p).is_empty());
    assert!(call("[::1]").eval(&p).is_empty());
    assert_eq!(call("8.8.8.8").ids(&p), ["transport.plaintext"]);
    assert_eq!(call("svc.cluster.local").ids(&p), ["transport.plaintext"]);
    assert_eq!(
        Call::to("x").plaintext().no_ip().no_host().ids(&p),
        ["transport.plaintext"]
    );
}

#[test]
fn with_credentials_one_alert_per_finding() {
    let p = minimal();
    let call = Call::to("api.example.com")
        .plaintext()
        .with(finding(
            CredentialKind::BearerToken,
            header("authorization"),
        ))
        .with(finding(CredentialKind::ApiKeyHeader, header("x-api-key")));
    let v = call.eval(&p);
    assert_eq!(v.len(), 2, "{v:?}");
    for (i, violation) in v.iter().enumerate() {
        assert_eq!(violation.rule_id, "credential.plaintext");
        assert_eq!(violation.severity, Severity::Critical);
        assert_eq!(violation.finding, Some(i));
    }
    assert!(
        v[0].summary.starts_with("bearer_token credential"),
        "{}",
        v[0].summary
    );
    assert!(
        v[1].summary.starts_with("api_key_header credential"),
        "{}",
        v[1].summary
    );
    // Internal: nothing.
    assert!(call.ip("127.0.0.1").eval(&p).is_empty());
}

#[test]
fn severities_exemptions_and_scope() {
    let p = policy(
        r#"
version: 1
workloads:
  legacy: {command: [legacy]}
  probe: {command: [probe]}
transport:
  severity: low
  with_credential_severity: high
  exempt_hosts: ["*.svc.cluster.local"]
  exempt_workloads: [legacy]
"#,
    );
    let v = Call::to("api.test").plaintext().eval(&p);
    assert_eq!(v[0].severity, Severity::Low);
    let v = Call::to("api.test")
        .plaintext()
        .with(finding(CredentialKind::BasicAuth, header("authorization")))
        .eval(&p);
    assert_eq!(
        (v[0].rule_id.as_str(), v[0].severity),
        ("credential.plaintext", Severity::High)
    );
    assert!(
        Call::to("db.ns.svc.cluster.local")
            .plaintext()
            .eval(&p)
            .is_empty()
    );
    assert!(
        Call::to("api.test")
            .plaintext()
            .command("legacy")
            .eval(&p)
            .is_empty()
    );

    let only = policy(
        "version: 1\nworkloads:\n  probe: {command: [probe]}\ntransport:\n  workloads: [probe]\n",
    );
    assert_eq!(
        Call::to("api.test").plaintext().command("probe").ids(&only),
        ["transport.plaintext"]
    );
    assert!(
        Call::to("api.test")
            .plaintext()
            .command("other")
            .eval(&only)
            .is_empty()
    );

    let off = policy("version: 1\ntransport: {require_tls: false}\n");
    assert!(Call::to("api.test").plaintext().eval(&off).is_empty());
}
