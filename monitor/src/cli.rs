//! Command-line interface.
use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use monitor::output::parse_size;

#[derive(Debug, Parser)]
#[command(
    name = "monitor",
    version,
    about = "eBPF host-level API traffic monitor",
    long_about = "Captures the API calls that processes on this host make and serve, in plaintext \
        even inside TLS (uprobes on the TLS libraries), without changing the applications, and \
        reports each call as one JSON object per line on stdout. Logs go to stderr.\n\n\
        Needs root (or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, and CAP_SYS_ADMIN for uprobes on \
        Linux 6.16 and newer) and a kernel with BTF, uprobes and BPF ring buffers (Linux 5.8 or \
        newer)."
)]
pub struct Cli {
    /// Log filter for stderr (error, warn, info, debug, trace, or a tracing filter such as
    /// `monitor=debug`). RUST_LOG takes precedence.
    #[arg(long, global = true, default_value = "info", env = "MONITOR_LOG_LEVEL")]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach to the host's TLS libraries and print one JSON object per API call on stdout.
    ///
    /// Logs "monitor ready" on stderr once every probe is attached. SIGINT or SIGTERM detaches the
    /// probes, reports the calls still in flight, and exits.
    Run(RunArgs),

    /// `run`, and also write the raw capture records to a recording that `replay` can run again
    /// anywhere, without root.
    Record {
        /// The recording to write (truncated if it exists). Format: docs/recording-format.md.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },

    /// Run the whole pipeline on a recording (no root needed) and print what a live run printed.
    Replay {
        /// A recording written by `monitor record`.
        file: PathBuf,
        #[command(flatten)]
        checks: ChecksArgs,
    },

    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// Work with config files (`run --config`).
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Print a running daemon's API inventory (or its `--inventory-file`) as a table.
    ///
    /// One line per endpoint called or served (direction, workload, host, method, path
    /// template) with its calls, status classes, auth schemes, credential kinds, TLS use,
    /// distinct peers and last call; inbound endpoints served without authentication to
    /// external clients are marked. Schema: docs/inventory.md.
    Inventory(InventoryArgs),

    /// For every process with TCP connections: which TLS stack it uses, whether the monitor
    /// reads it, and if not, why. Needs root to read other processes' memory maps.
    Coverage {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Where `monitor inventory` reads the inventory from.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The daemon's inventory URL (its `--metrics-addr` and `/inventory`). The default when no
    /// `--file` is given.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:9464/inventory",
        conflicts_with = "file"
    )]
    pub url: String,

    /// An inventory file written by `monitor run --inventory-file`.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print the inventory as JSON (the document as served) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file: prints every error with its line and column, exits non-zero if any.
    Check {
        /// The policy file (YAML).
        file: PathBuf,
    },
    /// Print the built-in default policy, a documented starting point for your own.
    Default,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file: its syntax (errors with line and column), and for each output its
    /// URLs, CA file, secret files and the alert file's directory. Starts nothing and sends
    /// nothing; exits non-zero on any problem.
    Check {
        /// The config file (YAML, with an `outputs:` section).
        file: PathBuf,
    },
}

