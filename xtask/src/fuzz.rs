//! `cargo xtask fuzz [--seconds N] [TARGET...]`: a bounded run of the cargo-fuzz targets in
//! `fuzz/` (all six by default, one after another, `N` seconds each), from seeds written at run
//! time (`seeds.rs`; the corpora are never copied into the repository).
//!
//! Each target runs as `cargo +nightly fuzz run TARGET -- -max_total_time=N` in `fuzz/`, with
//! `AYA_BUILD_SKIP=1` (the nightly toolchain cannot build the eBPF object, and the targets do not
//! need it). A crash, timeout or leak fails the task, naming the artifact libFuzzer wrote and
//! how to reproduce it; the other targets still run first, so one run reports every failure.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

mod seeds;

/// Every target in `fuzz/fuzz_targets/`, in the order they run.
const TARGETS: &[&str] = &[
    "http1",
    "http2",
    "streams",
    "policy",
    "credentials",
    "sensitive",
];

/// Longest a single input may run before libFuzzer reports it as a hang, in seconds.
const INPUT_TIMEOUT_SECS: u64 = 10;

pub fn run(workspace: &Path, seconds: u64, targets: &[String]) -> anyhow::Result<()> {
    let targets: Vec<&str> = if targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!(
                    "unknown fuzz target `{t}`; the targets are {}",
                    TARGETS.join(", ")
                );
            }
        }
        targets.iter().map(String::as_str).collect()
    };
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("resolving {}", workspace.display()))?;
    let workspace = workspace.as_path();
    let fuzz_dir = workspace.join("fuzz");
    check_cargo_fuzz(&fuzz_dir)?;
    let corpora = workspace.join("../shared/corpora");
    let mut failures = Vec::new();
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        let written = seeds::write(target, workspace, &corpora, &corpus)
            .with_context(|| format!("writing the seeds of `{target}`"))?;
        eprintln!(
            "xtask: fuzz {target}: {written} seeds in {}",
            corpus.display()
        );
        if let Some(failure) = run_target(&fuzz_dir, target, seconds)? {
            failures.push(failure);
        }
    }
    if !failures.is_empty() {
        bail!("libFuzzer found problems:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// Runs one target; `Some(description)` when libFuzzer stopped on a problem.
fn run_target(fuzz_dir: &Path, target: &str, seconds: u64) -> anyhow::Result<Option<String>> {
    let artifacts = fuzz_dir.join("artifacts").join(target);
    let before = list(&artifacts);
    let mut args = vec!["+nightly".to_owned(), "fuzz".to_owned(), "run".to_owned()];
    // A build directory that outlives a fresh clone (CI), so the short run in `cargo xtask test`
    // does not rebuild the instrumented targets from scratch each time (about 6 minutes here).
    if let Some(dir) = std::env::var_os("MONITOR_FUZZ_TARGET_DIR") {
        args.push("--target-dir".to_owned());
        args.push(dir.to_string_lossy().into_owned());
    }
    args.extend([
        target.to_owned(),
        "--".to_owned(),
        format!("-max_total_time={seconds}"),
        format!("-timeout={INPUT_TIMEOUT_SECS}"),
        "-print_final_stats=1".to_owned(),
    ]);
    eprintln!(
        "xtask: (in fuzz/) AYA_BUILD_SKIP=1 cargo {}",
        args.join(" ")
    );
    // The rustup proxy, not this cargo: only the proxy understands `+nightly`. Variables that
    // the outer (stable) cargo set would pin the inner one to stable.
    let status = Command::new("cargo")
        .args(&args)
        .current_dir(fuzz_dir)
        .env("AYA_BUILD_SKIP", "1")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .status()
        .context("running cargo +nightly fuzz")?;
    if status.success() {
        return Ok(None);
    }
    let new: Vec<PathBuf> = list(&artifacts).difference(&before).cloned().collect();
    if new.is_empty() {
        // No artifact: the build or cargo-fuzz itself failed, which is not a finding.
        bail!("cargo fuzz run {target} failed ({status}) without a crash artifact");
    }
    let mut text = String::new();
    for artifact in new {
        let shown = artifact
            .strip_prefix(fuzz_dir)
            .unwrap_or(&artifact)
            .display();
        text.push_str(&format!(
            "  {target}: fuzz/{shown}\n    reproduce: (cd fuzz && AYA_BUILD_SKIP=1 cargo +nightly fuzz run {target} {shown})\n    minimise:  (cd fuzz && AYA_BUILD_SKIP=1 cargo +nightly fuzz tmin {target} {shown})"
        ));
    }
    Ok(Some(text))
}

fn list(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn check_cargo_fuzz(fuzz_dir: &Path) -> anyhow::Result<()> {
    let works = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(fuzz_dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        bail!(
            "`cargo +nightly fuzz` does not work here: install the nightly toolchain (rustup \
             toolchain install nightly) and cargo-fuzz (scripts/setup.sh --test, or cargo install \
             cargo-fuzz --locked)"
        );
    }
    Ok(())
}
