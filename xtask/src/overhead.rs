//! `cargo xtask bench overhead` (root): what the monitor costs an HTTPS server under load.
//!
//! nginx (Debian, OpenSSL) serves a small static response over TLS on loopback; wrk (also on
//! OpenSSL, so both sides of every call are captured) saturates it. Each round runs the same load
//! without and then with the monitor. Reported: requests/s ratio, p50/p99 latency added, the
//! monitor's CPU time per 1,000 captured calls (utime + stime from /proc/<pid>/stat), its peak RSS
//! (VmHWM), and the kernel programs' time per run (kernel.bpf_stats_enabled, read from the
//! monitor's program fds in /proc/<pid>/fdinfo).
use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};

pub struct Options {
    pub rounds: usize,
    pub seconds: u64,
    pub connections: u32,
}

struct LoadResult {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct MonitorCost {
    cpu_seconds: f64,
    captured_calls: f64,
    peak_rss_kib: u64,
    kernel_ns_per_run: f64,
    kernel_runs: u64,
}

fn require(tool: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{tool} is missing: run `scripts/setup.sh --bench`");
    }
    Ok(())
}

fn start_nginx(dir: &Path, port: u16) -> anyhow::Result<Child> {
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("openssl req failed");
    }
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};\n\
           fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
           server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {dir}/cert.pem;\n\
             ssl_certificate_key {dir}/key.pem;\n\
             location / {{ default_type application/json; return 200 '{{\"ok\":true}}'; }} }} }}\n",
        dir = dir.display()
    );
    fs::write(dir.join("nginx.conf"), conf)?;
    let child = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(child)
}

fn run_wrk(port: u16, options: &Options) -> anyhow::Result<LoadResult> {
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &options.connections.to_string()])
        .args(["-d", &format!("{}s", options.seconds), "--latency"])
        .arg(format!("https://127.0.0.1:{port}/"))
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
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
    Ok(LoadResult {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("wrk printed no rate:\n{text}"))?,
        p50_ms: field("50%").map(millis).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(millis).unwrap_or(f64::NAN),
    })
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may contain spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sum of run_time_ns and run_cnt over the monitor's BPF programs.
fn kernel_stats(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return total;
    };
    for fd in fds.flatten() {
        let text = fs::read_to_string(fd.path()).unwrap_or_default();
        if !text.contains("prog_type:") {
            continue;
        }
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("run_time_ns:") {
                total.0 += v.trim().parse::<u64>().unwrap_or(0);
            }
            if let Some(v) = line.strip_prefix("run_cnt:") {
                total.1 += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

fn start_monitor(binary: &Path, dir: &Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(binary)
        .args(["run", "--no-api-calls", "--metrics-addr", "127.0.0.1:0"])
        .arg("--fingerprint-key")
        .arg(dir.join("fingerprint.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the monitor")?;
    let stderr = child.stderr.take().expect("piped");
    let mut metrics_addr = String::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(addr) = line.split("addr=").nth(1)
            && line.contains("metrics endpoint listening")
        {
            metrics_addr = addr.trim().to_owned();
        }
        if line.contains("monitor ready") {
            return Ok((child, metrics_addr));
        }
    }
    bail!("the monitor exited before it was ready")
}

fn captured_calls(metrics_addr: &str) -> f64 {
    let output = Command::new("curl")
        .args(["--silent", &format!("http://{metrics_addr}/metrics")])
        .output();
    output
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("monitor_api_calls_total{"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn run(workspace: &Path, options: Options) -> anyhow::Result<()> {
    for tool in ["nginx", "wrk", "openssl", "curl"] {
        require(tool)?;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the overhead benchmark loads eBPF programs: run it as root");
    }
    let binary: PathBuf = workspace.join("target/release/monitor");
    let dir = std::env::temp_dir().join(format!("monitor-bench-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let _ = fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");
    let port = 18443;
    let mut nginx = start_nginx(&dir, port)?;
    let (mut base, mut with) = (Vec::new(), Vec::new());
    let mut costs = Vec::new();
    for round in 1..=options.rounds {
        let baseline = run_wrk(port, &options)?;
        let (mut monitor, metrics_addr) = start_monitor(&binary, &dir)?;
        let pid = monitor.id();
        let (cpu0, (ns0, runs0)) = (cpu_seconds(pid), kernel_stats(pid));
        let calls0 = captured_calls(&metrics_addr);
        let monitored = run_wrk(port, &options)?;
        let calls = captured_calls(&metrics_addr) - calls0;
        let (ns1, runs1) = kernel_stats(pid);
        let cost = MonitorCost {
            cpu_seconds: cpu_seconds(pid) - cpu0,
            captured_calls: calls,
            peak_rss_kib: peak_rss_kib(pid),
            kernel_ns_per_run: (ns1 - ns0) as f64 / (runs1 - runs0).max(1) as f64,
            kernel_runs: runs1 - runs0,
        };
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let _ = monitor.wait();
        eprintln!(
            "round {round}: {:.0} req/s without, {:.0} with; monitor CPU {:.2} s for {:.0} calls, RSS {} KiB",
            baseline.requests_per_second,
            monitored.requests_per_second,
            cost.cpu_seconds,
            cost.captured_calls,
            cost.peak_rss_kib
        );
        base.push(baseline);
        with.push(monitored);
        costs.push(cost);
    }
    let _ = nginx.kill();
    let _ = nginx.wait();
    let _ = fs::remove_dir_all(&dir);

    let ratio = median(
        base.iter()
            .zip(&with)
            .map(|(b, w)| w.requests_per_second / b.requests_per_second)
            .collect(),
    );
    println!("| measure (median of {} rounds) | value |", options.rounds);
    println!("|---|---|");
    println!(
        "| requests/s without the monitor | {:.0} |",
        median(base.iter().map(|r| r.requests_per_second).collect())
    );
    println!(
        "| requests/s with the monitor | {:.0} |",
        median(with.iter().map(|r| r.requests_per_second).collect())
    );
    println!("| ratio (with / without) | {ratio:.3} |");
    println!(
        "| p50 latency without / with | {:.3} / {:.3} ms |",
        median(base.iter().map(|r| r.p50_ms).collect()),
        median(with.iter().map(|r| r.p50_ms).collect())
    );
    println!(
        "| p99 latency without / with | {:.3} / {:.3} ms |",
        median(base.iter().map(|r| r.p99_ms).collect()),
        median(with.iter().map(|r| r.p99_ms).collect())
    );
    println!(
        "| monitor CPU per 1,000 captured calls (user + system) | {:.1} ms |",
        median(
            costs
                .iter()
                .map(|c| c.cpu_seconds * 1000.0 * 1000.0 / c.captured_calls.max(1.0))
                .collect()
        )
    );
    println!(
        "| captured calls per run (both sides: nginx and wrk) | {:.0} |",
        median(costs.iter().map(|c| c.captured_calls).collect())
    );
    println!(
        "| monitor peak RSS | {} KiB |",
        costs.iter().map(|c| c.peak_rss_kib).max().unwrap_or(0)
    );
    println!(
        "| kernel programs: time per run (bpf_stats) | {:.0} ns over {} runs |",
        median(costs.iter().map(|c| c.kernel_ns_per_run).collect()),
        costs.iter().map(|c| c.kernel_runs).sum::<u64>()
    );
    Ok(())
}
