//! Auth schemes: how a request authenticated itself, named from a fixed vocabulary. Owns the
//! mapping from a request's headers (the `Authorization` scheme word, API-key header names,
//! session cookies) and its credential findings (where each was found) to [`AuthScheme`].
//!
//! Only names come out of here, never a header value or a credential. A request that carried
//! none of these is `[AuthScheme::None]`: that is what marks an endpoint served without
//! authentication, so the mapping leans towards seeing authentication where a credential was
//! used as one, and away from it where a credential is more likely data:
//! - a credential in the request body is not an auth scheme (the detector cannot tell a login
//!   form from a payload that happens to hold a key); it still shows in the credential kinds;
//! - `Proxy-Authorization` authenticates to a proxy, not to the API;
//! - any other header holding a credential is an API key (`X-Stripe-Key: sk_live_...`), which
//!   also covers the API-key headers a policy adds to the detector.
use serde::{Deserialize, Serialize};

use crate::{
    ascii_case::{eq_lowercase, str_eq_lowercase},
    credentials::{API_KEY_HEADERS, Finding, Location, is_session_cookie},
    protocols::{NameSet, RequestView},
};

/// How a request authenticated itself (stable names, as serialised).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// No credential at all.
    None,
    /// `Authorization: Bearer ...`.
    Bearer,
    /// `Authorization: Basic ...`.
    Basic,
    /// `Authorization: Digest ...`.
    Digest,
    /// AWS Signature V4: `Authorization: AWS4-HMAC-SHA256 ...`, `X-Amz-Security-Token`, or a
    /// presigned URL (`X-Amz-Credential`/`X-Amz-Signature` query parameters).
    #[serde(rename = "aws_sigv4")]
    AwsSigV4,
    /// An API-key header (`x-api-key`, `private-token`, ...) or a credential in another header.
    ApiKey,
    /// A session cookie (by name, or a credential found in the `Cookie` header).
    Cookie,
    /// A secret in the URL query string (`?api_key=...`).
    QuerySecret,
    /// Another `Authorization` scheme (`Negotiate`, `token`, a bare token) or a credential in
    /// the URL path.
    Other,
}

impl AuthScheme {
    /// Every scheme, in serialisation order.
    pub const ALL: [AuthScheme; 9] = [
        AuthScheme::None,
        AuthScheme::Bearer,
        AuthScheme::Basic,
        AuthScheme::Digest,
        AuthScheme::AwsSigV4,
        AuthScheme::ApiKey,
        AuthScheme::Cookie,
        AuthScheme::QuerySecret,
        AuthScheme::Other,
    ];

    /// Stable name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::None => "none",
            AuthScheme::Bearer => "bearer",
            AuthScheme::Basic => "basic",
            AuthScheme::Digest => "digest",
            AuthScheme::AwsSigV4 => "aws_sigv4",
            AuthScheme::ApiKey => "api_key",
            AuthScheme::Cookie => "cookie",
            AuthScheme::QuerySecret => "query_secret",
            AuthScheme::Other => "other",
        }
    }
}

/// A set of schemes in one word (the inventory keeps one per endpoint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SchemeSet(u16);

impl SchemeSet {
    pub(crate) fn insert(&mut self, scheme: AuthScheme) {
        self.0 |= 1 << scheme as u16;
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Members in serialisation order.
    pub(crate) fn to_vec(self) -> Vec<AuthScheme> {
        self.members().into_vec()
    }

    /// [`Self::to_vec`] without a heap allocation.
    pub(crate) fn members(self) -> Schemes {
        AuthScheme::ALL
            .into_iter()
            .filter(|s| self.0 & (1 << *s as u16) != 0)
            .collect()
    }
}

/// Cookie pairs examined at most in one `Cookie` header (as the detector does).
const MAX_COOKIES: usize = 128;

/// The auth schemes a request carried, sorted and without repeats; `[AuthScheme::None]` when it
/// carried none. Reads header names and scheme words, never keeps a value.
/// Inline for every scheme there is: this runs for every checked call and never allocates.
pub type Schemes = smallvec::SmallVec<[AuthScheme; AuthScheme::ALL.len()]>;

pub fn auth_schemes(view: &RequestView<'_>, findings: &[Finding]) -> Schemes {
    let mut set = SchemeSet::default();
    for header in view.headers.iter() {
        let name = header.name;
        let scheme = if str_eq_lowercase(name, "authorization") {
            authorization_scheme(header.value)
        } else if str_eq_lowercase(name, "cookie") {
            has_session_cookie(header.value).then_some(AuthScheme::Cookie)
        } else if header.value.trim_ascii().is_empty() {
            None
        } else if str_eq_lowercase(name, "x-amz-security-token") {
            Some(AuthScheme::AwsSigV4)
        } else if api_key_headers().contains(name) {
            Some(AuthScheme::ApiKey)
        } else {
            None
        };
        if let Some(scheme) = scheme {
            set.insert(scheme);
        }
    }
    for scheme in findings.iter().filter_map(finding_scheme) {
        set.insert(scheme);
    }
    if set.is_empty() {
        set.insert(AuthScheme::None);
    }
    set.members()
}

/// [`API_KEY_HEADERS`] by length: asked for every header of every checked call, where a walk of
/// the list compared each name with a dozen.
fn api_key_headers() -> &'static NameSet {
    static SET: std::sync::LazyLock<NameSet> =
        std::sync::LazyLock::new(|| NameSet::new(API_KEY_HEADERS.iter().copied()));
    &SET
}

