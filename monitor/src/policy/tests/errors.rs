//! Broken documents: every error has the right line, column, message and hint. Syntax and type
//! errors stop at the first; semantic errors are all reported together.
use crate::policy::{Policy, PolicyError};

fn errors(yaml: &str) -> Vec<PolicyError> {
    match Policy::from_yaml(yaml) {
        Ok(_) => panic!("this document should not load:\n{yaml}"),
        Err(errors) => errors.errors,
    }
}

/// (document, line, column, part of the message, part of the hint or "" for no hint check)
const FIRST_ERROR_CASES: &[(&str, usize, usize, &str, &str)] = &[
    ("", 1, 1, "the policy document is empty", "version: 1"),
    (
        "# only a comment\n\n",
        1,
        1,
        "the policy document is empty",
        "version: 1",
    ),
    (
        "settings: {}\n",
        1,
        1,
        "missing field `version`",
        "version: 1",
    ),
    ("- version: 1\n", 1, 1, "expected a policy mapping", ""),
    (
        "version: 1\ndestinatons: []\n",
        2,
        1,
        "unknown field `destinatons`",
        "did you mean `destinations`?",
    ),
    (
        "version: 1\nsettings:\n  mode: allowlst\n",
        3,
        9,
        "unknown variant `allowlst`",
        "did you mean `allowlist`?",
    ),
    (
        "version: 1\nsettings:\n  discovery: of\n",
        3,
        14,
        "invalid discovery `of`",
        "did you mean `off`?",
    ),
    (
        "version: 1\nsettings:\n  suppression_window: 60\n",
        3,
        23,
        "invalid duration `60`: missing unit",
        "`30s`",
    ),
    (
        "version: 1\nsettings:\n  internal_networks: [10.0.0.0/8, 10.0.0.1/8]\n",
        3,
        35,
        "CIDR `10.0.0.1/8` has bits set after the prefix",
        "did you mean `10.0.0.0/8`?",
    ),
    (
        "version: 1\nsettings:\n  internal_networks: [10.0.0/8]\n",
        3,
        23,
        "`10.0.0/8` is not a CIDR",
        "",
    ),
    (
        "version: 1\nworkloads:\n  pay:\n    comand: [pay]\n",
        4,
        5,
        "unknown field `comand`",
        "did you mean `command`?",
    ),
    (
        "version: 1\nworkloads:\n  pay:\n    command: [payments-api-server-v2]\n",
        4,
        15,
        "longer than 15 bytes",
        "`payments-api-se`",
    ),
    (
        "version: 1\nworkloads:\n  pay:\n    executable: [bin/pay]\n",
        4,
        18,
        "is not an absolute path",
        "use `command` for the process name",
    ),
    (
        "version: 1\nworkloads:\n  pay:\n    executable: ['/opt/[a']\n",
        4,
        18,
        "invalid glob `/opt/[a`",
        "",
    ),
    (
        "version: 1\nworkloads:\n  pay:\n    uid: [-1]\n",
        4,
        11,
        "invalid type: integer `-1`, expected u32",
        "whole number",
    ),
    (
        "version: 1\nworkloads:\n  bad name: {uid: [1]}\n",
        3,
        3,
        "invalid workload name `bad name`",
        "letters, digits",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    hosts: pastebin.com\n",
        5,
        12,
        "expected a sequence",
        "write a YAML list",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    hosts: [ok.test, 'https://pastebin.com/raw']\n",
        5,
        22,
        "has a URL scheme",
        "write the host alone: `pastebin.com`",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    hosts: [pastebin.com:443]\n",
        5,
        13,
        "has a port",
        "`ports`",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    hosts: ['pastebin.*']\n",
        5,
        13,
        "has a `*` that is not a leading `*.`",
        "`*.example.com`",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    hosts: ['a..b']\n",
        5,
        13,
        "empty label",
        "",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    ports: [443, 70000]\n",
        5,
        18,
        "port 70000 is out of range",
        "1 to 65535",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: block\n    ports: [443]\n",
        4,
        13,
        "unknown variant `block`, expected `allow` or `deny`",
        "",
    ),
    (
        "version: 1\ndestinations:\n  - id: d\n    action: deny\n    ports: [443]\n    severity: hgh\n",
        6,
        15,
        "unknown variant `hgh`",
        "did you mean `high`?",
    ),
    (
        "version: 1\ndestinations:\n  - id: transport.mine\n    action: deny\n    ports: [443]\n",
        3,
        9,
        "reserved prefix `transport.`",
        "",
    ),
    (
        "version: 1\ndestinations:\n  - action: deny\n    ports: [443]\n",
        3,
        5,
        "missing field `id`",
        "",
    ),
    (
        "version: 1\ncredentials:\n  allowed_destinations:\n    aws_acess_key: ['*.amazonaws.com']\n",
        4,
        5,
        "unknown credential kind `aws_acess_key`",
        "did you mean `aws_access_key`?",
    ),
    (
        "version: 1\ncredentials:\n  severities:\n    in_plaintext: high\n",
        4,
        5,
        "unknown field `in_plaintext`",
        "transport.with_credential_severity",
    ),
    (
        "version: 1\ncredentials:\n  api_key_headers: ['x key']\n",
        3,
        21,
        "not a valid header name",
        "",
    ),
    (
        "version: 1\ncredentials:\n  query_parameters: ['token=']\n",
        3,
        22,
        "is not a query parameter name",
        "write the name only",
    ),
    (
        "version: 1\nrate_limits:\n  - id: r\n    limit: 10\n    per: 1m\n    brust: 5\n",
        6,
        5,
        "unknown field `brust`",
        "did you mean `burst`?",
    ),
    (
        "version: 1\nrate_limits:\n  - id: r\n    limit: 10\n    per: 1fortnight\n",
        5,
        10,
        "unknown unit",
        "",
    ),
    (
        "version: 1\nrate_limits:\n  - id: r\n    limit: 10\n    per: 1m\n    path: v1/chat\n",
        6,
        11,
        "does not start with `/`",
        "",
    ),
    (
        "version: 1\nrate_limits:\n  - id: r\n    limit: 10\n    per: 1m\n    by: [workload, verb]\n",
        6,
        20,
        "unknown variant `verb`, expected one of `workload`, `host`, `method`, `path`",
        "",
    ),
    (
        "version: 1\nrate_limits:\n  - id: r\n    limit: 10\n",
        3,
        5,
        "missing field `per`",
        "",
    ),
    (
        "version: 1\nsettings:\n\tmode: allowlist\n",
        3,
        1,
        "found character that cannot start any token",
        "spaces, not tabs",
    ),
    (
        "version: 1\nsettings:\n  mode: denylist\n discovery: off\n",
        4,
        2,
        "did not find expected key, while parsing a block mapping",
        "line up",
    ),
    (
        "version: 1\n---\nversion: 1\n",
        1,
        1,
        "more than one document",
        "remove the `---`",
    ),
    (
        "version: 1\nsettings:\n  mode: &a denylist\n  discovery: *b\n",
        4,
        14,
        "unknown anchor",
        "",
    ),
    (
        "version: 1\nversion: 1\n",
        2,
        1,
        "duplicate field `version`",
        "remove or merge",
    ),
    (
        "version: 1\ndestinations:\n  - id: a\n    action: deny\n    hosts: [a.test]\n    hosts: [b.test]\n",
        6,
        5,
        "duplicate field `hosts`",
        "",
    ),
    (
        "version: 1\nworkloads:\n  base: &b {uid: [1]}\n  x:\n    <<: *b\n    command: [a]\n",
        5,
        5,
        "unknown field `<<`",
        "merge keys are not supported",
    ),
];

