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
    let (cert, key) = self_signed_cert(&dir);
    let mut server = Command::new(&server_binary)
        .arg("server")
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the Go server");
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the Go server prints its port, got {first:?}"));
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
    let captured = monitor.stop();
    let _ = server.kill();
    let _ = server.wait();

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
