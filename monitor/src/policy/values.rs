//! Scalar values of the policy document as newtypes whose `Deserialize` validates them: host
//! patterns, CIDRs, globs, durations, credential kinds, names, ports... Validation happens inside
//! the serde visitor, so serde_yaml_ng attaches the line and column of the offending scalar to
//! the error, and `monitor policy check` can point at it.
use std::{fmt, marker::PhantomData, time::Duration};

use globset::{Glob, GlobBuilder};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, de};

use super::{
    Severity,
    errors::{did_you_mean, with_hint},
    hosts::HostPattern,
    paths::PathPattern,
};
use crate::{credentials::CredentialKind, sensitive::SensitiveKind};

/// A scalar parsed from its text.
pub(super) trait Scalar: Sized {
    const EXPECTING: &'static str;
    fn parse(text: &str) -> Result<Self, String>;
}

pub(super) struct ScalarVisitor<T>(pub(super) PhantomData<T>);

impl<T: Scalar> de::Visitor<'_> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        T::parse(text).map_err(E::custom)
    }
}

macro_rules! scalar_deserialize {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ScalarVisitor::<$t>(PhantomData))
            }
        }
    )*};
}

pub(super) use scalar_deserialize;

scalar_deserialize!(
    HostPattern,
    PathPattern,
    Cidr,
    ExecutableGlob,
    ContainerPattern,
    Command,
    DurationValue,
    KindName,
    SensitiveKindName,
    HeaderName,
    ParamName,
    Method,
    Name,
    RuleId,
    Discovery,
);

impl Scalar for HostPattern {
    const EXPECTING: &'static str = "a host pattern (`api.example.com`, `*.example.com` or `*`)";
    fn parse(text: &str) -> Result<Self, String> {
        HostPattern::parse(text)
    }
}

impl Scalar for PathPattern {
    const EXPECTING: &'static str = "a path template pattern (`/v1/users/{id}`, `/v1/*`, `/v1/**`)";
    fn parse(text: &str) -> Result<Self, String> {
        PathPattern::parse(text)
    }
}

/// A network in CIDR notation; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cidr(pub IpNet);

impl Scalar for Cidr {
    const EXPECTING: &'static str = "a CIDR such as `10.0.0.0/8` or `2001:db8::/32`";
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<std::net::IpAddr>() {
            return Ok(Self(IpNet::from(ip)));
        }
        let net: IpNet = text.parse().map_err(|_| {
            with_hint(
                format!("`{text}` is not a CIDR"),
                "write an address and a prefix length, e.g. `10.0.0.0/8`",
            )
        })?;
        if net.trunc() != net {
            return Err(with_hint(
                format!("CIDR `{text}` has bits set after the prefix"),
                format!("did you mean `{}`?", net.trunc()),
            ));
        }
        Ok(Self(net))
    }
}

/// A glob over absolute executable paths: `*` stays within one path component, `**` crosses them.
#[derive(Clone, Debug)]
pub(super) struct ExecutableGlob(pub Glob);

impl Scalar for ExecutableGlob {
    const EXPECTING: &'static str = "an executable path or glob such as `/usr/bin/python3*`";
    fn parse(text: &str) -> Result<Self, String> {
        if !(text.starts_with('/') || text.starts_with("**")) {
            return Err(with_hint(
                format!("executable pattern `{text}` is not an absolute path"),
                "executables match full paths (`/usr/bin/curl`, `/opt/app/**`); use `command` for the process name",
            ));
        }
        GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .map(Self)
            .map_err(|e| format!("invalid glob `{text}`: {}", e.kind()))
    }
}

/// A container id, exact or a glob (`abc123*`).
#[derive(Clone, Debug)]
pub(super) enum ContainerPattern {
    Exact(String),
    Glob(Glob),
}

impl Scalar for ContainerPattern {
    const EXPECTING: &'static str = "a container id or glob such as `3f4e2a*`";
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty container id".to_owned());
        }
        if !text.contains(['*', '?', '[', '{']) {
            return Ok(Self::Exact(text.to_ascii_lowercase()));
        }
        Glob::new(&text.to_ascii_lowercase())
            .map(Self::Glob)
            .map_err(|e| format!("invalid container id glob `{text}`: {}", e.kind()))
    }
}

