//! `rate_rules_for`: which rate rules apply to a call, and how rules are built.
use std::time::Duration;

use super::{Call, policy};
use crate::policy::Severity;

const RATES: &str = r#"
version: 1
workloads:
  pay: {command: [payments-api]}
rate_limits:
  - id: openai-chat
    workloads: [pay]
    hosts: [api.openai.com]
    methods: [post]
    path: /v1/chat/completions
    limit: 100
    per: 1m
    burst: 20
    by: [workload, host, method, path]
    severity: high
  - id: users-api
    hosts: ["*.example.com"]
    path: /v1/users/*
    limit: 10
    per: 1s
  - id: everything
    limit: 1000
    per: 1h
"#;

#[test]
fn rules_are_built_with_their_parameters() {
    let p = policy(RATES);
    let rules = p.rate_rules();
    assert_eq!(rules.len(), 3);
    let chat = &rules[0];
    assert_eq!(chat.id, "openai-chat");
    assert_eq!((chat.limit, chat.burst), (100, 20));
    assert_eq!(chat.per, Duration::from_secs(60));
    assert!(chat.by_method && chat.by_path);
    assert_eq!(chat.severity, Severity::High);
    let users = &rules[1];
    // Burst defaults to the limit; severity to medium; the key to workload x host.
    assert_eq!((users.limit, users.burst), (10, 10));
    assert!(!users.by_method && !users.by_path);
    assert_eq!(users.severity, Severity::Medium);
}

#[test]
fn matching() {
    let p = policy(RATES);
    let chat = Call::to("api.openai.com")
        .command("payments-api")
        .request("POST", "/v1/chat/completions");
    assert_eq!(chat.rates(&p), ["openai-chat", "everything"]);
    // Method compared case-insensitively.
    assert_eq!(
        chat.clone()
            .request("post", "/v1/chat/completions")
            .rates(&p),
        ["openai-chat", "everything"]
    );
    // Another workload, method, path or host: not that rule.
    assert_eq!(chat.clone().command("other").rates(&p), ["everything"]);
    assert_eq!(
        chat.clone()
            .request("GET", "/v1/chat/completions")
            .rates(&p),
        ["everything"]
    );
    assert_eq!(
        chat.clone().request("POST", "/v1/embeddings").rates(&p),
        ["everything"]
    );
    let mut other_host = chat.clone();
    other_host.host = Some("api.anthropic.com".to_owned());
    assert_eq!(other_host.rates(&p), ["everything"]);
    // Path globs: `*` is one segment.
    let users = Call::to("api.example.com").request("GET", "/v1/users/{id}");
    assert_eq!(users.rates(&p), ["users-api", "everything"]);
    assert_eq!(
        users
            .clone()
            .request("GET", "/v1/users/{id}/keys")
            .rates(&p),
        ["everything"]
    );
    // Host restricted rules need a host.
    assert_eq!(users.no_host().rates(&p), ["everything"]);
}

#[test]
fn no_rate_rules() {
    assert!(Call::to("x.test").rates(&policy("version: 1\n")).is_empty());
}
