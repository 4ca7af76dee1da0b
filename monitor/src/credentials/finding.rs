//! What the detectors report about one credential seen in a request. Built so that it can leave
//! the process: it never holds the credential itself, only its kind, where it was, its length, a
//! short prefix that is public by design (`AKIA`, `sk_live_`), and a keyed fingerprint that lets
//! the same secret be correlated across alerts without being recoverable.
use serde::Serialize;

/// Kinds of credentials, stable names (used in alerts and metric labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// `Authorization: Bearer <opaque>` (a JWT bearer is reported as `Jwt`).
    BearerToken,
    /// `Authorization: Basic` (user:password).
    BasicAuth,
    /// `Authorization: Digest`.
    DigestAuth,
    /// `Authorization: AWS4-HMAC-SHA256 Credential=AKIA...` (SigV4).
    AwsSigV4,
    /// A header whose name says it carries an API key (`x-api-key`, `api-key`, ...).
    ApiKeyHeader,
    /// A `Cookie` that carries a session (`session`, `sid`, `JSESSIONID`, ...).
    SessionCookie,
    /// A query parameter whose name says it is a secret (`api_key`, `token`, `password`, ...).
    QueryParameterSecret,
    AwsAccessKey,
    GithubToken,
    GitlabToken,
    StripeKey,
    SlackToken,
    GoogleApiKey,
    OpenaiKey,
    AnthropicKey,
    TwilioKey,
    SendgridKey,
    Jwt,
    PrivateKey,
    /// `secret=`/`password=`-style assignment with a high-entropy value.
    GenericSecret,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BearerToken => "bearer_token",
            Self::BasicAuth => "basic_auth",
            Self::DigestAuth => "digest_auth",
            Self::AwsSigV4 => "aws_sigv4",
            Self::ApiKeyHeader => "api_key_header",
            Self::SessionCookie => "session_cookie",
            Self::QueryParameterSecret => "query_parameter_secret",
            Self::AwsAccessKey => "aws_access_key",
            Self::GithubToken => "github_token",
            Self::GitlabToken => "gitlab_token",
            Self::StripeKey => "stripe_key",
            Self::SlackToken => "slack_token",
            Self::GoogleApiKey => "google_api_key",
            Self::OpenaiKey => "openai_key",
            Self::AnthropicKey => "anthropic_key",
            Self::TwilioKey => "twilio_key",
            Self::SendgridKey => "sendgrid_key",
            Self::Jwt => "jwt",
            Self::PrivateKey => "private_key",
            Self::GenericSecret => "generic_secret",
        }
    }
}

/// Where in the request the credential was.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum Location {
    /// In a header (lower-cased name).
    Header { name: String },
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
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtFacts>,
}