/// A process command name (`comm`), matched exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Command(pub String);

/// The kernel keeps 15 bytes of a command name.
const COMM_MAX: usize = 15;

impl Scalar for Command {
    const EXPECTING: &'static str = "a process command name";
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty command name".to_owned());
        }
        if text.contains('/') {
            return Err(with_hint(
                format!("command `{text}` contains `/`"),
                "`command` is the process name; match paths with `executable`",
            ));
        }
        if text.len() > COMM_MAX {
            let mut cut = COMM_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(with_hint(
                format!("command `{text}` is longer than 15 bytes and can never match"),
                format!(
                    "the kernel truncates process names to 15 bytes: write `{}` or match `executable`",
                    &text[..cut]
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

/// A duration: numbers with units `ms`, `s`, `m`, `h`, `d`, possibly chained (`1m30s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DurationValue(pub Duration);

impl Scalar for DurationValue {
    const EXPECTING: &'static str = "a duration such as `30s`, `1m` or `2h`";
    fn parse(text: &str) -> Result<Self, String> {
        parse_duration(text.trim()).map(Self).map_err(|why| {
            with_hint(
                format!("invalid duration `{text}`: {why}"),
                "write a number and a unit: `500ms`, `30s`, `1m`, `2h`, `1d`, or chained like `1m30s`",
            )
        })
    }
}

fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    if text.is_empty() {
        return Err("empty");
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("expected a number");
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "number too large")?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            "" => return Err("missing unit"),
            _ => return Err("unknown unit"),
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(number)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or("too large")?;
        total = total.checked_add(part).ok_or("too large")?;
    }
    Ok(total)
}

/// A credential kind by its stable name (`aws_access_key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KindName(pub CredentialKind);

impl Scalar for KindName {
    const EXPECTING: &'static str = "a credential kind such as `aws_access_key`";
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(kind) = CredentialKind::from_name(text) {
            return Ok(Self(kind));
        }
        let names = CredentialKind::ALL.iter().map(|k| k.as_str());
        let hint = match did_you_mean(text, names.clone()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known kinds: {}", names.collect::<Vec<_>>().join(", ")),
        };
        Err(with_hint(format!("unknown credential kind `{text}`"), hint))
    }
}

/// A sensitive-data kind (`card`, `iban`, `us_ssn`, `email`, `phone`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SensitiveKindName(pub SensitiveKind);

impl Scalar for SensitiveKindName {
    const EXPECTING: &'static str = "a sensitive-data kind such as `card` or `email`";
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(kind) = SensitiveKind::parse(text) {
            return Ok(Self(kind));
        }
        let names = SensitiveKind::ALL.iter().map(|k| k.as_str());
        let hint = match did_you_mean(text, names.clone()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known kinds: {}", names.collect::<Vec<_>>().join(", ")),
        };
        Err(with_hint(
            format!("unknown sensitive-data kind `{text}`"),
            hint,
        ))
    }
}

/// `tchar` from RFC 9110: what header names and methods are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header name, stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct HeaderName(pub String);

impl Scalar for HeaderName {
    const EXPECTING: &'static str = "a header name such as `x-my-key`";
    fn parse(text: &str) -> Result<Self, String> {
        let name = text.trim().trim_end_matches(':');
        if !is_token(name) {
            return Err(format!("`{text}` is not a valid header name"));
        }
        Ok(Self(name.to_ascii_lowercase()))
    }
}

/// A query parameter name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ParamName(pub String);

