//! Project tasks that are more than one cargo command.
//!
//! `cargo xtask test`: the whole test suite in the order CI runs it (format, lints, unit tests,
//! then the end-to-end tests one at a time: each starts a monitor that sees the whole host, and
//! two at once would only compete for the machine's two cores).
//! `cargo xtask run -- ARGS`: builds the monitor in release mode and runs `monitor run ARGS`.
//! `cargo xtask bench pipeline`: the pipeline throughput benchmark (criterion, no root).
//! `cargo xtask bench overhead`: the monitor's cost to an nginx HTTPS server (root).
use std::process::Command;

mod overhead;

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
    /// Benchmarks. `pipeline`: API calls per second through everything after capture
    /// (criterion, no root). `overhead`: what the monitor costs an nginx HTTPS server under a wrk
    /// load (root; `scripts/setup.sh --bench` installs nginx and wrk).
    Bench {
        #[arg(value_parser = ["pipeline", "overhead"])]
        which: String,
        /// Rounds of the overhead benchmark (each: without, then with the monitor).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Seconds of load per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent connections of the load generator.
        #[arg(long, default_value_t = 50)]
        connections: u32,
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
        }
        Task::Bench {
            which,
            rounds,
            seconds,
            connections,
        } => {
            if which == "pipeline" {
                cargo(&["bench", "--package", "monitor", "--bench", "pipeline"])?;
            } else {
                cargo(&["build", "--release", "--package", "monitor"])?;
                let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
                overhead::run(
                    &workspace,
                    overhead::Options {
                        rounds,
                        seconds,
                        connections,
                    },
                )?;
            }
        }
        Task::Run { args } => {
            cargo(&["build", "--release", "--package", "monitor"])?;
            let binary =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/monitor");
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
