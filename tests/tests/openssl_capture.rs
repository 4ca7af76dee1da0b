//! HTTPS calls through OpenSSL, captured by the real kernel programs and reported once each, on
//! the client side (curl, Python urllib, a raw Python TLS client) and on the server side (Python's
//! `http.server`, also on OpenSSL).
use std::process::Command;

use monitor_e2e::{
    Monitor, PYTHON, TlsServer, python_client, root_or_skip, run_client, scratch_dir,
};
use serde_json::Value;

fn curl(args: &[&str]) -> (u32, std::process::Output) {
    run_client(
        Command::new("curl")
            .args(["--silent", "--show-error", "--insecure", "--http1.1"])
            .args(args),
    )
}

fn assert_call(call: &Value, method: &str, host: &str, status: u64) {
    assert_eq!(call["method"], method, "{call:#}");
    assert_eq!(call["host"], host, "{call:#}");
    assert_eq!(call["status"], status, "{call:#}");
    assert_eq!(call["tls"], true, "{call:#}");
    assert_eq!(call["tls_library"]["name"], "openssl", "{call:#}");
    assert_eq!(call["complete"], true, "{call:#}");
    assert!(
        call["latency_ms"].as_f64().is_some_and(|l| l >= 0.0),
        "{call:#}"
    );
    assert!(
        call["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{call:#}"
    );
}

#[test]
fn curl_get_is_reported_once_on_client_and_server_side() {
    if !root_or_skip("curl_get_is_reported_once_on_client_and_server_side") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (curl_pid, output) = curl(&[&server.url("/hello")]);
    assert_eq!(output.stdout, b"hello world\n");
    let captured = monitor.stop();
    assert!(
        captured.exit_ok,
        "monitor exit status:\n{}",
        captured.stderr
    );

    let client = captured.only(curl_pid, "client", "/hello");
    assert_call(client, "GET", &server.host(), 200);
    assert_eq!(client["process"]["command"], "curl");
    assert_eq!(client["process"]["executable"], "/usr/bin/curl");
    assert_eq!(client["response_body_bytes"], 12);
    assert_eq!(client["request_body_bytes"], 0);
    assert!(client["request_bytes"].as_u64().unwrap() > 40, "{client:#}");

    let server_call = captured.only(server.pid(), "server", "/hello");
    assert_call(server_call, "GET", &server.host(), 200);
    assert_eq!(server_call["response_body_bytes"], 12);
    // Both sides saw the same bytes.
    assert_eq!(server_call["request_bytes"], client["request_bytes"]);
    assert_eq!(server_call["response_bytes"], client["response_bytes"]);
}

#[test]
fn keep_alive_connection_carries_three_calls() {
    if !root_or_skip("keep_alive_connection_carries_three_calls") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (curl_pid, _) = curl(&[
        &server.url("/hello"),
        &server.url("/chunked"),
        &server.url("/status/204"),
        "--head",
    ]);
    let captured = monitor.stop();

    let calls = captured.calls_of(curl_pid);
    assert_eq!(calls.len(), 3, "{calls:#?}\n{}", captured.stderr);
    let connection = &calls[0]["connection_id"];
    assert!(
        calls.iter().all(|c| &c["connection_id"] == connection),
        "curl reuses one connection for the three URLs: {calls:#?}"
    );
    // `--head` applies to all three: every request is a HEAD, whose responses have no body
    // whatever their Content-Length says.
    for (call, path, status) in [
        (calls[0], "/hello", 200),
        (calls[1], "/chunked", 200),
        (calls[2], "/status/204", 204),
    ] {
        assert_eq!(call["path"], path, "{call:#}");
        assert_call(call, "HEAD", &server.host(), status);
        assert_eq!(call["response_body_bytes"], 0, "{call:#}");
    }
    let served: Vec<_> = captured
        .calls_of(server.pid())
        .into_iter()
        .filter(|c| c["role"] == "server")
        .collect();
    assert_eq!(served.len(), 3, "{served:#?}");
}

#[test]
fn keep_alive_get_chunked_and_post_with_body() {
    if !root_or_skip("keep_alive_get_chunked_and_post_with_body") {
        return;
    }
    let server = TlsServer::start();
    let dir = scratch_dir("post");
    let body_file = dir.join("body.json");
    let body = format!("{{\"data\":\"{}\"}}", "a".repeat(4990));
    std::fs::write(&body_file, &body).unwrap();
    let monitor = Monitor::start(&[]);
    let (curl_pid, output) = curl(&[
        &server.url("/chunked"),
        "--next",
        "--insecure",
        "--http1.1",
        "--header",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", body_file.display()),
        &server.url("/echo"),
    ]);
    let received = format!("\"received\": {}", body.len());
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&received),
        "{output:?}"
    );
    let captured = monitor.stop();

    let chunked = captured.only(curl_pid, "client", "/chunked");
    assert_call(chunked, "GET", &server.host(), 200);
    assert_eq!(chunked["response_body_bytes"], 3000, "{chunked:#}");

    let post = captured.only(curl_pid, "client", "/echo");
    assert_call(post, "POST", &server.host(), 201);
    assert_eq!(post["request_body_bytes"], body.len() as u64, "{post:#}");
    assert_eq!(
        post["connection_id"], chunked["connection_id"],
        "one keep-alive connection"
    );

    let served = captured.only(server.pid(), "server", "/echo");
    assert_eq!(
        served["request_body_bytes"],
        body.len() as u64,
        "{served:#}"
    );
    assert_eq!(served["status"], 201);
}

