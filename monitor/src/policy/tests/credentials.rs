//! Credential rules: in the URL, wrong destination, to a denied or unlisted destination, JWT flags.
use super::{Call, finding, header, jwt, policy};
use crate::{
    credentials::{CredentialKind, Location},
    policy::Severity,
};

fn query(parameter: &str) -> Location {
    Location::Query {
        parameter: parameter.to_owned(),
    }
}

#[test]
fn credential_in_url() {
    let p = policy("version: 1\n");
    let v = Call::to("api.example.com")
        .with(finding(
            CredentialKind::QueryParameterSecret,
            query("api_key"),
        ))
        .with(finding(CredentialKind::GenericSecret, Location::Path))
        .with(finding(
            CredentialKind::BearerToken,
            header("authorization"),
        ))
        .with(finding(CredentialKind::GenericSecret, Location::Body))
        .eval(&p);
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.severity, v.finding))
            .collect::<Vec<_>>(),
        [
            ("credential.in_url", Severity::High, Some(0)),
            ("credential.in_url", Severity::High, Some(1)),
        ]
    );
    // The summary names the kind, never the parameter value or the fingerprint.
    assert!(
        v[0].summary.contains("query_parameter_secret"),
        "{}",
        v[0].summary
    );
    assert!(!v[0].summary.contains("f1e2d3"));
    assert!(!v[0].summary.contains("AKIA"));
}

#[test]
fn wrong_destination_with_the_defaults() {
    let p = policy("version: 1\n");
    let aws = || finding(CredentialKind::AwsAccessKey, header("authorization"));
    let v = Call::to("evil.example.com").with(aws()).eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule_id, "credential.wrong_destination");
    assert_eq!(v[0].severity, Severity::Critical);
    assert_eq!(v[0].finding, Some(0));
    assert!(v[0].summary.contains("aws_access_key"), "{}", v[0].summary);
    assert!(
        Call::to("s3.us-east-1.amazonaws.com")
            .with(aws())
            .eval(&p)
            .is_empty()
    );
    // The apex is not `*.amazonaws.com`.
    assert_eq!(
        Call::to("amazonaws.com").with(aws()).ids(&p),
        ["credential.wrong_destination"]
    );
    // No host: cannot be shown to be allowed.
    assert_eq!(
        Call::to("x").no_host().with(aws()).ids(&p),
        ["credential.wrong_destination"]
    );
    // Kinds without an entry may go anywhere.
    assert!(
        Call::to("evil.example.com")
            .with(finding(
                CredentialKind::BearerToken,
                header("authorization")
            ))
            .eval(&p)
            .is_empty()
    );
    let openai = finding(CredentialKind::OpenaiKey, header("authorization"));
    assert!(
        Call::to("api.openai.com")
            .with(openai.clone())
            .eval(&p)
            .is_empty()
    );
    assert_eq!(
        Call::to("api.anthropic.com").with(openai).ids(&p),
        ["credential.wrong_destination"]
    );
}

#[test]
fn a_document_entry_replaces_the_default_for_its_kind() {
    let p = policy(
        r#"
version: 1
credentials:
  allowed_destinations:
    gitlab_token: [gitlab.internal.example]
    bearer_token: ["*.example.com"]
    stripe_key: ["*"]
"#,
    );
    let gitlab = || finding(CredentialKind::GitlabToken, header("private-token"));
    assert!(
        Call::to("gitlab.internal.example")
            .with(gitlab())
            .eval(&p)
            .is_empty()
    );
    assert_eq!(
        Call::to("gitlab.com").with(gitlab()).ids(&p),
        ["credential.wrong_destination"]
    );
    let bearer = || finding(CredentialKind::BearerToken, header("authorization"));
    assert!(
        Call::to("api.example.com")
            .with(bearer())
            .eval(&p)
            .is_empty()
    );
    assert_eq!(
        Call::to("api.other.com").with(bearer()).ids(&p),
        ["credential.wrong_destination"]
    );
    let stripe = finding(CredentialKind::StripeKey, header("authorization"));
    assert!(Call::to("anywhere.test").with(stripe).eval(&p).is_empty());
    // Other defaults stay.
    assert_eq!(
        Call::to("x.test")
            .with(finding(
                CredentialKind::AwsAccessKey,
                header("authorization")
            ))
            .ids(&p),
        ["credential.wrong_destination"]
    );

    let none = policy("version: 1\ncredentials:\n  default_allowed_destinations: false\n");
    assert!(
        Call::to("x.test")
            .with(finding(
                CredentialKind::AwsAccessKey,
                header("authorization")
            ))
            .eval(&none)
            .is_empty()
    );
}

#[test]
fn credential_to_a_denied_or_unlisted_destination() {
    let p = policy(
        "version: 1\ndestinations:\n  - {id: deny-paste, action: deny, hosts: [pastebin.com]}\n",
    );
    let v = Call::to("pastebin.com")
        .with(finding(
            CredentialKind::BearerToken,
            header("authorization"),
        ))
        .eval(&p);
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.severity, v.finding))
            .collect::<Vec<_>>(),
        [
            ("deny-paste", Severity::High, None),
            ("credential.not_allowed", Severity::High, Some(0)),
        ]
    );
    assert!(v[1].summary.contains("deny-paste"), "{}", v[1].summary);

    let allowlist = policy(
        r#"
version: 1
settings: {mode: allowlist}
destinations:
  - {id: ok, action: allow, hosts: [api.ok.test]}
credentials:
  severities: {not_allowed: critical}
"#,
    );
    let bearer = || finding(CredentialKind::BearerToken, header("authorization"));
    let v = Call::to("other.test").with(bearer()).eval(&allowlist);
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.severity))
            .collect::<Vec<_>>(),
        [
            ("destination.not_allowed", Severity::Medium),
            ("credential.not_allowed", Severity::Critical),
        ]
    );
    assert!(
        Call::to("api.ok.test")
            .with(bearer())
            .eval(&allowlist)
            .is_empty()
    );
    // No credential: only the destination alert.
    assert_eq!(
        Call::to("other.test").ids(&allowlist),
        ["destination.not_allowed"]
    );
}

