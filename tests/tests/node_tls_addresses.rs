//! Addresses for node's TLS calls. Node's OpenSSL (linked into the `node` binary) works over
//! memory BIOs: libuv reads the ciphertext before `SSL_read` is called and writes it after
//! `SSL_write` returns, so no socket I/O happens inside the probed calls. The kernel ties each
//! `SSL*` to its socket by the ciphertext the same thread reads just before (or writes just
//! after) the call. Every call of a node process must then carry both ends' addresses, and the
//! two sides of one connection must agree (the client's local end is the server's remote end).
//!
//! Real programs on loopback: a node https server and a node https client (keep-alive reuse
//! and a second connection), a node client against Python's server (dynamic libssl), curl
//! against a node server, a node keep-alive connection made before the monitor started (its
//! client is tied by the ciphertext written after `SSL_write`, the call held for the tie), and
//! both ends in one node process (one thread interleaving two connections' ciphertext).
use std::{
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::{Child, Command, Stdio},
};

use monitor_e2e::{Captured, Monitor, TlsServer, read_port, root_or_skip, run_client};
use serde_json::Value;

/// Answers every request with a small body, after reading the request body. Exits after
/// `argv[3]` ms (it is killed at the end of the test anyway).
const NODE_SERVER: &str = r#"
const https = require('https'), fs = require('fs');
const server = https.createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]) },
  (req, res) => {
    let n = 0;
    req.on('data', d => n += d.length);
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('got ' + n + '\n'); });
  });
server.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
"#;

/// `node -e NODE_CLIENT URL_BASE COUNT`: COUNT requests in sequence on one keep-alive
/// connection (GET and POST alternately, paths /keepalive/0..), then three more, each on a
/// connection of its own that closes at once (/fresh/0..): short connections whose fds the
/// next ones reuse. Waits a little first: the monitor probes a new executable within
/// milliseconds of its exec, and the calls must come after that.
const NODE_CLIENT: &str = r#"
const https = require('https');
const base = new URL(process.argv[1]);
const count = +process.argv[2];
function call(path, agent, post) {
  return new Promise((ok, fail) => {
    const req = https.request({ host: base.hostname, port: base.port, path, method: post ? 'POST' : 'GET',
                                rejectUnauthorized: false, agent }, res => {
      res.resume();
      res.on('end', () => ok(res.statusCode));
    });
    req.on('error', fail);
    if (post) {
      const body = JSON.stringify({ n: path });
      req.setHeader('content-length', Buffer.byteLength(body));
      req.write(body);
    }
    req.end();
  });
}
setTimeout(async () => {
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < count; i++) {
    const status = await call('/keepalive/' + i, keepAlive, i % 2 === 1);
    if (status >= 500) throw new Error('status ' + status);
  }
  keepAlive.destroy();
  for (let i = 0; i < 3; i++) await call('/fresh/' + i, new https.Agent({ keepAlive: false }), false);
  // Let the monitor read this process's sockets before it exits.
  setTimeout(() => console.log('done'), 300);
}, 500);
"#;

/// The Python fixture server's routes (GET /hello, POST /echo).
const NODE_TO_PYTHON: &str = r#"
const https = require('https');
const base = process.argv[1];
function call(path, post) {
  return new Promise((ok, fail) => {
    const req = https.request(base + path, { method: post ? 'POST' : 'GET', rejectUnauthorized: false,
                                              agent: agent }, res => { res.resume(); res.on('end', ok); });
    req.on('error', fail);
    if (post) req.setHeader('content-length', 7), req.write('{"a":1}');
    req.end();
  });
}
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
setTimeout(async () => {
  await call('/hello', false);
  await call('/echo', true);
  await call('/hello', false);
  agent.destroy();
  setTimeout(() => console.log('done'), 300);
}, 500);
"#;

