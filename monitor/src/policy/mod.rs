//! The security policy: what an API call must not do, loaded from one YAML document (it fits a
//! Kubernetes ConfigMap) and checked against every call.
//!
//! This file owns the public surface: the view of a call the policy looks at ([`CallView`]), what
//! it reports ([`Violation`], [`Severity`]), the built policy ([`Policy`]) with its [`Settings`]
//! and [`RateRule`]s, and the error types of a broken document. The work is split by job:
//!
//! - `model.rs`: the serde shape of the document, exactly as written (deny unknown fields);
//! - `values.rs`: scalar newtypes whose `Deserialize` validates, so errors carry line/column;
//! - `validate.rs`: semantic checks (references, duplicates, empty selectors...) and building;
//! - `locate.rs`: finds the line/column of a key or value for semantic errors;
//! - `errors.rs`: [`PolicyError`], [`PolicyErrors`], "did you mean" hints;
//! - `hosts.rs`, `selector.rs`, `paths.rs`: the matchers (hosts, workloads, path templates);
//! - `rules.rs`: the compiled rules; `evaluate.rs`: checking a call against them;
//! - `defaults.rs` and `default_policy.yaml`: built-in credential destinations and policy.
//!
//! The user documentation is `docs/policy.md`.
mod defaults;
mod directions;
mod errors;
mod evaluate;
mod hosts;
mod k8s_selector;
mod locate;
mod model;
mod paths;
mod rules;
mod selector;
mod sensitive;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use std::{net::IpAddr, time::Duration};

pub use directions::Directions;
pub use errors::{PolicyError, PolicyErrors};
pub use rules::{AuthFailureRules, RateRule, SensitiveRules};
pub use sensitive::SensitiveViolation;

use crate::{credentials::Finding, protocols::CallDirection};

/// The policy the monitor uses when none is given; `monitor policy default` prints it.
pub const DEFAULT_POLICY_YAML: &str = include_str!("default_policy.yaml");

/// The process that made (or served) the call.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    pub pid: u32,
    /// Kernel command name (`comm`, at most 15 bytes).
    pub command: &'a str,
    pub executable: Option<&'a str>,
    pub uid: Option<u32>,
    pub container_id: Option<&'a str>,
    /// The process's pod, in Kubernetes.
    pub k8s: Option<&'a crate::kubernetes::K8sIdentity>,
}

/// Who called, for an inbound call: what summaries name and what decides whether the client is
/// internal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Client<'a> {
    /// The client's workload when it runs on this host, else its address; `None` if unknown.
    pub label: Option<&'a str>,
    pub ip: Option<IpAddr>,
}

/// The server end of the call: where an outbound call went, or what an inbound call reached.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    /// Host name from `Host`, `:authority` or SNI: lower-case, port stripped.
    pub host: Option<&'a str>,
    pub port: Option<u16>,
    pub ip: Option<IpAddr>,
    pub tls: bool,
}

/// One API call as the policy sees it. Nothing in it is a credential: findings are redacted.
#[derive(Clone, Copy, Debug)]
pub struct CallView<'a> {
    /// Outbound: `workload` made the call to `destination`. Inbound: `workload` served it, at
    /// `destination`, to `client`.
    pub direction: CallDirection,
    pub workload: &'a Workload<'a>,
    pub client: Client<'a>,
    pub destination: &'a Destination<'a>,
    pub method: &'a str,
    /// Path template (`/v1/users/{id}`), never the raw path.
    pub path_template: &'a str,
    pub findings: &'a [Finding],
}

/// How bad a violation is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// One step down (`info` stays `info`).
    pub fn lower(self) -> Self {
        match self {
            Self::Critical => Self::High,
            Self::High => Self::Medium,
            Self::Medium => Self::Low,
            Self::Low | Self::Info => Self::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule for one call.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// A user rule id, or a built-in id (`transport.plaintext`, `credential.in_url`,
    /// `credential.plaintext`, `credential.wrong_destination`, `credential.not_allowed`,
    /// `credential.jwt_unsigned`, `credential.jwt_expired`, `destination.not_allowed`).
    pub rule_id: String,
    pub severity: Severity,
    /// A sentence built only from rule ids, credential kinds, hosts, methods and path templates.
    pub summary: String,
    /// Index into [`CallView::findings`] when the violation is about one credential.
    pub finding: Option<usize>,
}

/// Built-in rule ids.
pub mod rule_ids {
    pub const TRANSPORT_PLAINTEXT: &str = "transport.plaintext";
    pub const CREDENTIAL_PLAINTEXT: &str = "credential.plaintext";
    pub const CREDENTIAL_IN_URL: &str = "credential.in_url";
    pub const CREDENTIAL_WRONG_DESTINATION: &str = "credential.wrong_destination";
    pub const CREDENTIAL_NOT_ALLOWED: &str = "credential.not_allowed";
    pub const CREDENTIAL_JWT_UNSIGNED: &str = "credential.jwt_unsigned";
    pub const CREDENTIAL_JWT_EXPIRED: &str = "credential.jwt_expired";
    pub const DESTINATION_NOT_ALLOWED: &str = "destination.not_allowed";
    /// Not emitted by [`super::Policy::evaluate`]: the id that the inventory uses for a
    /// first-seen destination, at [`super::Settings::discovery`] severity.
    pub const DESTINATION_DISCOVERED: &str = "destination.discovered";
    /// A credential used by a workload after another workload was seen using it first.
    pub const CREDENTIAL_NEW_WORKLOAD: &str = "credential.new_workload";
    /// A burst of 401/403 responses for one client × endpoint.
    pub const AUTH_FAILURES: &str = "auth.failures";
    /// A burst of 401/403 responses to calls carrying one credential.
    pub const AUTH_CREDENTIAL_REJECTED: &str = "auth.credential_rejected";
    /// Card data over plaintext HTTP to or from a party that is not internal.
    pub const SENSITIVE_CARD_PLAINTEXT: &str = "sensitive.card_plaintext";
    /// Card or personal data in a URL (path or query).
    pub const SENSITIVE_IN_URL: &str = "sensitive.in_url";
    /// A kind of sensitive data sent to a host not among its allowed destinations.
    pub const SENSITIVE_UNAPPROVED_DESTINATION: &str = "sensitive.unapproved_destination";
    /// A response carrying at least `bulk_response_threshold` sensitive values.
    pub const SENSITIVE_BULK_RESPONSE: &str = "sensitive.bulk_response";
    /// Built-in rules only ever raised from the caller's view: no twin to wait for.
    pub const OUTBOUND_ONLY: [&str; 7] = [
        TRANSPORT_PLAINTEXT,
        CREDENTIAL_WRONG_DESTINATION,
        CREDENTIAL_NOT_ALLOWED,
        CREDENTIAL_NEW_WORKLOAD,
        DESTINATION_NOT_ALLOWED,
        DESTINATION_DISCOVERED,
        SENSITIVE_UNAPPROVED_DESTINATION,
    ];
}

/// Denylist: only `deny` rules alert. Allowlist: a destination that no `allow` rule matches
/// alerts too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Denylist,
    Allowlist,
}

