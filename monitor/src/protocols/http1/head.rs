//! Message heads: `httparse` for the syntax, then our own analysis of the headers that decide
//! framing (Content-Length, Transfer-Encoding, Connection, Upgrade).
//!
//! The framing checks are strict on purpose (conflicting lengths, Content-Length together with
//! Transfer-Encoding): those are the request-smuggling shapes where two parsers disagree on
//! where a message ends, and a monitor that guesses would attribute bytes to the wrong request.

use std::mem::MaybeUninit;

use compact_str::CompactString;

use crate::ascii_case::str_eq_lowercase;

use super::problem::Problem;
use super::reader::has_bare_lf;
use super::{Headers, HttpVersion, RequestHead, ResponseHead};

/// Header slots tried first; most heads fit, and the array lives on the stack.
const FIRST_TRY_HEADERS: usize = 64;
/// Retry size on `TooManyHeaders`; beyond this the head is rejected.
const MAX_HEADERS: usize = 256;

/// Framing-relevant facts gathered from the headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeadInfo {
    pub content_length: Option<u64>,
    /// `Some(true)` when Transfer-Encoding is present and its final coding is `chunked`.
    pub transfer_encoding: Option<bool>,
    /// `Connection: upgrade` together with an `Upgrade` header.
    pub upgrade: bool,
}

/// Result of trying to parse a (possibly partial) head.
pub(crate) enum Parsed<T> {
    Partial,
    Complete { len: usize, head: T, info: HeadInfo },
}

fn httparse_reason(e: httparse::Error) -> Problem {
    Problem::malformed(match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid new line",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid version",
    })
}

/// Header slots for `httparse`, left uninitialised: it writes each slot before it reads it,
/// and filling 64 empty slots first cost more than parsing a small head's few fields.
fn header_slots<'b, const N: usize>() -> [MaybeUninit<httparse::Header<'b>>; N] {
    [const { MaybeUninit::uninit() }; N]
}

pub(crate) fn parse_request(buf: &[u8]) -> Result<Parsed<RequestHead>, Problem> {
    let mut small = header_slots::<FIRST_TRY_HEADERS>();
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut small) {
        Ok(status) => build_request(buf, &req, status),
        Err(httparse::Error::TooManyHeaders) => {
            let mut big = header_slots::<MAX_HEADERS>();
            let mut req = httparse::Request::new(&mut []);
            let status = req
                .parse_with_uninit_headers(buf, &mut big)
                .map_err(httparse_reason)?;
            build_request(buf, &req, status)
        }
        Err(e) => Err(httparse_reason(e)),
    }
}

pub(crate) fn parse_response(buf: &[u8]) -> Result<Parsed<ResponseHead>, Problem> {
    // The defaults: `lines_end_in_crlf` relies on them.
    let config = httparse::ParserConfig::default();
    let mut small = header_slots::<FIRST_TRY_HEADERS>();
    let mut resp = httparse::Response::new(&mut []);
    match config.parse_response_with_uninit_headers(&mut resp, buf, &mut small) {
        Ok(status) => build_response(buf, &resp, status),
        Err(httparse::Error::TooManyHeaders) => {
            let mut big = header_slots::<MAX_HEADERS>();
            let mut resp = httparse::Response::new(&mut []);
            let status = config
                .parse_response_with_uninit_headers(&mut resp, buf, &mut big)
                .map_err(httparse_reason)?;
            build_response(buf, &resp, status)
        }
        Err(e) => Err(httparse_reason(e)),
    }
}

fn build_request(
    buf: &[u8],
    req: &httparse::Request<'_, '_>,
    status: httparse::Status<usize>,
) -> Result<Parsed<RequestHead>, Problem> {
    let httparse::Status::Complete(len) = status else {
        return Ok(Parsed::Partial);
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Problem::malformed("incomplete request line"));
    };
    if !lines_end_in_crlf(buf, len, req.headers) {
        return Err(Problem::AmbiguousFraming("bare LF"));
    }
    let info = analyse(req.headers)?;
    let host = req
        .headers
        .iter()
        .find(|h| str_eq_lowercase(h.name, "host"))
        .map(|h| text_of(trim_ows(h.value)));
    Ok(Parsed::Complete {
        len,
        head: RequestHead {
            method: crate::protocols::method_of(method),
            target: target.to_owned(),
            version: HttpVersion::http1(version),
            host,
            headers: copy_headers(req.headers),
        },
        info,
    })
}

