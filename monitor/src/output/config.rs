//! Where events go, as configured: the `outputs:` section of the config file (`run --config`),
//! which the command-line flags extend. Building the sinks from it is here too, so a new sink is
//! one entry in `OutputsConfig` and one arm in `build`.
//!
//! ```yaml
//! outputs:
//!   stdout: { calls: true, alerts: true }
//!   alert_file: { path: /var/log/api-monitor/alerts.jsonl, max_size: 10MiB, keep: 5 }
//!   alertmanager:
//!     - urls: [http://alertmanager-0:9093, http://alertmanager-1:9093]
//!       min_severity: medium
//!       labels: { cluster: prod-eu }
//!   webhook:
//!     - url: https://hooks.example.com/api-monitor
//!       min_severity: high
//!       hmac_key_file: /etc/api-monitor/webhook.key
//! ```
use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use serde::Deserialize;
use thiserror::Error;

use super::{
    AlertmanagerSettings, AlertmanagerSink, HttpSettings, Interest, JsonLinesSink, Rotation,
    SetupError, Sinks, WebhookSettings, WebhookSink,
};
use crate::{metrics::Metrics, policy::Severity};

/// The config file. Only `outputs:` today; unknown sections are errors, not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub outputs: OutputsConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    pub stdout: Option<StdoutConfig>,
    pub alert_file: Option<AlertFileConfig>,
    #[serde(default)]
    pub alertmanager: Vec<AlertmanagerConfig>,
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default = "yes")]
    pub calls: bool,
    #[serde(default = "yes")]
    pub alerts: bool,
    #[serde(default = "info")]
    pub min_severity: Severity,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        Self {
            calls: true,
            alerts: true,
            min_severity: Severity::Info,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertFileConfig {
    pub path: PathBuf,
    /// Bytes, or with a suffix (`10MiB`).
    #[serde(default = "ten_mib", deserialize_with = "size")]
    pub max_size: u64,
    #[serde(default = "five")]
    pub keep: usize,
    #[serde(default = "info")]
    pub min_severity: Severity,
}

/// TLS and timeout settings of a network sink.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub name: Option<String>,
    pub urls: Vec<String>,
    #[serde(default = "info")]
    pub min_severity: Severity,
    #[serde(default = "one_minute", with = "humantime_serde")]
    pub resend_interval: Duration,
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default = "queue")]
    pub queue: usize,
}

impl AlertmanagerConfig {
    /// What the sink runs with: these settings, its counter name and the node label.
    pub fn settings(&self, name: String, node: &str) -> AlertmanagerSettings {
        AlertmanagerSettings {
            name,
            urls: self.urls.clone(),
            http: http_settings(self.timeout, &self.tls),
            resend_interval: self.resend_interval,
            labels: self.labels.clone(),
            node: node.to_owned(),
            queue: self.queue,
        }
    }

    pub fn new(urls: Vec<String>) -> Self {
        Self {
            name: None,
            urls,
            min_severity: Severity::Info,
            resend_interval: one_minute(),
            timeout: five_seconds(),
            labels: BTreeMap::new(),
            tls: TlsConfig::default(),
            queue: queue(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: Option<String>,
    pub url: String,
    #[serde(default = "info")]
    pub min_severity: Severity,
    #[serde(default = "hundred")]
    pub batch_size: usize,
    #[serde(default = "one_second", with = "humantime_serde")]
    pub batch_wait: Duration,
    #[serde(default = "five_u32")]
    pub max_retries: u32,
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    pub bearer_token_file: Option<PathBuf>,
    pub hmac_key_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default = "queue")]
    pub queue: usize,
}

impl WebhookConfig {
    /// What the sink runs with: these settings, its counter name and the node label.
    pub fn settings(&self, name: String, node: &str) -> WebhookSettings {
        WebhookSettings {
            name,
            url: self.url.clone(),
            http: http_settings(self.timeout, &self.tls),
            batch_size: self.batch_size,
            batch_wait: self.batch_wait,
            max_retries: self.max_retries,
            bearer_token_file: self.bearer_token_file.clone(),
            hmac_key_file: self.hmac_key_file.clone(),
            node: node.to_owned(),
            queue: self.queue,
        }
    }

