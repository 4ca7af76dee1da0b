//! HTTP/2 edge cases, one monitor run:
//! - long-lived Go connections (h2c and TLS) opened **before** the monitor started: later calls
//!   are reported, `capture_start: "mid_connection"`; a field whose header refers to a table
//!   entry sent before the start is null and named in `unknown_fields`, never wrong;
//! - a 10 MiB download, then another request on the same connection (curl/nghttpd over TLS and
//!   Go h2c): exact `response_body_bytes`, the next call decoded;
//! - a stream the client resets (RST_STREAM CANCEL) mid-download;
//! - a 20 KiB request header (HEADERS + CONTINUATION);
//! - a GitHub token in an h2 `authorization` header raises the same credential alert as over
//!   HTTP/1.1, and the token appears nowhere in what the monitor prints;
//! - random bytes, and a stream that starts with the h2 preface and goes on with garbage: no calls.
use std::{process::Command, thread, time::Duration};

use monitor_e2e::{
    Monitor, PYTHON,
    h2::{
        Background, Checks, GoH2Server, Nghttpd, assert_correct_or_unknown, assert_h2_call,
        assert_h2_shape, by_stream, go_h2_client, go_h2_program, h2_calls, h2_fixture,
        http2_metrics, only_h2, pretty, run, stream_ids, summary, unknown_fields,
    },
    root_or_skip,
};
use serde_json::{Value, json};

/// A made-up token in GitHub's format (as in policy_alerts.rs).
const GITHUB_TOKEN: &str = "ghp_R2bX7kLm9QpT4vW8yZ1cD3fG5hJ6kN0sA2uE";
const TEN_MIB: u64 = 10 * 1024 * 1024;

/// `go_h2 longlived` started before the monitor: one request every 100 ms, `/h2/same` (after its
/// first request, an index into the dynamic table) and every 10th `/h2/tick?n=N` (a new literal).
struct LongLived {
    client: Background,
    authority: String,
}

impl LongLived {
    fn start(server: &GoH2Server) -> Self {
        let client = Background::start(
            Command::new(go_h2_program())
                .args(["longlived", "-interval", "100ms", "-every", "10"])
                .arg(server.base()),
        );
        client.wait_for_line(|l| l.starts_with("tick 5 "), Duration::from_secs(20));
        Self {
            client,
            authority: server.authority(),
        }
    }

    fn ticks(&self) -> u64 {
        self.client
            .lines()
            .iter()
            .filter(|l| l.starts_with("tick "))
            .count() as u64
    }
}

/// The path request number `n` of a long-lived client asked for (query stripped).
fn long_lived_path(n: u64) -> &'static str {
    if n.is_multiple_of(10) {
        "/h2/tick"
    } else {
        "/h2/same"
    }
}

/// One side of a long-lived connection: every request made while the monitor ran (`first..=last`
/// by number) reported once, on stream 2n-1; method and status exact (static table), the path
/// exact when it came as a literal, unknown when it came as an index into entries inserted before
/// the monitor started; nothing wrong.
fn assert_long_lived(calls: &[&Value], authority: &str, first: u64, last: u64, tls: bool) {
    let mut numbers = Vec::new();
    for call in calls {
        assert_h2_shape(call);
        assert_eq!(call["capture_start"], "mid_connection", "{call:#}");
        assert_eq!(call["tls"], tls, "{call:#}");
        let stream = call["stream_id"].as_u64().unwrap();
        let n = stream.div_ceil(2);
        assert!(
            n > 5,
            "request {n} was over before the monitor started: {call:#}"
        );
        numbers.push(n);
        // Method and status come from the static table: exact whenever their header block was
        // seen. The call in flight when the probes attached may have lost a read already blocked
        // in the kernel (a Go reader goroutine): its request is then unknown (named) or its
        // response absent (`complete: false`), never wrong.
        assert_correct_or_unknown(call, "method", &json!("GET"));
        if call["status"].is_null() {
            assert!(
                call["response_bytes"].is_null() && call["complete"] == false,
                "a null status is an unseen response: {call:#}"
            );
        } else {
            assert_eq!(call["status"], 200, "static table: {call:#}");
        }
        let incomplete = calls
            .iter()
            .filter(|c| c["method"].is_null() || c["status"].is_null())
            .count();
        assert!(
            incomplete <= 1,
            "only the call in flight at attach may lack its request or response:\n{}",
            summary(calls)
        );
        assert_correct_or_unknown(call, "host", &json!(authority));
        let path = long_lived_path(n);
        assert_correct_or_unknown(call, "path", &json!(path));
        if call["method"].is_null() {
            // The request in flight at attach, unseen: nothing of it is known.
            assert!(
                call["path"].is_null(),
                "an unseen request has no path: {call:#}"
            );
        } else if path == "/h2/tick" {
            assert_eq!(call["path"], path, "a literal, decodable: {call:#}");
            assert_eq!(call["query_params"], json!(["n"]), "{call:#}");
        } else {
            assert!(
                call["path"].is_null() && unknown_fields(call).iter().any(|f| f == "path"),
                "/h2/same is an index to an entry inserted before the monitor started: {call:#}"
            );
        }
    }
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        numbers.len(),
        "each request once: {numbers:?}"
    );
    for n in first..=last {
        assert!(
            sorted.contains(&n),
            "request {n} was made while the monitor ran and is not reported: {sorted:?}\n{}",
            summary(calls)
        );
    }
}

