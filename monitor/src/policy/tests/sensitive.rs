//! The `sensitive_data` rules: card data over plaintext, data in URLs, kinds sent to hosts not
//! allowed to receive them, bulk responses; and the section's validation errors.
use super::{Call, policy};
use crate::{
    policy::{Policy, SensitiveViolation, Severity},
    sensitive::{
        CardBrand, CardSummary, SensitiveFinding, SensitiveKind, SensitiveLocation, SensitiveReport,
    },
};

fn found(kind: SensitiveKind, location: SensitiveLocation, count: u32) -> SensitiveFinding {
    SensitiveFinding {
        kind,
        location,
        count,
        cards: if kind == SensitiveKind::Card {
            vec![CardSummary {
                brand: CardBrand::Visa,
                last4: "1486".into(),
            }]
        } else {
            Vec::new()
        },
    }
}

fn report(findings: Vec<SensitiveFinding>) -> SensitiveReport {
    SensitiveReport {
        findings,
        ..SensitiveReport::default()
    }
}

fn eval(call: &Call, p: &Policy, r: &SensitiveReport) -> Vec<SensitiveViolation> {
    call.view(|view| p.evaluate_sensitive(view, r))
}

fn ids(v: &[SensitiveViolation]) -> Vec<&'static str> {
    v.iter().map(|v| v.rule_id).collect()
}

#[test]
fn card_over_plaintext_to_a_public_host_and_never_over_tls_or_inside() {
    let p = policy("version: 1\n");
    let r = report(vec![found(
        SensitiveKind::Card,
        SensitiveLocation::RequestBody,
        1,
    )]);
    let v = eval(
        &Call::to("pay.example.com")
            .plaintext()
            .request("POST", "/v1/pay"),
        &p,
        &r,
    );
    assert_eq!(ids(&v), ["sensitive.card_plaintext"]);
    assert_eq!(v[0].severity, Severity::Critical);
    assert_eq!(v[0].findings, [0]);
    assert!(
        v[0].summary.contains("card x1")
            && v[0].summary.contains("POST /v1/pay to pay.example.com"),
        "{}",
        v[0].summary
    );
    assert!(eval(&Call::to("pay.example.com"), &p, &r).is_empty());
    assert!(eval(&Call::to("svc").plaintext().ip("127.0.0.1"), &p, &r).is_empty());
    // Served in clear to a client on the internet: the card crossed a network in clear too.
    let served = Call::to("svc").plaintext().served_to("203.0.113.9");
    let returned = report(vec![found(
        SensitiveKind::Card,
        SensitiveLocation::ResponseBody,
        3,
    )]);
    assert_eq!(
        ids(&eval(&served, &p, &returned)),
        ["sensitive.card_plaintext"]
    );
    // E-mails in clear are not card data.
    let emails = report(vec![found(
        SensitiveKind::Email,
        SensitiveLocation::RequestBody,
        1,
    )]);
    assert!(eval(&Call::to("x.example").plaintext(), &p, &emails).is_empty());
}

#[test]
fn data_in_a_url_alerts_in_both_directions() {
    let p = policy("version: 1\n");
    let r = report(vec![
        found(
            SensitiveKind::Email,
            SensitiveLocation::Query {
                parameter: "email".into(),
            },
            1,
        ),
        found(
            SensitiveKind::Phone,
            SensitiveLocation::Header {
                name: "x-phone".into(),
            },
            1,
        ),
    ]);
    let v = eval(&Call::to("api.example.com"), &p, &r);
    assert_eq!(ids(&v), ["sensitive.in_url"]);
    assert_eq!(v[0].findings, [0], "the header is not in the URL");
    assert_eq!(v[0].severity, Severity::High);
    let served = eval(&Call::to("api.example.com").served_to("10.1.2.3"), &p, &r);
    assert_eq!(ids(&served), ["sensitive.in_url"]);
}

