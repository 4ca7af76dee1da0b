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

fn pod(
    namespace: &str,
    labels: &[(&str, &str)],
    owner: Option<(&str, &str)>,
) -> crate::kubernetes::K8sIdentity {
    use crate::kubernetes::{K8sIdentity, Labels, Owner, PodMeta};
    let meta = PodMeta {
        uid: "5f0c2a8e-9a51-4f8e-8f0e-3b2a1c9d7e6f".into(),
        namespace: namespace.into(),
        name: "checkout-6d4b9c7f5d-x2k8q".into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        owner: owner.map(|(kind, name)| Owner {
            kind: kind.into(),
            name: name.into(),
        }),
        service_account: Some("checkout".into()),
        containers: Default::default(),
        mirror_of: None,
    };
    let labels = Labels(std::sync::Arc::new(meta.labels.clone()));
    K8sIdentity::in_pod(&meta, &labels, None)
}

#[test]
fn k8s_namespace_owner_and_service_account() {
    let p = scoped(concat!(
        "  payments: {k8s: {namespace: [payments, billing]}}\n",
        "  checkout: {k8s: {owner: [Deployment/checkout]}}\n",
        "  sa: {k8s: {service_account: [checkout]}}\n",
    ));
    let call = Call::to("h.test");
    let checkout = pod("payments", &[], Some(("Deployment", "checkout")));
    assert_eq!(
        call.clone().pod(Some(checkout)).ids(&p),
        ["deny-payments", "deny-checkout", "deny-sa"]
    );
    let db = pod("billing", &[], Some(("StatefulSet", "checkout")));
    assert_eq!(
        call.clone().pod(Some(db)).ids(&p),
        ["deny-payments", "deny-sa"]
    );
    let elsewhere = pod("web", &[], None);
    assert_eq!(call.clone().pod(Some(elsewhere)).ids(&p), ["deny-sa"]);
    // Outside Kubernetes, and in a pod not known yet: no `k8s` selector matches.
    assert!(call.clone().pod(None).ids(&p).is_empty());
    let unknown =
        crate::kubernetes::K8sIdentity::unknown_pod("5f0c2a8e-9a51-4f8e-8f0e-3b2a1c9d7e6f");
    assert!(call.pod(Some(unknown)).ids(&p).is_empty());
}

#[test]
fn k8s_labels_as_kubernetes_label_selectors() {
    let p = scoped(concat!(
        "  web: {k8s: {labels: {matchLabels: {app: web, tier: front}}}}\n",
        "  expr:\n",
        "    k8s:\n",
        "      labels:\n",
        "        matchExpressions:\n",
        "          - {key: env, operator: In, values: [prod, staging]}\n",
        "          - {key: canary, operator: DoesNotExist}\n",
        "          - {key: team, operator: NotIn, values: [legacy]}\n",
        "          - {key: app.kubernetes.io/name, operator: Exists}\n",
    ));
    let call = Call::to("h.test");
    let ids = |labels: &[(&str, &str)]| call.clone().pod(Some(pod("ns", labels, None))).ids(&p);
    assert_eq!(ids(&[("app", "web"), ("tier", "front")]), ["deny-web"]);
    assert!(ids(&[("app", "web")]).is_empty());
    assert_eq!(
        ids(&[("env", "prod"), ("app.kubernetes.io/name", "x")]),
        ["deny-expr"]
    );
    assert!(
        ids(&[
            ("env", "prod"),
            ("app.kubernetes.io/name", "x"),
            ("canary", "1")
        ])
        .is_empty()
    );
    assert!(
        ids(&[
            ("env", "prod"),
            ("app.kubernetes.io/name", "x"),
            ("team", "legacy")
        ])
        .is_empty()
    );
    assert_eq!(
        ids(&[
            ("env", "staging"),
            ("app.kubernetes.io/name", "x"),
            ("team", "core")
        ]),
        ["deny-expr"]
    );
    assert!(ids(&[("env", "dev"), ("app.kubernetes.io/name", "x")]).is_empty());
}

#[test]
fn k8s_and_process_fields_are_anded() {
    let p = scoped("  api: {command: [api], k8s: {namespace: [payments]}}\n");
    let call = Call::to("h.test").pod(Some(pod("payments", &[], None)));
    assert_eq!(call.clone().command("api").ids(&p), ["deny-api"]);
    assert!(call.command("worker").ids(&p).is_empty());
}

#[test]
fn k8s_bare_replicasets_and_empty_values_as_kubernetes_accepts_them() {
    let p = scoped(concat!(
        "  rs: {k8s: {owner: [ReplicaSet/canary-7d9f]}}\n",
        "  flagged: {k8s: {labels: {matchExpressions: [{key: canary, operator: Exists, values: []}]}}}\n",
    ));
    let call = Call::to("h.test");
    assert_eq!(
        call.clone()
            .pod(Some(pod("ns", &[], Some(("ReplicaSet", "canary-7d9f")))))
            .ids(&p),
        ["deny-rs"]
    );
    assert_eq!(
        call.pod(Some(pod("ns", &[("canary", "1")], None))).ids(&p),
        ["deny-flagged"]
    );
}
