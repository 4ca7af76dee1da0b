//! Credentials carried by dedicated headers: `Authorization` (Basic, Bearer, Digest, AWS
//! SigV4, bare tokens), API-key headers (`x-api-key`, `private-token`, ...) and session
//! cookies. Owns the header and cookie name lists and the `Authorization` grammar.
//!
//! Headers with a credential-specific meaning are trusted by name (no entropy test): a value in
//! `x-api-key` is a key whatever it looks like. Values that match a documented format are
//! reported as that format instead.
use super::{
    candidate::{Candidate, Candidates, Rank},
    entropy::{Context, is_placeholder, looks_like_secret},
    finding::CredentialKind,
    jwt::{self, STANDARD_LENIENT, URL_SAFE_LENIENT},
    scanner::TextScanner,
};
use crate::ascii_case::eq_lowercase;
use base64::Engine as _;
use smallvec::smallvec;

/// Headers whose value is an API key (lower-case).
pub(crate) const API_KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "apikey",
    "x-api-token",
    "x-auth-token",
    "x-access-token",
    "private-token",
    "x-goog-api-key",
    "x-functions-key",
    "ocp-apim-subscription-key",
    "authorization-token",
    "x-amz-security-token",
];

/// Headers parsed with the `Authorization` grammar (lower-case).
pub(crate) const AUTHORIZATION_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

/// Longest header value parsed.
const MAX_VALUE: usize = 8 * 1024;

/// Credentials in an `Authorization` value. `strict` is for values found in free text: there,
/// placeholders (`Bearer <token>`, `Basic ...`) and undecodable `Basic` values are ignored.
/// Spans are relative to `value`.
pub(crate) fn authorization<'a>(
    scanner: &TextScanner,
    value: &'a [u8],
    strict: bool,
    now: u64,
) -> Candidates<'a> {
    let value = &value[..value.len().min(MAX_VALUE)];
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let v = value[start..].trim_ascii_end();
    if v.is_empty() {
        return Candidates::new();
    }
    let (scheme, cred_start) = match v.iter().position(u8::is_ascii_whitespace) {
        Some(i) => {
            let rest = i + v[i..]
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(v.len() - i);
            (Some(&v[..i]), rest)
        }
        None => (None, 0),
    };
    let cred = &v[cred_start..];
    let offset = start + cred_start;
    // Lower-cased on the stack: every request with an `Authorization` header comes here.
    let mut lower = [0u8; 16];
    let scheme_lower = scheme.map(|s| {
        if s.len() > lower.len() {
            return s;
        }
        lower[..s.len()].copy_from_slice(s);
        lower[..s.len()].make_ascii_lowercase();
        &lower[..s.len()]
    });
    match scheme_lower {
        Some(b"basic") => basic(cred, strict)
            .map(|c| c.with_span(offset..offset + token_len(cred)))
            .into_iter()
            .collect(),
        Some(b"digest") => digest(cred, strict).into_iter().collect(),
        Some(b"aws4-hmac-sha256") => sigv4(cred, strict).into_iter().collect(),
        Some(b"bearer") => token(scanner, cred, offset, strict, now),
        // `Authorization: <token>` or another scheme (`token`, `Bot`, `SSWS`, ...).
        Some(_) if !strict || looks_like_scheme(scheme.unwrap_or_default()) => {
            token(scanner, cred, offset, strict, now)
        }
        // A scheme name alone (`Authorization: Bearer`) carries no credential.
        None if [
            &b"bearer"[..],
            b"basic",
            b"digest",
            b"token",
            b"negotiate",
            b"ntlm",
        ]
        .iter()
        .any(|s| eq_lowercase(v, s)) =>
        {
            Candidates::new()
        }
        _ => token(scanner, v, start, strict, now),
    }
}

/// A scheme name is a short alphabetic word (`Token`, `Bot`); anything else is the token.
fn looks_like_scheme(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 24 && s.iter().all(|b| b.is_ascii_alphabetic() || *b == b'-')
}

fn token_len(cred: &[u8]) -> usize {
    cred.iter()
        .position(|b| b.is_ascii_whitespace() || *b == b',')
        .unwrap_or(cred.len())
}