#[test]
fn syntax_and_type_errors_point_at_the_problem() {
    let mut failures = Vec::new();
    for (yaml, line, column, message, hint) in FIRST_ERROR_CASES {
        let errors = errors(yaml);
        let first = &errors[0];
        let hint_ok = hint.is_empty() || first.hint.as_deref().is_some_and(|h| h.contains(hint));
        if (first.line, first.column) != (*line, *column)
            || !first.message.contains(message)
            || !hint_ok
        {
            failures.push(format!(
                "{yaml:?}\n  want line {line}, column {column}: {message} (hint: {hint})\n  got  {first}"
            ));
        }
        assert!(
            !first.message.contains(" at line "),
            "position left in the message: {first}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const SEMANTIC: &str = r#"version: 2
settings:
  mode: allowlist
workloads:
  pay: {command: [pay]}
  pay: {uid: [1]}
  nothing: {}
  empty:
  k8s-one:
    k8s: {}
  lists: {command: [], uid: [1]}
destinations:
  - id: d1
    action: deny
    hosts: [a.test]
    workloads: [pya, ghost]
  - id: d1
    action: deny
    ports: [25]
  - id: d-empty
    action: deny
  - id: d-list
    action: deny
    hosts: []
    workloads: []
transport:
  exempt_workloads: [nobody]
credentials:
  allowed_destinations:
    stripe_key: [api.stripe.com]
    stripe_key: [files.stripe.com]
    openai_key: []
rate_limits:
  - id: r1
    limit: 0
    per: 0s
    burst: 0
    by: [method, method]
    hosts: []
  - id: d-empty
    limit: 5
    per: 1s
"#;

/// (line, column, part of the message, part of the hint)
const SEMANTIC_ERRORS: &[(usize, usize, &str, &str)] = &[
    (1, 10, "unsupported policy version 2", "version: 1"),
    (
        3,
        9,
        "allowlist mode without any `allow` destination rule",
        "mode: denylist",
    ),
    (
        6,
        3,
        "workload `pay` is defined twice",
        "first defined on line 5",
    ),
    (
        7,
        3,
        "workload `nothing` has an empty selector",
        "`command`",
    ),
    (8, 3, "workload `empty` has an empty selector", ""),
    (10, 5, "empty `k8s` selector", "`namespace`, `labels`"),
    (11, 11, "empty `command` list", "remove `command`"),
    (16, 17, "undefined workload `pya`", "did you mean `pay`?"),
    (
        16,
        22,
        "undefined workload `ghost`",
        "define `ghost` under `workloads`",
    ),
    (17, 9, "duplicate rule id `d1`", "first used on line 13"),
    (
        20,
        5,
        "destination rule `d-empty` matches no destination",
        "hosts: [\"*\"]",
    ),
    (
        24,
        5,
        "empty `hosts` list",
        "leave this dimension unrestricted",
    ),
    (
        25,
        5,
        "empty `workloads` list",
        "apply the rule to every workload",
    ),
    (27, 22, "undefined workload `nobody`", ""),
    (
        31,
        5,
        "`stripe_key` is listed twice",
        "first listed on line 30",
    ),
    (
        32,
        17,
        "empty list: `openai_key` could be sent nowhere",
        "[\"*\"]",
    ),
    (35, 12, "`limit` must be at least 1", "deny"),
    (36, 10, "`per` must be longer than zero", ""),
    (37, 12, "`burst` must be at least 1", ""),
    (38, 18, "listed twice in `by`", ""),
    (39, 5, "empty `hosts` list", "match any"),
    (
        40,
        9,
        "duplicate rule id `d-empty`",
        "first used on line 20",
    ),
];

#[test]
fn semantic_errors_are_all_reported_with_positions() {
    let got = errors(SEMANTIC);
    let mut failures = Vec::new();
    for (line, column, message, hint) in SEMANTIC_ERRORS {
        let found = got.iter().any(|e| {
            (e.line, e.column) == (*line, *column)
                && e.message.contains(message)
                && e.hint.as_deref().unwrap_or("").contains(hint)
        });
        if !found {
            failures.push(format!(
                "missing: line {line}, column {column}: {message} (hint: {hint})"
            ));
        }
    }
    let all = got
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        failures.is_empty(),
        "{}\n--- got:\n{all}",
        failures.join("\n")
    );
    assert_eq!(got.len(), SEMANTIC_ERRORS.len(), "--- got:\n{all}");
    // Sorted by position.
    assert!(
        got.windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column))
    );
}