/// The scheme of an `Authorization` value, from its first word.
fn authorization_scheme(value: &[u8]) -> Option<AuthScheme> {
    let v = value.trim_ascii();
    if v.is_empty() {
        return None;
    }
    let (word, credential) = match v.iter().position(u8::is_ascii_whitespace) {
        Some(i) => (&v[..i], v[i..].trim_ascii_start()),
        None => (v, &b""[..]),
    };
    let is = |name: &str| eq_lowercase(word, name.as_bytes());
    if credential.is_empty() {
        // One word: a scheme name alone carries nothing, anything else is a bare token.
        let scheme_alone = ["bearer", "basic", "digest", "token", "negotiate", "ntlm"]
            .iter()
            .any(|s| is(s));
        return (!scheme_alone).then_some(AuthScheme::Other);
    }
    Some(if is("bearer") {
        AuthScheme::Bearer
    } else if is("basic") {
        AuthScheme::Basic
    } else if is("digest") {
        AuthScheme::Digest
    } else if is("aws4-hmac-sha256") {
        AuthScheme::AwsSigV4
    } else {
        AuthScheme::Other
    })
}

/// True when a `Cookie` header holds a non-empty cookie whose name says it is a session.
fn has_session_cookie(value: &[u8]) -> bool {
    value.split(|&b| b == b';').take(MAX_COOKIES).any(|pair| {
        pair.iter().position(|&b| b == b'=').is_some_and(|eq| {
            !pair[eq + 1..].trim_ascii().is_empty() && is_session_cookie(&pair[..eq])
        })
    })
}

/// The scheme a credential finding stands for, by where it was found (see the module doc).
fn finding_scheme(finding: &Finding) -> Option<AuthScheme> {
    match &finding.location {
        Location::Body => None,
        // The `Authorization` header's own scheme word names it (see `authorization_scheme`).
        Location::Header { name } if name == "authorization" || name == "proxy-authorization" => {
            None
        }
        Location::Header { name } if name == "cookie" => Some(AuthScheme::Cookie),
        Location::Header { name } if name == "x-amz-security-token" => Some(AuthScheme::AwsSigV4),
        Location::Header { .. } => Some(AuthScheme::ApiKey),
        Location::Query { parameter } if is_amz_parameter(parameter) => Some(AuthScheme::AwsSigV4),
        Location::Query { .. } => Some(AuthScheme::QuerySecret),
        Location::Path => Some(AuthScheme::Other),
    }
}

