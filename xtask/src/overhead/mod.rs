//! `cargo xtask bench overhead` (root): what the monitor costs a server under load, over HTTPS
//! (plaintext read by uprobes on OpenSSL) and over plain HTTP (read by the syscall tracepoints).
//!
//! nginx (nginx.rs) returns a small JSON body on loopback. Per scheme and round, every load runs
//! first without and then with the monitor (release build, default policy, `--no-api-calls`):
//! - saturating: wrk (also on OpenSSL, so both sides of every call are captured) as fast as it
//!   can. Reported: requests/s ratio, p50/p99 latency, the monitor's CPU time per 1,000 captured
//!   calls (utime + stime from /proc/<pid>/stat), its peak RSS (VmHWM), and the kernel programs'
//!   time per run (kernel.bpf_stats_enabled, read from the monitor's program fds). Before it,
//!   the monitor's CPU with no load (its housekeeping and coverage survey), to read the
//!   fixed-rate figures against.
//! - fixed rates (h2load.rs): the cost at a load the server carries easily, which is what a
//!   production host sees. Reported: achieved rate, p50/p99 latency, and CPU time per request of
//!   the nginx worker, the h2load clients and the monitor. The uprobe traps are charged to the
//!   traced processes (nginx, h2load), the monitor's own work to the monitor.
use std::{
    collections::BTreeMap,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::{
    h2load,
    monitor_process::{MonitorProcess, Scrape},
    nginx::{self, Body, Nginx},
    proc_stat::{ProgramRuns, cpu_seconds, kernel_stats, kernel_stats_since, status_kib},
    stats::{median, percentile},
};

pub struct Options {
    pub rounds: usize,
    pub seconds: u64,
    pub connections: u32,
    pub rates: Vec<u32>,
    /// Extra arguments for `monitor run`, after `--no-api-calls`.
    pub monitor_args: Vec<String>,
}

pub const DEFAULT_RATES: [u32; 2] = [1000, 5000];

struct LoadResult {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct MonitorCost {
    cpu_seconds: f64,
    captured_calls: f64,
    peak_rss_kib: u64,
    /// Runs of each kernel program during the load.
    kernel: BTreeMap<String, ProgramRuns>,
    /// CPU milliseconds per second with no load: housekeeping, the coverage survey, host noise.
    idle_ms_per_s: f64,
}

/// One fixed-rate run.
struct FixedRun {
    achieved: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU microseconds per answered request.
    server_us: f64,
    client_us: f64,
    monitor_us: f64,
}

/// Everything measured for one scheme, over the rounds.
#[derive(Default)]
struct SchemeResults {
    base: Vec<LoadResult>,
    with: Vec<LoadResult>,
    costs: Vec<MonitorCost>,
    /// Per rate: (without, with) of each round.
    fixed: Vec<(u32, Vec<FixedRun>, Vec<FixedRun>)>,
}

fn run_wrk(url: &str, options: &Options) -> anyhow::Result<LoadResult> {
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &options.connections.to_string()])
        .args(["-d", &format!("{}s", options.seconds), "--latency"])
        .arg(url)
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

fn captured_calls(scrape: &Scrape) -> f64 {
    scrape.sum("monitor_api_calls_total")
}

/// Waits until the monitor has read what the load left in the ring buffer (its record count stops
/// moving, up to background traffic), so that its CPU time covers the whole load.
fn wait_drained(monitor: &MonitorProcess) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = monitor.scrape()?.sum("monitor_capture_records_total");
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = monitor.scrape()?.sum("monitor_capture_records_total");
        if now - last < 50.0 {
            break;
        }
        last = now;
    }
    Ok(())
}

