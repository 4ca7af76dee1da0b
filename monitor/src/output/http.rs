//! What the network sinks (Alertmanager, webhooks) share: an HTTP client with a timeout and TLS
//! verification on by default, one POST and whether its failure is worth retrying, and the
//! backoff between attempts. Posts are blocking and run on each sink's own thread, never on the
//! pipeline's.
use std::{path::PathBuf, time::Duration};

use thiserror::Error;

/// How a network sink talks to its receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Bound on one request, connection included: a hung receiver costs this, then a retry.
    pub timeout: Duration,
    /// Extra trust anchors (PEM) for a receiver with a private CA; Mozilla's roots otherwise.
    pub ca_file: Option<PathBuf>,
    /// Turns certificate verification off (a lab receiver with a self-signed certificate).
    pub insecure_skip_verify: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            ca_file: None,
            insecure_skip_verify: false,
        }
    }
}

#[derive(Debug, Error)]
pub enum SetupError {
    #[error("reading the CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("`{url}` is not an http:// or https:// URL")]
    Url { url: String },
    #[error("reading {what} from {path}: {source}")]
    SecretFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} file {path} is empty")]
    EmptySecret { what: &'static str, path: PathBuf },
}

/// A client for one sink. ureq rather than the daemon's tokio stack: each sink posts from its own
/// thread, so a blocking client with a global timeout is the simplest thing that cannot stall
/// capture.
pub fn agent(settings: &HttpSettings) -> Result<ureq::Agent, SetupError> {
    let mut tls =
        ureq::tls::TlsConfig::builder().disable_verification(settings.insecure_skip_verify);
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).map_err(|source| SetupError::CaFile {
            path: path.clone(),
            source,
        })?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(SetupError::NoCertificate(path.clone()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(settings.timeout))
        .http_status_as_error(false)
        // A receiver that redirects a POST is misconfigured: report it, do not follow.
        .max_redirects(0)
        .user_agent(concat!("api-monitor/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

/// Checks a receiver URL at start, so a typo is an error then and not a stream of failures.
pub fn check_url(url: &str) -> Result<(), SetupError> {
    let bad = || SetupError::Url {
        url: redacted_url(url),
    };
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(bad()),
    }
}

/// A URL as it may be logged: scheme, host and port only. Userinfo or a token in the query
/// must not reach the logs. One that does not parse is shown as written, minus what could be
/// a secret (userinfo, query, fragment), so a typo can still be found.
pub fn redacted_url(url: &str) -> String {
    if let Ok(uri) = url.parse::<ureq::http::Uri>()
        && let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host())
    {
        return match uri.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
    }
    let bare = url.split(['?', '#']).next().unwrap_or_default();
    match bare.rsplit_once('@') {
        Some((_, rest)) => format!("…@{rest}"),
        None => bare.to_owned(),
    }
}

/// A secret (bearer token, HMAC key) from a file: files, not flags, so it shows in neither
/// `ps` nor the shell history; a trailing newline is not part of it.
pub fn read_secret(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, SetupError> {
    let mut secret = std::fs::read(path).map_err(|source| SetupError::SecretFile {
        what,
        path: path.to_owned(),
        source,
    })?;
    while secret.last().is_some_and(|b| b.is_ascii_whitespace()) {
        secret.pop();
    }
    if secret.is_empty() {
        return Err(SetupError::EmptySecret {
            what,
            path: path.to_owned(),
        });
    }
    Ok(secret)
}

/// Why a POST failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PostError {
    /// Refused, reset, timed out, TLS refused: nothing was answered.
    #[error("{0}")]
    Transport(String),
    #[error("the receiver answered {0}")]
    Status(u16),
}

impl PostError {
    /// Worth another try: no answer, a timeout, overload (429) or a server error. A 4xx other
    /// than those says the request itself is refused; sending it again would change nothing.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status(status) => matches!(status, 408 | 429) || *status >= 500,
        }
    }
}

/// POSTs a JSON body.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(), PostError> {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send(body) {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(PostError::Status(response.status().as_u16())),
        Err(e) => Err(PostError::Transport(e.to_string())),
    }
}

/// Exponential backoff: `initial`, doubling, capped at `max`; `reset` after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The wait before the next attempt; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Every sink's delivery backoff: 0.5 s, doubling, at most 30 s between tries.
impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(3));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn only_transport_errors_overload_and_server_errors_are_retried() {
        assert!(PostError::Transport("refused".into()).retryable());
        for status in [408, 429, 500, 503] {
            assert!(PostError::Status(status).retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 413] {
            assert!(!PostError::Status(status).retryable(), "{status}");
        }
    }

    #[test]
    fn urls_are_checked_and_logged_without_credentials() {
        assert!(check_url("http://127.0.0.1:9093").is_ok());
        assert!(check_url("https://am.example/alertmanager").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("127.0.0.1:9093").is_err());
        assert_eq!(
            redacted_url("https://user:hunter2@hooks.example:8443/x?token=abc"),
            "https://hooks.example:8443"
        );
        let err = check_url("ftp://user:hunter2@x/").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let err = check_url("am:9093?token=hunter2").unwrap_err().to_string();
        assert!(err.contains("am:9093") && !err.contains("hunter2"), "{err}");
        assert_eq!(redacted_url("user:hunter2@am:9093"), "…@am:9093");
    }

    #[test]
    fn a_secret_file_loses_its_trailing_newline_and_must_not_be_empty() {
        let dir = std::env::temp_dir().join(format!("monitor-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(read_secret("bearer token", &path).unwrap(), b"s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret("bearer token", &path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
