//! Every TLS stack a host runs, through real programs on loopback: GnuTLS (wget), OpenSSL linked
//! statically into node (server started before the monitor, client after it), and a libssl
//! `dlopen`ed by a process after the monitor started. Each call appears exactly once, with the
//! right TLS library.
use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
    time::Duration,
};

use monitor_e2e::{
    Captured, Monitor, PYTHON, TlsServer, read_port, root_or_skip, run_client, workspace_dir,
};

#[test]
fn wget_through_gnutls() {
    if !root_or_skip("wget_through_gnutls") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (pid, _) = run_client(
        Command::new("wget")
            .args([
                "--quiet",
                "--no-check-certificate",
                "--output-document=/dev/null",
            ])
            .arg(server.url("/chunked")),
    );
    let captured = monitor.stop();
    let call = captured.only(pid, "client", "/chunked");
    assert_eq!(call["tls"], true);
    assert_eq!(call["tls_library"]["name"], "gnutls");
    assert!(
        call["tls_library"]["path"]
            .as_str()
            .unwrap()
            .contains("libgnutls.so"),
        "{call:#}"
    );
    assert_eq!(call["status"], 200);
    assert_eq!(call["response_body_bytes"], 3000);
    assert_eq!(call["process"]["executable"], "/usr/bin/wget");
}

const NODE_SERVER: &str = r#"
const https = require('https'), fs = require('fs');
const server = https.createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]) },
  (req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('from node\n'); });
server.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
"#;

/// Waits a little before calling, as most programs do some work after starting: the monitor
/// probes a new executable within milliseconds of its exec.
const NODE_CLIENT: &str = r#"
setTimeout(() => {
  require('https').get(process.argv[1], { rejectUnauthorized: false }, res => {
    res.resume(); res.on('end', () => console.log('status ' + res.statusCode));
  });
}, 300);
"#;

#[test]
fn node_server_and_client_with_static_openssl() {
    if !root_or_skip("node_server_and_client_with_static_openssl") {
        return;
    }
    let dir = monitor_e2e::scratch_dir("node");
    let (cert, key) = monitor_e2e::self_signed_cert(&dir);
    // Started before the monitor: found in the startup scan.
    let mut server = Command::new("node")
        .args(["-e", NODE_SERVER])
        .arg(&key)
        .arg(&cert)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting node");
    let port = read_port(&mut server);

    let monitor = Monitor::start(&[]);
    // Started after the monitor: probed right after its exec (node was already probed here, so
    // this also checks that the same file is not probed twice: one call, not two).
    let (client_pid, output) = run_client(Command::new("node").args([
        "-e",
        NODE_CLIENT,
        &format!("https://127.0.0.1:{port}/from-node"),
    ]));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "status 200");
    // And curl (dynamic libssl) to node's server.
    let (curl_pid, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        &format!("https://127.0.0.1:{port}/curl-to-node"),
    ]));
    let captured = monitor.stop();
    let _ = server.kill();
    let _ = server.wait();

    let node_path = std::fs::canonicalize("/usr/bin/node")
        .unwrap()
        .display()
        .to_string();
    let client = captured.only(client_pid, "client", "/from-node");
    assert_eq!(client["tls_library"]["name"], "openssl");
    assert_eq!(client["tls_library"]["path"], node_path.as_str());
    assert_eq!(client["status"], 200);
    for path in ["/from-node", "/curl-to-node"] {
        let served = captured.only(server.id(), "server", path);
        assert_eq!(served["tls_library"]["path"], node_path.as_str());
        assert_eq!(served["response_body_bytes"], 10);
    }
    let curl = captured.only(curl_pid, "client", "/curl-to-node");
    assert!(
        curl["tls_library"]["path"]
            .as_str()
            .unwrap()
            .contains("libssl.so")
    );
}

