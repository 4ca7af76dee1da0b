//! Starts the monitor, waits for its readiness line, stops it with SIGTERM and returns what it
//! printed.
use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::Duration,
};

use serde_json::Value;

use crate::workspace_dir;

const READY_LINE: &str = "monitor ready";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Monitor {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<thread::JoinHandle<()>>,
    /// Where `/metrics` is served (an ephemeral port, read from the log).
    pub metrics_addr: String,
}

/// What a monitor run printed.
pub struct Captured {
    /// Every stdout line, parsed (each must be JSON).
    pub calls: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub exit_ok: bool,
}

pub fn monitor_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MONITOR_BIN") {
        return path.into();
    }
    // The target directory cargo built into: CARGO_TARGET_DIR when set (relative to the
    // workspace, where cargo is run from), else the workspace's `target/`.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| workspace_dir().join(d))
        .unwrap_or_else(|| workspace_dir().join("target"));
    let path = target.join("debug/monitor");
    assert!(
        path.exists(),
        "{} does not exist: build it first (`cargo build -p monitor`), or set MONITOR_BIN",
        path.display()
    );
    path
}

/// Five default ring polls: what a scrape waits for the records of calls that just ended.
const RING_SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

impl Monitor {
    /// Starts `monitor run` with extra arguments and waits until every probe is attached.
    pub fn start(extra_args: &[&str]) -> Self {
        Self::start_command("run", extra_args)
    }

    /// Starts `monitor <subcommand>` (`run` or `record`). Unless given, the metrics endpoint
    /// takes an ephemeral port and the fingerprint key a fresh file, so runs never collide.
    pub fn start_command(subcommand: &str, extra_args: &[&str]) -> Self {
        Self::start_with_env(subcommand, extra_args, &[])
    }

