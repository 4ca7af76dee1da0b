//! Harness for the end-to-end tests: runs the real `monitor` binary (real eBPF, so root), real
//! servers and clients on loopback, and collects what the monitor printed.
//!
//! Tests `panic!` with a message that says what went wrong rather than returning errors. A test
//! that needs root skips itself with a message outside CI; under `CI=true` it fails instead.
pub mod h2;
pub mod kubernetes;
pub mod monitor;
pub mod programs;
pub mod recording;

pub use monitor::{Captured, Monitor, metric_in, monitor_binary, survey_rows};
pub use programs::{
    HttpServer, PYTHON, TlsServer, go_https_program, openssl_1_1_libssl, python_client, read_port,
    run_client, scratch_dir, self_signed_cert, test_deps,
};

/// Whether a root-only test may run. Outside CI, a non-root run skips with a message; in CI
/// (`CI=true`) nothing skips.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "{test}: end-to-end tests load eBPF programs and need root; CI must run them as root"
        );
    }
    eprintln!(
        "SKIPPED {test}: needs root to load eBPF programs (run as root, or under CI=true to fail instead)"
    );
    false
}

/// Where the workspace is (to find the built binary and the fixtures).
pub fn workspace_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}