/// One call on a keep-alive connection, then `READY`; on a line on stdin, two more calls on the
/// same connection, then `done`.
const NODE_CLIENT_ACROSS_START: &str = r#"
const https = require('https');
const base = new URL(process.argv[1]);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
function call(path) {
  return new Promise((ok, fail) => {
    https.get({ host: base.hostname, port: base.port, path, rejectUnauthorized: false, agent },
      res => { res.resume(); res.on('end', ok); }).on('error', fail);
  });
}
(async () => {
  await call('/before');
  console.log('READY');
  process.stdin.once('data', async () => {
    await call('/after/0');
    await call('/after/1');
    agent.destroy();
    setTimeout(() => { console.log('done'); process.exit(0); }, 300);
  });
})();
"#;

struct NodeServer {
    child: Child,
    port: u16,
}

impl NodeServer {
    fn start(dir: &Path) -> Self {
        let (cert, key) = monitor_e2e::self_signed_cert(dir);
        let mut child = Command::new("node")
            .args(["-e", NODE_SERVER])
            .arg(&key)
            .arg(&cert)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting node");
        let port = read_port(&mut child);
        Self { child, port }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A call's end as `ip:port` (panics, with the call, when it is null).
fn end(call: &Value, which: &str) -> String {
    let e = &call[which];
    assert!(
        e.is_object(),
        "{which} is null in a call of {}:\n{call:#}",
        call["process"]["command"]
    );
    format!("{}:{}", e["ip"].as_str().unwrap(), e["port"])
}

/// Every call of `pid` has both ends; returns them.
fn all_with_addresses<'a>(captured: &'a Captured, pid: u32, what: &str) -> Vec<&'a Value> {
    let calls = captured.calls_of(pid);
    assert!(
        !calls.is_empty(),
        "no calls of the {what} (pid {pid}):\n{}",
        captured.all_output()
    );
    for call in &calls {
        end(call, "local");
        end(call, "remote");
    }
    calls
}

/// The one call of `pid` on `role` side to `path`, and its (local, remote).
fn ends(captured: &Captured, pid: u32, role: &str, path: &str) -> (String, String) {
    let call = captured.only(pid, role, path);
    (end(call, "local"), end(call, "remote"))
}

/// The client's view of a call and the server's view of the same call are the two ends of one
/// connection.
fn assert_same_connection(captured: &Captured, client: u32, server: u32, path: &str) {
    let (client_local, client_remote) = ends(captured, client, "client", path);
    let (server_local, server_remote) = ends(captured, server, "server", path);
    assert_eq!(client_local, server_remote, "{path}: client's local end");
    assert_eq!(client_remote, server_local, "{path}: client's remote end");
}

/// A call's end, `None` when null: a short-lived peer's own address can be unknown (it is
/// looked up in `/proc`, which the process may have left before the monitor looked), which is
/// not what these tests are about.
fn end_if_known(call: &Value, which: &str) -> Option<String> {
    call[which].is_object().then(|| {
        format!(
            "{}:{}",
            call[which]["ip"].as_str().unwrap(),
            call[which]["port"]
        )
    })
}