/// `X-Amz-Credential`, `X-Amz-Signature`, ...: a presigned (SigV4) URL.
fn is_amz_parameter(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        credentials::CredentialKind,
        protocols::{Header, Headers},
    };

    fn schemes(headers: &[(&str, &str)], findings: &[Finding]) -> Vec<AuthScheme> {
        let headers: Headers = headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).to_owned(),
                value: v.as_bytes().to_vec(),
            })
            .collect();
        let view = RequestView {
            headers: &headers,
            target: "/",
            host: Some("api.example.com"),
            body_sample: b"",
        };
        auth_schemes(&view, findings).into_vec()
    }

    fn finding(kind: CredentialKind, location: Location) -> Finding {
        Finding {
            kind,
            location,
            length: 20,
            prefix: None,
            fingerprint: "00".into(),
            jwt: None,
        }
    }

    fn header(name: &str) -> Location {
        Location::Header {
            name: name.to_owned().into(),
        }
    }

    use AuthScheme as S;

    #[test]
    fn no_credential_is_none() {
        assert_eq!(schemes(&[], &[]), [S::None]);
        assert_eq!(
            schemes(
                &[("Accept", "*/*"), ("Cookie", "theme=dark; _ga=GA1.2")],
                &[]
            ),
            [S::None]
        );
    }

    #[test]
    fn authorization_scheme_words() {
        assert_eq!(
            schemes(&[("Authorization", "Bearer abc")], &[]),
            [S::Bearer]
        );
        assert_eq!(
            schemes(&[("authorization", "basic dXM6cHc=")], &[]),
            [S::Basic]
        );
        assert_eq!(
            schemes(&[("Authorization", "Digest username=\"a\"")], &[]),
            [S::Digest]
        );
        assert_eq!(
            schemes(
                &[("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x")],
                &[]
            ),
            [S::AwsSigV4]
        );
        assert_eq!(
            schemes(&[("Authorization", "Negotiate YIIx")], &[]),
            [S::Other]
        );
        // A bare token is some other scheme; a scheme word alone carries nothing.
        assert_eq!(schemes(&[("Authorization", "sk_live_x")], &[]), [S::Other]);
        assert_eq!(schemes(&[("Authorization", " Bearer ")], &[]), [S::None]);
        assert_eq!(schemes(&[("Authorization", "")], &[]), [S::None]);
        // Proxy credentials do not authenticate to the API.
        assert_eq!(
            schemes(
                &[("Proxy-Authorization", "Basic dXM6cHc=")],
                &[finding(
                    CredentialKind::BasicAuth,
                    header("proxy-authorization")
                )]
            ),
            [S::None]
        );
    }

    #[test]
    fn api_key_headers_and_session_cookies() {
        assert_eq!(schemes(&[("X-API-Key", "k123")], &[]), [S::ApiKey]);
        assert_eq!(schemes(&[("X-API-Key", "  ")], &[]), [S::None]);
        assert_eq!(
            schemes(&[("Cookie", "theme=dark; JSESSIONID=abc123")], &[]),
            [S::Cookie]
        );
        assert_eq!(schemes(&[("Cookie", "session=")], &[]), [S::None]);
        assert_eq!(
            schemes(
                &[
                    ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x"),
                    ("X-Amz-Security-Token", "FwoGZX"),
                    ("Cookie", "sid=1234")
                ],
                &[]
            ),
            [S::AwsSigV4, S::Cookie]
        );
    }

    #[test]
    fn findings_by_location() {
        let f = [
            finding(
                CredentialKind::QueryParameterSecret,
                Location::Query {
                    parameter: "api_key".into(),
                },
            ),
            finding(CredentialKind::StripeKey, header("x-stripe-key")),
            finding(CredentialKind::Jwt, header("cookie")),
            finding(CredentialKind::SlackToken, Location::Path),
        ];
        assert_eq!(
            schemes(&[], &f),
            [S::ApiKey, S::Cookie, S::QuerySecret, S::Other]
        );
        let presigned = finding(
            CredentialKind::QueryParameterSecret,
            Location::Query {
                parameter: "X-Amz-Signature".into(),
            },
        );
        assert_eq!(schemes(&[], &[presigned]), [S::AwsSigV4]);
        // A credential in the body is data as far as the inventory can tell.
        let body = finding(CredentialKind::GenericSecret, Location::Body);
        assert_eq!(schemes(&[], &[body]), [S::None]);
        // The Authorization header's scheme word wins over what its token looks like.
        let bearer = finding(CredentialKind::StripeKey, header("authorization"));
        assert_eq!(
            schemes(&[("Authorization", "Bearer sk_live_x")], &[bearer]),
            [S::Bearer]
        );
    }

    #[test]
    fn names_round_trip_through_serde() {
        for scheme in AuthScheme::ALL {
            let json = serde_json::to_string(&scheme).unwrap();
            assert_eq!(json, format!("\"{}\"", scheme.as_str()));
            assert_eq!(serde_json::from_str::<AuthScheme>(&json).unwrap(), scheme);
        }
    }
}
