//! Project tasks that are more than one cargo command.
//!
//! `cargo xtask test`: the whole test suite in the order CI runs it (format, lints, unit tests,
//! then the end-to-end tests one at a time: each starts a monitor that sees the whole host, and
//! two at once would only compete for the machine's two cores), then 15 s of each fuzz target.
//! `cargo xtask run -- ARGS`: builds the monitor in release mode and runs `monitor run ARGS`.
//! `cargo xtask image [--tag T]`: builds the static monitor and its `FROM scratch` container
//! image with podman (`deploy/image/Containerfile`), and prints the tag.
//! `cargo xtask fuzz [--seconds N] [TARGET...]`: bounded cargo-fuzz runs of the parsers (nightly).
//! `cargo xtask bench pipeline`: the pipeline throughput benchmark, and kernel records to JSON lines
//! (criterion, no root).
//! `cargo xtask bench overhead`: the monitor's cost to an nginx server, HTTPS and HTTP, beside no
//! tool, its probes with empty programs (the floor) and a naive bpftrace sniffer (root).
//! `cargo xtask bench overhead-h2`: the same for nginx serving HTTP/2 over TLS under h2load, with
//! the calls reported checked against the requests made (root).
//! `cargo xtask bench loss`: API calls reported versus made at fixed rates, and whether every
//! missing one is counted (root).
//! `cargo xtask bench syscalls`: what the monitor adds to each read/write of a process it does
//! not follow (root).
//! Benches that run the monitor use `XTASK_MONITOR_BINARY` instead of building it when set
//! (A/B runs of two builds).
use std::process::Command;

mod bpftrace;
mod fuzz;
mod h2load;
mod image;
mod loss;
mod monitor_process;
mod nginx;
mod overhead;
mod overhead_h2;
mod proc_stat;
mod stats;
mod syscalls;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Format check, clippy, unit tests, end-to-end tests.
    Test {
        /// Skip `cargo fmt --check` and clippy.
        #[arg(long)]
        no_lint: bool,
    },
    /// Benchmarks. `pipeline`: API calls per second through everything after capture, then
    /// from kernel records to JSON lines (criterion, no root). `overhead`: what the monitor costs an nginx server, HTTPS and HTTP,
    /// under saturating and fixed-rate loads, beside no tool, the empty-probe floor and bpftrace
    /// (root). `loss`: API calls reported versus made at increasing fixed rates, missing ones
    /// checked against the loss counters (root).
    /// `overhead-h2`: nginx serving HTTP/2 over TLS under h2load, no monitor / empty probes /
    /// monitor, and the calls reported versus the requests made (root). `syscalls`: ns added
    /// per read/write syscall of a process the monitor does not follow (root).
    /// `scripts/setup.sh --bench` installs nginx, wrk, h2load and bpftrace.
    Bench {
        #[arg(value_parser = ["pipeline", "overhead", "overhead-h2", "loss", "syscalls"])]
        which: String,
        /// Rounds (overhead: each runs every configuration in turn; loss: each a full sweep).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Seconds of load per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent connections of the load generator.
        #[arg(long, default_value_t = 50)]
        connections: u32,
        /// Fixed request rates, comma-separated (overhead default: 1000,5000; loss default:
        /// 500,1000,2000,3000,5000,7500,10000,20000,40000, stopping once the machine saturates).
        #[arg(long, value_delimiter = ',')]
        rates: Vec<u32>,
        /// An extra argument for `monitor run` (repeat it), to compare settings, e.g.
        /// `--monitor-arg=--ring-poll-interval=0`.
        #[arg(long = "monitor-arg", allow_hyphen_values = true, value_name = "ARG")]
        monitor_args: Vec<String>,
        /// overhead: the configurations to compare, comma-separated, run in this order within
        /// each round (none: no tool; floor: `monitor run --empty-probes`; monitor; bpftrace: a
        /// naive sniffer).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "none,floor,monitor,bpftrace",
            value_parser = ["none", "floor", "monitor", "bpftrace"]
        )]
        configs: Vec<String>,
        /// overhead: run the monitor with `--no-api-calls` (alerts only) instead of writing
        /// every API call to stdout (/dev/null).
        #[arg(long)]
        no_api_calls: bool,
        /// `syscalls`: reads (and as many writes) per timed run.
        #[arg(long, default_value_t = 200_000)]
        calls: u64,
    },
    /// Fuzz the parsers for a bounded time each (`cargo +nightly fuzz run`; `fuzz/README.md`).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Targets to run (default: all): http1, http2, streams, policy, credentials, sensitive.
        targets: Vec<String>,
    },
    /// Build the static monitor (release) and its container image (`FROM scratch`, podman);
    /// prints the image's tag.
    Image {
        #[arg(long, default_value = image::DEFAULT_TAG)]
        tag: String,
        /// Build the binary in the dev profile (faster; for tests, not for users).
        #[arg(long)]
        debug: bool,
    },
    /// Build the monitor (release) and run `monitor run` with these arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Seconds per fuzz target in `cargo xtask test`.
