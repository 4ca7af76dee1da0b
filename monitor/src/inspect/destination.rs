//! The destination of a call as the policy sees it, from the `Host` header (later also SNI and
//! the socket's peer address).

use std::borrow::Cow;

use compact_str::CompactString;

use crate::ascii_split::{position, rsplit_once, split_once};

/// Longest host kept (a DNS name has at most 253 characters): it is chosen by whoever sends the
/// request, and it ends up in table keys, metric labels and summaries.
const MAX_HOST_BYTES: usize = 255;

/// The server a call names in its `Host` (or `:authority`), as inspection keeps it. The
/// pipeline splits the header once ([`split_host_port`]), labels the per-destination metrics
/// with the borrowed host and hands this to inspection (splitting it twice was 1 % of a call's
/// work).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// Lower-case, without its port or brackets, clipped to [`MAX_HOST_BYTES`].
    pub host: CompactString,
    pub port: Option<u16>,
}

impl Authority {
    /// From [`split_host_port`]'s answer (the per-destination metrics take the host from there
    /// without a copy; only inspection needs it owned).
    pub fn new(host: &str, port: Option<u16>) -> Self {
        Self {
            host: clipped(CompactString::from(host), MAX_HOST_BYTES),
            port,
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(super) fn clipped(mut text: CompactString, max: usize) -> CompactString {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// `host[:port]` or `[v6]:port` → lower-case host without brackets, and the port if given.
/// Borrowed when the host is already lower-case (nearly always): this runs on every call, so it
/// cuts by byte search (see [`crate::ascii_split`]).
pub fn split_host_port(authority: &str) -> (Cow<'_, str>, Option<u16>) {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = split_once(rest, b']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (lower_case(host), port);
    }
    match rsplit_once(authority, b':') {
        // More than one ':' without brackets is a bare IPv6 address, not host:port.
        Some((host, port)) if position(host, b':').is_none() => {
            (lower_case(host), port.parse().ok())
        }
        _ => (lower_case(authority), None),
    }
}

fn lower_case(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authority_is_split_once_and_its_host_clipped_on_a_character_boundary() {
        let of = |header: &str| {
            let (host, port) = split_host_port(header);
            Authority::new(&host, port)
        };
        let authority = of(" API.Example.com:8443 ");
        assert_eq!(authority.host, "api.example.com");
        assert_eq!(authority.port, Some(8443));
        let long = format!("{}é.example", "a".repeat(MAX_HOST_BYTES - 1));
        let authority = of(&long);
        assert_eq!(authority.host.len(), MAX_HOST_BYTES - 1);
        assert!(long.starts_with(authority.host.as_str()));
        assert_eq!(authority.port, None);
    }

    #[test]
    fn splits_the_forms_a_host_header_takes() {
        assert_eq!(
            split_host_port("API.Example.com"),
            ("api.example.com".into(), None)
        );
        assert_eq!(
            split_host_port("api.example.com:8443"),
            ("api.example.com".into(), Some(8443))
        );
        assert_eq!(
            split_host_port("127.0.0.1:443"),
            ("127.0.0.1".into(), Some(443))
        );
        assert_eq!(split_host_port("[::1]:8080"), ("::1".into(), Some(8080)));
        assert_eq!(split_host_port("[::1]"), ("::1".into(), None));
        assert_eq!(split_host_port("::1"), ("::1".into(), None));
        assert_eq!(split_host_port("host:notaport"), ("host".into(), None));
    }
}
