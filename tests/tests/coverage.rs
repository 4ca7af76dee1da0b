//! What the monitor cannot read is reported, never silent: a Java (JSSE) client's and a rustls
//! client's (uv) TLS appear in `monitor coverage` as not readable and why, in the coverage
//! metric, and raise an informational alert for their connections; a probed process (Python on
//! OpenSSL) appears as readable.
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use monitor_e2e::{
    Monitor, TlsServer, monitor_binary, root_or_skip, scratch_dir, survey_rows, test_deps,
    workspace_dir,
};
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
    let rows = survey_rows();
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

#[test]
fn rustls_client_is_reported_as_unreadable() {
    if !root_or_skip("rustls_client_is_reported_as_unreadable") {
        return;
    }
    let uv = test_deps().join("uv/bin/uv");
    assert!(
        uv.exists(),
        "{} is missing: run scripts/setup.sh --test",
        uv.display()
    );
    // A TLS server that never answers: uv's ClientHello arrives and its connection stays open
    // while we survey.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let monitor = Monitor::start(&["--coverage-interval", "1"]);
    let cache = scratch_dir("uv-cache");
    let mut client = Command::new(&uv)
        .args([
            "pip",
            "compile",
            "-",
            "--no-cache",
            "--python-version",
            "3.11",
        ])
        .arg(format!("--index-url=https://127.0.0.1:{port}/simple/"))
        .env("UV_CACHE_DIR", &cache)
        .env("UV_HTTP_TIMEOUT", "120")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting uv");
    std::io::Write::write_all(&mut client.stdin.take().unwrap(), b"requests\n").unwrap();
    let (mut connection, _) = listener.accept().unwrap();
    let mut record_header = [0u8; 3];
    std::io::Read::read_exact(&mut connection, &mut record_header).unwrap();
    assert_eq!(record_header[..2], [0x16, 0x03], "a TLS handshake record");

    let rows = survey_rows();
    let row = rows
        .iter()
        .find(|r| r["pid"] == client.id())
        .unwrap_or_else(|| panic!("uv not in the survey: {rows:#?}"));
    assert_eq!(row["stack"], "rustls", "{row:#}");
    assert_eq!(row["state"], "not_readable");
    assert!(row["reason"].as_str().unwrap().contains("rustls"));
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = monitor.scrape_metrics();
    assert!(
        metrics.contains("monitor_coverage_processes{stack=\"rustls\",state=\"not_readable\"}"),
        "{metrics}"
    );
    let _ = client.kill();
    let _ = client.wait();
    drop(connection);
    let captured = monitor.stop();
    let alerts: Vec<_> = captured
        .alerts_of("coverage.tls_unreadable")
        .into_iter()
        .filter(|a| a["workload"]["pid"] == client.id())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}\n{}", captured.all_output());
    assert_eq!(alerts[0]["destination"]["port"], port);
}
