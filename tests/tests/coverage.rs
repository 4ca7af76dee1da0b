//! What the monitor cannot read is reported, never silent: a Java (JSSE) client's TLS appears in
//! `monitor coverage` as not readable and why, in the coverage metric, and raises an informational
//! alert for its connection; a probed process (Python on OpenSSL) appears as readable.
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use monitor_e2e::{Monitor, TlsServer, monitor_binary, root_or_skip, workspace_dir};
use serde_json::Value;

#[test]
fn java_tls_is_reported_as_unreadable() {
    if !root_or_skip("java_tls_is_reported_as_unreadable") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&["--coverage-interval", "1"]);
    let mut java = Command::new("java")
        .arg(workspace_dir().join("tests/fixtures/JavaTlsClient.java"))
        .arg(server.url("/hello"))
        .arg("8")
        .stdout(Stdio::piped())
        .spawn()
        .expect("java (openjdk) is installed on our machines");
    let mut line = String::new();
    BufReader::new(java.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "status 200");

    // While its connection is open: the survey, as a user runs it.
    let survey = Command::new(monitor_binary())
        .args(["coverage", "--json"])
        .output()
        .unwrap();
    assert!(survey.status.success());
    let rows: Vec<Value> = String::from_utf8_lossy(&survey.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |pid: u32| {
        rows.iter()
            .find(|r| r["pid"] == pid)
            .unwrap_or_else(|| panic!("pid {pid} not in the survey: {rows:#?}"))
    };
    let java_row = row(java.id());
    assert_eq!(java_row["stack"], "java");
    assert_eq!(java_row["state"], "not_readable");
    assert!(java_row["reason"].as_str().unwrap().contains("Java"));
    let server_row = row(server.pid());
    assert_eq!(server_row["stack"], "openssl");
    assert_eq!(server_row["state"], "readable");
    let table = Command::new(monitor_binary())
        .arg("coverage")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("PID"));

    // The daemon's own survey, as a metric.
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = monitor.scrape_metrics();
    assert!(
        metrics.contains("monitor_coverage_processes{stack=\"java\",state=\"not_readable\"}"),
        "{metrics}"
    );
    assert!(java.wait().unwrap().success());
    let captured = monitor.stop();

    let alerts: Vec<_> = captured
        .alerts_of("coverage.tls_unreadable")
        .into_iter()
        .filter(|a| a["workload"]["pid"] == java.id())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}\n{}", captured.all_output());
    assert_eq!(alerts[0]["severity"], "info");
    assert_eq!(alerts[0]["destination"]["port"], server.port);
    assert_eq!(alerts[0]["request"], Value::Null);
    // The server side of that call is readable (Python on OpenSSL).
    assert_eq!(captured.calls_to(server.pid(), "server", "/hello").len(), 1);
    assert!(
        captured.calls_of(java.id()).is_empty(),
        "Java's TLS is not readable"
    );
}