/// `Basic base64(user:password)`: the secret is the decoded `user:password`.
fn basic(cred: &[u8], strict: bool) -> Option<Candidate<'_>> {
    let encoded = &cred[..token_len(cred)];
    if encoded.is_empty() {
        return None;
    }
    let decoded = STANDARD_LENIENT
        .decode(encoded)
        .or_else(|_| URL_SAFE_LENIENT.decode(encoded))
        .ok();
    let secret: std::borrow::Cow<'_, [u8]> = match decoded {
        Some(d) if d.contains(&b':') && d.len() > 1 => d.into(),
        Some(d) if !strict && !d.is_empty() => d.into(),
        _ if !strict => encoded.into(),
        _ => return None,
    };
    Some(Candidate::new(
        CredentialKind::BasicAuth,
        secret,
        Rank::Scheme,
    ))
}

/// `Digest username="..", response="<hash>", ...`: the response is the secret-derived part.
fn digest(cred: &[u8], strict: bool) -> Option<Candidate<'_>> {
    let response = param(cred, b"response");
    let secret = match response {
        Some(r) if !r.is_empty() => r,
        _ if !strict && !cred.is_empty() => cred,
        _ => return None,
    };
    Some(Candidate::new(
        CredentialKind::DigestAuth,
        secret,
        Rank::Scheme,
    ))
}

/// `AWS4-HMAC-SHA256 Credential=AKIA.../date/region/service/aws4_request, ...`: the secret
/// reported is the access key id (stable across requests, so fingerprints correlate).
fn sigv4(cred: &[u8], strict: bool) -> Option<Candidate<'_>> {
    const PREFIXES: &[&str] = &["AKIA", "ASIA"];
    let credential = param(cred, b"credential");
    let key_id = credential.map(|c| &c[..c.iter().position(|&b| b == b'/').unwrap_or(c.len())]);
    let (secret, prefix) = match key_id {
        Some(id) if !id.is_empty() => (
            id,
            PREFIXES
                .iter()
                .copied()
                .find(|p| id.starts_with(p.as_bytes())),
        ),
        _ if !strict && !cred.is_empty() => (cred, None),
        _ => return None,
    };
    Some(Candidate::new(CredentialKind::AwsSigV4, secret, Rank::Scheme).with_prefix(prefix))
}

/// The value of `name=value` or `name="value"` in a comma-separated parameter list.
fn param<'a>(list: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    for part in list.split(|&b| b == b',') {
        let part = part.trim_ascii();
        let Some(eq) = part.iter().position(|&b| b == b'=') else {
            continue;
        };
        if part[..eq].trim_ascii().eq_ignore_ascii_case(name) {
            let v = part[eq + 1..].trim_ascii();
            let v = v.strip_prefix(b"\"").unwrap_or(v);
            let v = v.strip_suffix(b"\"").unwrap_or(v);
            return Some(v);
        }
    }
    None
}

/// A bearer-style token: a JWT, a documented format, or an opaque `BearerToken`.
fn token<'a>(
    scanner: &TextScanner,
    cred: &'a [u8],
    offset: usize,
    strict: bool,
    now: u64,
) -> Candidates<'a> {
    let len = token_len(cred);
    let mut found = first_token(scanner, &cred[..len], offset, strict, now);
    // A real header whose value goes on after the token (`Bearer <t>, <more>`, a config line
    // pasted in): a server may read any of it, so all of it is scanned too.
    if !strict && cred.len() > len {
        found.extend(
            scanner
                .scan(cred, now)
                .into_iter()
                .map(|c| match c.span.clone() {
                    Some(span) => c.with_span(span.start + offset..span.end + offset),
                    None => c,
                }),
        );
    }
    found
}

fn first_token<'a>(
    scanner: &TextScanner,
    tok: &'a [u8],
    offset: usize,
    strict: bool,
    now: u64,
) -> Candidates<'a> {
    let len = tok.len();
    if tok.is_empty() {
        return Candidates::new();
    }
    if strict && (is_placeholder(tok) || !looks_like_secret(tok, Context::Strong)) {
        // In free text, still accept a documented format (checked below) but no opaque token.
        let formats = known_formats(scanner, tok, offset, now);
        return formats;
    }
    if let Some(facts) = jwt::parse(tok, now) {
        return smallvec![
            Candidate::new(CredentialKind::Jwt, tok, Rank::Format)
                .with_jwt(Some(facts))
                .with_span(offset..offset + len),
        ];
    }
    let formats = known_formats(scanner, tok, offset, now);
    if !formats.is_empty() {
        return formats;
    }
    smallvec![
        Candidate::new(CredentialKind::BearerToken, tok, Rank::Scheme)
            .with_span(offset..offset + len),
    ]
}

