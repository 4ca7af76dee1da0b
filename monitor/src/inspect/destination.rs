//! The destination of a call as the policy sees it, from the `Host` header (later also SNI and
//! the socket's peer address).

use std::borrow::Cow;

use crate::ascii_split::{position, rsplit_once, split_once};

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
