//! Per-workload scoping through each selector field, and AND/OR semantics.
use super::{Call, policy};

/// One deny rule per workload so that the alerts tell which selectors matched.
fn scoped(workloads: &str) -> crate::policy::Policy {
    let mut yaml = format!("version: 1\nworkloads:\n{workloads}destinations:\n");
    for line in workloads.lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.split(':').next())
            && !line.starts_with("   ")
        {
            yaml.push_str(&format!(
                "  - {{id: deny-{name}, action: deny, hosts: ['*'], workloads: [{name}]}}\n"
            ));
        }
    }
    policy(&yaml)
}

#[test]
fn command_is_exact() {
    let p = scoped("  pay: {command: [payments-api, pay-worker]}\n");
    assert_eq!(
        Call::to("h.test").command("payments-api").ids(&p),
        ["deny-pay"]
    );
    assert_eq!(
        Call::to("h.test").command("pay-worker").ids(&p),
        ["deny-pay"]
    );
    assert!(Call::to("h.test").command("payments").ids(&p).is_empty());
    assert!(
        Call::to("h.test")
            .command("payments-api2")
            .ids(&p)
            .is_empty()
    );
}

#[test]
fn executable_is_a_glob() {
    let p =
        scoped("  opt: {executable: ['/opt/pay/**']}\n  py: {executable: ['/usr/bin/python3*']}\n");
    let call = Call::to("h.test");
    assert_eq!(
        call.clone().executable(Some("/opt/pay/bin/api")).ids(&p),
        ["deny-opt"]
    );
    assert_eq!(
        call.clone().executable(Some("/usr/bin/python3.11")).ids(&p),
        ["deny-py"]
    );
    // `*` stays within one path component.
    assert!(
        call.clone()
            .executable(Some("/usr/bin/python3/x"))
            .ids(&p)
            .is_empty()
    );
    assert!(
        call.clone()
            .executable(Some("/opt/other/api"))
            .ids(&p)
            .is_empty()
    );
    // Unknown executable: no match.
    assert!(call.executable(None).ids(&p).is_empty());
}

#[test]
fn uid() {
    let p = scoped("  root: {uid: [0]}\n");
    assert_eq!(Call::to("h.test").uid(Some(0)).ids(&p), ["deny-root"]);
    assert!(Call::to("h.test").uid(Some(1000)).ids(&p).is_empty());
    assert!(Call::to("h.test").uid(None).ids(&p).is_empty());
}

#[test]
fn container_id_exact_or_glob() {
    let id = "3f4e2a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";
    let p = scoped(&format!(
        "  exact: {{container_id: ['{id}']}}\n  prefix: {{container_id: ['3f4e2a*']}}\n"
    ));
    let call = Call::to("h.test");
    assert_eq!(
        call.clone().container(Some(id)).ids(&p),
        ["deny-exact", "deny-prefix"]
    );
    assert_eq!(
        call.clone().container(Some("3f4e2aFFFF")).ids(&p),
        ["deny-prefix"]
    );
    assert!(call.clone().container(Some("abcdef")).ids(&p).is_empty());
    // On the host (no container): no match.
    assert!(call.container(None).ids(&p).is_empty());
}

#[test]
fn fields_are_anded_values_are_ored() {
    let p = scoped("  both: {command: [api, worker], uid: [1000, 1001]}\n");
    let call = Call::to("h.test");
    assert_eq!(
        call.clone().command("api").uid(Some(1001)).ids(&p),
        ["deny-both"]
    );
    assert_eq!(
        call.clone().command("worker").uid(Some(1000)).ids(&p),
        ["deny-both"]
    );
    assert!(call.clone().command("api").uid(Some(0)).ids(&p).is_empty());
    assert!(call.command("other").uid(Some(1000)).ids(&p).is_empty());
}

#[test]
fn a_rule_naming_several_workloads_applies_to_any() {
    let p = policy(
        r#"
version: 1
workloads:
  a: {command: [a]}
  b: {command: [b]}
destinations:
  - {id: deny-ab, action: deny, hosts: [x.test], workloads: [a, b]}
  - {id: deny-all, action: deny, hosts: [y.test]}
"#,
    );
    assert_eq!(Call::to("x.test").command("a").ids(&p), ["deny-ab"]);
    assert_eq!(Call::to("x.test").command("b").ids(&p), ["deny-ab"]);
    assert!(Call::to("x.test").command("c").ids(&p).is_empty());
    // No `workloads`: every workload.
    assert_eq!(Call::to("y.test").command("c").ids(&p), ["deny-all"]);
}

#[test]
fn scoped_allow_rules_in_allowlist_mode() {
    let p = policy(
        r#"
version: 1
settings: {mode: allowlist}
workloads:
  pay: {command: [pay]}
destinations:
  - {id: pay-stripe, action: allow, hosts: [api.stripe.com], workloads: [pay]}
"#,
    );
    assert!(Call::to("api.stripe.com").command("pay").ids(&p).is_empty());
    assert_eq!(
        Call::to("api.stripe.com").command("other").ids(&p),
        ["destination.not_allowed"]
    );
}