/// What calls are checked against.
#[derive(Debug, Args)]
pub struct ChecksArgs {
    /// Policy file (YAML, see `monitor policy default`). Without it the built-in default policy
    /// is used. Reloaded on SIGHUP and when the file changes; a policy that fails to load is
    /// rejected (logged and counted) and the last good one stays in force.
    #[arg(long, env = "MONITOR_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Key of the credential fingerprints in alerts (created, random, if missing). Keep it to
    /// correlate the same secret across restarts; never share it.
    #[arg(
        long,
        env = "MONITOR_FINGERPRINT_KEY",
        default_value = "/var/lib/monitor/fingerprint.key",
        value_name = "FILE"
    )]
    pub fingerprint_key: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kernel→userspace ring buffer size in bytes (a power of two). Larger absorbs longer bursts
    /// before the kernel has to drop (drops are counted).
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_name = "BYTES")]
    pub ring_buffer_size: u32,

    /// Bytes of one read/write call copied at most; the rest is counted as truncated.
    /// Between 1 and 262144.
    #[arg(long, default_value_t = monitor_common::DEFAULT_CALL_CAP, value_name = "BYTES")]
    pub call_cap: u32,

    /// Bytes of one call copied at most on connections found to carry HTTP/2 (at least
    /// `--call-cap`, at most 262144): a header block cut short would leave every later header
    /// of the connection unknown, so these are copied further.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub http2_call_cap: u32,

    /// While records flow, the reader collects them every this many milliseconds instead of
    /// being woken by the kernel for each one (it is still woken at once after a quiet spell, or
    /// when an eighth of the ring buffer waits). 0: a wake-up per record, the kernel's default.
    /// Every poll wakes three threads (reader, pipeline, writer), so this sets the monitor's
    /// fixed cost while traffic flows: at 1,000 requests/s, 5 ms cost about half as much again
    /// per request as 20 ms. Alerts and lines come at most this much later.
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub ring_poll_interval: u64,

    /// A connection with no traffic for this many seconds is forgotten (its pending calls are
    /// reported as incomplete).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub idle_timeout: u64,

    /// Connections tracked at most; the least recently active are forgotten first (counted).
    #[arg(long, default_value_t = 65_536)]
    pub max_connections: usize,

    /// Bytes of each request and response body kept for the detectors to scan (the scan
    /// budget per message; a compressed body may decompress to at most 64 KiB more). At most
    /// 65536; bytes beyond a call's `--call-cap` were never copied from the kernel.
    #[arg(long, default_value_t = 4096, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(0..=65_536))]
    pub body_scan_bytes: u32,

    /// Do not report the traffic of processes with this command name (the kernel's, 15 bytes at
    /// most, e.g. `prometheus`); repeatable. Their records are still read, then dropped and
    /// counted (`monitor_capture_records_total{kind="excluded_process"}`). For the monitor's
    /// own neighbours (scrapers, log shippers) whose calls are known and not worth checking.
    #[arg(long, value_name = "COMMAND")]
    pub exclude_command: Vec<String>,

    /// API-call events queued for stdout at most; beyond, events are dropped and counted instead
    /// of stalling capture.
    #[arg(long, default_value_t = 65_536)]
    pub output_queue: usize,

    /// Address of the Prometheus endpoint (`/metrics`, `/healthz`, `/readyz`; also
    /// `/inventory`, the API inventory as JSON).
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR")]
    pub metrics_addr: SocketAddr,

    #[command(flatten)]
    pub checks: ChecksArgs,

    #[command(flatten)]
    pub kubernetes: KubernetesArgs,

    /// Also append alerts (only alerts) to this file, one JSON object per line. It rotates by
    /// size (`--alerts-file-max-size`, `--alerts-file-keep`).
    #[arg(long, value_name = "FILE")]
    pub alerts_file: Option<PathBuf>,

    /// When the next alert would take `--alerts-file` past this size, the file is rotated first:
    /// FILE → FILE.1 → … → FILE.N (see `--alerts-file-keep`), and a fresh FILE opened. A line is
    /// never split; one longer than this gets a file of its own. Bytes, or with a suffix: KiB,
    /// MiB, GiB.
    #[arg(
        long,
        default_value = "10MiB",
        value_parser = parse_size,
        value_name = "BYTES",
        requires = "alerts_file"
    )]
    pub alerts_file_max_size: u64,

    /// Rotated alert files kept (FILE.1 … FILE.N); the oldest beyond is deleted. 0 keeps none.
    #[arg(long, default_value_t = 5, value_name = "N", requires = "alerts_file")]
    pub alerts_file_keep: usize,

    /// Also keep the API inventory (see `monitor inventory`) in this file, as JSON, replaced
    /// atomically every `--inventory-interval` seconds when it changed and once at exit. Write
    /// failures are logged and counted, never fatal.
    #[arg(long, env = "MONITOR_INVENTORY_FILE", value_name = "FILE")]
    pub inventory_file: Option<PathBuf>,

    /// Seconds between writes of `--inventory-file` (at least 1).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub inventory_interval: u64,

    /// Print only alerts on stdout, not every API call.
    #[arg(long)]
    pub no_api_calls: bool,

    /// Config file (YAML) whose `outputs:` section configures stdout, the alert file,
    /// Alertmanager and webhooks (see the README); the flags below add to it.
    #[arg(long, env = "MONITOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Post alerts to Alertmanager's v2 API at this base URL (`http://alertmanager:9093`).
    /// Repeat it (or separate with commas) for every member of an Alertmanager cluster.
    #[arg(
        long,
        env = "MONITOR_ALERTMANAGER_URL",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub alertmanager_url: Vec<String>,

    /// A label added to every alert sent to Alertmanager, to route on (`cluster=prod-eu`).
    /// Repeatable. It cannot replace the monitor's own labels.
    #[arg(long, value_parser = parse_label, value_name = "NAME=VALUE")]
    pub alertmanager_label: Vec<(String, String)>,

    /// Post alerts, in JSON batches, to this URL. Repeatable: one sink per URL.
    #[arg(
        long,
        env = "MONITOR_WEBHOOK_URL",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub webhook_url: Vec<String>,

    /// Send `Authorization: Bearer <token>` to the webhooks, the token read from this file.
    #[arg(long, value_name = "FILE")]
    pub webhook_bearer_token_file: Option<PathBuf>,

    /// Sign each webhook request with HMAC-SHA256 of `<timestamp>.<body>` under the key in this
    /// file (`X-Monitor-Signature: sha256=<hex>`, `X-Monitor-Timestamp`).
    #[arg(long, value_name = "FILE")]
    pub webhook_hmac_key_file: Option<PathBuf>,

    /// Only alerts of this severity or above go to the Alertmanager and webhooks given by flags:
    /// info, low, medium, high, critical.
    #[arg(long, default_value = "info", value_parser = parse_severity, value_name = "SEVERITY")]
    pub sink_min_severity: monitor::policy::Severity,

    /// Bound on each request to Alertmanager or a webhook (`5s`, `500ms`).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub sink_timeout: std::time::Duration,

    /// Extra trust anchors (PEM) for Alertmanager and webhook receivers with a private CA.
    #[arg(long, value_name = "FILE")]
    pub sink_ca_file: Option<PathBuf>,

    /// Do not verify the TLS certificates of Alertmanager and webhook receivers (lab use only).
    #[arg(long)]
    pub sink_insecure_skip_verify: bool,

    /// Seconds between TLS coverage surveys (the `monitor_coverage_processes` metric).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub coverage_interval: u64,

    /// Seconds between complete rescans of every process for TLS libraries: the safety net for
    /// libraries a scan after exec missed, and when probes on files no longer in use are detached.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub rescan_interval: u64,

    /// Benchmarking only: attach programs that do nothing at exactly the places the real ones
    /// go, and capture nothing. Measures the cost of the probes themselves (`cargo xtask bench
    /// overhead` runs it as the floor under the monitor's own cost).
    #[arg(long)]
    pub empty_probes: bool,

    /// Keep every TLS probe on its function's first instruction, even where that instruction is
    /// single-stepped and a cheaper emulated one would do (for comparisons and troubleshooting).
    #[arg(long)]
    pub probes_at_function_start: bool,
}

