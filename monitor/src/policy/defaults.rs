//! Built-in defaults that a policy document does not have to repeat: where well-known provider
//! credentials belong, and the default severities. A document's `allowed_destinations` entry for
//! a kind replaces the default for that kind; `default_allowed_destinations: false` drops them all.
//! Keep `docs/policy.md` in step with this table.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use ipnet::IpNet;

use super::Severity;
use crate::credentials::CredentialKind;

/// Hosts each provider credential may be sent to.
pub(super) const ALLOWED_DESTINATIONS: &[(CredentialKind, &[&str])] = &[
    (
        CredentialKind::AwsAccessKey,
        &["*.amazonaws.com", "*.amazonaws.com.cn"],
    ),
    (
        CredentialKind::AwsSigV4,
        &["*.amazonaws.com", "*.amazonaws.com.cn"],
    ),
    (
        CredentialKind::StripeKey,
        &["api.stripe.com", "files.stripe.com", "connect.stripe.com"],
    ),
    (
        CredentialKind::GithubToken,
        &[
            "api.github.com",
            "github.com",
            "uploads.github.com",
            "*.githubusercontent.com",
            "ghcr.io",
        ],
    ),
    (CredentialKind::GitlabToken, &["gitlab.com", "*.gitlab.com"]),
    (CredentialKind::SlackToken, &["slack.com", "*.slack.com"]),
    (
        CredentialKind::GoogleApiKey,
        &["*.googleapis.com", "*.google.com"],
    ),
    (CredentialKind::OpenaiKey, &["api.openai.com"]),
    (CredentialKind::AnthropicKey, &["api.anthropic.com"]),
    (CredentialKind::TwilioKey, &["*.twilio.com"]),
    (CredentialKind::SendgridKey, &["api.sendgrid.com"]),
];

pub(super) const SUPPRESSION_WINDOW: Duration = Duration::from_secs(60);
pub(super) const DISCOVERY: Option<Severity> = Some(Severity::Info);
pub(super) const NOT_ALLOWED: Severity = Severity::Medium;
pub(super) const DENY: Severity = Severity::High;
pub(super) const TRANSPORT_PLAINTEXT: Severity = Severity::Medium;
pub(super) const CREDENTIAL_PLAINTEXT: Severity = Severity::Critical;
pub(super) const CREDENTIAL_IN_URL: Severity = Severity::High;
pub(super) const CREDENTIAL_WRONG_DESTINATION: Severity = Severity::Critical;
pub(super) const CREDENTIAL_NOT_ALLOWED: Severity = Severity::High;
pub(super) const JWT_UNSIGNED: Severity = Severity::High;
pub(super) const JWT_EXPIRED: Severity = Severity::Low;
pub(super) const RATE_LIMIT: Severity = Severity::Medium;
pub(super) const CREDENTIAL_NEW_WORKLOAD: Severity = Severity::High;
pub(super) const AUTH_FAILURES: Severity = Severity::Medium;
pub(super) const AUTH_FAILURES_THRESHOLD: u32 = 10;
pub(super) const AUTH_FAILURES_WINDOW: Duration = Duration::from_secs(60);
pub(super) const AUTH_CREDENTIAL_REJECTED: Severity = Severity::High;
pub(super) const AUTH_CREDENTIAL_THRESHOLD: u32 = 5;

/// Always internal for the transport rule, whatever `internal_networks` adds.
pub(super) const LOOPBACK: [IpNet; 2] = [
    IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
    IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
];

/// `sensitive_data` severities.
pub(super) const SENSITIVE_CARD_PLAINTEXT: Severity = Severity::Critical;
pub(super) const SENSITIVE_IN_URL: Severity = Severity::High;
pub(super) const SENSITIVE_UNAPPROVED_DESTINATION: Severity = Severity::High;
pub(super) const SENSITIVE_BULK_RESPONSE: Severity = Severity::Medium;
