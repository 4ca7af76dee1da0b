//! The built-in default policy loads and behaves sensibly.
use std::time::Duration;

use super::{Call, finding, header};
use crate::{
    credentials::CredentialKind,
    policy::{DEFAULT_POLICY_YAML, Mode, Policy, Severity},
};

#[test]
fn loads_with_the_documented_settings() {
    if let Err(errors) = Policy::from_yaml(DEFAULT_POLICY_YAML) {
        panic!("the default policy does not load:\n{errors}");
    }
    let p = Policy::builtin_default();
    let settings = p.settings();
    assert_eq!(settings.mode, Mode::Denylist);
    assert_eq!(settings.suppression_window, Duration::from_secs(60));
    assert_eq!(settings.discovery, Some(Severity::Info));
    assert_eq!(
        settings.internal_networks,
        ["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    assert!(settings.detector.extra_api_key_headers.is_empty());
    assert!(p.rate_rules().is_empty());
}

#[test]
fn an_aws_key_to_a_non_aws_host_is_critical() {
    let p = Policy::builtin_default();
    let v = Call::to("collector.evil.example")
        .with(finding(
            CredentialKind::AwsAccessKey,
            header("x-amz-security-token"),
        ))
        .eval(&p);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule_id, "credential.wrong_destination");
    assert_eq!(v[0].severity, Severity::Critical);
}

#[test]
fn a_stripe_key_to_stripe_over_tls_is_clean() {
    let p = Policy::builtin_default();
    let call = Call::to("api.stripe.com")
        .request("POST", "/v1/charges")
        .with(finding(CredentialKind::StripeKey, header("authorization")));
    assert!(call.eval(&p).is_empty());
    // The same over plaintext is critical.
    let v = call.plaintext().eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].rule_id.as_str(), v[0].severity),
        ("credential.plaintext", Severity::Critical)
    );
}

/// The full example of docs/policy.md (its first YAML block) loads and does what it says.
#[test]
fn the_documented_example_loads() {
    let doc = include_str!("../../../../docs/policy.md");
    let start = doc.find("```yaml\n").expect("a yaml block") + 8;
    let end = start + doc[start..].find("```").expect("its end");
    let p = super::policy(&doc[start..end]);
    assert_eq!(p.settings().mode, Mode::Allowlist);
    let pay = || {
        Call::to("api.stripe.com")
            .command("payments-api")
            .executable(Some("/opt/pay/bin/api"))
            .container(Some("3f4e2a0011"))
    };
    assert!(pay().eval(&p).is_empty());
    assert_eq!(pay().command("other").ids(&p), ["destination.not_allowed"]);
    assert_eq!(Call::to("x.pastebin.com").ids(&p), ["deny-paste-sites"]);
    let mut chat = pay().request("POST", "/v1/chat/completions");
    chat.host = Some("api.openai.com".to_owned());
    assert_eq!(chat.rates(&p), ["openai-calls"]);
}

#[test]
fn other_defaults() {
    let p = Policy::builtin_default();
    assert_eq!(
        Call::to("pastebin.com").ids(&p),
        ["deny-paste-and-file-drop-sites"]
    );
    assert_eq!(
        Call::to("api.example.com").plaintext().ids(&p),
        ["transport.plaintext"]
    );
    assert!(
        Call::to("localhost")
            .plaintext()
            .ip("127.0.0.1")
            .eval(&p)
            .is_empty()
    );
    assert!(
        Call::to("api.github.com")
            .with(finding(
                CredentialKind::GithubToken,
                header("authorization")
            ))
            .eval(&p)
            .is_empty()
    );
}
