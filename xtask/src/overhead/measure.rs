//! One configuration's measurements in one round: its tool's idle cost, the saturating wrk load
//! and each fixed-rate h2load load, with the CPU time of nginx, the load generator and the tool
//! (user + system: /proc/<pid>/stat for nginx and the tool, wait4 for the load generators).
use std::{
    collections::BTreeMap,
    io::Read as _,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};

use super::config::Tool;
use crate::{
    h2load,
    nginx::Nginx,
    proc_stat::{self, ProgramRuns, cpu_seconds, kernel_stats, kernel_stats_since, status_kib},
    stats::percentile,
};

/// CPU microseconds per answered request, by process.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuPerRequest {
    pub nginx_us: f64,
    pub client_us: f64,
    pub tool_us: f64,
}

impl CpuPerRequest {
    pub fn total(&self) -> f64 {
        self.nginx_us + self.client_us + self.tool_us
    }

    pub fn minus(&self, other: &CpuPerRequest) -> CpuPerRequest {
        CpuPerRequest {
            nginx_us: self.nginx_us - other.nginx_us,
            client_us: self.client_us - other.client_us,
            tool_us: self.tool_us - other.tool_us,
        }
    }
}

pub struct Saturating {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu: CpuPerRequest,
    /// API calls the monitor reported during the load (monitor only).
    pub captured_calls: Option<f64>,
    /// Tool CPU seconds over the load (drain included).
    pub tool_cpu_seconds: f64,
    pub peak_rss_kib: u64,
    /// Runs of each of the tool's kernel programs during the load.
    pub kernel: BTreeMap<String, ProgramRuns>,
    pub requests: f64,
}

pub struct FixedRun {
    pub rate: u32,
    pub achieved: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu: CpuPerRequest,
}

/// Everything one configuration measured in one round.
pub struct ConfigRun {
    /// Tool CPU milliseconds per second with no load (None without a tool).
    pub idle_ms_per_s: Option<f64>,
    pub saturating: Saturating,
    /// In the order of the requested rates.
    pub fixed: Vec<FixedRun>,
}

struct WrkResult {
    requests_per_second: f64,
    requests: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_seconds: f64,
}

/// Waits for child `pid` and returns its CPU seconds (user + system, from wait4).
fn wait_cpu(pid: u32) -> anyhow::Result<f64> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; status and usage are valid for writes.
    if unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) } < 0 {
        bail!("waiting for {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(proc_stat::rusage_seconds(&usage))
}

fn run_wrk(url: &str, connections: u32, seconds: u64) -> anyhow::Result<WrkResult> {
    let mut child = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency"])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running wrk")?;
    let mut text = String::new();
    child
        .stdout
        .take()
        .context("wrk stdout")?
        .read_to_string(&mut text)?;
    // wait4 rather than Child::wait: it also returns the child's CPU time.
    let cpu_seconds = wait_cpu(child.id())?;
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
    };
    let millis = |v: &str| -> f64 {
        let (number, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let n: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => f64::NAN,
        }
    };
    // `  123456 requests in 10.00s, 12.34MB read`
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("wrk printed no request count:\n{text}"))?;
    Ok(WrkResult {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("wrk printed no rate:\n{text}"))?,
        requests,
        p50_ms: field("50%").map(millis).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(millis).unwrap_or(f64::NAN),
        cpu_seconds,
    })
}

fn saturating(
    nginx: &Nginx,
    tool: &Tool,
    connections: u32,
    seconds: u64,
) -> anyhow::Result<Saturating> {
    let worker = nginx.worker_pid()?;
    let url = format!("{}/", nginx.base_url());
    let kernel0 = tool.pid().map(kernel_stats).unwrap_or_default();
    let calls0 = tool.captured_calls()?;
    let (nginx0, tool0) = (cpu_seconds(worker), tool.cpu_seconds());
    let load = run_wrk(&url, connections, seconds)?;
    let nginx_cpu = cpu_seconds(worker) - nginx0;
    let kernel = kernel_stats_since(&kernel0, &tool.pid().map(kernel_stats).unwrap_or_default());
    tool.drain()?;
    let tool_cpu = tool.cpu_seconds() - tool0;
    let captured_calls = match (calls0, tool.captured_calls()?) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let us = |s: f64| s * 1e6 / load.requests.max(1.0);
    Ok(Saturating {
        requests_per_second: load.requests_per_second,
        p50_ms: load.p50_ms,
        p99_ms: load.p99_ms,
        cpu: CpuPerRequest {
            nginx_us: us(nginx_cpu),
            client_us: us(load.cpu_seconds),
            tool_us: us(tool_cpu),
        },
        captured_calls,
        tool_cpu_seconds: tool_cpu,
        peak_rss_kib: tool.pid().map(|p| status_kib(p, "VmHWM")).unwrap_or(0),
        kernel,
        requests: load.requests,
    })
}

fn fixed(
    dir: &Path,
    nginx: &Nginx,
    tool: &Tool,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<FixedRun> {
    let worker = nginx.worker_pid()?;
    let (nginx0, tool0) = (cpu_seconds(worker), tool.cpu_seconds());
    let load = h2load::run(
        dir,
        &h2load::FixedRate {
            base_url: &nginx.base_url(),
            prefix: "/fixed",
            rate,
            seconds,
        },
    )?;
    let nginx_cpu = cpu_seconds(worker) - nginx0;
    tool.drain()?;
    let tool_cpu = tool.cpu_seconds() - tool0;
    let requests = load.answered.len().max(1) as f64;
    let us = |s: f64| s * 1e6 / requests;
    Ok(FixedRun {
        rate,
        achieved: load.achieved,
        p50_ms: percentile(load.latencies_us.clone(), 50.0) / 1000.0,
        p99_ms: percentile(load.latencies_us, 99.0) / 1000.0,
        cpu: CpuPerRequest {
            nginx_us: us(nginx_cpu),
            client_us: us(load.client_cpu_seconds),
            tool_us: us(tool_cpu),
        },
    })
}

pub struct Loads<'a> {
    pub dir: &'a Path,
    pub connections: u32,
    pub seconds: u64,
    pub rates: &'a [u32],
}

/// Idle, saturating, then each fixed rate, with `tool` running throughout.
pub fn config_run(nginx: &Nginx, tool: &Tool, loads: &Loads) -> anyhow::Result<ConfigRun> {
    // What the tool costs with nothing to capture, to read the fixed-rate figures against.
    let idle_ms_per_s = match tool.pid() {
        Some(pid) => {
            let idle_seconds = loads.seconds.min(5);
            let before = cpu_seconds(pid);
            std::thread::sleep(Duration::from_secs(idle_seconds));
            Some((cpu_seconds(pid) - before) * 1000.0 / idle_seconds as f64)
        }
        None => None,
    };
    let saturating = saturating(nginx, tool, loads.connections, loads.seconds)?;
    let fixed = loads
        .rates
        .iter()
        .map(|&rate| fixed(loads.dir, nginx, tool, rate, loads.seconds))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ConfigRun {
        idle_ms_per_s,
        saturating,
        fixed,
    })
}