/// Whether to watch this node's pods for the `k8s` object of calls and alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KubernetesMode {
    /// Watch when running in a pod (`KUBERNETES_SERVICE_HOST` set) or given `--kubeconfig`,
    /// and `--node-name` is known; otherwise calls carry only the pod UID of pod processes.
    Auto,
    /// Watch, and refuse to start without a node name or client configuration.
    On,
    /// Never contact an API server.
    Off,
}

#[derive(Debug, Args)]
pub struct KubernetesArgs {
    /// Pod metadata (namespace, pod, container, labels, owner) from a watch of this node's pods.
    #[arg(long, value_enum, default_value_t = KubernetesMode::Auto, env = "MONITOR_KUBERNETES")]
    pub kubernetes: KubernetesMode,

    /// This node's name: only its pods are watched (`spec.nodeName`). A DaemonSet sets
    /// `NODE_NAME` from the downward API.
    #[arg(long, env = "NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,

    /// Kubeconfig for the pod watch, instead of the pod's service account (in a cluster) or
    /// `KUBECONFIG`.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

impl KubernetesArgs {
    /// Whether to start the pod watch, or why it cannot start (an error only with `on`).
    pub fn wanted(&self) -> Result<bool, String> {
        let configured = self.kubeconfig.is_some()
            || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
            || std::env::var_os("KUBECONFIG").is_some();
        match self.kubernetes {
            KubernetesMode::Off => Ok(false),
            KubernetesMode::Auto => Ok(self.node_name.is_some()
                && (self.kubeconfig.is_some()
                    || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some())),
            KubernetesMode::On if self.node_name.is_none() => Err(
                "--kubernetes on needs this node's name: --node-name or NODE_NAME (in a DaemonSet, from the downward API: spec.nodeName)"
                    .to_owned(),
            ),
            KubernetesMode::On if !configured => Err(
                "--kubernetes on needs an API server: run in a pod, or give --kubeconfig or KUBECONFIG"
                    .to_owned(),
            ),
            KubernetesMode::On => Ok(true),
        }
    }
}

/// `name=value`, for `--alertmanager-label`.
fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => {
            Ok((name.to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

fn parse_severity(text: &str) -> Result<monitor::policy::Severity, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("`{text}` is not a severity (info, low, medium, high, critical)"))
}

#[cfg(test)]
mod tests {
    use super::{KubernetesArgs, KubernetesMode, parse_size};

    #[test]
    fn the_pod_watch_starts_only_when_asked_and_configured() {
        let args = |mode, node: Option<&str>, kubeconfig: Option<&str>| KubernetesArgs {
            kubernetes: mode,
            node_name: node.map(str::to_owned),
            kubeconfig: kubeconfig.map(Into::into),
        };
        assert_eq!(
            args(KubernetesMode::Off, Some("n"), Some("/k")).wanted(),
            Ok(false)
        );
        assert_eq!(
            args(KubernetesMode::Auto, Some("n"), Some("/k")).wanted(),
            Ok(true)
        );
        // No node name: nothing to filter the watch by.
        assert_eq!(
            args(KubernetesMode::Auto, None, Some("/k")).wanted(),
            Ok(false)
        );
        let refused = args(KubernetesMode::On, None, Some("/k"))
            .wanted()
            .unwrap_err();
        assert!(refused.contains("NODE_NAME"), "{refused}");
        assert_eq!(
            args(KubernetesMode::On, Some("n"), Some("/k")).wanted(),
            Ok(true)
        );
    }

    #[test]
    fn the_body_scan_budget_reaches_both_parsers_and_is_bounded() {
        use clap::Parser as _;
        let parse =
            |v: &str| super::Cli::try_parse_from(["monitor", "run", "--body-scan-bytes", v]);
        let Ok(super::Cli {
            command: super::Command::Run(args),
            ..
        }) = parse("16384")
        else {
            panic!("`run --body-scan-bytes 16384` must parse");
        };
        let limits = crate::daemon::stream_limits(&args);
        assert_eq!(limits.protocols.http1.body_sample_bytes, 16384);
        assert_eq!(limits.protocols.http2.body_sample_bytes, 16384);
        assert!(parse("65537").is_err());
    }

    #[test]
    fn sizes_in_bytes_or_with_a_binary_suffix() {
        assert_eq!(parse_size("2048"), Ok(2048));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(
            parse_size("10MB").is_err(),
            "decimal or binary? refused, not guessed"
        );
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}