const FUZZ_SECONDS_IN_TESTS: u64 = 15;

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test { no_lint } => {
            if !no_lint {
                cargo(&["fmt", "--all", "--check"])?;
                cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])?;
            }
            cargo(&["build", "--package", "monitor"])?;
            cargo(&["test", "--workspace", "--exclude", "monitor-e2e"])?;
            cargo(&["test", "--package", "monitor-e2e", "--", "--test-threads=1"])?;
            // A short bounded fuzz run of every parser (crashes fail the suite); the long runs are
            // `cargo xtask fuzz --seconds N`.
            if std::env::var_os("MONITOR_FUZZ_TARGET_DIR").is_none()
                && let Some(home) = std::env::var_os("HOME")
            {
                // SAFETY: single-threaded at this point; only this process reads it, later.
                unsafe {
                    std::env::set_var(
                        "MONITOR_FUZZ_TARGET_DIR",
                        std::path::Path::new(&home).join(".cache/monitor-fuzz-target"),
                    );
                }
            }
            fuzz::run(&workspace(), FUZZ_SECONDS_IN_TESTS, &[])?;
        }
        Task::Bench {
            which,
            rounds,
            seconds,
            connections,
            rates,
            monitor_args,
            configs,
            no_api_calls,
            calls,
        } => {
            if which == "pipeline" {
                return cargo(&[
                    "bench",
                    "--package",
                    "monitor",
                    "--bench",
                    "pipeline",
                    "--bench",
                    "records",
                ]);
            }
            let binary = match std::env::var_os("XTASK_MONITOR_BINARY") {
                Some(binary) => binary.into(),
                None => {
                    cargo(&["build", "--release", "--package", "monitor"])?;
                    monitor_process::release_binary(&workspace())
                }
            };
            let or_default = |defaults: &[u32]| {
                if rates.is_empty() {
                    defaults.to_vec()
                } else {
                    rates.clone()
                }
            };
            match which.as_str() {
                "loss" => loss::run(
                    &binary,
                    loss::Options {
                        rounds,
                        seconds,
                        rates: or_default(&loss::DEFAULT_RATES),
                        monitor_args,
                    },
                )?,
                "syscalls" => syscalls::run(&binary, syscalls::Options { rounds, calls })?,
                "overhead-h2" => overhead_h2::run(
                    &binary,
                    overhead_h2::Options {
                        rounds,
                        seconds,
                        // wrk's default of 50 is for HTTP/1.1; h2load multiplexes 10 streams.
                        connections: if connections == 50 { 8 } else { connections },
                        monitor_args,
                    },
                )?,
                _ => overhead::run(
                    &binary,
                    overhead::Options {
                        rounds,
                        seconds,
                        connections,
                        rates: or_default(&overhead::DEFAULT_RATES),
                        configs: configs
                            .iter()
                            .map(|c| overhead::Config::parse(c))
                            .collect::<anyhow::Result<_>>()?,
                        no_api_calls,
                        monitor_args,
                    },
                )?,
            }
        }
        Task::Fuzz { seconds, targets } => fuzz::run(&workspace(), seconds, &targets)?,
        Task::Image { tag, debug } => image::build(&workspace(), &tag, !debug)?,
        Task::Run { args } => {
            cargo(&["build", "--release", "--package", "monitor"])?;
            let binary = monitor_process::release_binary(&workspace());
            let status = Command::new(&binary)
                .arg("run")
                .args(&args)
                .status()
                .with_context(|| format!("running {}", binary.display()))?;
            if !status.success() {
                bail!("monitor exited with {status}");
            }
        }
    }
    Ok(())
}