    pub fn new(url: String) -> Self {
        Self {
            name: None,
            url,
            min_severity: Severity::Info,
            batch_size: hundred(),
            batch_wait: one_second(),
            max_retries: five_u32(),
            timeout: five_seconds(),
            bearer_token_file: None,
            hmac_key_file: None,
            tls: TlsConfig::default(),
            queue: queue(),
        }
    }
}

fn yes() -> bool {
    true
}
fn info() -> Severity {
    Severity::Info
}
fn ten_mib() -> u64 {
    10 * 1024 * 1024
}
fn five() -> usize {
    5
}
fn five_u32() -> u32 {
    5
}
fn hundred() -> usize {
    100
}
fn queue() -> usize {
    10_000
}
fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn five_seconds() -> Duration {
    Duration::from_secs(5)
}
fn one_minute() -> Duration {
    Duration::from_secs(60)
}

fn size<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Bytes(n) => Ok(n),
        Size::Text(text) => parse_size(&text).map_err(serde::de::Error::custom),
    }
}

/// A size in bytes: `4096`, or with a binary suffix `512KiB`, `10MiB`, `1GiB` (at least 1 byte).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 4096, 512KiB, 10MiB)"))?;
    let unit: u64 = match suffix.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size suffix {other:?} (use bytes, KiB, MiB or GiB)"
            ));
        }
    };
    match number.checked_mul(unit) {
        Some(0) => Err("a size of 0 bytes would rotate before every line".to_owned()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?} is too large")),
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml_ng::Error,
    },
    #[error("opening the alert file {path}: {source}")]
    AlertFile {
        path: PathBuf,
        source: super::RotateError,
    },
    #[error("the {kind} output `{name}`: {source}")]
    Sink {
        kind: &'static str,
        name: String,
        source: SetupError,
    },
    #[error("the alert file's directory {0} does not exist")]
    AlertFileDir(PathBuf),
    #[error("the alertmanager output `{0}` has no URL")]
    NoUrl(String),
}

impl ConfigFile {
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(text)
    }
}

/// What every sink shares: the node label and the stdout queue size.
pub struct BuildContext<'a> {
    pub metrics: &'a Arc<Metrics>,
    /// The Kubernetes node name or the host name: the `node` of alerts sent off the host.
    pub node: &'a str,
    /// Events queued for stdout and the alert file.
    pub line_queue: usize,
}

impl OutputsConfig {
    /// Every problem that would stop `build`, found without starting anything or sending
    /// anything (`monitor config check`): receiver URLs, CA files, secret files, the alert
    /// file's directory.
    pub fn check(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let mut names = Names::default();
        if let Some(file) = &self.alert_file {
            let dir = file
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            if !dir.is_dir() {
                problems.push(ConfigError::AlertFileDir(dir.to_owned()));
            }
        }
        for am in &self.alertmanager {
            let name = names.unique(am.name.as_deref().unwrap_or("alertmanager"));
            if am.urls.is_empty() {
                problems.push(ConfigError::NoUrl(name.clone()));
            }
            let sink_error = |source| ConfigError::Sink {
                kind: "alertmanager",
                name: name.clone(),
                source,
            };
            for url in &am.urls {
                if let Err(e) = super::http::check_url(url) {
                    problems.push(sink_error(e));
                }
            }
            if let Err(e) = super::http::agent(&http_settings(am.timeout, &am.tls)) {
                problems.push(sink_error(e));
            }
        }
        for hook in &self.webhook {
            let name = names.unique(hook.name.as_deref().unwrap_or("webhook"));
            let sink_error = |source| ConfigError::Sink {
                kind: "webhook",
                name: name.clone(),
                source,
            };
            if let Err(e) = super::http::check_url(&hook.url) {
                problems.push(sink_error(e));
            }
            if let Err(e) = super::http::agent(&http_settings(hook.timeout, &hook.tls)) {
                problems.push(sink_error(e));
            }
            let secrets = [
                ("the bearer token", &hook.bearer_token_file),
                ("the HMAC key", &hook.hmac_key_file),
            ];
            for (what, path) in secrets {
                if let Some(path) = path
                    && let Err(e) = super::http::read_secret(what, path)
                {
                    problems.push(sink_error(e));
                }
            }
        }
        problems
    }