#[test]
fn node_client_and_node_server_both_ends_and_they_agree() {
    if !root_or_skip("node_client_and_node_server_both_ends_and_they_agree") {
        return;
    }
    const KEEPALIVE_CALLS: usize = 4;
    const FRESH: usize = 3;
    let dir = monitor_e2e::scratch_dir("node-addresses");
    // Started before the monitor (probed from the startup scan); its connections all come after.
    let server = NodeServer::start(&dir);
    let monitor = Monitor::start(&[]);
    let (client, output) = run_client(Command::new("node").args([
        "-e",
        NODE_CLIENT,
        &format!("https://127.0.0.1:{}", server.port),
        &KEEPALIVE_CALLS.to_string(),
    ]));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "done");
    let captured = monitor.stop();

    let client_calls = all_with_addresses(&captured, client, "node client");
    let server_calls = all_with_addresses(&captured, server.pid(), "node server");
    assert_eq!(client_calls.len(), KEEPALIVE_CALLS + FRESH, "client calls");
    assert_eq!(server_calls.len(), KEEPALIVE_CALLS + FRESH, "server calls");
    let mut paths: Vec<String> = (0..KEEPALIVE_CALLS)
        .map(|i| format!("/keepalive/{i}"))
        .collect();
    paths.extend((0..FRESH).map(|i| format!("/fresh/{i}")));
    for path in &paths {
        assert_same_connection(&captured, client, server.pid(), path);
        let (_, remote) = ends(&captured, client, "client", path);
        assert_eq!(remote, format!("127.0.0.1:{}", server.port));
    }
    // Keep-alive: the first calls share one connection (same local port); each fresh call has
    // its own (the last keep-alive one is in the list to tell it from them).
    let first = ends(&captured, client, "client", "/keepalive/0").0;
    for path in &paths[1..KEEPALIVE_CALLS] {
        assert_eq!(ends(&captured, client, "client", path).0, first, "{path}");
    }
    let mut locals: Vec<String> = paths[KEEPALIVE_CALLS - 1..]
        .iter()
        .map(|path| ends(&captured, client, "client", path).0)
        .collect();
    locals.sort();
    locals.dedup();
    assert_eq!(locals.len(), FRESH + 1, "one connection per fresh call");
    for call in client_calls.iter().chain(&server_calls) {
        assert_eq!(call["tls"], true, "{call:#}");
        assert_eq!(call["tls_library"]["name"], "openssl", "{call:#}");
        assert_eq!(call["status"], 200, "{call:#}");
    }
}

#[test]
fn node_client_against_python_server() {
    if !root_or_skip("node_client_against_python_server") {
        return;
    }
    let server = TlsServer::start();
    // The node binary probed from the startup scan (as the other tests' node servers make it),
    // so that the client's calls do not race its probing: that is not what this test is about.
    let _idle = NodeServer::start(&monitor_e2e::scratch_dir("node-addresses-idle"));
    let monitor = Monitor::start(&[]);
    let (client, output) = run_client(Command::new("node").args([
        "-e",
        NODE_TO_PYTHON,
        &format!("https://127.0.0.1:{}", server.port),
    ]));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "done");
    let captured = monitor.stop();

    let calls = all_with_addresses(&captured, client, "node client");
    assert_eq!(calls.len(), 3, "node client calls");
    let local = end(calls[0], "local");
    for call in &calls {
        assert_eq!(end(call, "remote"), format!("127.0.0.1:{}", server.port));
        // One keep-alive connection.
        assert_eq!(end(call, "local"), local);
    }
    // Python's server (libssl does its socket I/O inside SSL_read/SSL_write) sees the same
    // connection from the other end.
    let served = captured.only(server.pid(), "server", "/echo");
    assert_eq!(end(served, "remote"), local);
    if let Some(server_local) = end_if_known(served, "local") {
        assert_eq!(server_local, format!("127.0.0.1:{}", server.port));
    }
}

#[test]
fn curl_client_against_node_server() {
    if !root_or_skip("curl_client_against_node_server") {
        return;
    }
    let dir = monitor_e2e::scratch_dir("node-addresses-curl");
    let server = NodeServer::start(&dir);
    let monitor = Monitor::start(&[]);
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", server.port);
    // Two requests on one connection, then a POST on another.
    let (curl_keepalive, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        &url("/curl/1"),
        "--output",
        "/dev/null",
        &url("/curl/2"),
    ]));
    let (curl_post, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        "--data",
        "a=1",
        &url("/curl/post"),
    ]));
    let captured = monitor.stop();

    let served = all_with_addresses(&captured, server.pid(), "node server");
    assert_eq!(served.len(), 3, "node server calls");
    for (curl, path) in [
        (curl_keepalive, "/curl/1"),
        (curl_keepalive, "/curl/2"),
        (curl_post, "/curl/post"),
    ] {
        let (server_local, server_remote) = ends(&captured, server.pid(), "server", path);
        assert_eq!(server_local, format!("127.0.0.1:{}", server.port), "{path}");
        let call = captured.only(curl, "client", path);
        assert_eq!(
            end(call, "remote"),
            server_local,
            "{path}: curl's remote end"
        );
        if let Some(curl_local) = end_if_known(call, "local") {
            assert_eq!(curl_local, server_remote, "{path}: curl's local end");
        }
    }
    assert_eq!(
        ends(&captured, server.pid(), "server", "/curl/1"),
        ends(&captured, server.pid(), "server", "/curl/2"),
        "curl reused its connection"
    );
}