/// What the credential detectors should look for beyond their built-in names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetectorSettings {
    /// Lower-case header names that carry API keys.
    pub extra_api_key_headers: Vec<String>,
    /// Query parameter names whose values are secrets.
    pub extra_query_parameters: Vec<String>,
}

/// Policy-wide settings, for the policy itself and for the stages around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub mode: Mode,
    /// Identical alerts within this window are summarised (default 60 s; zero = never).
    pub suppression_window: Duration,
    /// A first-seen destination per workload alerts at this severity (default `Info`); `None` = off.
    pub discovery: Option<Severity>,
    /// Networks that count as local for the transport rule. Loopback is always included.
    pub internal_networks: Vec<ipnet::IpNet>,
    /// Severity of `destination.not_allowed` (allowlist mode), default medium.
    pub not_allowed_severity: Severity,
    pub detector: DetectorSettings,
}

impl Settings {
    /// The address is in `internal_networks` (loopback always is); IPv4-mapped IPv6 addresses
    /// count as their IPv4 address.
    pub fn is_internal_ip(&self, ip: IpAddr) -> bool {
        let ip = evaluate::canonical_ip(ip);
        self.internal_networks.iter().any(|net| net.contains(&ip))
    }
}

/// A built policy: immutable, `Send + Sync`, cheap to evaluate.
#[derive(Clone, Debug)]
pub struct Policy {
    settings: Settings,
    rules: rules::Rules,
}

impl Policy {
    /// Parses and validates a policy document. On failure, every semantic error is reported
    /// with its line and column; a YAML syntax or type error stops at the first one.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyErrors> {
        validate::build(text).map(|(settings, rules)| Policy { settings, rules })
    }

    /// The built-in default policy ([`DEFAULT_POLICY_YAML`]).
    pub fn builtin_default() -> Policy {
        // A constant, checked by a unit test: failing here is a build defect, not bad input.
        Self::from_yaml(DEFAULT_POLICY_YAML)
            .unwrap_or_else(|errors| panic!("the built-in default policy is invalid:\n{errors}"))
    }

    /// Destination, transport and credential rules broken by this call, in that order.
    pub fn evaluate(&self, call: &CallView) -> Vec<Violation> {
        evaluate::evaluate(&self.settings, &self.rules, call)
    }

    /// The rate rules whose workloads, hosts, methods and path apply to this call.
    pub fn rate_rules_for<'p>(&'p self, call: &CallView) -> Vec<&'p RateRule> {
        evaluate::rate_rules_for(&self.rules, call)
    }

    /// All rate rules, in document order.
    pub fn rate_rules(&self) -> &[RateRule] {
        &self.rules.rate
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn auth_failures(&self) -> &AuthFailureRules {
        &self.rules.auth_failures
    }

    /// The `sensitive_data` section: which kinds to look for, where they may go.
    pub fn sensitive_data(&self) -> &SensitiveRules {
        &self.rules.sensitive
    }

    /// The `sensitive_data` rules broken by this exchange's findings.
    pub fn evaluate_sensitive(
        &self,
        call: &CallView,
        report: &crate::sensitive::SensitiveReport,
    ) -> Vec<SensitiveViolation> {
        sensitive::evaluate(&self.settings, &self.rules, call, report)
    }

    /// Severity of `credential.new_workload`, when outbound credentials are checked for this
    /// workload at all.
    pub fn credential_new_workload(&self, workload: &Workload) -> Option<Severity> {
        let credentials = &self.rules.credentials;
        let matched: Vec<bool> = self
            .rules
            .selectors
            .iter()
            .map(|s| s.matches(workload))
            .collect();
        (credentials.direction.includes(CallDirection::Outbound)
            && credentials.scope.applies(&matched))
        .then_some(credentials.new_workload)
    }
}