impl Scalar for ParamName {
    const EXPECTING: &'static str = "a query parameter name such as `my_token`";
    fn parse(text: &str) -> Result<Self, String> {
        let name = text.trim();
        if name.is_empty() || name.contains(['=', '&', '?', '#', ' ']) {
            return Err(with_hint(
                format!("`{text}` is not a query parameter name"),
                "write the name only, e.g. `api_key` for `?api_key=...`",
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

/// An HTTP method, stored upper-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Method(pub String);

impl Scalar for Method {
    const EXPECTING: &'static str = "an HTTP method such as `POST`";
    fn parse(text: &str) -> Result<Self, String> {
        if !is_token(text) {
            return Err(format!("`{text}` is not an HTTP method"));
        }
        Ok(Self(text.to_ascii_uppercase()))
    }
}

fn check_name(text: &str, what: &str) -> Result<(), String> {
    let valid = text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if valid {
        Ok(())
    } else {
        Err(with_hint(
            format!("invalid {what} `{text}`"),
            "use 1 to 64 letters, digits, `-`, `_`, `.` or `:`, starting with a letter or digit",
        ))
    }
}

/// A workload name (a key of `workloads`, or a reference to one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Name(pub String);

impl Scalar for Name {
    const EXPECTING: &'static str = "a workload name";
    fn parse(text: &str) -> Result<Self, String> {
        check_name(text, "workload name")?;
        Ok(Self(text.to_owned()))
    }
}

/// Prefixes of the built-in rule ids, which user rules may not use.
pub(super) const RESERVED_PREFIXES: [&str; 6] = [
    "transport.",
    "credential.",
    "destination.",
    "auth.",
    "coverage.",
    "sensitive.",
];

/// A user rule id: appears in alerts and metric labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct RuleId(pub String);

impl Scalar for RuleId {
    const EXPECTING: &'static str = "a rule id";
    fn parse(text: &str) -> Result<Self, String> {
        check_name(text, "rule id")?;
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| text.starts_with(*p)) {
            return Err(with_hint(
                format!("rule id `{text}` uses the reserved prefix `{prefix}`"),
                "built-in rules use that prefix; pick another id",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

/// `discovery`: a severity, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Discovery(pub Option<Severity>);

impl Scalar for Discovery {
    const EXPECTING: &'static str = "a severity or `off`";
    fn parse(text: &str) -> Result<Self, String> {
        const NAMES: [&str; 6] = ["off", "info", "low", "medium", "high", "critical"];
        Ok(Self(match text {
            "off" | "false" => None,
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => {
                let hint = match did_you_mean(text, NAMES) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "one of off, info, low, medium, high, critical".to_owned(),
                };
                return Err(with_hint(format!("invalid discovery `{text}`"), hint));
            }
        }))
    }
}

/// A TCP port, 1 to 65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl de::Visitor<'_> for PortVisitor {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number from 1 to 65535")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Port, E> {
                match u16::try_from(n) {
                    Ok(port) if port > 0 => Ok(Port(port)),
                    _ => Err(E::custom(with_hint(
                        format!("port {n} is out of range"),
                        "ports are 1 to 65535",
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Port, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(with_hint(
                        format!("port {n} is out of range"),
                        "ports are 1 to 65535",
                    ))),
                }
            }
        }
        deserializer.deserialize_u64(PortVisitor)
    }
}

/// Reads `null` (an empty key, common while editing) as the default value.
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// A mapping kept in document order, duplicates included (validation reports them with their
/// position, which a `HashMap` would lose).
#[derive(Clone, Debug)]
pub(super) struct Entries<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> de::Visitor<'de> for EntriesVisitor<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("60").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999999h").is_err());
        assert!(parse_duration("18446744073709551615s").is_err());
    }

    #[test]
    fn cidrs() {
        assert!(Cidr::parse("10.0.0.0/8").is_ok());
        assert_eq!(
            Cidr::parse("10.1.2.3").unwrap().0,
            "10.1.2.3/32".parse::<IpNet>().unwrap()
        );
        assert!(
            Cidr::parse("10.0.0.1/8")
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn commands_longer_than_comm_are_rejected() {
        assert!(Command::parse("payments-api").is_ok());
        assert!(Command::parse("a-very-long-process-name").is_err());
        assert!(Command::parse("/usr/bin/curl").is_err());
    }
}