    /// Starts every sink. Names label each sink's counters; repeats get `_2`, `_3`...
    pub fn build(&self, cx: &BuildContext<'_>) -> Result<Sinks, ConfigError> {
        let mut sinks = Sinks::default();
        let mut names = Names::default();
        let stdout = self.stdout.clone().unwrap_or_default();
        if stdout.calls || stdout.alerts {
            sinks.add(
                Interest {
                    calls: stdout.calls,
                    alerts: stdout.alerts,
                    min_severity: stdout.min_severity,
                },
                Box::new(JsonLinesSink::stdout(cx.line_queue, cx.metrics.clone())),
            );
        }
        if let Some(file) = &self.alert_file {
            let rotation = Rotation {
                max_bytes: file.max_size,
                keep: file.keep,
            };
            let sink = JsonLinesSink::rotating_file(
                "alert_file",
                &file.path,
                rotation,
                cx.line_queue,
                cx.metrics.clone(),
            )
            .map_err(|source| ConfigError::AlertFile {
                path: file.path.clone(),
                source,
            })?;
            sinks.add(alerts_from(file.min_severity), Box::new(sink));
        }
        for am in &self.alertmanager {
            let name = names.unique(am.name.as_deref().unwrap_or("alertmanager"));
            if am.urls.is_empty() {
                return Err(ConfigError::NoUrl(name));
            }
            let settings = am.settings(name.clone(), cx.node);
            let sink = AlertmanagerSink::start(settings, cx.metrics.sink_counters(&name)).map_err(
                |source| ConfigError::Sink {
                    kind: "alertmanager",
                    name,
                    source,
                },
            )?;
            sinks.add(alerts_from(am.min_severity), Box::new(sink));
        }
        for hook in &self.webhook {
            let name = names.unique(hook.name.as_deref().unwrap_or("webhook"));
            let settings = hook.settings(name.clone(), cx.node);
            let sink = WebhookSink::start(settings, cx.metrics.sink_counters(&name)).map_err(
                |source| ConfigError::Sink {
                    kind: "webhook",
                    name,
                    source,
                },
            )?;
            sinks.add(alerts_from(hook.min_severity), Box::new(sink));
        }
        Ok(sinks)
    }
}

fn alerts_from(min_severity: Severity) -> Interest {
    Interest {
        min_severity,
        ..Interest::ALERTS
    }
}

fn http_settings(timeout: Duration, tls: &TlsConfig) -> HttpSettings {
    HttpSettings {
        timeout,
        ca_file: tls.ca_file.clone(),
        insecure_skip_verify: tls.insecure_skip_verify,
    }
}

/// Sink names, made unique: they label the sinks' counters.
#[derive(Default)]
struct Names(Vec<String>);