#[test]
fn http2_edge_cases() {
    if !root_or_skip("http2_edge_cases") {
        return;
    }
    let go_h2c = GoH2Server::start(false);
    let go_tls = GoH2Server::start(true);
    let nghttpd = Nghttpd::start(true);
    let (not_h2_server, not_h2_port) = Background::server(
        Command::new(PYTHON)
            .arg(h2_fixture("not_h2.py"))
            .arg("server"),
    );
    let long_h2c = LongLived::start(&go_h2c);
    let long_tls = LongLived::start(&go_tls);

    let monitor = Monitor::start(&[]);
    // Requests numbered above this started after the monitor was ready (one more for margin).
    let (h2c_first, tls_first) = (long_h2c.ticks() + 2, long_tls.ticks() + 2);
    thread::sleep(Duration::from_millis(2500));
    let (h2c_pid, tls_pid) = (long_h2c.client.pid(), long_tls.client.pid());
    let (status, lines) = long_h2c.client.terminate();
    assert!(status.success(), "{lines:?}");
    let h2c_last = lines.iter().filter(|l| l.starts_with("tick ")).count() as u64 - 1;
    let (status, lines) = long_tls.client.terminate();
    assert!(status.success(), "{lines:?}");
    let tls_last = lines.iter().filter(|l| l.starts_with("tick ")).count() as u64 - 1;

    // 10 MiB, then another request on the same connection.
    let (curl_big, _) = run(Command::new("curl").args([
        "--silent",
        "--show-error",
        "--fail",
        "--insecure",
        "--http2",
        "--output",
        "/dev/null",
        "--output",
        "/dev/null",
        &nghttpd.url("/big.bin"),
        &nghttpd.url("/a.txt"),
    ]));
    let big_path = format!("/h2/big?bytes={TEN_MIB}");
    let (go_big, out) = run(go_h2_client(&[&go_h2c.base(), &big_path, "/h2/after-big"]));
    assert!(out.contains(&format!(" {TEN_MIB}\n")), "{out}");
    // A download the client abandons: RST_STREAM CANCEL, then one more request.
    let (go_cancel, out) = run(go_h2_client(&[
        "-cancel-after",
        "100000",
        &go_h2c.base(),
        &big_path,
        "/h2/after-cancel",
    ]));
    assert!(out.contains("/h2/after-cancel"), "{out}");
    // A 20 KiB header: HEADERS then CONTINUATION frames.
    let (go_big_header, _) = run(go_h2_client(&[
        "-header-bytes",
        "20480",
        &go_h2c.base(),
        "/h2/big-header",
    ]));
    let big_header = format!("X-Big: {}", "X".repeat(20480));
    let (curl_big_header, _) = run(Command::new("curl").args([
        "--silent",
        "--show-error",
        "--fail",
        "--insecure",
        "--http2",
        "--output",
        "/dev/null",
        "--header",
        &big_header,
        &nghttpd.url("/b.txt"),
    ]));
    // The same token over HTTP/2 and HTTP/1.1, to hosts GitHub tokens do not belong to.
    let curl_token = |version: &str, host: &str| {
        run(Command::new("curl").args([
            "--silent",
            "--show-error",
            "--fail",
            "--insecure",
            version,
            "--output",
            "/dev/null",
            "--resolve",
            &format!("{host}:{}:127.0.0.1", go_tls.port),
            "--header",
            &format!("Authorization: Bearer {GITHUB_TOKEN}"),
            &format!("https://{host}:{}/h2/user", go_tls.port),
        ]))
        .0
    };
    let token_h2 = curl_token("--http2", "h2-cred.example");
    let token_h1 = curl_token("--http1.1", "h1-cred.example");
    // And in cleartext h2c, for the "never printed" check.
    run(go_h2_client(&[
        "-auth",
        &format!("token {GITHUB_TOKEN}"),
        &go_h2c.base(),
        "/h2/user",
    ]));
    // Not HTTP/2.
    let not_h2 = |mode: &str| {
        run(Command::new(PYTHON).arg(h2_fixture("not_h2.py")).args([
            "client",
            &not_h2_port.to_string(),
            mode,
        ]))
        .0
    };
    let preface_garbage = not_h2("preface");
    let random = not_h2("random");

    let metrics = monitor.scrape_metrics();
    let captured = monitor.stop();
    let mut checks = Checks::default();

    checks.check(
        "long-lived h2c connection from before the monitor: client",
        || {
            let calls = h2_calls(&captured, h2c_pid, "client");
            assert_long_lived(&calls, &long_h2c.authority, h2c_first, h2c_last, false);
        },
    );
    checks.check(
        "long-lived h2c connection from before the monitor: server",
        || {
            let calls = h2_calls(&captured, go_h2c.pid(), "server");
            let calls: Vec<_> = calls
                .into_iter()
                .filter(|c| c["capture_start"] == "mid_connection")
                .collect();
            assert_long_lived(&calls, &long_h2c.authority, h2c_first, h2c_last, false);
        },
    );
    checks.check(
        "long-lived TLS connection from before the monitor: client",
        || {
            let calls = h2_calls(&captured, tls_pid, "client");
            assert_long_lived(&calls, &long_tls.authority, tls_first, tls_last, true);
        },
    );
    checks.check(
        "long-lived TLS connection from before the monitor: server",
        || {
            let calls: Vec<_> = h2_calls(&captured, go_tls.pid(), "server")
                .into_iter()
                .filter(|c| c["capture_start"] == "mid_connection")
                .collect();
            assert_long_lived(&calls, &long_tls.authority, tls_first, tls_last, true);
        },
    );
    checks.check(
        "metrics: mid-connection starts and unknown fields are counted",
        || {
            let mid = captured
                .metric("monitor_http2_connections_total{capture_start=\"mid_connection\"}");
            assert!(mid >= 2, "{}", http2_metrics(&metrics));
            let unknown_paths =
                captured.metric("monitor_http2_hpack_unknown_total{field=\"path\"}");
            assert!(unknown_paths >= 1, "{}", http2_metrics(&metrics));
        },
    );
    let ng = nghttpd.authority();
    checks.check(
        "10 MiB over TLS (curl → nghttpd), then the next call",
        || {
            let calls = by_stream(&captured, curl_big, "client");
            assert_eq!(stream_ids(&calls), [1, 3], "{}", pretty(&calls));
            assert_h2_call(calls[0], "GET", &ng, "/big.bin", 200);
            assert_eq!(calls[0]["response_body_bytes"], TEN_MIB, "{:#}", calls[0]);
            assert_h2_call(calls[1], "GET", &ng, "/a.txt", 200);
            assert_eq!(calls[1]["response_body_bytes"], 4, "{:#}", calls[1]);
            assert_eq!(calls[0]["connection_id"], calls[1]["connection_id"]);
            let served = only_h2(&captured, nghttpd.pid(), "server", "/a.txt");
            assert_h2_call(served, "GET", &ng, "/a.txt", 200);
            assert_eq!(served["stream_id"], 3, "{served:#}");
        },
    );
    let go = go_h2c.authority();
    checks.check("10 MiB over h2c (Go), then the next call", || {
        let calls = by_stream(&captured, go_big, "client");
        assert_eq!(stream_ids(&calls), [1, 3], "{}", pretty(&calls));
        assert_h2_call(calls[0], "GET", &go, "/h2/big", 200);
        assert_eq!(calls[0]["response_body_bytes"], TEN_MIB, "{:#}", calls[0]);
        assert_h2_call(calls[1], "GET", &go, "/h2/after-big", 200);
        let served = only_h2(&captured, go_h2c.pid(), "server", "/h2/after-big");
        assert_h2_call(served, "GET", &go, "/h2/after-big", 200);
        assert_eq!(served["stream_id"], 3, "{served:#}");
    });
    checks.check(
        "a download reset by the client (RST_STREAM CANCEL), then the next call",
        || {
            for (pid, role) in [(go_cancel, "client"), (go_h2c.pid(), "server")] {
                let calls = by_stream(&captured, pid, role);
                let reset: Vec<_> = calls.iter().filter(|c| !c["reset"].is_null()).collect();
                assert_eq!(reset.len(), 1, "{role}: {}", pretty(&calls));
                let call = reset[0];
                assert_h2_shape(call);
                assert_eq!(call["path"], "/h2/big", "{call:#}");
                assert_eq!(call["status"], 200, "{call:#}");
                assert_eq!(call["complete"], false, "{call:#}");
                assert_eq!(
                    call["reset"],
                    json!({"by": "client", "error_code": 8, "error": "CANCEL"}),
                    "{call:#}"
                );
            }
            let next = only_h2(&captured, go_cancel, "client", "/h2/after-cancel");
            assert_h2_call(next, "GET", &go, "/h2/after-cancel", 200);
            assert_eq!(next["stream_id"], 3, "{next:#}");
        },
    );
    checks.check(
        "a 20 KiB request header (CONTINUATION) is decoded, both sides",
        || {
            let call = only_h2(&captured, go_big_header, "client", "/h2/big-header");
            assert_h2_call(call, "GET", &go, "/h2/big-header", 200);
            assert!(call["request_bytes"].as_u64().unwrap() > 20480, "{call:#}");
            let served = only_h2(&captured, go_h2c.pid(), "server", "/h2/big-header");
            assert_h2_call(served, "GET", &go, "/h2/big-header", 200);
            let call = only_h2(&captured, curl_big_header, "client", "/b.txt");
            assert_h2_call(call, "GET", &ng, "/b.txt", 200);
            assert!(call["request_bytes"].as_u64().unwrap() > 20480, "{call:#}");
            let served = only_h2(&captured, nghttpd.pid(), "server", "/b.txt");
            assert_h2_call(served, "GET", &ng, "/b.txt", 200);
        },
    );
    checks.check(
        "a token in an h2 authorization header: the same alert as over HTTP/1.1",
        || {
            let alert_of = |pid: u32, host: &str| {
                let alerts: Vec<_> = captured
                    .alerts_of("credential.wrong_destination")
                    .into_iter()
                    .filter(|a| a["workload"]["pid"] == pid)
                    .collect();
                assert_eq!(alerts.len(), 1, "{host}: {alerts:#?}");
                assert_eq!(alerts[0]["destination"]["host"], host, "{:#}", alerts[0]);
                alerts[0].clone()
            };
            let over_h1 = alert_of(token_h1, "h1-cred.example");
            let over_h2 = alert_of(token_h2, "h2-cred.example");
            let evidence = &over_h2["evidence"]["credential"];
            assert_eq!(evidence["kind"], "github_token", "{over_h2:#}");
            assert_eq!(
                evidence["location"],
                json!({"in": "header", "name": "authorization"}),
                "{over_h2:#}"
            );
            assert_eq!(evidence["length"], GITHUB_TOKEN.len(), "{over_h2:#}");
            assert_eq!(evidence["prefix"], "ghp_", "{over_h2:#}");
            assert_eq!(
                evidence, &over_h1["evidence"]["credential"],
                "same finding, same fingerprint"
            );
            assert_eq!(over_h2["severity"], over_h1["severity"]);
            assert_eq!(over_h2["request"]["method"], "GET");
            assert_eq!(
                over_h2["request"]["path_template"],
                over_h1["request"]["path_template"]
            );
            let call = only_h2(&captured, token_h2, "client", "/h2/user");
            assert_h2_shape(call);
            assert_eq!(
                call["host"],
                format!("h2-cred.example:{}", go_tls.port),
                "{call:#}"
            );
        },
    );
    checks.check(
        "the raw token appears nowhere in the monitor's output",
        || {
            assert!(!captured.all_output().contains(GITHUB_TOKEN));
            // Nor its secret part alone.
            assert!(!captured.all_output().contains(&GITHUB_TOKEN[4..]));
        },
    );
    checks.check("random bytes and a false preface are not calls", || {
        for pid in [preface_garbage, random, not_h2_server.pid()] {
            let calls = captured.calls_of(pid);
            assert!(calls.is_empty(), "pid {pid}: {}", pretty(&calls));
        }
    });
    checks.finish(&captured);
}
