//! `cargo xtask bench overhead` (root): what capturing API calls costs a server under load, over
//! HTTPS (plaintext read by uprobes on OpenSSL) and over plain HTTP (read by the syscall
//! tracepoints), for the monitor and, as reference points, for no tool, for the monitor's probes
//! with empty programs, and for a naive bpftrace sniffer. This module owns the run: the order
//! of rounds, schemes and configurations. config.rs starts each configuration's tool,
//! measure.rs measures one configuration, report.rs prints the results.
//!
//! nginx (nginx.rs, 1 worker) returns a small JSON body on loopback. Each round takes every
//! scheme in turn and, within it, every configuration in turn (none, floor, monitor, bpftrace),
//! so that drift on the machine hits all of them alike; reports are medians over the rounds.
//! For each configuration, with its tool running:
//! - idle: the tool's CPU with no load (housekeeping, the monitor's coverage survey);
//! - saturating: wrk (2 threads, `--connections`, on OpenSSL) as fast as it can: requests/s,
//!   latency, CPU per request, the tool's kernel programs (kernel.bpf_stats_enabled);
//! - fixed rates (h2load.rs, keep-alive lanes): achieved rate, latency and CPU per request of the
//!   nginx worker, the h2load clients and the tool. Probe time is charged to the traced process
//!   (nginx, the client: both sides of every call are captured), the tool's own work to the tool.
use std::path::Path;

use anyhow::bail;

use crate::nginx::{self, Body, Nginx};

mod config;
mod measure;
mod report;

pub use config::Config;
use measure::ConfigRun;

pub struct Options {
    pub rounds: usize,
    pub seconds: u64,
    pub connections: u32,
    pub rates: Vec<u32>,
    /// Configurations to run, in this order within each round.
    pub configs: Vec<Config>,
    /// Run the monitor with `--no-api-calls` (alerts only) instead of API-call lines to /dev/null.
    pub no_api_calls: bool,
    /// Extra arguments for `monitor run` (monitor and floor).
    pub monitor_args: Vec<String>,
}

pub const DEFAULT_RATES: [u32; 2] = [1000, 5000];

struct Scheme {
    title: &'static str,
    tls: bool,
    port: u16,
}

const SCHEMES: [Scheme; 2] = [
    Scheme {
        title: "HTTPS (OpenSSL uprobes)",
        tls: true,
        port: 18443,
    },
    Scheme {
        title: "HTTP (syscall tracepoints)",
        tls: false,
        port: 18080,
    },
];

/// Every round of one scheme, by configuration.
pub struct SchemeResults {
    pub title: &'static str,
    pub runs: Vec<(Config, Vec<ConfigRun>)>,
}

impl SchemeResults {
    pub fn of(&self, config: Config) -> Option<&[ConfigRun]> {
        self.runs
            .iter()
            .find(|(c, _)| *c == config)
            .map(|(_, runs)| runs.as_slice())
    }
}

pub fn run(binary: &Path, options: Options) -> anyhow::Result<()> {
    let mut tools = vec!["nginx", "wrk", "h2load", "openssl"];
    if options.configs.contains(&Config::Bpftrace) {
        tools.push("bpftrace");
    }
    for tool in tools {
        nginx::require(tool)?;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the overhead benchmark loads eBPF programs: run it as root");
    }
    let dir = nginx::scratch_dir("overhead")?;
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");
    let mut servers = Vec::new();
    for scheme in &SCHEMES {
        let nginx = Nginx::start(
            &dir.join(format!("nginx-{}", scheme.port)),
            scheme.port,
            scheme.tls,
            Body::Small,
        )?;
        let libssl = crate::bpftrace::libssl_of(nginx.worker_pid()?)?;
        servers.push((scheme, nginx, libssl));
    }
    let mut results: Vec<SchemeResults> = SCHEMES
        .iter()
        .map(|s| SchemeResults {
            title: s.title,
            runs: options.configs.iter().map(|&c| (c, Vec::new())).collect(),
        })
        .collect();
    let loads = measure::Loads {
        dir: &dir,
        connections: options.connections,
        seconds: options.seconds,
        rates: &options.rates,
    };
    for round in 1..=options.rounds {
        for ((scheme, nginx, libssl), scheme_results) in servers.iter().zip(&mut results) {
            let setup = config::Setup {
                binary,
                dir: &dir,
                tls: scheme.tls,
                libssl,
                nginx_worker: nginx.worker_pid()?,
                no_api_calls: options.no_api_calls,
                monitor_args: &options.monitor_args,
            };
            for (config, runs) in &mut scheme_results.runs {
                let tool = config::Tool::start(*config, &setup)?;
                let run = measure::config_run(nginx, &tool, &loads)?;
                tool.stop()?;
                report::progress(round, scheme.title, *config, &run);
                runs.push(run);
            }
        }
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    report::print(&results, &options);
    Ok(())
}
