//! URL targets and form bodies: splits `path?query`, percent-decodes names and values, and owns
//! the list of parameter names that carry secrets (`api_key`, `access_token`, `password`, ...).
//!
//! Secrets in URLs are a leak of their own (proxies and servers log URLs), which is why query
//! parameters get their own finding kind and location.
use std::borrow::Cow;

/// Query (and form) parameter names whose value is a secret (lower-case).
pub(crate) const SECRET_PARAMETERS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "auth_token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "code",
    "session",
    "private_key",
    "client_assertion",
];

/// Most parameters examined in one query string or form body.
const MAX_PAIRS: usize = 256;

/// Splits a request target into its path and query (the fragment, never sent, is dropped).
/// One search for the first `?` or `#` (both detectors split every call's target; two byte
/// loops were about a hundred instructions per call): a `#` first ends the target.
pub(crate) fn split_target(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr2(b'?', b'#', target) {
        Some(i) if target[i] == b'?' => {
            let query = &target[i + 1..];
            let query = memchr::memchr(b'#', query).map_or(query, |j| &query[..j]);
            (&target[..i], Some(query))
        }
        Some(i) => (&target[..i], None),
        None => (target, None),
    }
}

/// `name=value` pairs of an `application/x-www-form-urlencoded` string, percent-decoded.
pub(crate) fn pairs(query: &[u8]) -> impl Iterator<Item = (Cow<'_, [u8]>, Cow<'_, [u8]>)> + '_ {
    query
        .split(|&b| b == b'&' || b == b';')
        .filter(|p| !p.is_empty())
        .take(MAX_PAIRS)
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(i) => (
                percent_decode(&pair[..i], true),
                percent_decode(&pair[i + 1..], true),
            ),
            None => (percent_decode(pair, true), Cow::Borrowed(&[][..])),
        })
}

/// Inputs shorter than this are searched byte by byte.
const SHORT: usize = 32;

/// Percent-decodes `input`; invalid escapes are kept as they are. With `plus_as_space`, `+`
/// decodes to a space (form encoding). Borrows when there is nothing to decode (the common
/// case: most names and values are plain), so a query costs no copy per parameter.
pub(crate) fn percent_decode(input: &[u8], plus_as_space: bool) -> Cow<'_, [u8]> {
    // Nearly every path and value has nothing to decode: one search says so. Below a vector's
    // width a plain loop is cheaper than `memchr`'s dispatch (about 100 instructions a call,
    // four calls per request on a short path and query).
    let encoded = if input.len() < SHORT {
        input
            .iter()
            .any(|&b| b == b'%' || (plus_as_space && b == b'+'))
    } else if plus_as_space {
        memchr::memchr2(b'%', b'+', input).is_some()
    } else {
        memchr::memchr(b'%', input).is_some()
    };
    if !encoded {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A value under a secret-named parameter worth reporting: not empty, not a placeholder, not
/// a boolean or a tiny number (`?key=1`, `?auth=true`), not an object key with a file name
/// (`?key=builds/<uuid>/app.tar.gz`, S3's and many stores' own parameter name).
pub(crate) fn plausible_value(value: &[u8]) -> bool {
    let v = value.trim_ascii();
    let tiny_number = v.len() <= 6 && v.iter().all(u8::is_ascii_digit);
    let not_a_secret = v.len() < 4
        || tiny_number
        || super::entropy::is_placeholder(v)
        || super::entropy::looks_like_object_key(v);
    !not_a_secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_target_cuts_the_fragment_then_the_query() {
        // The definition: drop from the first `#`, then split at the first `?`.
        fn by_definition(target: &[u8]) -> (&[u8], Option<&[u8]>) {
            let target = target.split(|&b| b == b'#').next().unwrap_or_default();
            match target.iter().position(|&b| b == b'?') {
                Some(i) => (&target[..i], Some(&target[i + 1..])),
                None => (target, None),
            }
        }
        for target in [
            "",
            "/",
            "?",
            "#",
            "/a",
            "/a?b=1",
            "/a#f",
            "/a?b=1#f",
            "/a#f?b=1",
            "?#",
            "#?",
            "/a??b",
            "/a?b#c#d",
            "/a/b/c?x=1&y=2#frag?no",
        ] {
            assert_eq!(
                split_target(target.as_bytes()),
                by_definition(target.as_bytes()),
                "{target}"
            );
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(&*percent_decode(b"a%20b+c%zz%4", true), b"a b c%zz%4");
        assert_eq!(&*percent_decode(b"%", false), b"%");
        assert_eq!(&*percent_decode(b"%4a", false), b"J");
        assert!(matches!(
            percent_decode(b"a+b", false),
            Cow::Borrowed(b"a+b")
        ));
        // Short inputs are searched byte by byte, longer ones with `memchr`: the same answers.
        for pad in [0, SHORT] {
            let plain = format!("{}/v1/items", "x".repeat(pad));
            assert!(matches!(
                percent_decode(plain.as_bytes(), true),
                Cow::Borrowed(_)
            ));
            let plus = format!("{}a+b", "x".repeat(pad));
            assert!(matches!(
                percent_decode(plus.as_bytes(), false),
                Cow::Borrowed(_)
            ));
            assert_eq!(
                &*percent_decode(plus.as_bytes(), true),
                format!("{}a b", "x".repeat(pad)).as_bytes()
            );
            let escaped = format!("{}%41", "x".repeat(pad));
            assert_eq!(
                &*percent_decode(escaped.as_bytes(), false),
                format!("{}A", "x".repeat(pad)).as_bytes()
            );
        }
        let (path, query) = split_target(b"/a/b?x=1&y=%41#frag");
        assert_eq!(path, b"/a/b");
        let got: Vec<_> = pairs(query.unwrap())
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"x".to_vec(), b"1".to_vec()),
                (b"y".to_vec(), b"A".to_vec())
            ]
        );
    }
}
