//! What the detectors report about one credential seen in a request. Built so that it can leave
//! the process: it never holds the credential itself, only its kind, where it was, its length, a
//! short prefix that is public by design (`AKIA`, `sk_live_`), and a keyed fingerprint that lets
//! the same secret be correlated across alerts without being recoverable.
use compact_str::CompactString;
use serde::Serialize;

/// Declares [`CredentialKind`] from one table: each variant with its one name, used in the
/// policy, the docs, alerts, metric labels and the API-call audit fields alike. A second
/// spelling (serde's `snake_case` made `AwsSigV4` into `aws_sig_v4` while the policy said
/// `aws_sigv4`) cannot come back: serialisation, parsing and the list all read this table.
macro_rules! credential_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// Kinds of credentials.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CredentialKind {
            $( $(#[$doc])* $variant, )*
        }

        impl CredentialKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [CredentialKind] = &[$(Self::$variant),*];

            /// The kind's one name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $name, )*
                }
            }
        }
    };
}

credential_kinds! {
    /// `Authorization: Bearer <opaque>` (a JWT bearer is reported as `Jwt`).
    BearerToken => "bearer_token",
    /// `Authorization: Basic` (user:password), or `user:password@` in a URL.
    BasicAuth => "basic_auth",
    /// `Authorization: Digest`.
    DigestAuth => "digest_auth",
    /// `Authorization: AWS4-HMAC-SHA256 Credential=AKIA...` (SigV4), or a presigned URL.
    AwsSigV4 => "aws_sigv4",
    /// A header whose name says it carries an API key (`x-api-key`, `api-key`, ...).
    ApiKeyHeader => "api_key_header",
    /// A `Cookie` that carries a session (`session`, `sid`, `JSESSIONID`, ...).
    SessionCookie => "session_cookie",
    /// A query parameter whose name says it is a secret (`api_key`, `token`, `password`, ...).
    QueryParameterSecret => "query_parameter_secret",
    AwsAccessKey => "aws_access_key",
    GithubToken => "github_token",
    GitlabToken => "gitlab_token",
    StripeKey => "stripe_key",
    SlackToken => "slack_token",
    GoogleApiKey => "google_api_key",
    OpenaiKey => "openai_key",
    AnthropicKey => "anthropic_key",
    TwilioKey => "twilio_key",
    SendgridKey => "sendgrid_key",
    Jwt => "jwt",
    PrivateKey => "private_key",
    /// `secret=`/`password=`-style assignment with a plausible value.
    GenericSecret => "generic_secret",
}

impl CredentialKind {
    /// The kind with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == name)
    }
}

impl Serialize for CredentialKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Where in the request the credential was.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum Location {
    /// In a header (lower-cased name).
    /// Borrowed for the names the detector lists (`authorization`, `x-api-key`, `cookie`...).
    Header {
        name: std::borrow::Cow<'static, str>,
    },
    /// In the URL query string, as the value of this parameter.
    Query { parameter: String },
    /// In the URL path.
    Path,
    /// In the (sampled) request body.
    Body,
}

impl Location {
    /// True when the credential is part of the URL (logged by proxies and servers: a leak).
    pub fn is_in_url(&self) -> bool {
        matches!(self, Self::Query { .. } | Self::Path)
    }
}

/// JWT facts worth alerting on (decoded header and claims; the signature is not verified).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JwtFacts {
    pub alg: Option<String>,
    /// `alg: none`: an unsigned token.
    pub unsigned: bool,
    /// `exp` is in the past.
    pub expired: bool,
    pub issuer: Option<String>,
    /// Public by design: an anonymous-role token meant to ship in browsers and apps (a Supabase
    /// `anon` key: `"role": "anon"`). Still a credential in transit, reported at one severity
    /// lower.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: CredentialKind,
    pub location: Location,
    /// Length of the credential in bytes.
    pub length: usize,
    /// A short public prefix that identifies the format (`AKIA`, `sk_live_`, `ghp_`), never more.
    pub prefix: Option<String>,
    /// Keyed fingerprint (hex of a truncated HMAC-SHA256 with the per-install key).
    /// Inline (16 hex digits): no allocation per finding.
    pub fingerprint: CompactString,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtFacts>,
}
