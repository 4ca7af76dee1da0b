//! Destination rules: hosts (exact, `*.` wildcard, `*`), CIDRs, ports, allowlist mode.
use super::{Call, policy};
use crate::policy::Severity;

const DENY: &str = r#"
version: 1
destinations:
  - id: deny-paste
    action: deny
    hosts: ["pastebin.com", "*.pastebin.com"]
    severity: critical
  - id: deny-net
    action: deny
    cidrs: ["203.0.113.0/24", "2001:db8::/32"]
  - id: deny-port
    action: deny
    hosts: ["*.example.org"]
    ports: [8443, 9000]
"#;

#[test]
fn exact_and_wildcard_hosts() {
    let p = policy(DENY);
    let v = Call::to("pastebin.com").eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule_id, "deny-paste");
    assert_eq!(v[0].severity, Severity::Critical);
    assert_eq!(v[0].finding, None);
    assert!(v[0].summary.contains("pastebin.com"), "{}", v[0].summary);
    assert_eq!(Call::to("api.pastebin.com").ids(&p), ["deny-paste"]);
    assert_eq!(Call::to("a.b.pastebin.com").ids(&p), ["deny-paste"]);
    // Case and a trailing dot do not matter.
    assert_eq!(Call::to("API.Pastebin.COM.").ids(&p), ["deny-paste"]);
    // Neither a longer name nor a different suffix matches.
    assert!(Call::to("notpastebin.com").ids(&p).is_empty());
    assert!(Call::to("pastebin.com.evil.net").ids(&p).is_empty());
    assert!(Call::to("example.com").ids(&p).is_empty());
}

#[test]
fn wildcard_does_not_match_the_apex() {
    let p = policy(
        "version: 1\ndestinations:\n  - {id: subs, action: deny, hosts: ['*.example.com']}\n",
    );
    assert!(Call::to("example.com").ids(&p).is_empty());
    assert_eq!(Call::to("www.example.com").ids(&p), ["subs"]);
}

#[test]
fn star_matches_any_host_but_not_a_missing_one() {
    let p = policy("version: 1\ndestinations:\n  - {id: all, action: deny, hosts: ['*']}\n");
    assert_eq!(Call::to("anything.test").ids(&p), ["all"]);
    assert!(Call::to("x").no_host().ids(&p).is_empty());
}

#[test]
fn cidrs_match_the_ip_and_never_an_unknown_one() {
    let p = policy(DENY);
    assert_eq!(Call::to("h.test").ip("203.0.113.9").ids(&p), ["deny-net"]);
    assert_eq!(Call::to("h.test").ip("2001:db8::5").ids(&p), ["deny-net"]);
    // An IPv4-mapped IPv6 address (dual-stack socket) counts as IPv4.
    assert_eq!(
        Call::to("h.test").ip("::ffff:203.0.113.9").ids(&p),
        ["deny-net"]
    );
    assert!(Call::to("h.test").ip("203.0.114.1").ids(&p).is_empty());
    // No IP: CIDR rules do not match, even when the host is a literal address in the range.
    assert!(Call::to("203.0.113.9").no_ip().ids(&p).is_empty());
}

#[test]
fn ports_restrict_the_match() {
    let p = policy(DENY);
    assert_eq!(Call::to("a.example.org").port(8443).ids(&p), ["deny-port"]);
    assert_eq!(Call::to("a.example.org").port(9000).ids(&p), ["deny-port"]);
    assert!(Call::to("a.example.org").port(443).ids(&p).is_empty());
    let mut unknown = Call::to("a.example.org");
    unknown.port = None;
    assert!(unknown.ids(&p).is_empty());
    // Ports alone: any host on that port.
    let p = policy("version: 1\ndestinations:\n  - {id: smtp, action: deny, ports: [25]}\n");
    assert_eq!(Call::to("mail.test").port(25).ids(&p), ["smtp"]);
    assert!(Call::to("mail.test").port(587).ids(&p).is_empty());
}

#[test]
fn hosts_or_cidrs() {
    let p = policy(
        "version: 1\ndestinations:\n  - {id: either, action: deny, hosts: [bad.test], cidrs: [192.0.2.0/24]}\n",
    );
    assert_eq!(Call::to("bad.test").ids(&p), ["either"]);
    assert_eq!(Call::to("ok.test").ip("192.0.2.1").ids(&p), ["either"]);
    assert!(Call::to("ok.test").ids(&p).is_empty());
}

#[test]
fn every_matching_deny_rule_alerts() {
    let p = policy(
        "version: 1\ndestinations:\n  - {id: one, action: deny, hosts: [x.test]}\n  - {id: two, action: deny, hosts: ['*.test'], severity: low}\n",
    );
    let v = Call::to("x.test").eval(&p);
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.severity))
            .collect::<Vec<_>>(),
        [("one", Severity::High), ("two", Severity::Low)]
    );
}

const ALLOWLIST: &str = r#"
version: 1
settings: { mode: allowlist, not_allowed_severity: high }
destinations:
  - { id: allow-stripe, action: allow, hosts: [api.stripe.com] }
  - { id: allow-internal, action: allow, cidrs: [10.0.0.0/8] }
  - { id: allow-aws, action: allow, hosts: ["*.amazonaws.com"] }
  - { id: deny-bucket, action: deny, hosts: [evil.s3.amazonaws.com] }
"#;

#[test]
fn allowlist_mode() {
    let p = policy(ALLOWLIST);
    assert!(Call::to("api.stripe.com").ids(&p).is_empty());
    assert!(Call::to("db.internal").ip("10.1.2.3").ids(&p).is_empty());
    let v = Call::to("example.com").eval(&p);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule_id, "destination.not_allowed");
    assert_eq!(v[0].severity, Severity::High);
    // An unknown host and IP matches no allow rule.
    assert_eq!(
        Call::to("x").no_host().no_ip().ids(&p),
        ["destination.not_allowed"]
    );
    // A deny match alerts even when an allow rule matches too, and replaces not_allowed.
    assert_eq!(Call::to("evil.s3.amazonaws.com").ids(&p), ["deny-bucket"]);
}

#[test]
fn allow_rules_do_nothing_in_denylist_mode() {
    let p = policy(
        "version: 1\ndestinations:\n  - {id: allow-a, action: allow, hosts: [a.test]}\n  - {id: deny-a, action: deny, hosts: [a.test]}\n",
    );
    assert!(Call::to("b.test").ids(&p).is_empty());
    assert_eq!(Call::to("a.test").ids(&p), ["deny-a"]);
}

#[test]
fn ipv6_literal_hosts() {
    let p =
        policy("version: 1\ndestinations:\n  - {id: v6, action: deny, hosts: ['[2001:DB8::1]']}\n");
    assert_eq!(Call::to("2001:db8::1").ids(&p), ["v6"]);
    assert_eq!(Call::to("[2001:db8:0::1]").ids(&p), ["v6"]);
}
