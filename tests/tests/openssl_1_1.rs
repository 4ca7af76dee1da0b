//! OpenSSL 1.1.1, as vendored by Python wheels under a hashed file name: found in a running
//! process's mappings, probed, and its calls reported once with the right library.
//! The library comes from `scripts/setup.sh --test` (psycopg2-binary 2.9.5's wheel).
use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
};

use monitor_e2e::{Monitor, PYTHON, TlsServer, root_or_skip, workspace_dir};

#[test]
fn openssl_1_1_calls_are_captured() {
    if !root_or_skip("openssl_1_1_calls_are_captured") {
        return;
    }
    let (dir, libssl) = monitor_e2e::openssl_1_1_libssl();
    let server = TlsServer::start();

    let mut client = Command::new(PYTHON)
        .arg(workspace_dir().join("tests/fixtures/openssl_ctypes_client.py"))
        .arg(&libssl)
        .args(["127.0.0.1", &server.port.to_string(), "/hello"])
        .env("LD_LIBRARY_PATH", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the ctypes client");
    let mut stdout = BufReader::new(client.stdout.take().unwrap());
    let mut loaded = String::new();
    stdout.read_line(&mut loaded).unwrap();
    assert!(loaded.starts_with("LOADED OpenSSL 1.1.1"), "{loaded:?}");

    // The library is mapped by a running process only: the monitor must find it there.
    let monitor = Monitor::start(&[]);
    client.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut result = String::new();
    stdout.read_line(&mut result).unwrap();
    assert!(client.wait().unwrap().success());
    assert_eq!(result.trim(), "HTTP/1.1 200 OK 12");
    let captured = monitor.stop();

    let calls = captured.calls_to(client.id(), "client", "/hello");
    assert_eq!(calls.len(), 1, "{calls:#?}\n{}", captured.all_output());
    let call = calls[0];
    assert_eq!(call["status"], 200);
    assert_eq!(call["response_body_bytes"], 12);
    assert_eq!(call["complete"], true);
    assert_eq!(call["tls_library"]["name"], "openssl");
    assert_eq!(
        call["tls_library"]["path"],
        std::fs::canonicalize(&libssl)
            .unwrap()
            .display()
            .to_string()
    );
}