    /// `start_command` with these environment variables set for the monitor.
    pub fn start_with_env(subcommand: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        if !extra_args.contains(&"--metrics-addr") {
            args.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
        }
        if !extra_args.contains(&"--fingerprint-key") {
            let key = crate::scratch_dir("key").join("fingerprint.key");
            args.extend(["--fingerprint-key".into(), key.display().to_string()]);
        }
        let mut child = Command::new(monitor_binary())
            .arg(subcommand)
            .args(&args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the monitor binary");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();

        let out_pipe = child.stdout.take().expect("piped");
        let out_lines = stdout.clone();
        let out_reader = thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                out_lines.lock().unwrap().push(line);
            }
        });
        let err_pipe = child.stderr.take().expect("piped");
        let err_lines = stderr.clone();
        let err_reader = thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                if line.contains(READY_LINE) {
                    let _ = ready_tx.send(());
                }
                err_lines.lock().unwrap().push(line);
            }
        });
        let mut monitor = Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            metrics_addr: String::new(),
        };
        if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
            let _ = monitor.child.kill();
            let _ = monitor.child.wait();
            panic!(
                "the monitor did not log {READY_LINE:?} within {READY_TIMEOUT:?}; stderr:\n{}",
                monitor.stderr.lock().unwrap().join("\n")
            );
        }
        monitor.metrics_addr = monitor
            .stderr
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("metrics endpoint listening"))
            .and_then(|l| l.split("addr=").nth(1))
            .map(|a| a.trim().to_owned())
            .expect("the monitor logs where it serves metrics before it is ready");
        monitor
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a stderr line after the first `skip` lines contains `needle`; returns the
    /// number of lines seen so far (to wait for the next occurrence).
    pub fn wait_for_log(&self, needle: &str, skip: usize, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            {
                let lines = self.stderr.lock().unwrap();
                if let Some(i) = lines.iter().skip(skip).position(|l| l.contains(needle)) {
                    return skip + i + 1;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needle:?} within {timeout:?}:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a stdout line (an API call or alert) contains `needle`; returns how long
    /// that took.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> Duration {
        let start = std::time::Instant::now();
        loop {
            if self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "no output line with {needle:?} within {timeout:?}; stderr:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stderr line `number` (1-based, as `wait_for_log` counts).
    pub fn log_line(&self, number: usize) -> String {
        self.stderr.lock().unwrap()[number - 1].clone()
    }

    /// Lines of stderr so far.
    pub fn log_lines(&self) -> usize {
        self.stderr.lock().unwrap().len()
    }

    /// The `/metrics` page (with curl, as a Prometheus scraper would over HTTP), fetched once
    /// the records of what the test just did have been read: while traffic flows the monitor
    /// collects the ring every `--ring-poll-interval` (20 ms by default), so a call that ended
    /// a moment ago may not be counted yet.
    pub fn scrape_metrics(&self) -> String {
        std::thread::sleep(RING_SETTLE);
        let (status, body) = self.http_get("/metrics");
        assert_eq!(status, 200, "scraping /metrics failed");
        body
    }

    /// GET on the metrics endpoint: (HTTP status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let output = Command::new("curl")
            .args(["--silent", "--write-out", "\n%{http_code}"])
            .arg(format!("http://{}{path}", self.metrics_addr))
            .output()
            .expect("running curl");
        let text = String::from_utf8(output.stdout).expect("text");
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// SIGKILL: no clean shutdown, as after a crash or an OOM kill.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal to the monitor.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// SIGTERM, wait for exit (the monitor drains and flushes first), and collect the output.
    pub fn stop(mut self) -> Captured {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("waiting for the monitor");
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stdout_lines = std::mem::take(&mut *self.stdout.lock().unwrap());
        let stderr = self.stderr.lock().unwrap().join("\n");
        let calls = stdout_lines
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("stdout line is not JSON ({e}): {line}\nstderr:\n{stderr}")
                })
            })
            .collect();
        Captured {
            calls,
            stdout: stdout_lines.join("\n"),
            stderr,
            exit_ok: status.success(),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `monitor coverage --json` now, as a user runs it: one row per process.
pub fn survey_rows() -> Vec<Value> {
    let survey = Command::new(monitor_binary())
        .args(["coverage", "--json"])
        .output()
        .expect("running monitor coverage");
    assert!(
        survey.status.success(),
        "{}",
        String::from_utf8_lossy(&survey.stderr)
    );
    String::from_utf8_lossy(&survey.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("coverage --json prints JSON lines"))
        .collect()
}

/// A gauge or counter from a `/metrics` page (0 if not exported yet).
pub fn metric_in(page: &str, series: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

impl Captured {
    /// API calls made or served by process `pid`.
    pub fn calls_of(&self, pid: u32) -> Vec<&Value> {
        self.calls
            .iter()
            .filter(|c| c["process"]["pid"].as_u64() == Some(u64::from(pid)))
            .collect()
    }

    /// API calls of `pid` on one side (`"client"` or `"server"`) for one path.
    pub fn calls_to(&self, pid: u32, role: &str, path: &str) -> Vec<&Value> {
        self.calls_of(pid)
            .into_iter()
            .filter(|c| c["role"] == role && c["path"] == path)
            .collect()
    }

    /// The one call of `pid` on `role` side to `path`; panics (with everything the monitor
    /// printed) unless there is exactly one.
    pub fn only(&self, pid: u32, role: &str, path: &str) -> &Value {
        let calls = self.calls_to(pid, role, path);
        assert_eq!(
            calls.len(),
            1,
            "expected exactly one {role} call to {path} by pid {pid}, got {}:\n{calls:#?}\nall output:\n{}",
            calls.len(),
            self.all_output()
        );
        calls[0]
    }

    /// Value of a metric in the monitor's stop summary (`name{labels}` exactly as exported).
    pub fn metric(&self, name_and_labels: &str) -> u64 {
        let prefix = format!("{name_and_labels}=");
        self.stderr
            .lines()
            .filter(|l| l.contains("stopped"))
            .flat_map(|l| l.split_whitespace())
            .find_map(|item| {
                item.trim_matches('"')
                    .strip_prefix(&prefix)
                    .map(str::to_owned)
            })
            .map(|v| v.trim_matches('"').parse().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Alerts (`event: "alert"`) only.
    pub fn alerts(&self) -> Vec<&Value> {
        self.calls
            .iter()
            .filter(|c| c["event"] == "alert")
            .collect()
    }

    /// Alerts of one rule.
    pub fn alerts_of(&self, rule_id: &str) -> Vec<&Value> {
        self.alerts()
            .into_iter()
            .filter(|a| a["rule_id"] == rule_id)
            .collect()
    }

    /// Everything the monitor printed, for "never printed" assertions.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}