fn build_response(
    buf: &[u8],
    resp: &httparse::Response<'_, '_>,
    status: httparse::Status<usize>,
) -> Result<Parsed<ResponseHead>, Problem> {
    let httparse::Status::Complete(len) = status else {
        return Ok(Parsed::Partial);
    };
    let (Some(code), Some(version)) = (resp.code, resp.version) else {
        return Err(Problem::malformed("incomplete status line"));
    };
    if !lines_end_in_crlf(buf, len, resp.headers) {
        return Err(Problem::AmbiguousFraming("bare LF"));
    }
    let info = analyse(resp.headers)?;
    Ok(Parsed::Complete {
        len,
        head: ResponseHead {
            status: code,
            version: HttpVersion::http1(version),
            headers: copy_headers(resp.headers),
        },
        info,
    })
}

/// Every line of the complete head `buf[..len]` ends in CRLF. `httparse` takes a bare LF for a
/// line end (as RFC 9112 lets a recipient do), but a peer that does not would see another head:
/// the reader rejects it as ambiguous framing. Read from where the parsed lines start instead of
/// walking every newline (a `memchr` per line, about 500 instructions per call for both heads,
/// callgrind, issue 14): each field's line follows a line end, which must be CRLF, and the head
/// ends with the last line's CRLF and the empty line's. Empty lines before the start line, which
/// `httparse` skips, are walked as before.
///
/// This holds for `httparse`'s default configuration only, which both parses use: it refuses
/// obs-fold (whose continuation lines hold no field name), invalid header lines (a skipped line
/// would leave the line end before it unread) and space before the first field name. Turning
/// any of those on needs this check to walk every newline again.
fn lines_end_in_crlf(buf: &[u8], len: usize, headers: &[httparse::Header<'_>]) -> bool {
    let head = &buf[..len];
    if matches!(head.first(), Some(b'\r' | b'\n')) {
        return !has_bare_lf(head, 0);
    }
    let base = head.as_ptr() as usize;
    head.ends_with(b"\r\n\r\n")
        && headers.iter().all(|h| {
            // The name borrows from `buf`: its offset there.
            let at = (h.name.as_ptr() as usize).wrapping_sub(base);
            at >= 2 && head.get(at - 2..at) == Some(b"\r\n")
        })
}

fn copy_headers(headers: &[httparse::Header<'_>]) -> Headers {
    let bytes = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    let mut out = Headers::with_capacity(headers.len(), bytes);
    for h in headers {
        out.push(h.name, h.value);
    }
    out
}

/// `bytes` as text, invalid UTF-8 replaced. An ASCII value (nearly every `Host`) is copied after
/// one word-at-a-time check: `from_utf8` and `from_utf8_lossy` cost ten times that on a short
/// value.
fn text_of(bytes: &[u8]) -> CompactString {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        CompactString::from(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        CompactString::from(String::from_utf8_lossy(bytes))
    }
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |p| p + 1);
    &v[start..end]
}

/// Comma-separated list elements, trimmed, empty ones dropped (RFC 9110 §5.6.1).
fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|s| !s.is_empty())
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn analyse(headers: &[httparse::Header<'_>]) -> Result<HeadInfo, Problem> {
    let mut info = HeadInfo::default();
    let mut connection_upgrade = false;
    let mut upgrade_header = false;
    for h in headers {
        let name = h.name;
        if str_eq_lowercase(name, "content-length") {
            // A list of identical values is tolerated (RFC 9110 §8.6); anything else is ambiguous.
            let mut saw_item = false;
            for item in h.value.split(|&b| b == b',').map(trim_ows) {
                let n = parse_decimal(item)
                    .ok_or_else(|| Problem::malformed("invalid content-length"))?;
                if info.content_length.is_some_and(|prev| prev != n) {
                    return Err(Problem::AmbiguousFraming("conflicting content-length"));
                }
                info.content_length = Some(n);
                saw_item = true;
            }
            if !saw_item {
                return Err(Problem::malformed("invalid content-length"));
            }
        } else if str_eq_lowercase(name, "transfer-encoding") {
            // Codings accumulate across repeated headers; only the final one decides framing.
            let mut chunked = info.transfer_encoding.unwrap_or(false);
            let mut any = false;
            for item in list_items(h.value) {
                chunked = item.eq_ignore_ascii_case(b"chunked");
                any = true;
            }
            info.transfer_encoding = Some(if any { chunked } else { false });
        } else if str_eq_lowercase(name, "connection") {
            connection_upgrade |= list_items(h.value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if str_eq_lowercase(name, "upgrade") {
            upgrade_header = true;
        }
    }
    if info.content_length.is_some() && info.transfer_encoding.is_some() {
        return Err(Problem::AmbiguousFraming(
            "content-length with transfer-encoding",
        ));
    }
    info.upgrade = connection_upgrade && upgrade_header;
    Ok(info)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn info_of(raw: &[u8]) -> Result<HeadInfo, Problem> {
        match parse_request(raw)? {
            Parsed::Complete { info, .. } => Ok(info),
            Parsed::Partial => panic!("partial"),
        }
    }

    #[test]
    fn framing_headers() {
        let i = info_of(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").unwrap();
        assert_eq!(i.content_length, Some(5));
        assert!(
            info_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").is_err()
        );
        assert!(info_of(b"POST / HTTP/1.1\r\nContent-Length: 4 2\r\n\r\n").is_err());
        assert!(
            info_of(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n").is_err()
        );
        let i = info_of(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(i.transfer_encoding, Some(true));
        let i = info_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n").unwrap();
        assert_eq!(i.transfer_encoding, Some(false));
        let i = info_of(
            b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .unwrap();
        assert!(i.upgrade);
    }

    #[test]
    fn many_headers_retry() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert!(matches!(parse_request(&raw), Ok(Parsed::Complete { .. })));
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..300 {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request(&raw).err(),
            Some(Problem::malformed("too many headers"))
        );
    }

    #[test]
    fn a_bare_lf_anywhere_in_a_complete_head_is_ambiguous_framing() {
        let requests: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: a\r\nAccept: b\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\nAccept: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nAccept: b\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nAccept: b\r\n\n",
            b"GET / HTTP/1.1\n\n",
            b"GET / HTTP/1.1\r\n\n",
            b"GET / HTTP/1.1\r\nHost: a \nAccept: b\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\r\n\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX:\nY: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX:\r\nY: b\r\n\r\n",
        ];
        // Past the first try's header slots (the retry path), a bare LF late in the head.
        let many = |last_line_end: &str| {
            let fields: String = (0..80).map(|i| format!("X-{i}: v\r\n")).collect();
            format!("GET / HTTP/1.1\r\n{fields}Last: v{last_line_end}\r\n").into_bytes()
        };
        let (many_crlf, many_lf) = (many("\r\n"), many("\n"));
        let requests: Vec<&[u8]> = requests
            .iter()
            .copied()
            .chain([many_crlf.as_slice(), many_lf.as_slice()])
            .collect();
        let bare = |head: &[u8]| {
            (0..head.len()).any(|i| head[i] == b'\n' && (i == 0 || head[i - 1] != b'\r'))
        };
        let ambiguous = Problem::AmbiguousFraming("bare LF");
        for raw in &requests {
            let raw: &[u8] = raw;
            let shown = String::from_utf8_lossy(raw);
            match parse_request(raw) {
                Ok(Parsed::Complete { len, .. }) => assert!(!bare(&raw[..len]), "{shown:?}"),
                Err(p) if p == ambiguous => assert!(bare(raw), "{shown:?}"),
                _ => panic!("{shown:?} neither parsed nor refused as a bare LF"),
            }
            // The same lines after a status line, with and without a reason phrase (a head
            // with empty lines before its start line has no response counterpart).
            if !raw.starts_with(b"GET") {
                continue;
            }
            let version = raw
                .windows(8)
                .position(|w| w == b"HTTP/1.1")
                .expect("a version");
            let after_start_line = &raw[version + 8..];
            for status_line in [&b"HTTP/1.1 200 OK"[..], b"HTTP/1.1 200"] {
                let response = [status_line, after_start_line].concat();
                let shown = String::from_utf8_lossy(&response);
                match parse_response(&response) {
                    Ok(Parsed::Complete { len, .. }) => {
                        assert!(!bare(&response[..len]), "{shown:?}")
                    }
                    Err(p) if p == ambiguous => assert!(bare(&response), "{shown:?}"),
                    _ => panic!("{shown:?} neither parsed nor refused as a bare LF"),
                }
            }
        }
    }

    #[test]
    fn host_trimmed_first() {
        let Ok(Parsed::Complete { head, .. }) =
            parse_request(b"GET /a?b HTTP/1.0\r\nHost:  example.com \r\nHost: other\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(head.host.as_deref(), Some("example.com"));
        assert_eq!(head.target, "/a?b");
        assert_eq!(head.version, HttpVersion::Http10);
    }
}