#[test]
fn a_library_loaded_late_is_probed_before_its_first_call() {
    if !root_or_skip("a_library_loaded_late_is_probed_before_its_first_call") {
        return;
    }
    let (dir, libssl) = monitor_e2e::openssl_1_1_libssl();
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);

    // Python loads this libssl with ctypes (dlopen) long after it started (past the scans that
    // follow an exec) and calls through it at once: the executable mmap of the library is what
    // gets it probed in time.
    let mut client = Command::new(PYTHON)
        .arg(workspace_dir().join("tests/fixtures/openssl_ctypes_client.py"))
        .arg(&libssl)
        .args([
            "127.0.0.1",
            &server.port.to_string(),
            "/late",
            "--load-late",
        ])
        .env("LD_LIBRARY_PATH", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "STARTED");
    std::thread::sleep(Duration::from_secs(3));
    client.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("LOADED OpenSSL 1.1.1"), "{line:?}");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1."), "{line:?}");
    assert!(client.wait().unwrap().success());
    let name = libssl.file_name().unwrap().to_string_lossy().into_owned();
    let captured = monitor.stop();

    let call = captured.only(client.id(), "client", "/late");
    assert_eq!(call["status"], 404);
    assert!(
        call["tls_library"]["path"]
            .as_str()
            .unwrap()
            .ends_with(&name),
        "{call:#}"
    );
}

#[test]
fn nss_client_tstclnt() {
    if !root_or_skip("nss_client_tstclnt") {
        return;
    }
    let db = monitor_e2e::scratch_dir("nssdb");
    let status = Command::new("certutil")
        .args(["-N", "--empty-password", "-d"])
        .arg(format!("sql:{}", db.display()))
        .status()
        .expect("certutil (libnss3-tools)");
    assert!(status.success());
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let mut client = Command::new("tstclnt")
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-o",
            "-o",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tstclnt (libnss3-tools)");
    // tstclnt sends what it reads on stdin (through NSPR too: that read must not count).
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    // tstclnt prints the response but does not exit when the server closes: read until the
    // chunked body's end, then stop it.
    let mut stdout = client.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(5).any(|w| w == b"0\r\n\r\n") {
                break;
            }
        }
        seen
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = client.kill();
    let _ = client.wait();
    let seen = reader.join().unwrap();
    assert!(
        String::from_utf8_lossy(&seen).contains("cccc"),
        "tstclnt got no response"
    );
    // Let the last records reach the monitor before stopping it.
    std::thread::sleep(Duration::from_millis(300));
    let captured = monitor.stop();

    let pid = output_pid(&captured, "tstclnt");
    let call = captured.only(pid, "client", "/chunked");
    assert_eq!(call["tls_library"]["name"], "nss");
    assert_eq!(call["status"], 200);
    assert_eq!(call["response_body_bytes"], 3000);
    assert_eq!(call["remote"]["port"], server.port);
    assert_eq!(
        captured.calls_of(pid).len(),
        1,
        "stdin read through NSPR is not a call"
    );
}

/// The pid of the only process with this command that made calls.
fn output_pid(captured: &Captured, command: &str) -> u32 {
    let pids: std::collections::BTreeSet<u64> = captured
        .calls
        .iter()
        .filter(|c| c["process"]["command"] == command)
        .filter_map(|c| c["process"]["pid"].as_u64())
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "{command}: {pids:?}\n{}",
        captured.all_output()
    );
    *pids.iter().next().unwrap() as u32
}

const CURL_CFFI_CLIENT: &str = r#"
import sys
from curl_cffi import requests
print("LOADED", flush=True)
sys.stdin.readline()
r = requests.get(sys.argv[1], verify=False)
print(r.status_code, len(r.content), flush=True)
"#;

#[test]
fn boringssl_inside_a_python_extension_curl_cffi() {
    if !root_or_skip("boringssl_inside_a_python_extension_curl_cffi") {
        return;
    }
    let deps = monitor_e2e::test_deps().join("curl_cffi");
    assert!(
        deps.join("curl_cffi").is_dir(),
        "curl_cffi missing in {}: run scripts/setup.sh --test",
        deps.display()
    );
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let mut client = Command::new(PYTHON)
        .args(["-c", CURL_CFFI_CLIENT, &server.url("/chunked")])
        .env("PYTHONPATH", &deps)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "LOADED");
    // Its BoringSSL is static and not exported: found by reading the extension's symbol table.
    monitor.wait_for_log("_wrapper.abi3.so", 0, Duration::from_secs(15));
    client.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "200 3000");
    assert!(client.wait().unwrap().success());
    let captured = monitor.stop();

    let call = captured.only(client.id(), "client", "/chunked");
    assert_eq!(call["tls_library"]["name"], "openssl");
    assert!(
        call["tls_library"]["path"]
            .as_str()
            .unwrap()
            .ends_with("curl_cffi/_wrapper.abi3.so")
    );
    assert_eq!(call["response_body_bytes"], 3000);
}