fn fixed_run(
    dir: &Path,
    nginx: &Nginx,
    monitor: Option<&MonitorProcess>,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<FixedRun> {
    let worker = nginx.worker_pid()?;
    let server0 = cpu_seconds(worker);
    let monitor0 = monitor.map(|m| cpu_seconds(m.pid())).unwrap_or(0.0);
    let load = h2load::run(
        dir,
        &h2load::FixedRate {
            base_url: &nginx.base_url(),
            prefix: "/fixed",
            rate,
            seconds,
        },
    )?;
    let server = cpu_seconds(worker) - server0;
    let monitor_cpu = match monitor {
        Some(m) => {
            wait_drained(m)?;
            cpu_seconds(m.pid()) - monitor0
        }
        None => 0.0,
    };
    let requests = load.answered.len().max(1) as f64;
    let us = |seconds: f64| seconds * 1e6 / requests;
    Ok(FixedRun {
        achieved: load.achieved,
        p50_ms: percentile(load.latencies_us.clone(), 50.0) / 1000.0,
        p99_ms: percentile(load.latencies_us, 99.0) / 1000.0,
        server_us: us(server),
        client_us: us(load.client_cpu_seconds),
        monitor_us: us(monitor_cpu),
    })
}

/// One round of one scheme: every load without the monitor, then every load with it.
fn round(
    binary: &Path,
    dir: &Path,
    nginx: &Nginx,
    options: &Options,
    results: &mut SchemeResults,
) -> anyhow::Result<()> {
    let url = format!("{}/", nginx.base_url());
    let baseline = run_wrk(&url, options)?;
    let mut fixed_base = Vec::new();
    for &rate in &options.rates {
        fixed_base.push(fixed_run(dir, nginx, None, rate, options.seconds)?);
    }

    let mut args = vec!["--no-api-calls".to_owned()];
    args.extend(options.monitor_args.iter().cloned());
    let monitor = MonitorProcess::start(binary, dir, &args, None)?;
    let pid = monitor.pid();
    // What the monitor costs with nothing to capture, to read the fixed-rate figures against.
    let idle0 = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(options.seconds));
    let idle_ms_per_s = (cpu_seconds(pid) - idle0) * 1000.0 / options.seconds as f64;
    let (cpu0, kernel0) = (cpu_seconds(pid), kernel_stats(pid));
    let calls0 = captured_calls(&monitor.scrape()?);
    let monitored = run_wrk(&url, options)?;
    let calls = captured_calls(&monitor.scrape()?) - calls0;
    let kernel = kernel_stats_since(&kernel0, &kernel_stats(pid));
    let cost = MonitorCost {
        cpu_seconds: cpu_seconds(pid) - cpu0,
        captured_calls: calls,
        peak_rss_kib: status_kib(pid, "VmHWM"),
        kernel,
        idle_ms_per_s,
    };
    wait_drained(&monitor)?;
    let mut fixed_with = Vec::new();
    for &rate in &options.rates {
        fixed_with.push(fixed_run(
            dir,
            nginx,
            Some(&monitor),
            rate,
            options.seconds,
        )?);
    }
    monitor.stop()?;

    eprintln!(
        "  saturating: {:.0} req/s without, {:.0} with; monitor CPU {:.2} s for {:.0} calls, RSS {} KiB",
        baseline.requests_per_second,
        monitored.requests_per_second,
        cost.cpu_seconds,
        cost.captured_calls,
        cost.peak_rss_kib
    );
    for ((rate, without), with) in options.rates.iter().zip(&fixed_base).zip(&fixed_with) {
        eprintln!(
            "  {rate}/s: achieved {:.0} / {:.0}, p50 {:.3} / {:.3} ms, p99 {:.3} / {:.3} ms, nginx {:.1} / {:.1} µs/req, h2load {:.1} / {:.1} µs/req, monitor {:.1} µs/req",
            without.achieved,
            with.achieved,
            without.p50_ms,
            with.p50_ms,
            without.p99_ms,
            with.p99_ms,
            without.server_us,
            with.server_us,
            without.client_us,
            with.client_us,
            with.monitor_us
        );
    }
    results.base.push(baseline);
    results.with.push(monitored);
    results.costs.push(cost);
    for ((slot, without), with) in results.fixed.iter_mut().zip(fixed_base).zip(fixed_with) {
        slot.1.push(without);
        slot.2.push(with);
    }
    Ok(())
}

fn report_saturating(title: &str, r: &SchemeResults, rounds: usize) {
    let ratio = median(
        r.base
            .iter()
            .zip(&r.with)
            .map(|(b, w)| w.requests_per_second / b.requests_per_second)
            .collect(),
    );
    println!("\n### {title}: saturating load (wrk)\n");
    println!("| measure (median of {rounds} rounds) | value |");
    println!("|---|---|");
    println!("| ratio (with / without) | {ratio:.3} |");
    println!(
        "| requests/s without the monitor | {:.0} |",
        median(r.base.iter().map(|x| x.requests_per_second).collect())
    );
    println!(
        "| requests/s with the monitor | {:.0} |",
        median(r.with.iter().map(|x| x.requests_per_second).collect())
    );
    println!(
        "| p50 latency without / with | {:.3} / {:.3} ms |",
        median(r.base.iter().map(|x| x.p50_ms).collect()),
        median(r.with.iter().map(|x| x.p50_ms).collect())
    );
    println!(
        "| p99 latency without / with | {:.3} / {:.3} ms |",
        median(r.base.iter().map(|x| x.p99_ms).collect()),
        median(r.with.iter().map(|x| x.p99_ms).collect())
    );
    println!(
        "| monitor CPU per 1,000 captured calls (user + system) | {:.1} ms |",
        median(
            r.costs
                .iter()
                .map(|c| c.cpu_seconds * 1000.0 * 1000.0 / c.captured_calls.max(1.0))
                .collect()
        )
    );
    println!(
        "| captured calls per run (both sides: nginx and wrk) | {:.0} |",
        median(r.costs.iter().map(|c| c.captured_calls).collect())
    );
    println!(
        "| monitor peak RSS | {} KiB |",
        r.costs.iter().map(|c| c.peak_rss_kib).max().unwrap_or(0)
    );
    let total = |c: &MonitorCost| {
        c.kernel.values().fold((0u64, 0u64), |(ns, runs), p| {
            (ns + p.run_time_ns, runs + p.runs)
        })
    };
    println!(
        "| kernel programs: time per run (bpf_stats) | {:.0} ns over {} runs |",
        median(
            r.costs
                .iter()
                .map(|c| {
                    let (ns, runs) = total(c);
                    ns as f64 / runs.max(1) as f64
                })
                .collect()
        ),
        r.costs.iter().map(|c| total(c).1).sum::<u64>()
    );
    println!(
        "| kernel programs: time per captured call | {:.2} µs |",
        median(
            r.costs
                .iter()
                .map(|c| total(c).0 as f64 / 1000.0 / c.captured_calls.max(1.0))
                .collect()
        )
    );
    println!(
        "| monitor CPU with no load | {:.1} ms per s |",
        median(r.costs.iter().map(|c| c.idle_ms_per_s).collect())
    );
}

