//! `monitor`: command-line entry point. Parses arguments, sets up logging, and hands over to the
//! subcommand; the daemon itself lives in `daemon.rs`.
mod cli;
mod daemon;
mod inventory_command;
mod policy_command;
mod policy_file;
mod replay_command;

use std::io::IsTerminal as _;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // RUST_LOG wins over --log-level so that per-module filters work as usual.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cli.log_level.as_str()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        cli::Command::Run(args) => daemon::run(args, None),
        cli::Command::Record { out, run } => daemon::run(run, Some(&out)),
        cli::Command::Replay { file, checks } => replay_command::run(&file, &checks),
        cli::Command::Inventory(args) => inventory_command::run(&args),
        cli::Command::Coverage { json } => {
            let rows = monitor::coverage::survey(
                std::path::Path::new("/proc"),
                &mut monitor::capture::Discovery::new("/proc"),
            );
            if json {
                for row in &rows {
                    println!("{}", serde_json::to_string(row).unwrap_or_default());
                }
            } else {
                print!("{}", monitor::coverage::render_table(&rows));
            }
            Ok(())
        }
        cli::Command::Policy(cli::PolicyCommand::Default) => {
            policy_command::print_default();
            Ok(())
        }
        cli::Command::Config(cli::ConfigCommand::Check { file }) => {
            return check_config(&file);
        }
        cli::Command::Policy(cli::PolicyCommand::Check { file }) => {
            return match policy_command::check(&file) {
                Ok(true) => std::process::ExitCode::SUCCESS,
                Ok(false) => std::process::ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("monitor: {e:#}");
                    std::process::ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("monitor: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `monitor config check FILE`: every problem, one per line; 0 when none, 1 otherwise, 2 when
/// the file cannot be read or parsed.
fn check_config(file: &std::path::Path) -> std::process::ExitCode {
    let config = match monitor::output::ConfigFile::load(file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("monitor: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let problems = config.outputs.check();
    for problem in &problems {
        eprintln!("{}: {problem}", file.display());
    }
    if problems.is_empty() {
        println!("{}: ok", file.display());
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
