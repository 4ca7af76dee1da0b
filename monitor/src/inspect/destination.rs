//! The destination of a call as the policy sees it, from the `Host` header (later also SNI and
//! the socket's peer address).

/// `host[:port]` or `[v6]:port` → lower-case host without brackets, and the port if given.
pub fn split_host_port(authority: &str) -> (String, Option<u16>) {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host.to_ascii_lowercase(), port);
    }
    match authority.rsplit_once(':') {
        // More than one ':' without brackets is a bare IPv6 address, not host:port.
        Some((host, port)) if !host.contains(':') => (host.to_ascii_lowercase(), port.parse().ok()),
        _ => (authority.to_ascii_lowercase(), None),
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
