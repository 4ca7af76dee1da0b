//! `cargo xtask bench overhead-h2` (root): what the monitor costs nginx serving HTTP/2 over TLS
//! under a saturating h2load load, and whether it reports every call.
//!
//! nginx (nginx.rs, `listen ... ssl http2`, the same 11-byte JSON body) on loopback; h2load (one
//! thread, `--connections` connections, 10 streams in flight on each, for `--seconds`; on the
//! system OpenSSL, so its side is probed too). Per round, three configurations in turn: no
//! monitor, `monitor run --empty-probes` (the probes alone), and the monitor (release, default
//! policy, API calls to a file). Reported: requests/s and ratios, the monitor's CPU per 1,000
//! captured calls, and the calls it reported for the nginx worker and for h2load against the
//! requests h2load saw succeed (a call h2load cancelled at the deadline can only add to the
//! server side), with every loss and HTTP/2 counter that moved.
use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};

use crate::{
    monitor_process::{MonitorProcess, Scrape},
    nginx::{self, Body, Nginx},
    proc_stat::cpu_seconds,
    stats::median,
};

pub struct Options {
    pub rounds: usize,
    pub seconds: u64,
    pub connections: u32,
    pub monitor_args: Vec<String>,
}

const PORT: u16 = 18444;
const STREAMS_PER_CONNECTION: u32 = 10;

struct Load {
    requests_per_second: f64,
    succeeded: u64,
    pid: u32,
}

fn run_h2load(url: &str, options: &Options) -> anyhow::Result<Load> {
    let child = Command::new("h2load")
        .args(["-t", "1", "-c", &options.connections.to_string()])
        .args(["-m", &STREAMS_PER_CONNECTION.to_string()])
        .args(["-D", &options.seconds.to_string()])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting h2load (scripts/setup.sh --bench installs it)")?;
    let pid = child.id();
    let output = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // `finished in 6.00s, 12345.67 req/s, 1.23MB/s` and
    // `requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout`.
    let requests_per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1)?.strip_suffix(" req/s")?.parse().ok())
        .with_context(|| format!("h2load printed no rate:\n{text}"))?;
    let succeeded = text
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .and_then(|l| {
            l.split(", ")
                .find_map(|part| part.strip_suffix(" succeeded")?.parse().ok())
        })
        .with_context(|| format!("h2load printed no request counts:\n{text}"))?;
    Ok(Load {
        requests_per_second,
        succeeded,
        pid,
    })
}

/// Complete and incomplete HTTP/2 calls of process `pid` in the monitor's output.
fn calls_of(output: &str, pid: u32) -> (u64, u64) {
    // The field names are the stable schema of docs/api-call-schema.md.
    let needle = format!("\"process\":{{\"pid\":{pid},");
    output
        .lines()
        .filter(|l| l.contains("\"event\":\"api_call\"") && l.contains(&needle))
        .filter(|l| l.contains("\"http_version\":\"HTTP/2\""))
        .fold((0, 0), |(complete, incomplete), l| {
            if l.contains("\"complete\":true") {
                (complete + 1, incomplete)
            } else {
                (complete, incomplete + 1)
            }
        })
}

/// Series that say something was lost or went wrong, and the HTTP/2 counters; non-zero only.
/// (Not-HTTP sockets and syscalls inside TLS calls are skipped by design, not lost.)
fn notable(scrape: &Scrape) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for metric in [
        "monitor_kernel_loss_total",
        "monitor_http_problems_total",
        "monitor_capture_decode_errors_total",
        "monitor_output_dropped_total",
        "monitor_stream_gap_bytes_total",
        "monitor_http2_",
    ] {
        out.extend(
            scrape
                .series_with_prefix(metric)
                .filter(|(series, v)| {
                    *v > 0.0
                        && !series.contains("sockets_not_http")
                        && !series.contains("tls_socket_calls_skipped")
                        && !series.contains("_bucket")
                })
                .map(|(series, v)| (series.to_owned(), v)),
        );
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup();
    out
}

struct Monitored {
    load: Load,
    monitor_ms_per_1000_calls: f64,
    server: (u64, u64),
    client: (u64, u64),
    counters: Vec<(String, f64)>,
}