#[test]
fn unapproved_destinations_only_for_listed_kinds_and_calls_made() {
    let p = policy(
        "version: 1\nsensitive_data:\n  allowed_destinations:\n    email: [\"*.crm.example.com\"]\n",
    );
    let r = report(vec![
        found(SensitiveKind::Email, SensitiveLocation::RequestBody, 2),
        found(SensitiveKind::Phone, SensitiveLocation::RequestBody, 1),
    ]);
    let v = eval(&Call::to("tracker.example.net"), &p, &r);
    assert_eq!(ids(&v), ["sensitive.unapproved_destination"]);
    assert_eq!(v[0].findings, [0]);
    assert!(v[0].summary.contains("email x2"), "{}", v[0].summary);
    assert!(eval(&Call::to("eu.crm.example.com"), &p, &r).is_empty());
    assert!(
        eval(
            &Call::to("tracker.example.net").served_to("10.0.0.1"),
            &p,
            &r
        )
        .is_empty()
    );
    // Data coming back in a response was not sent there.
    let back = report(vec![found(
        SensitiveKind::Email,
        SensitiveLocation::ResponseBody,
        2,
    )]);
    assert!(eval(&Call::to("tracker.example.net"), &p, &back).is_empty());
    // Without the list the rule is off.
    assert!(
        eval(
            &Call::to("tracker.example.net"),
            &policy("version: 1\n"),
            &r
        )
        .is_empty()
    );
}

#[test]
fn bulk_responses_kinds_scope_and_off_switch() {
    let p =
        policy("version: 1\nsensitive_data:\n  bulk_response_threshold: 10\n  kinds: [email]\n");
    let many = report(vec![
        found(SensitiveKind::Email, SensitiveLocation::ResponseBody, 12),
        found(SensitiveKind::Phone, SensitiveLocation::ResponseBody, 50),
    ]);
    let v = eval(
        &Call::to("api.example.com").served_to("10.0.0.2"),
        &p,
        &many,
    );
    assert_eq!(ids(&v), ["sensitive.bulk_response"]);
    assert_eq!(v[0].findings, [0], "phones are not among the kinds");
    let few = report(vec![found(
        SensitiveKind::Email,
        SensitiveLocation::ResponseBody,
        9,
    )]);
    assert!(eval(&Call::to("api.example.com"), &p, &few).is_empty());
    let off = policy("version: 1\nsensitive_data:\n  enabled: false\n");
    assert!(off.sensitive_data().kinds.is_empty());
    let url = report(vec![found(SensitiveKind::Card, SensitiveLocation::Path, 1)]);
    assert!(eval(&Call::to("x.example").plaintext(), &off, &url).is_empty());
    let outbound_only = policy("version: 1\nsensitive_data:\n  direction: outbound\n");
    assert!(
        eval(
            &Call::to("x").served_to("203.0.113.1"),
            &outbound_only,
            &url
        )
        .is_empty()
    );
    assert_eq!(
        ids(&eval(&Call::to("x.example"), &outbound_only, &url)),
        ["sensitive.in_url"]
    );
}

#[test]
fn broken_sections_name_the_field() {
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "version: 1\nsensitive_data:\n  kinds: [card, emial]\n",
            3,
            "unknown sensitive-data kind `emial`",
            "did you mean `email`?",
        ),
        (
            "version: 1\nsensitive_data:\n  kinds: []\n",
            3,
            "empty list",
            "enabled: false",
        ),
        (
            "version: 1\nsensitive_data:\n  allowed_destinations:\n    email: []\n",
            4,
            "`email` data could be sent nowhere",
            "",
        ),
        (
            "version: 1\nsensitive_data:\n  kinds: [card]\n  allowed_destinations:\n    phone: [a.example]\n",
            5,
            "`phone` has allowed destinations but is not among `kinds`",
            "add `phone` to `kinds`",
        ),
        (
            "version: 1\nsensitive_data:\n  allowed_destinations:\n    email: [\"https://crm.example.com\"]\n",
            4,
            "has a URL scheme",
            "crm.example.com",
        ),
        (
            "version: 1\nsensitive_data:\n  severity: high\n",
            3,
            "unknown field `severity`",
            "",
        ),
    ];
    for (yaml, line, message, hint) in cases {
        let errors = match Policy::from_yaml(yaml) {
            Ok(_) => panic!("should not load:\n{yaml}"),
            Err(e) => e.errors,
        };
        let first = &errors[0];
        assert_eq!(first.line, *line, "{yaml}\n{errors:?}");
        assert!(first.message.contains(message), "{yaml}\n{errors:?}");
        assert!(
            first.hint.as_deref().unwrap_or("").contains(hint),
            "{yaml}\n{errors:?}"
        );
    }
}