impl Names {
    fn unique(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_owned();
        let mut n = 1;
        while self.0.contains(&name) {
            n += 1;
            name = format!("{wanted}_{n}");
        }
        self.0.push(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_outputs_section_parses_with_its_defaults() {
        let config = ConfigFile::parse(
            r#"
outputs:
  stdout: { calls: false }
  alert_file: { path: /tmp/alerts.jsonl, max_size: 1MiB }
  alertmanager:
    - urls: [http://am-0:9093, http://am-1:9093]
      min_severity: medium
      resend_interval: 30s
      labels: { cluster: prod-eu }
  webhook:
    - url: https://hooks.example/x
      hmac_key_file: /etc/key
      batch_wait: 500ms
"#,
        )
        .unwrap();
        let outputs = config.outputs;
        let stdout = outputs.stdout.unwrap();
        assert!(!stdout.calls && stdout.alerts);
        assert_eq!(outputs.alert_file.unwrap().max_size, 1 << 20);
        let am = &outputs.alertmanager[0];
        assert_eq!(am.urls.len(), 2);
        assert_eq!(am.min_severity, Severity::Medium);
        assert_eq!(am.resend_interval, Duration::from_secs(30));
        assert_eq!(am.timeout, Duration::from_secs(5));
        assert_eq!(am.labels["cluster"], "prod-eu");
        let hook = &outputs.webhook[0];
        assert_eq!(hook.batch_wait, Duration::from_millis(500));
        assert_eq!(hook.max_retries, 5);
        assert!(!hook.tls.insecure_skip_verify);
    }

    #[test]
    fn mistakes_are_errors_with_a_position() {
        let err = ConfigFile::parse("outputs:\n  webhok:\n    - url: http://x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("webhok") && err.contains("line 2"), "{err}");
        let err = ConfigFile::parse(
            "outputs:\n  alertmanager:\n    - urls: [http://x]\n      min_severity: urgent\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("urgent") && err.contains("line 4"), "{err}");
        assert!(ConfigFile::parse("policy: {}\n").is_err());
        assert!(ConfigFile::parse("").unwrap().outputs.webhook.is_empty());
    }

    #[test]
    fn a_bad_url_stops_the_start_and_names_the_sink() {
        let metrics = Arc::new(Metrics::new());
        let cx = BuildContext {
            metrics: &metrics,
            node: "n",
            line_queue: 16,
        };
        let mut outputs = OutputsConfig {
            stdout: Some(StdoutConfig {
                calls: false,
                alerts: false,
                min_severity: Severity::Info,
            }),
            ..OutputsConfig::default()
        };
        outputs
            .webhook
            .push(WebhookConfig::new("ftp://hooks.example".into()));
        let err = outputs.build(&cx).err().expect("refused").to_string();
        assert!(err.contains("webhook") && err.contains("ftp://"), "{err}");
    }

    #[test]
    fn check_finds_every_problem_without_starting_anything() {
        let dir = std::env::temp_dir().join(format!("monitor-config-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            r#"
outputs:
  alert_file: {{ path: /nonexistent-dir/alerts.jsonl }}
  alertmanager:
    - urls: [http://am:9093, "am-without-scheme:9093"]
  webhook:
    - url: https://hooks.example/x
      hmac_key_file: {missing}
      tls: {{ ca_file: {not_pem} }}
"#,
            missing = dir.join("missing.key").display(),
            not_pem = dir.join("ca.txt").display(),
        );
        std::fs::write(dir.join("ca.txt"), "not a certificate").unwrap();
        let problems: Vec<String> = ConfigFile::parse(&text)
            .unwrap()
            .outputs
            .check()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("/nonexistent-dir"), "{problems:#?}");
        assert!(problems[1].contains("am-without-scheme"), "{problems:#?}");
        assert!(
            problems[2].contains("holds no PEM certificate"),
            "{problems:#?}"
        );
        assert!(problems[3].contains("missing.key"), "{problems:#?}");
        let good = ConfigFile::parse("outputs:\n  webhook:\n    - url: https://hooks.example/x\n")
            .unwrap();
        assert!(good.outputs.check().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn repeated_sink_names_get_a_suffix() {
        let mut names = Names::default();
        assert_eq!(names.unique("webhook"), "webhook");
        assert_eq!(names.unique("webhook"), "webhook_2");
        assert_eq!(names.unique("webhook"), "webhook_3");
    }
}
