//! Faults: a monitor killed with SIGKILL (a crash, an OOM kill) leaves no kernel program behind,
//! and the next monitor reports each call once (lingering probes would double them).
use std::{process::Command, time::Duration};

use monitor_e2e::{Monitor, TlsServer, root_or_skip, run_client};

/// Names of the monitor's kernel programs that bpftool lists now.
fn our_programs() -> usize {
    let output = Command::new("bpftool")
        .args(["prog", "show", "--json"])
        .output()
        .expect("bpftool (installed by scripts/setup.sh --test)");
    assert!(output.status.success(), "bpftool failed");
    let progs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    progs
        .iter()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| {
            n.starts_with("ssl_") || n.starts_with("sys_e") || n.starts_with("sched_process")
        })
        .count()
}

#[test]
fn a_killed_monitor_leaves_no_probe_behind() {
    if !root_or_skip("a_killed_monitor_leaves_no_probe_behind") {
        return;
    }
    let before = our_programs();
    let monitor = Monitor::start(&[]);
    let running = our_programs();
    assert!(
        running >= before + 25,
        "{running} programs while running ({before} before)"
    );
    monitor.kill_hard();

    // The kernel frees programs and links with the last file descriptor; give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while our_programs() > before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        our_programs(),
        before,
        "programs of the killed monitor linger"
    );

    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (pid, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        &server.url("/hello"),
    ]));
    let captured = monitor.stop();
    captured.only(pid, "client", "/hello");
    captured.only(server.pid(), "server", "/hello");
}
