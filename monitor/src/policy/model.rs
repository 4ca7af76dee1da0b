//! The policy document exactly as written, as serde types. Unknown fields are errors (typos must
//! not silently disable a rule); scalars are validating newtypes from `values.rs`. Nothing here
//! checks how parts relate to each other (references, duplicates): that is `validate.rs`, which
//! can report every such problem at once instead of stopping at the first.
//!
//! Field names here are the documented schema (`docs/policy.md`); renaming one breaks users.
use serde::Deserialize;

use super::{
    Mode, Severity,
    directions::Directions,
    hosts::HostPattern,
    paths::PathPattern,
    values::{
        Cidr, Command, ContainerPattern, Discovery, DurationValue, Entries, ExecutableGlob,
        HeaderName, KindName, Method, Name, ParamName, Port, RuleId, SensitiveKindName, nullable,
    },
};

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a policy mapping with `version`, `settings`, `workloads`, `destinations`, `transport`, `credentials`, `rate_limits`, `auth_failures`, `sensitive_data`"
)]
pub(super) struct Document {
    pub version: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub settings: RawSettings,
    #[serde(default, deserialize_with = "nullable")]
    pub workloads: Entries<Name, Option<RawSelector>>,
    #[serde(default, deserialize_with = "nullable")]
    pub destinations: Vec<RawDestinationRule>,
    #[serde(default, deserialize_with = "nullable")]
    pub transport: RawTransport,
    #[serde(default, deserialize_with = "nullable")]
    pub credentials: RawCredentials,
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limits: Vec<RawRateRule>,
    #[serde(default, deserialize_with = "nullable")]
    pub auth_failures: RawAuthFailures,
    #[serde(default, deserialize_with = "nullable")]
    pub sensitive_data: RawSensitiveData,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the `settings` mapping")]
pub(super) struct RawSettings {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, deserialize_with = "nullable")]
    pub internal_networks: Vec<Cidr>,
    pub suppression_window: Option<DurationValue>,
    pub discovery: Option<Discovery>,
    pub not_allowed_severity: Option<Severity>,
}

/// A named workload selector. All given fields must match; a list matches if any item does.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a workload selector mapping")]
pub(super) struct RawSelector {
    pub command: Option<Vec<Command>>,
    pub executable: Option<Vec<ExecutableGlob>>,
    pub uid: Option<Vec<u32>>,
    pub container_id: Option<Vec<ContainerPattern>>,
    pub k8s: Option<super::k8s_selector::RawK8sSelector>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Action {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a destination rule mapping")]
pub(super) struct RawDestinationRule {
    pub id: RuleId,
    /// Free text for people; not used by the monitor.
    #[serde(default, rename = "description")]
    pub _description: Option<String>,
    pub action: Action,
    /// Default outbound: a destination rule is about where a workload's calls go.
    pub direction: Option<Directions>,
    pub hosts: Option<Vec<HostPattern>>,
    pub cidrs: Option<Vec<Cidr>>,
    pub ports: Option<Vec<Port>>,
    pub methods: Option<Vec<Method>>,
    pub paths: Option<Vec<PathPattern>>,
    pub workloads: Option<Vec<Name>>,
    pub severity: Option<Severity>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the `transport` mapping")]
pub(super) struct RawTransport {
    pub require_tls: Option<bool>,
    /// Default both: outbound plaintext calls to non-internal destinations, and credentials
    /// received in plaintext from non-internal clients.
    pub direction: Option<Directions>,
    pub severity: Option<Severity>,
    pub with_credential_severity: Option<Severity>,
    #[serde(default, deserialize_with = "nullable")]
    pub exempt_hosts: Vec<HostPattern>,
    pub workloads: Option<Vec<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub exempt_workloads: Vec<Name>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the `credentials` mapping")]
pub(super) struct RawCredentials {
    /// Default both; `wrong_destination`, `not_allowed` and `new_workload` are always about
    /// outbound calls (where a credential is sent, who uses it).
    pub direction: Option<Directions>,
    #[serde(default, deserialize_with = "nullable")]
    pub api_key_headers: Vec<HeaderName>,
    #[serde(default, deserialize_with = "nullable")]
    pub query_parameters: Vec<ParamName>,
    #[serde(default, deserialize_with = "nullable")]
    pub severities: RawCredentialSeverities,
    #[serde(default, deserialize_with = "nullable")]
    pub allowed_destinations: Entries<KindName, Vec<HostPattern>>,
    pub default_allowed_destinations: Option<bool>,
    pub workloads: Option<Vec<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub exempt_workloads: Vec<Name>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the `credentials.severities` mapping"
)]
pub(super) struct RawCredentialSeverities {
    pub in_url: Option<Severity>,
    pub wrong_destination: Option<Severity>,
    pub not_allowed: Option<Severity>,
    pub jwt_unsigned: Option<Severity>,
    pub jwt_expired: Option<Severity>,
    pub new_workload: Option<Severity>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RateKey {
    Workload,
    Host,
    Method,
    Path,
    /// The caller: the workload itself for outbound calls, the client (its workload when it
    /// runs on this host, else its address) for inbound calls.
    Client,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rate limit mapping")]
pub(super) struct RawRateRule {
    pub id: RuleId,
    /// Free text for people; not used by the monitor.
    #[serde(default, rename = "description")]
    pub _description: Option<String>,
    /// Default outbound.
    pub direction: Option<Directions>,
    pub workloads: Option<Vec<Name>>,
    pub hosts: Option<Vec<HostPattern>>,
    pub methods: Option<Vec<Method>>,
    pub path: Option<PathPattern>,
    pub limit: u32,
    pub per: DurationValue,
    pub burst: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub by: Vec<RateKey>,
    pub severity: Option<Severity>,
}

/// Bursts of rejected authentication (401/403): per client × endpoint, and per credential.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the `auth_failures` mapping")]
pub(super) struct RawAuthFailures {
    pub enabled: Option<bool>,
    /// Default both: a client whose key keeps being rejected is a finding too.
    pub direction: Option<Directions>,
    pub threshold: Option<u32>,
    pub window: Option<DurationValue>,
    pub severity: Option<Severity>,
    pub credential_threshold: Option<u32>,
    pub credential_severity: Option<Severity>,
}

/// Card and personal data in transit: which kinds are looked for, and where they may go.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the `sensitive_data` mapping")]
pub(super) struct RawSensitiveData {
    pub enabled: Option<bool>,
    /// Default: all kinds.
    pub kinds: Option<Vec<SensitiveKindName>>,
    /// Default both: data sent in calls made, and data received (or returned) in calls served.
    pub direction: Option<Directions>,
    #[serde(default, deserialize_with = "nullable")]
    pub severities: RawSensitiveSeverities,
    /// A response carrying at least this many values of the kinds (0: off).
    pub bulk_response_threshold: Option<u32>,
    /// Kind -> hosts that may receive it; kinds absent here may go anywhere.
    #[serde(default, deserialize_with = "nullable")]
    pub allowed_destinations: Entries<SensitiveKindName, Vec<HostPattern>>,
    pub workloads: Option<Vec<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub exempt_workloads: Vec<Name>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "the `sensitive_data.severities` mapping"
)]
pub(super) struct RawSensitiveSeverities {
    pub card_plaintext: Option<Severity>,
    pub in_url: Option<Severity>,
    pub unapproved_destination: Option<Severity>,
    pub bulk_response: Option<Severity>,
}