#[test]
fn large_response_is_one_complete_call_with_its_size() {
    if !root_or_skip("large_response_is_one_complete_call_with_its_size") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let size = 1536 * 1024;
    let (curl_pid, output) = curl(&[
        &server.url("/large"),
        "--output",
        "/dev/null",
        "--write-out",
        "%{size_download}",
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), size.to_string());
    let captured = monitor.stop();

    let client = captured.only(curl_pid, "client", "/large");
    assert_call(client, "GET", &server.host(), 200);
    assert_eq!(client["response_body_bytes"], size, "{client:#}");
    let served = captured.only(server.pid(), "server", "/large");
    assert_call(served, "GET", &server.host(), 200);
    assert_eq!(served["response_body_bytes"], size, "{served:#}");
    // The server writes the body in one call: past the 16 KiB per-call cap it is not copied,
    // and that is counted rather than lost silently.
    assert!(
        captured.metric("monitor_stream_gap_bytes_total{cause=\"truncated\"}") > 1_000_000,
        "truncated bytes must be counted:\n{}",
        captured.stderr
    );
}

#[test]
fn python_urllib_client_is_reported() {
    if !root_or_skip("python_urllib_client_is_reported") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (pid, output) = run_client(
        Command::new(PYTHON)
            .arg(python_client())
            .arg("urllib")
            .arg(server.url("/hello?name=value")),
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "status=200 bytes=12"
    );
    let captured = monitor.stop();

    let call = captured.only(pid, "client", "/hello");
    assert_call(call, "GET", &server.host(), 200);
    assert_eq!(call["query_params"], serde_json::json!(["name"]));
    assert!(
        call["process"]["executable"]
            .as_str()
            .is_some_and(|e| e.contains("python")),
        "{call:#}"
    );
}

#[test]
fn request_head_written_in_several_pieces_is_one_call() {
    if !root_or_skip("request_head_written_in_several_pieces_is_one_call") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (pid, output) = run_client(Command::new(PYTHON).arg(python_client()).args([
        "split-head",
        "127.0.0.1",
        &server.port.to_string(),
        "/hello",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "HTTP/1.1 200 OK 12"
    );
    let captured = monitor.stop();

    let call = captured.only(pid, "client", "/hello");
    assert_call(call, "GET", &server.host(), 200);
    let served = captured.only(server.pid(), "server", "/hello");
    assert_eq!(served["request_bytes"], call["request_bytes"]);
}

#[test]
fn credentials_in_headers_and_query_never_reach_the_output() {
    if !root_or_skip("credentials_in_headers_and_query_never_reach_the_output") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let cookie = "session=8f14e45fceea167a5a36dedd4bea2543";
    let query_secret = "AKIAIOSFODNN7EXAMPLE";
    let (pid, _) = curl(&[
        "--header",
        &format!("Authorization: Bearer {token}"),
        "--cookie",
        cookie,
        &server.url(&format!("/hello?api_key={query_secret}")),
    ]);
    let captured = monitor.stop();

    captured.only(pid, "client", "/hello");
    let everything = captured.all_output();
    for secret in [token, "8f14e45fceea167a5a36dedd4bea2543", query_secret] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked into the output:\n{everything}"
        );
    }
}

#[test]
fn stopping_the_monitor_reports_calls_still_in_flight() {
    if !root_or_skip("stopping_the_monitor_reports_calls_still_in_flight") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let mut slow = Command::new("curl")
        .args([
            "--silent",
            "--insecure",
            "--http1.1",
            // Long enough that a monitor stopping on a loaded machine still stops first.
            &server.url("/slow?ms=10000"),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting curl");
    // Wait until the server has the request (it sleeps before answering).
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let captured = monitor.stop();
    let _ = slow.kill();
    let _ = slow.wait();
    assert!(captured.exit_ok, "{}", captured.stderr);

    let call = captured.only(slow.id(), "client", "/slow");
    assert_eq!(call["status"], Value::Null, "{call:#}");
    assert_eq!(call["complete"], false, "{call:#}");
    assert!(
        captured.stderr.contains("detaching probes"),
        "{}",
        captured.stderr
    );
}

/// One OpenSSL handle used for two connections in turn (`SSL_clear`, `SSL_set_fd`), the second
/// on the fd number the first had: each call is reported on the connection that carried it.
/// The kernel must tie the handle to the new connection (it knew the handle's connection, and
/// the fd number is the same), and userspace must take the handle's records from then on as
/// the new connection's, not keep the first one's ends.
#[test]
fn a_handle_reused_on_a_new_connection_reports_the_new_connection() {
    if !root_or_skip("a_handle_reused_on_a_new_connection_reports_the_new_connection") {
        return;
    }
    let (first, second) = (TlsServer::start(), TlsServer::start());
    let monitor = Monitor::start(&[]);
    let (client_pid, output) = run_client(
        Command::new(PYTHON)
            .arg(monitor_e2e::workspace_dir().join("tests/fixtures/tls_handle_reuse_client.py"))
            .args([first.port.to_string(), second.port.to_string()]),
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("/status/205 HTTP/1.1 205"), "{printed}");
    let captured = monitor.stop();

    for (server, paths) in [
        (&first, ["/status/201", "/status/202"]),
        (&second, ["/status/203", "/status/205"]),
    ] {
        for path in paths {
            let call = captured.only(client_pid, "client", path);
            assert_eq!(call["remote"]["port"], server.port, "{path}: {call:#}");
            assert_eq!(call["tls"], true, "{call:#}");
            let served = captured.only(server.pid(), "server", path);
            assert_eq!(served["remote"], call["local"], "{path}: {served:#}");
        }
    }
}