#[test]
fn severity_on_an_allow_rule() {
    let errors = errors(
        "version: 1\ndestinations:\n  - id: a\n    action: allow\n    hosts: [x.test]\n    severity: high\n",
    );
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].column), (6, 5));
    assert!(errors[0].message.contains("has no effect"), "{}", errors[0]);
}

#[test]
fn flow_style_and_quoting_keep_positions() {
    let errors = errors(
        "{version: 1, workloads: {a: {command: [x]}}, destinations: [{id: 'r', action: deny, hosts: [\"y.test\"], workloads: [\"b\"]}]}\n",
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].line, errors[0].column),
        (1, 116),
        "{}",
        errors[0]
    );
}

#[test]
fn display_is_one_line_per_error() {
    let Err(errors) = Policy::from_yaml(
        "version: 1\nworkloads:\n  a: {}\ndestinations:\n  - {id: x, action: deny, hosts: [h.test], workloads: [b]}\n",
    ) else {
        panic!("should fail");
    };
    assert_eq!(
        errors.to_string(),
        "line 3, column 3: workload `a` has an empty selector (hint: give at least one of `command`, `executable`, `uid`, `container_id`, `k8s`)\n\
         line 5, column 56: undefined workload `b` (hint: define `b` under `workloads`)"
    );
}

#[test]
fn many_errors_are_capped() {
    let mut yaml = String::from("version: 1\ndestinations:\n");
    for i in 0..150 {
        yaml.push_str(&format!(
            "  - {{id: r{i}, action: deny, hosts: [x.test], workloads: [nope]}}\n"
        ));
    }
    let errors = errors(&yaml);
    assert_eq!(errors.len(), 101);
    assert_eq!((errors[0].line, errors[0].column), (3, 57));
    let last = errors.last().unwrap();
    assert_eq!(last.message, "... and 50 more errors");
}