/// Documented formats inside `value`, with spans shifted by `offset`.
pub(crate) fn known_formats<'a>(
    scanner: &TextScanner,
    value: &'a [u8],
    offset: usize,
    now: u64,
) -> Candidates<'a> {
    let mut found = scanner.scan_formats(value, now);
    for c in &mut found {
        c.span = c.span.take().map(|s| s.start + offset..s.end + offset);
    }
    found
}

/// A header that carries an API key by name: a documented format found in it, or the whole
/// value as an `ApiKeyHeader`.
pub(crate) fn api_key<'a>(scanner: &TextScanner, value: &'a [u8], now: u64) -> Candidates<'a> {
    let v = value[..value.len().min(MAX_VALUE)].trim_ascii();
    if v.len() < 4 || is_placeholder(v) {
        return Candidates::new();
    }
    let formats = known_formats(scanner, v, 0, now);
    if !formats.is_empty() {
        return formats;
    }
    if let Some(facts) = jwt::parse(v, now) {
        return smallvec![
            Candidate::new(CredentialKind::Jwt, v, Rank::Format).with_jwt(Some(facts)),
        ];
    }
    smallvec![Candidate::new(CredentialKind::ApiKeyHeader, v, Rank::Named,)]
}

/// Cookie names that hold a session or an authentication token.
pub(crate) fn is_session_cookie(name: &[u8]) -> bool {
    let lower = name.trim_ascii().to_ascii_lowercase();
    let n = lower
        .strip_prefix(b"__secure-")
        .or_else(|| lower.strip_prefix(b"__host-"))
        .unwrap_or(&lower);
    if n.is_empty() || contains(n, b"csrf") || contains(n, b"xsrf") {
        return false;
    }
    const EXACT: &[&[u8]] = &[
        b"sid",
        b"sess",
        b"sessid",
        b"jsessionid",
        b"phpsessid",
        b"connect.sid",
        b"auth",
        b"token",
        b"jwt",
        b"identity",
        b".aspxauth",
        b"remember_token",
        b"remember_me",
        b"rememberme",
    ];
    const SUFFIXES: &[&[u8]] = &[
        b".sid", b"_sid", b"-sid", b"token", b"auth", b"jwt", b"sessid",
    ];
    EXACT.contains(&n)
        || contains(n, b"session")
        || SUFFIXES.iter().any(|s| n.ends_with(s))
        || n.starts_with(b"aspsessionid")
        || n.starts_with(b"wordpress_logged_in")
}

/// Session cookies and tokens in a `Cookie` header.
pub(crate) fn cookies<'a>(scanner: &TextScanner, value: &'a [u8], now: u64) -> Candidates<'a> {
    let value = &value[..value.len().min(MAX_VALUE)];
    let mut out = Candidates::new();
    for pair in value.split(|&b| b == b';').take(128) {
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, raw) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
        let v = raw
            .strip_prefix(b"\"")
            .and_then(|r| r.strip_suffix(b"\""))
            .unwrap_or(raw);
        if v.is_empty() {
            continue;
        }
        if let Some(facts) = jwt::parse(v, now) {
            out.push(Candidate::new(CredentialKind::Jwt, v, Rank::Format).with_jwt(Some(facts)));
            continue;
        }
        let formats = known_formats(scanner, v, 0, now);
        if !formats.is_empty() {
            out.extend(formats.into_iter().map(|mut c| {
                c.span = None;
                c
            }));
            continue;
        }
        if is_session_cookie(name) && v.len() >= 8 && !is_placeholder(v) {
            out.push(Candidate::new(
                CredentialKind::SessionCookie,
                v,
                Rank::Named,
            ));
        }
    }
    out
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    super::entropy::contains(h, n)
}