fn monitored_run(
    binary: &Path,
    dir: &Path,
    nginx: &Nginx,
    url: &str,
    options: &Options,
) -> anyhow::Result<Monitored> {
    let out_path = dir.join("calls.jsonl");
    let monitor = MonitorProcess::start(binary, dir, &options.monitor_args, Some(&out_path))?;
    let pid = monitor.pid();
    let cpu0 = cpu_seconds(pid);
    let load = run_h2load(url, options)?;
    // Let the monitor drain what the load left in the ring before reading its CPU time.
    let mut last = monitor.scrape()?.sum("monitor_capture_records_total");
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(500));
        let now = monitor.scrape()?.sum("monitor_capture_records_total");
        if now - last < 50.0 {
            break;
        }
        last = now;
    }
    let cpu = cpu_seconds(pid) - cpu0;
    let counters = notable(&monitor.scrape()?);
    monitor.stop()?;
    let output = fs::read_to_string(&out_path)?;
    let server = calls_of(&output, nginx.worker_pid()?);
    let client = calls_of(&output, load.pid);
    let calls = (server.0 + server.1 + client.0 + client.1).max(1) as f64;
    Ok(Monitored {
        load,
        monitor_ms_per_1000_calls: cpu * 1000.0 * 1000.0 / calls,
        server,
        client,
        counters,
    })
}

pub fn run(binary: &Path, options: Options) -> anyhow::Result<()> {
    for tool in ["nginx", "h2load", "openssl"] {
        nginx::require(tool)?;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the overhead benchmark loads eBPF programs: run it as root");
    }
    let dir = nginx::scratch_dir("overhead-h2")?;
    let nginx = Nginx::start_with(&dir.join("nginx"), PORT, true, true, Body::Small)?;
    let url = format!("{}/", nginx.base_url());
    let (mut base, mut empty, mut with) = (Vec::new(), Vec::new(), Vec::new());
    let mut unaccounted_total = 0u64;
    for round in 1..=options.rounds {
        let without = run_h2load(&url, &options)?;
        let mut args = vec!["--no-api-calls".to_owned(), "--empty-probes".to_owned()];
        args.extend(options.monitor_args.iter().cloned());
        let floor = MonitorProcess::start(binary, &dir, &args, None)?;
        let probes_only = run_h2load(&url, &options)?;
        floor.stop()?;
        let m = monitored_run(binary, &dir, &nginx, &url, &options)?;
        let missing_server = m.load.succeeded.saturating_sub(m.server.0 + m.server.1);
        let missing_client = m.load.succeeded.saturating_sub(m.client.0 + m.client.1);
        unaccounted_total += missing_server + missing_client;
        eprintln!(
            "round {round}: {:.0} / {:.0} / {:.0} req/s (none / empty probes / monitor); monitor {:.1} ms per 1,000 calls; \
             h2load succeeded {}, nginx calls {} complete + {} incomplete (missing {missing_server}), \
             h2load calls {} + {} (missing {missing_client}); counters: {:?}",
            without.requests_per_second,
            probes_only.requests_per_second,
            m.load.requests_per_second,
            m.monitor_ms_per_1000_calls,
            m.load.succeeded,
            m.server.0,
            m.server.1,
            m.client.0,
            m.client.1,
            m.counters
        );
        base.push(without.requests_per_second);
        empty.push(probes_only.requests_per_second);
        with.push(m);
    }
    drop(nginx);
    let _ = fs::remove_dir_all(&dir);

    let rounds = options.rounds;
    let b = median(base.clone());
    let e = median(empty.clone());
    let w = median(with.iter().map(|m| m.load.requests_per_second).collect());
    let ratio = |xs: Vec<f64>| median(xs.iter().zip(&base).map(|(x, b)| x / b).collect());
    println!(
        "\n### HTTP/2 over TLS (h2load, {} connections × {STREAMS_PER_CONNECTION} streams, {} s), medians of {rounds} rounds\n",
        options.connections, options.seconds
    );
    println!("| configuration | requests/s | ratio to no monitor |");
    println!("|---|---|---|");
    println!("| no monitor | {b:.0} | 1 |");
    println!(
        "| empty probes (`--empty-probes`) | {e:.0} | {:.3} |",
        ratio(empty)
    );
    println!(
        "| monitor | {w:.0} | **{:.3}** |",
        ratio(with.iter().map(|m| m.load.requests_per_second).collect())
    );
    println!(
        "\nMonitor CPU per 1,000 captured calls: {:.1} ms. Unaccounted calls (h2load succeeded minus calls reported, per side, all rounds): {unaccounted_total}.",
        median(with.iter().map(|m| m.monitor_ms_per_1000_calls).collect())
    );
    println!(
        "\n| round | h2load succeeded | nginx calls complete + incomplete | h2load calls complete + incomplete |"
    );
    println!("|---|---|---|---|");
    for (i, m) in with.iter().enumerate() {
        println!(
            "| {} | {} | {} + {} | {} + {} |",
            i + 1,
            m.load.succeeded,
            m.server.0,
            m.server.1,
            m.client.0,
            m.client.1
        );
    }
    if unaccounted_total > 0 {
        println!("\nUNACCOUNTED LOSS: {unaccounted_total} calls");
    }
    Ok(())
}