/// Where the kernel-side time goes, program by program, over all rounds of the saturating load.
fn report_kernel_programs(title: &str, r: &SchemeResults) {
    let calls: f64 = r
        .costs
        .iter()
        .map(|c| c.captured_calls)
        .sum::<f64>()
        .max(1.0);
    let mut programs: BTreeMap<&str, ProgramRuns> = BTreeMap::new();
    for (name, runs) in r.costs.iter().flat_map(|c| &c.kernel) {
        let entry = programs.entry(name).or_default();
        entry.run_time_ns += runs.run_time_ns;
        entry.runs += runs.runs;
    }
    let mut rows: Vec<(&str, ProgramRuns)> =
        programs.into_iter().filter(|(_, p)| p.runs > 0).collect();
    rows.sort_by_key(|(_, p)| std::cmp::Reverse(p.run_time_ns));
    println!("\n### {title}: kernel programs under the saturating load, all rounds\n");
    println!("| program | runs per captured call | ns per run | µs per captured call |");
    println!("|---|---|---|---|");
    for (name, p) in rows {
        println!(
            "| `{name}` | {:.2} | {:.0} | {:.2} |",
            p.runs as f64 / calls,
            p.run_time_ns as f64 / p.runs as f64,
            p.run_time_ns as f64 / 1000.0 / calls
        );
    }
}

fn report_fixed(title: &str, r: &SchemeResults, rounds: usize) {
    println!("\n### {title}: fixed rates (h2load), medians of {rounds} rounds\n");
    println!(
        "| target req/s | achieved without / with | p50 without / with (ms) | p99 without / with (ms) | nginx + monitor CPU per request without / with (µs) | of which nginx (without / with) | of which monitor | h2load CPU per request without / with (µs) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (rate, without, with) in &r.fixed {
        let m = |runs: &[FixedRun], f: fn(&FixedRun) -> f64| median(runs.iter().map(f).collect());
        println!(
            "| {rate} | {:.0} / {:.0} | {:.3} / {:.3} | {:.3} / {:.3} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} | {:.1} / {:.1} |",
            m(without, |x| x.achieved),
            m(with, |x| x.achieved),
            m(without, |x| x.p50_ms),
            m(with, |x| x.p50_ms),
            m(without, |x| x.p99_ms),
            m(with, |x| x.p99_ms),
            m(without, |x| x.server_us),
            m(with, |x| x.server_us + x.monitor_us),
            m(without, |x| x.server_us),
            m(with, |x| x.server_us),
            m(with, |x| x.monitor_us),
            m(without, |x| x.client_us),
            m(with, |x| x.client_us),
        );
    }
}

pub fn run(binary: &Path, options: Options) -> anyhow::Result<()> {
    for tool in ["nginx", "wrk", "h2load", "openssl"] {
        nginx::require(tool)?;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the overhead benchmark loads eBPF programs: run it as root");
    }
    let dir = nginx::scratch_dir("overhead")?;
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");
    let schemes = [
        ("HTTPS (OpenSSL uprobes)", true, 18443),
        ("HTTP (socket tracepoints)", false, 18080),
    ];
    let mut all = Vec::new();
    for (title, tls, port) in schemes {
        let nginx = Nginx::start(&dir.join(format!("nginx-{port}")), port, tls, Body::Small)?;
        let mut results = SchemeResults {
            fixed: options
                .rates
                .iter()
                .map(|&r| (r, Vec::new(), Vec::new()))
                .collect(),
            ..SchemeResults::default()
        };
        for round_number in 1..=options.rounds {
            eprintln!("{title}, round {round_number}:");
            round(binary, &dir, &nginx, &options, &mut results)?;
        }
        all.push((title, results));
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (title, results) in &all {
        report_saturating(title, results, options.rounds);
        report_kernel_programs(title, results);
        report_fixed(title, results, options.rounds);
    }
    Ok(())
}