#[test]
fn jwt_flags() {
    let p = policy("version: 1\n");
    let v = Call::to("api.test")
        .with(jwt(true, false))
        .with(jwt(false, true))
        .with(jwt(true, true))
        .with(jwt(false, false))
        .eval(&p);
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.severity, v.finding))
            .collect::<Vec<_>>(),
        [
            ("credential.jwt_unsigned", Severity::High, Some(0)),
            ("credential.jwt_expired", Severity::Low, Some(1)),
            ("credential.jwt_unsigned", Severity::High, Some(2)),
            ("credential.jwt_expired", Severity::Low, Some(2)),
        ]
    );
    let p = policy(
        "version: 1\ncredentials:\n  severities: {jwt_unsigned: critical, jwt_expired: info}\n",
    );
    let v = Call::to("api.test").with(jwt(true, true)).eval(&p);
    assert_eq!(v[0].severity, Severity::Critical);
    assert_eq!(v[1].severity, Severity::Info);
}

/// A JWT that is public by design (a Supabase `anon` key) is still reported, one step lower.
#[test]
fn public_by_design_tokens_alert_one_step_lower() {
    let p = policy("version: 1\n");
    let in_url = |public| {
        let mut f = jwt(false, false);
        f.location = Location::Query {
            parameter: "apikey".to_owned(),
        };
        if let Some(j) = f.jwt.as_mut() {
            j.public = public;
        }
        Call::to("project.supabase.example").with(f).eval(&p)
    };
    let secret = in_url(false);
    let public = in_url(true);
    assert_eq!(secret[0].rule_id, "credential.in_url");
    assert_eq!(public[0].rule_id, "credential.in_url");
    assert_eq!(secret[0].severity, Severity::High);
    assert_eq!(public[0].severity, Severity::Medium);
}

#[test]
fn several_problems_with_one_finding_give_several_violations() {
    let p = policy("version: 1\n");
    let v = Call::to("evil.test")
        .plaintext()
        .with(finding(
            CredentialKind::AwsAccessKey,
            query("X-Amz-Credential"),
        ))
        .eval(&p);
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.finding))
            .collect::<Vec<_>>(),
        [
            ("credential.plaintext", Some(0)),
            ("credential.in_url", Some(0)),
            ("credential.wrong_destination", Some(0)),
        ]
    );
}

#[test]
fn credential_rules_can_be_scoped() {
    let p = policy(
        r#"
version: 1
workloads:
  ci: {command: [runner]}
credentials:
  exempt_workloads: [ci]
"#,
    );
    let aws = || finding(CredentialKind::AwsAccessKey, header("authorization"));
    assert!(
        Call::to("minio.test")
            .command("runner")
            .with(aws())
            .eval(&p)
            .is_empty()
    );
    assert_eq!(
        Call::to("minio.test").command("app").with(aws()).ids(&p),
        ["credential.wrong_destination"]
    );
}

#[test]
fn detector_settings_come_from_the_credentials_section() {
    let p = policy(
        "version: 1\ncredentials:\n  api_key_headers: [X-My-Key, x-my-key, x-other]\n  query_parameters: [my_token]\n",
    );
    let detector = &p.settings().detector;
    assert_eq!(detector.extra_api_key_headers, ["x-my-key", "x-other"]);
    assert_eq!(detector.extra_query_parameters, ["my_token"]);
}

/// One vocabulary: the name a kind has in alerts and API calls (its serialised form) is the
/// name a policy accepts for it, and the name `docs/policy.md` lists. A kind whose spellings
/// drift (`aws_sig_v4` in alerts, `aws_sigv4` in the policy) fails here.
#[test]
fn each_kind_has_one_name_in_alerts_policy_and_docs() {
    let docs = include_str!("../../../../docs/policy.md");
    let listed = docs
        .split("Credential kind names:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("docs/policy.md lists the credential kind names");
    let documented: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    let names: Vec<&str> = CredentialKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(documented, names, "docs/policy.md and the kinds disagree");
    for &kind in CredentialKind::ALL {
        let name = kind.as_str();
        let serialised = serde_json::to_value(finding(kind, header("x-test"))).unwrap();
        assert_eq!(serialised["kind"], name, "{kind:?}: alert/API-call name");
        // The policy accepts the serialised name, and means this kind by it.
        let p = policy(&format!(
            "version: 1\ncredentials:\n  allowed_destinations:\n    {}: [allowed.example]\n",
            serialised["kind"].as_str().unwrap()
        ));
        assert!(
            Call::to("allowed.example")
                .with(finding(kind, header("x-test")))
                .eval(&p)
                .is_empty(),
            "{name}: the policy entry must apply to this kind"
        );
        assert_eq!(
            Call::to("elsewhere.example")
                .with(finding(kind, header("x-test")))
                .ids(&p),
            ["credential.wrong_destination"],
            "{name}"
        );
    }
}