/// A connection made before the monitor started (recovered from `/proc`): the client's first
/// call on it is an `SSL_write` with no socket tie yet and no ciphertext read before it, so it is
/// tied by the ciphertext write that follows it (an `SSL_TIE` record the call is held for); the
/// server's by the ciphertext read before its `SSL_read`.
#[test]
fn a_connection_older_than_the_monitor_is_tied_by_its_next_ciphertext() {
    if !root_or_skip("a_connection_older_than_the_monitor_is_tied_by_its_next_ciphertext") {
        return;
    }
    let dir = monitor_e2e::scratch_dir("node-addresses-recovered");
    let server = NodeServer::start(&dir);
    let mut client = Command::new("node")
        .args(["-e", NODE_CLIENT_ACROSS_START])
        .arg(format!("https://127.0.0.1:{}", server.port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting node");
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY");

    let monitor = Monitor::start(&[]);
    client.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "done");
    assert!(client.wait().unwrap().success());
    let captured = monitor.stop();

    let client_calls = all_with_addresses(&captured, client.id(), "node client");
    assert_eq!(client_calls.len(), 2, "calls after the monitor started");
    for path in ["/after/0", "/after/1"] {
        assert_same_connection(&captured, client.id(), server.pid(), path);
    }
    assert_eq!(
        ends(&captured, client.id(), "client", "/after/0"),
        ends(&captured, client.id(), "client", "/after/1"),
        "one keep-alive connection"
    );
    // The client's first call waited for its tie and got it (host-wide counter: other
    // processes can only add to it).
    assert!(
        captured.metric("monitor_tls_socket_ties_total{outcome=\"tied\"}") >= 1,
        "{}",
        captured.stderr
    );
}

/// Server and client in one node process, on its one event-loop thread: the ciphertext reads and
/// writes of both ends of each connection interleave on that thread, and each `SSL*` must still
/// be tied to its own socket.
const NODE_BOTH_ENDS: &str = r#"
const https = require('https'), fs = require('fs');
const server = https.createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]) },
  (req, res) => { res.writeHead(200); res.end('same process\n'); });
server.listen(0, '127.0.0.1', () => setTimeout(async () => {
  const port = server.address().port;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 2 });
  const call = path => new Promise((ok, fail) => https.get({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent },
    res => { res.resume(); res.on('end', ok); }).on('error', fail));
  // Two connections at once, then keep-alive reuse.
  await Promise.all([call('/one/0'), call('/two/0')]);
  await Promise.all([call('/one/1'), call('/two/1')]);
  agent.destroy();
  setTimeout(() => { console.log('done'); server.close(); }, 300);
}, 500));
"#;

#[test]
fn client_and_server_on_one_node_thread() {
    if !root_or_skip("client_and_server_on_one_node_thread") {
        return;
    }
    let dir = monitor_e2e::scratch_dir("node-addresses-one-thread");
    let (cert, key) = monitor_e2e::self_signed_cert(&dir);
    let _idle = NodeServer::start(&monitor_e2e::scratch_dir("node-addresses-idle-2"));
    let monitor = Monitor::start(&[]);
    let (pid, output) = run_client(
        Command::new("node")
            .args(["-e", NODE_BOTH_ENDS])
            .arg(&key)
            .arg(&cert),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "done");
    let captured = monitor.stop();

    let calls = all_with_addresses(&captured, pid, "node process");
    assert_eq!(calls.len(), 8, "four calls, each seen by both ends");
    for path in ["/one/0", "/two/0", "/one/1", "/two/1"] {
        assert_same_connection(&captured, pid, pid, path);
    }
}
