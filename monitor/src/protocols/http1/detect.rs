//! Cheap plausibility checks for "an HTTP/1 message starts here".
//!
//! They run before anything is buffered so that TLS ciphertext, SSH banners or binary protocols
//! are rejected after a handful of bytes instead of after `detect_bytes`/`max_head_bytes`. They
//! are stricter than the grammar (e.g. methods must look like upper-case words) because a false
//! "yes" costs a buffered head and a misleading MalformedHead, while a false "no" only affects
//! exotic lower-case methods.

/// Verdict on a prefix of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plausible {
    Yes,
    No,
    /// Consistent so far, more bytes needed to decide.
    NeedMore,
}

/// Longest method we consider plausible (the longest registered one is 17 bytes).
const MAX_METHOD_LEN: usize = 24;

/// Methods we accept as a resync point even when the first line is not yet complete.
const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"PURGE",
];

const RESPONSE_PREFIX: &[u8] = b"HTTP/1.";

fn is_method_byte(b: u8, first: bool) -> bool {
    b.is_ascii_uppercase() || (!first && (b.is_ascii_digit() || b == b'-' || b == b'_'))
}

/// `METHOD SP` where METHOD is an upper-case word.
pub(crate) fn request_start(buf: &[u8]) -> Plausible {
    for (i, &b) in buf.iter().enumerate() {
        if b == b' ' {
            return if i == 0 {
                Plausible::No
            } else {
                Plausible::Yes
            };
        }
        if i >= MAX_METHOD_LEN || !is_method_byte(b, i == 0) {
            return Plausible::No;
        }
    }
    Plausible::NeedMore
}

/// `HTTP/1.`
pub(crate) fn response_start(buf: &[u8]) -> Plausible {
    let n = buf.len().min(RESPONSE_PREFIX.len());
    if buf[..n] != RESPONSE_PREFIX[..n] {
        Plausible::No
    } else if n == RESPONSE_PREFIX.len() {
        Plausible::Yes
    } else {
        Plausible::NeedMore
    }
}

/// Bytes tolerated before a message (llhttp and most servers skip stray CRLFs).
pub(crate) fn is_line_noise(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// Leading CR/LF bytes of `buf`.
pub(crate) fn skip_noise(buf: &[u8]) -> usize {
    buf.iter().take_while(|&&b| is_line_noise(b)).count()
}

/// Stricter check used after data loss, where the chunk may just as well be the middle of a
/// body: a request needs its whole first line ending in ` HTTP/1.x`, or a well-known method if
/// the line is not complete in this chunk; a response needs `HTTP/1.`.
pub(crate) fn is_resync_point(request: bool, buf: &[u8]) -> bool {
    let buf = &buf[skip_noise(buf)..];
    if !request {
        return response_start(buf) == Plausible::Yes;
    }
    if request_start(buf) != Plausible::Yes {
        return false;
    }
    match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
            line.len() >= 9 && {
                let tail = &line[line.len() - 9..];
                tail.starts_with(b" HTTP/1.") && tail[8].is_ascii_digit()
            }
        }
        None => {
            let method_len = buf.iter().position(|&b| b == b' ').unwrap_or(buf.len());
            KNOWN_METHODS.contains(&&buf[..method_len])
        }
    }
}

/// Classification of the very first bytes of a connection direction, used to decide the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Request,
    Response,
    Neither,
    NeedMore,
}

pub(crate) fn classify(buf: &[u8]) -> Class {
    let buf = &buf[skip_noise(buf)..];
    if buf.is_empty() {
        return Class::NeedMore;
    }
    match (request_start(buf), response_start(buf)) {
        (Plausible::Yes, _) => Class::Request,
        (_, Plausible::Yes) => Class::Response,
        (Plausible::No, Plausible::No) => Class::Neither,
        _ => Class::NeedMore,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn rejects_tls_and_binary_immediately() {
        assert_eq!(classify(&[0x16, 0x03, 0x01]), Class::Neither);
        assert_eq!(classify(b"\x00\x00\x12"), Class::Neither);
        assert_eq!(classify(b"SSH-2.0-OpenSSH_9.6"), Class::Neither);
        assert_eq!(classify(b"get / HTTP/1.1"), Class::Neither);
    }

    #[test]
    fn recognises_starts() {
        assert_eq!(classify(b"GET /"), Class::Request);
        assert_eq!(classify(b"\r\nM-SEARCH *"), Class::Request);
        assert_eq!(classify(b"HTTP/1.1 200"), Class::Response);
        assert_eq!(classify(b"HE"), Class::NeedMore);
        assert_eq!(classify(b"HTTP"), Class::NeedMore);
        assert_eq!(classify(b"HEAD /"), Class::Request);
    }

    #[test]
    fn resync_points() {
        assert!(is_resync_point(true, b"GET /x HTTP/1.1\r\nHost: a\r\n"));
        assert!(is_resync_point(true, b"POST /upl"));
        assert!(!is_resync_point(true, b"HELLO world, this is body\r\n"));
        assert!(!is_resync_point(true, b"FOO /x"));
        assert!(is_resync_point(false, b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_resync_point(false, b"HTTP/2 200"));
    }
}
