//! The compiled form of a policy: what `validate.rs` builds from the document and `evaluate.rs`
//! reads for every call. Everything is resolved ahead of time (workload names to selector
//! indexes, patterns to matchers, defaults filled in), so evaluation does no parsing or lookup
//! by name.
use std::time::Duration;

use ipnet::IpNet;

use super::{
    Severity,
    directions::Directions,
    hosts::HostSet,
    model::Action,
    paths::PathPattern,
    selector::{Scope, Selector},
};
use crate::{
    credentials::CredentialKind,
    sensitive::{KindSet, SensitiveKind},
};

#[derive(Clone, Debug)]
pub(super) struct Rules {
    /// Named workload selectors, in document order.
    pub selectors: Vec<Selector>,
    pub destinations: Vec<DestinationRule>,
    pub transport: TransportRule,
    pub credentials: CredentialRules,
    pub rate: Vec<RateRule>,
    pub auth_failures: AuthFailureRules,
    pub sensitive: SensitiveRules,
}

#[derive(Clone, Debug)]
pub(super) struct DestinationRule {
    pub id: String,
    pub action: Action,
    pub direction: Directions,
    pub hosts: HostSet,
    pub cidrs: Vec<IpNet>,
    pub ports: Vec<u16>,
    /// Upper-case; empty: any method.
    pub methods: Vec<String>,
    /// Empty: any path.
    pub paths: Vec<PathPattern>,
    pub scope: Scope,
    pub severity: Severity,
}

#[derive(Clone, Debug)]
pub(super) struct TransportRule {
    pub require_tls: bool,
    pub direction: Directions,
    pub severity: Severity,
    pub with_credential_severity: Severity,
    pub exempt_hosts: HostSet,
    pub scope: Scope,
}

#[derive(Clone, Debug)]
pub(super) struct CredentialRules {
    pub scope: Scope,
    pub direction: Directions,
    pub new_workload: Severity,
    pub in_url: Severity,
    pub wrong_destination: Severity,
    pub not_allowed: Severity,
    pub jwt_unsigned: Severity,
    pub jwt_expired: Severity,
    /// Where each kind may be sent; kinds absent here may go anywhere. Keyed by the monitor's
    /// own kinds: foldhash ([`crate::IdMap`]).
    pub allowed_destinations: crate::IdMap<CredentialKind, HostSet>,
}

/// A call-rate limit: a token bucket of `burst` tokens refilled at `limit` per `per`, kept per
/// workload × host (× method, × path template when `by_method` / `by_path`).
#[derive(Clone, Debug)]
pub struct RateRule {
    pub id: String,
    pub limit: u32,
    pub per: Duration,
    pub burst: u32,
    pub by_method: bool,
    pub by_path: bool,
    /// Keyed by the caller as well (see `RateKey::Client` in the document model).
    pub by_client: bool,
    pub direction: Directions,
    pub severity: Severity,
    pub(super) scope: Scope,
    /// Empty: any host.
    pub(super) hosts: HostSet,
    /// Upper-case; empty: any method.
    pub(super) methods: Vec<String>,
    pub(super) path: Option<PathPattern>,
}

/// Bursts of 401/403 responses: `threshold` within `window` per client × endpoint
/// (`auth.failures`), `credential_threshold` per credential fingerprint
/// (`auth.credential_rejected`).
#[derive(Clone, Debug, PartialEq)]
pub struct AuthFailureRules {
    pub enabled: bool,
    pub direction: Directions,
    pub threshold: u32,
    pub window: Duration,
    pub severity: Severity,
    pub credential_threshold: u32,
    pub credential_severity: Severity,
}

/// Card and personal data in transit (`sensitive_data`).
#[derive(Clone, Debug)]
pub struct SensitiveRules {
    /// The kinds looked for; empty when the section is disabled.
    pub kinds: KindSet,
    pub direction: Directions,
    pub card_plaintext: Severity,
    pub in_url: Severity,
    pub unapproved_destination: Severity,
    pub bulk_response: Severity,
    /// 0: off.
    pub bulk_response_threshold: u32,
    pub(super) allowed_destinations: crate::IdMap<SensitiveKind, HostSet>,
    pub(super) scope: Scope,
}