#[test]
fn empty_sections_mean_defaults() {
    let p = crate::policy::tests::policy(
        "version: 1\nsettings:\nworkloads:\ndestinations:\ntransport:\ncredentials:\nrate_limits:\n",
    );
    assert_eq!(p.settings().suppression_window.as_secs(), 60);
    assert!(p.rate_rules().is_empty());
}

#[test]
fn hostile_input_never_panics() {
    let inputs = [
        "version: 1\nworkloads: &a\n  x: *a\n".to_owned(),
        format!(
            "version: 1\nsettings: {}{}\n",
            "[".repeat(500),
            "]".repeat(500)
        ),
        "version: 1\nsettings:\n  mode: !!binary aGVsbG8=\n".to_owned(),
        "version: 1\ndestinations:\n  - !deny {id: x}\n".to_owned(),
        "version: 99999999999999999999\n".to_owned(),
        "version: 1\nrate_limits:\n  - {id: r, limit: 4294967296, per: 1s}\n".to_owned(),
        "version: 1\n\u{0}\n".to_owned(),
        "version: 1\nworkloads: {? [a]: {}}\n".to_owned(),
        "version: 1\nsettings:\n  suppression_window: 99999999999999999999d\n".to_owned(),
        "a: &a [*a]\n".to_owned(),
        "\u{feff}version: 1\n".to_owned(),
    ];
    for input in &inputs {
        let _ = Policy::from_yaml(input);
    }
}

#[test]
fn k8s_selector_mistakes_point_at_their_place() {
    let text = concat!(
        "version: 1\n",
        "workloads:\n",
        "  a:\n",
        "    k8s:\n",
        "      labels:\n",
        "        matchExpressions:\n",
        "          - {key: env, operator: In}\n",
        "          - {key: env, operator: Exists, values: [x]}\n",
        "  b:\n",
        "    k8s: {namespace: []}\n",
        "  c:\n",
        "    k8s: {labels: {matchLabels: {app: a, app: b}}}\n",
    );
    let errors = crate::policy::Policy::from_yaml(text)
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("line 7, column 13: `In` needs a non-empty `values` list"),
        "{errors}"
    );
    assert!(
        errors.contains("line 8, column 13: `Exists` takes no `values`"),
        "{errors}"
    );
    assert!(
        errors.contains("line 10, column 11: empty `namespace` list"),
        "{errors}"
    );
    assert!(
        errors.contains("line 12, column 42: label `app` is given twice in `matchLabels`"),
        "{errors}"
    );
}

#[test]
fn k8s_scalar_mistakes_are_parse_errors_with_positions() {
    for (line, expected) in [
        (
            "    k8s: {owner: [checkout]}\n",
            "owner `checkout` has no kind",
        ),
        (
            "    k8s: {owner: [CronJob/nightly]}\n",
            "owner kind `CronJob` never matches",
        ),
        (
            "    k8s: {namespace: [Payments]}\n",
            "`Payments` is not a Kubernetes name",
        ),
        (
            "    k8s: {labels: {matchLabels: {version: 1.2.3+x}}}\n",
            "`1.2.3+x` is not a label value",
        ),
        (
            "    k8s: {labels: {matchExpressions: [{key: a, operator: Equals}]}}\n",
            "unknown variant `Equals`",
        ),
        ("    k8s: {pod: x}\n", "unknown field `pod`"),
    ] {
        let text = format!("version: 1\nworkloads:\n  a:\n{line}");
        let errors = crate::policy::Policy::from_yaml(&text)
            .unwrap_err()
            .to_string();
        assert!(errors.contains(expected), "{line}: {errors}");
        assert!(errors.starts_with("line 4, column "), "{line}: {errors}");
    }
}

/// Two names equally close to a misspelt one: the hint names the first in order, every time.
/// The workloads sit in a hash map, so the hint followed its random order (found by the
/// `policy` fuzz target, which loads every document twice and compares).
#[test]
fn a_hint_between_equally_close_names_is_always_the_same() {
    let yaml = "version: 1\nworkloads:\n  b: {command: [b]}\n  a: {command: [a]}\n\
                destinations:\n  - {id: deny-ab, action: deny, hosts: [x.test], workloads: [a, f]}\n";
    for _ in 0..20 {
        let errors = errors(yaml);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].message, "undefined workload `f`");
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `a`?"));
    }
}
