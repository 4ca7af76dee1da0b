//! The monitor under benchmark: the release binary started with its stdout and stderr in files
//! (a pipe nobody reads would stall its output), waited for until it is ready, its `/metrics`
//! scraped over a plain socket, and stopped with SIGTERM so it drains before it exits.
use std::{
    collections::HashMap,
    fs::{self, File},
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

pub struct MonitorProcess {
    child: Child,
    metrics_addr: String,
}

/// The monitor binary of this build: `$CARGO_TARGET_DIR/release/monitor`, else the workspace's
/// `target/`. (cargo resolves a relative CARGO_TARGET_DIR against the current directory.)
pub fn release_binary(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("release/monitor")
}

impl MonitorProcess {
    /// `monitor run ARGS` with its API calls written to `stdout` (or discarded) and its log to
    /// `dir/monitor.log`; returns once it logs "monitor ready".
    pub fn start(
        binary: &Path,
        dir: &Path,
        args: &[String],
        stdout: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let log_path = dir.join("monitor.log");
        let log = File::create(&log_path)?;
        let out = match stdout {
            Some(path) => Stdio::from(File::create(path)?),
            None => Stdio::null(),
        };
        let mut child = Command::new(binary)
            .arg("run")
            .args(["--metrics-addr", "127.0.0.1:0", "--fingerprint-key"])
            .arg(dir.join("fingerprint.key"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("monitor ready") {
                let metrics_addr = text
                    .lines()
                    .find(|l| l.contains("metrics endpoint listening"))
                    .and_then(|l| l.split("addr=").nth(1))
                    .map(|a| a.trim().to_owned())
                    .context("the monitor did not log its metrics address")?;
                return Ok(Self {
                    child,
                    metrics_addr,
                });
            }
            if child.try_wait()?.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the monitor did not get ready:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `/metrics` page now.
    pub fn scrape(&self) -> anyhow::Result<Scrape> {
        let mut stream = TcpStream::connect(&self.metrics_addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: monitor\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .context("malformed /metrics response")?;
        Ok(Scrape::parse(body))
    }

    /// SIGTERM and wait: the monitor detaches, drains the ring buffer and flushes its output.
    pub fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for MonitorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `/metrics` page: every series (`name{labels}` exactly as exported) and its value.
#[derive(Clone, Debug, Default)]
pub struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// One series (0 if not exported yet: counters appear on first use).
    pub fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// Every series of metric `name`: (labels, value).
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        self.0.iter().filter_map(move |(series, value)| {
            let labels = series.strip_prefix(name)?;
            (labels.is_empty() || labels.starts_with('{')).then_some((labels, *value))
        })
    }

    /// Every series whose name starts with `prefix` (`monitor_http2_`): (series, value).
    pub fn series_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        self.0
            .iter()
            .filter(move |(series, _)| series.starts_with(prefix))
            .map(|(series, value)| (series.as_str(), *value))
    }

    /// Sum over every series of metric `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.series(name).map(|(_, v)| v).sum()
    }

    /// This scrape minus an earlier one, series by series.
    pub fn since(&self, earlier: &Scrape) -> Scrape {
        Scrape(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.get(k)))
                .collect(),
        )
    }
}
