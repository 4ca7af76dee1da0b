//! Direction: which rules apply to calls a workload makes and which to calls it serves.
use super::{Call, finding, header, policy};
use crate::{
    credentials::{CredentialKind, Location},
    policy::Severity,
};

fn stripe_in_auth() -> crate::credentials::Finding {
    finding(CredentialKind::StripeKey, header("authorization"))
}

fn stripe_in_url() -> crate::credentials::Finding {
    finding(
        CredentialKind::StripeKey,
        Location::Query {
            parameter: "api_key".to_owned(),
        },
    )
}

/// The issue's case: a server on this host received a Stripe key. It sent it nowhere and
/// called nobody: no destination or ownership rule is about it.
#[test]
fn a_served_call_is_not_judged_as_if_the_server_had_made_it() {
    let p = policy(
        "version: 1\nsettings: {mode: allowlist}\ndestinations:\n  - {id: ok, action: allow, hosts: [api.stripe.com]}\n  - {id: no-local, action: deny, cidrs: [127.0.0.0/8]}\n",
    );
    let served = Call::to("127.0.0.1")
        .ip("127.0.0.1")
        .with(stripe_in_auth())
        .served_to("127.0.0.1");
    assert_eq!(served.ids(&p), Vec::<String>::new());
    // The client's view of the same exchange is judged.
    let made = Call::to("127.0.0.1").ip("127.0.0.1").with(stripe_in_auth());
    assert_eq!(
        made.ids(&p),
        [
            "no-local",
            "credential.wrong_destination",
            "credential.not_allowed"
        ]
    );
}

#[test]
fn destination_rules_can_be_about_served_endpoints_by_method_and_path() {
    let p = policy(
        r#"
version: 1
destinations:
  - id: legacy-v1-export
    action: deny
    direction: inbound
    methods: [GET]
    paths: ["/v1/export/**"]
    severity: medium
"#,
    );
    let v = Call::to("api.internal")
        .request("GET", "/v1/export/users/{id}")
        .served_to("10.0.0.7")
        .eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule_id, "legacy-v1-export");
    assert_eq!(v[0].severity, Severity::Medium);
    assert!(
        v[0].summary
            .starts_with("GET /v1/export/users/{id} served to 10.0.0.7"),
        "{}",
        v[0].summary
    );
    // Other methods, other paths and the outbound view do not match.
    let ok = ["POST /v1/export/users", "GET /v2/export/users"];
    for request in ok {
        let (method, path) = request.split_once(' ').unwrap();
        assert!(
            Call::to("api.internal")
                .request(method, path)
                .served_to("10.0.0.7")
                .eval(&p)
                .is_empty()
        );
    }
    assert!(
        Call::to("api.internal")
            .request("GET", "/v1/export/users")
            .eval(&p)
            .is_empty()
    );
}

#[test]
fn a_credential_received_in_plaintext_from_outside_alerts_once_per_credential() {
    let p = policy("version: 1\nsettings: {internal_networks: [10.0.0.0/8]}\n");
    let served = |client: &str| {
        Call::to("api.internal")
            .plaintext()
            .ip("10.1.2.3")
            .with(stripe_in_auth())
            .served_to(client)
    };
    let v = served("203.0.113.9").eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule_id, "credential.plaintext");
    assert_eq!(v[0].severity, Severity::Critical);
    assert_eq!(v[0].finding, Some(0));
    assert!(
        v[0].summary
            .contains("received in plaintext HTTP from a non-internal client")
            && v[0].summary.contains("served to 203.0.113.9"),
        "{}",
        v[0].summary
    );
    // From an internal client, or without a credential, or over TLS: nothing.
    assert!(served("10.9.9.9").eval(&p).is_empty());
    assert!(served("127.0.0.1").eval(&p).is_empty());
    let mut no_credential = served("203.0.113.9");
    no_credential.findings.clear();
    assert!(no_credential.eval(&p).is_empty());
    // `transport.direction: outbound` keeps the pre-direction behaviour.
    let outbound_only = policy("version: 1\ntransport: {direction: outbound}\n");
    assert!(served("203.0.113.9").eval(&outbound_only).is_empty());
}

#[test]
fn a_credential_in_the_url_of_a_served_request_alerts_and_can_be_turned_to_outbound_only() {
    let p = policy("version: 1\n");
    let served = Call::to("api.internal")
        .request("GET", "/v1/x")
        .with(stripe_in_url())
        .served_to("10.0.0.7");
    let v = served.eval(&p);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule_id, "credential.in_url");
    assert!(
        v[0].summary
            .ends_with("credential in the URL of GET /v1/x served to 10.0.0.7"),
        "{}",
        v[0].summary
    );
    let outbound_only = policy("version: 1\ncredentials: {direction: outbound}\n");
    assert!(served.eval(&outbound_only).is_empty());
}

#[test]
fn rate_rules_apply_to_their_direction_only() {
    let p = policy(
        r#"
version: 1
rate_limits:
  - {id: made, limit: 1, per: 1s}
  - {id: served, direction: inbound, limit: 1, per: 1s, by: [client, method, path]}
  - {id: any, direction: both, limit: 1, per: 1s}
"#,
    );
    assert_eq!(Call::to("a").rates(&p), ["made", "any"]);
    assert_eq!(
        Call::to("a").served_to("10.0.0.7").rates(&p),
        ["served", "any"]
    );
    let client_keyed = p
        .rate_rules()
        .iter()
        .map(|r| (r.id.as_str(), r.by_client))
        .collect::<Vec<_>>();
    assert_eq!(
        client_keyed,
        [("made", false), ("served", true), ("any", false)]
    );
}

#[test]
fn auth_failure_settings_have_defaults_and_are_checked() {
    let defaults = policy("version: 1\n");
    let rules = defaults.auth_failures();
    assert!(rules.enabled);
    assert_eq!(
        (
            rules.threshold,
            rules.credential_threshold,
            rules.window.as_secs()
        ),
        (10, 5, 60)
    );
    let custom = policy(
        "version: 1\nauth_failures: {threshold: 3, window: 30s, direction: inbound, severity: high}\n",
    );
    let rules = custom.auth_failures();
    assert_eq!((rules.threshold, rules.window.as_secs()), (3, 30));
    assert_eq!(rules.severity, Severity::High);
    let errors = crate::policy::Policy::from_yaml(
        "version: 1\nauth_failures:\n  threshold: 0\n  window: 0s\n",
    )
    .expect_err("a zero threshold and window are errors")
    .to_string();
    assert!(
        errors.contains("`threshold` must be at least 1"),
        "{errors}"
    );
    assert!(
        errors.contains("`window` must be longer than zero"),
        "{errors}"
    );
    assert!(
        crate::policy::Policy::from_yaml("version: 1\ndestinations:\n  - {id: x, action: deny, direction: sideways, hosts: [a]}\n")
            .is_err()
    );
    let allow_inbound = crate::policy::Policy::from_yaml(
        "version: 1\nsettings: {mode: allowlist}\ndestinations:\n  - {id: x, action: allow, direction: inbound, hosts: [a]}\n",
    )
    .expect_err("an inbound allow rule does nothing")
    .to_string();
    assert!(allow_inbound.contains("has no effect"), "{allow_inbound}");
}
