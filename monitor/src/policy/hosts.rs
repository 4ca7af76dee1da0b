//! Host patterns and their matching: `example.com` (exact), `*.example.com` (subdomains only, not
//! the apex) and `*` (any host). Case-insensitive and port-less on both sides. Kept apart so that
//! parsing (with its error messages) and the hot-path match live next to each other.
use std::{borrow::Cow, collections::HashSet, net::IpAddr};

use super::errors::with_hint;

/// One host pattern, validated and normalised (lower-case, no trailing dot, IPs canonical).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum HostPattern {
    Any,
    Exact(String),
    /// The suffix with its leading dot: `.example.com`.
    Subdomains(String),
}

impl HostPattern {
    /// Parses a pattern; the error is a message (with an optional hint after the separator).
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let raw = text.trim();
        if raw.is_empty() {
            return Err("empty host pattern".to_owned());
        }
        if raw == "*" {
            return Ok(Self::Any);
        }
        if let Some(scheme_end) = raw.find("://") {
            let bare = bare_host_guess(&raw[scheme_end + 3..]);
            return Err(with_hint(
                format!("host pattern `{raw}` has a URL scheme"),
                format!("write the host alone: `{bare}`"),
            ));
        }
        if raw.contains('/') {
            return Err(with_hint(
                format!("host pattern `{raw}` contains a path"),
                format!("write the host alone: `{}`", bare_host_guess(raw)),
            ));
        }
        let unbracketed = raw
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(raw);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Exact(ip.to_string()));
        }
        if raw.contains(':') {
            return Err(with_hint(
                format!("host pattern `{raw}` has a port"),
                "host patterns are port-less; restrict ports with `ports`",
            ));
        }
        let lower = raw.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(name) => (true, name),
            None => (false, lower),
        };
        if name.contains('*') {
            return Err(with_hint(
                format!("host pattern `{raw}` has a `*` that is not a leading `*.`"),
                "only `*.example.com` (any subdomain) and `*` (any host) are supported",
            ));
        }
        check_host_name(name).map_err(|why| format!("host pattern `{raw}`: {why}"))?;
        Ok(if wildcard {
            Self::Subdomains(format!(".{name}"))
        } else {
            Self::Exact(name.to_owned())
        })
    }
}

/// The host part of something that looked like a URL, for hints.
fn bare_host_guess(text: &str) -> &str {
    let host = text.split('/').next().unwrap_or(text);
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// DNS-ish name check: labels of 1 to 63 letters, digits, `-` or `_`, 253 bytes at most.
fn check_host_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("no host name after `*.`".to_owned());
    }
    if name.len() > 253 {
        return Err("longer than 253 bytes".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label (two dots in a row, or a leading dot)".to_owned());
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 bytes".to_owned());
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("character `{bad}` is not allowed in a host name"));
        }
    }
    Ok(())
}

/// A set of host patterns, matched in O(1) for exact names plus a scan of the wildcards.
#[derive(Clone, Debug, Default)]
pub(super) struct HostSet {
    any: bool,
    /// Fixed by the policy; traffic only looks names up, and cannot lengthen a probe sequence
    /// of a table it cannot insert into: foldhash, which is cheaper than SipHash.
    exact: HashSet<String, foldhash::fast::RandomState>,
    suffixes: Vec<String>,
}

impl HostSet {
    pub(super) fn new<'a>(patterns: impl IntoIterator<Item = &'a HostPattern>) -> Self {
        let mut set = Self::default();
        for pattern in patterns {
            match pattern {
                HostPattern::Any => set.any = true,
                HostPattern::Exact(exact) => {
                    set.exact.insert(exact.clone());
                }
                HostPattern::Subdomains(suffix) => set.suffixes.push(suffix.clone()),
            }
        }
        set
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.any && self.exact.is_empty() && self.suffixes.is_empty()
    }

    /// `host` must come from [`normalize_host`].
    pub(super) fn matches(&self, host: &str) -> bool {
        self.any
            || self.exact.contains(host)
            || self
                .suffixes
                .iter()
                .any(|suffix| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
    }
}

/// Puts a call's host in the form patterns are stored in: lower-case, no trailing dot, no
/// brackets around an IPv6 literal, IP literals canonical. Borrows in the common case.
pub(super) fn normalize_host(host: &str) -> Cow<'_, str> {
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.contains(':') || trimmed.starts_with('[') {
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Cow::Owned(ip.to_string());
        }
    }
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The host as a literal IP address, if it is one.
pub(super) fn host_ip(host: &str) -> Option<IpAddr> {
    host.parse().ok()
}
