//! Go's crypto/tls, compiled into Go binaries: a Go HTTPS server found at start (symbols kept)
//! and a stripped Go client started after the monitor, talking to each other, plus curl (OpenSSL)
//! to the Go server. Each call appears exactly once per side, with method, path, status and the
//! Go binary as its TLS library, and with the socket's real addresses.
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

use monitor_e2e::{
    Monitor, go_https_program, root_or_skip, run_client, scratch_dir, self_signed_cert,
};

#[test]
fn go_client_and_server_stripped_or_not() {
    if !root_or_skip("go_client_and_server_stripped_or_not") {
        return;
    }
    let server_binary = go_https_program(false);
    let client_binary = go_https_program(true);
    let dir = scratch_dir("go");
    self_signed_cert(&dir);
    let (server, port) = start_go_server(&server_binary, &dir);
    let base = format!("https://127.0.0.1:{port}");

    // The server predates the monitor (startup scan); the stripped client is probed after its
    // exec, through .gopclntab.
    let monitor = Monitor::start(&[]);
    let (client_pid, output) = run_client(Command::new(&client_binary).args(["client", &base]));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "status 201");
    let (curl_pid, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--http1.1",
        "--output",
        "/dev/null",
        &format!("{base}/go/from-curl"),
    ]));
    // The coverage survey lists the Go server as readable, through its Go crypto/tls.
    let row = monitor_e2e::survey_rows()
        .into_iter()
        .find(|r| r["pid"] == server.id())
        .expect("the Go server is in the survey");
    assert_eq!(row["stack"], "go", "{row:#}");
    assert_eq!(row["state"], "readable");
    let captured = monitor.stop();

    let client_path = client_binary.display().to_string();
    let server_path = server_binary.display().to_string();
    let hello = captured.only(client_pid, "client", "/go/hello");
    assert_eq!(hello["method"], "GET");
    assert_eq!(hello["status"], 200);
    assert_eq!(hello["tls"], true);
    assert_eq!(hello["tls_library"]["name"], "go");
    assert_eq!(hello["tls_library"]["path"], client_path.as_str());
    assert_eq!(hello["remote"]["port"], port);
    let submit = captured.only(client_pid, "client", "/go/submit");
    assert_eq!(submit["method"], "POST");
    assert_eq!(submit["status"], 201);
    assert_eq!(submit["request_body_bytes"], 3000);
    // Keep-alive: both requests on the one connection the client made.
    assert_eq!(hello["local"], submit["local"]);

    for path in ["/go/hello", "/go/submit", "/go/from-curl"] {
        let served = captured.only(server.id(), "server", path);
        assert_eq!(served["tls_library"]["name"], "go", "{served:#}");
        assert_eq!(served["tls_library"]["path"], server_path.as_str());
        assert_eq!(served["local"]["port"], port);
    }
    let served = captured.only(server.id(), "server", "/go/hello");
    // The server's view mirrors the client's.
    assert_eq!(served["remote"], hello["local"]);
    assert_eq!(served["local"], hello["remote"]);
    assert_eq!(
        captured.only(server.id(), "server", "/go/submit")["request_body_bytes"],
        3000
    );
    let curl = captured.only(curl_pid, "client", "/go/from-curl");
    assert_eq!(curl["tls_library"]["name"], "openssl");
    assert_eq!(curl["status"], 200);
}

/// Perf-event links (uprobes and tracepoints) on the host now, by `bpftool link show`: one per
/// attached probe site. The tests run one monitor at a time, so changes are the monitor's.
fn probe_links() -> usize {
    let output = Command::new("bpftool")
        .args(["link", "show", "--json"])
        .output()
        .expect("bpftool (installed by scripts/setup.sh --test)");
    assert!(output.status.success(), "bpftool link show failed");
    let links: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    links.iter().filter(|l| l["type"] == "perf_event").count()
}

/// A server process killed when dropped, so a failing test leaves nothing running.
struct Running(std::process::Child);

impl Running {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a Go HTTPS server from `binary`; returns it and its port.
fn start_go_server(binary: &std::path::Path, dir: &std::path::Path) -> (Running, u16) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut server = Command::new(binary)
        .arg("server")
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the Go server");
    let stdout = server.stdout.take().unwrap();
    let server = Running(server);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let port = first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the Go server prints its port, got {first:?}"));
    (server, port)
}

fn curl(url: &str) -> u32 {
    run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--http1.1",
        "--output",
        "/dev/null",
        url,
    ]))
    .0
}

/// A binary's probes go when its last process exits, and come back when it runs again.
#[test]
fn probes_on_a_binary_no_longer_in_use_are_detached_and_return_with_it() {
    if !root_or_skip("probes_on_a_binary_no_longer_in_use_are_detached_and_return_with_it") {
        return;
    }
    let dir = scratch_dir("go-detach");
    self_signed_cert(&dir);
    // A copy of its own: no other test or process maps this inode.
    let binary = dir.join("go_https_detach");
    std::fs::copy(go_https_program(false), &binary).unwrap();
    let path = binary.display().to_string();
    let monitor = Monitor::start(&["--rescan-interval", "1"]);

    let (server, port) = start_go_server(&binary, &dir);
    let seen = monitor.wait_for_log(&format!("probed TLS library library={path}"), 0, WAIT);
    let sites = probes_in(&monitor.log_line(seen));
    assert!(sites > 3, "entry and return sites of Write and Read");
    let held_probed = probe_links();
    let first_curl = curl(&format!("https://127.0.0.1:{port}/go/first"));
    drop(server);

    let seen = monitor.wait_for_log(
        &format!("detached probes from a file no longer in use library={path}"),
        seen,
        WAIT,
    );
    assert_eq!(probes_in(&monitor.log_line(seen)), sites);
    // Other files may be detached meanwhile (processes of earlier tests exiting): at least ours.
    let held_detached = probe_links();
    assert!(
        held_detached <= held_probed - sites,
        "{held_probed} links before, {held_detached} after detaching {sites}"
    );
    let metrics = monitor.scrape_metrics();
    assert!(
        metrics.contains("monitor_tls_probe_detaches_total "),
        "{metrics}"
    );

    // The same file runs again: probed again, and its calls are read.
    let (server, port) = start_go_server(&binary, &dir);
    monitor.wait_for_log(&format!("probed TLS library library={path}"), seen, WAIT);
    assert!(probe_links() >= held_detached + sites);
    let second_curl = curl(&format!("https://127.0.0.1:{port}/go/second"));
    let second_server = server.id();
    drop(server);
    let captured = monitor.stop();
    let served = captured.only(second_server, "server", "/go/second");
    assert_eq!(served["tls_library"]["name"], "go");
    assert_eq!(served["tls_library"]["path"], path.as_str());
    captured.only(first_curl, "client", "/go/first");
    captured.only(second_curl, "client", "/go/second");
}

/// The `probes=N` of a probe log line.
fn probes_in(line: &str) -> usize {
    line.split_whitespace()
        .find_map(|item| item.strip_prefix("probes="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no probes= in {line:?}"))
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);
