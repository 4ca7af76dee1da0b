//! HTTP/2 in cleartext (h2c), read from the sockets, one monitor run: curl with prior knowledge
//! and h2load to `nghttpd --no-tls`, curl's `Upgrade: h2c` to a server on PyPI `h2` (the request
//! that carried the Upgrade becomes stream 1), and a Go client and server (`http.Protocols`
//! `SetUnencryptedHTTP2`). Every request is reported exactly once per traced side.
use std::process::Command;

use monitor_e2e::{
    Monitor,
    h2::{
        Background, Checks, GoH2Server, Nghttpd, assert_h2_call, assert_h2_shape, assert_h2load,
        by_stream, go_h2_client, h2_calls, h2_python, http2_metrics, only_h2, pretty, run,
        stream_ids,
    },
    root_or_skip,
};
use serde_json::Value;

fn assert_plain(call: &Value, capture_start: &str) {
    assert_eq!(call["tls"], false, "{call:#}");
    assert!(call["tls_library"].is_null(), "{call:#}");
    assert_eq!(call["capture_start"], capture_start, "{call:#}");
}

#[test]
fn h2c_prior_knowledge_and_upgrade_each_call_once_per_side() {
    if !root_or_skip("h2c_prior_knowledge_and_upgrade_each_call_once_per_side") {
        return;
    }
    let nghttpd = Nghttpd::start(false);
    let go_server = GoH2Server::start(false);
    let (upgrade_server, upgrade_port) = Background::server(&mut h2_python("upgrade_server.py"));
    let monitor = Monitor::start(&[]);

    // curl 7.88 fails to reuse a prior-knowledge connection: one URL per curl.
    let curl_prior = |path: &str| {
        run(Command::new("curl").args([
            "--silent",
            "--show-error",
            "--fail",
            "--http2-prior-knowledge",
            "--output",
            "/dev/null",
            &nghttpd.url(path),
        ]))
        .0
    };
    let curl_a = curl_prior("/a.txt");
    let curl_b = curl_prior("/b.txt?x=1");
    let (h2load_pid, h2load_out) = run(Command::new("h2load").args([
        "-n",
        "200",
        "-c",
        "2",
        "-m",
        "5",
        &nghttpd.url("/load.txt"),
    ]));
    assert!(h2load_out.contains("200 succeeded"), "h2load: {h2load_out}");
    // `curl --http2 http://`: the first request asks for the upgrade; the others follow on
    // streams 3 and 5 of the same connection.
    let upgrade_url = |path: &str| format!("http://127.0.0.1:{upgrade_port}{path}");
    let (upgrade_curl, out) = run(Command::new("curl").args([
        "--silent",
        "--show-error",
        "--http2",
        &upgrade_url("/up/one"),
        &upgrade_url("/up/two?x=1"),
        &upgrade_url("/status/404"),
    ]));
    assert!(out.contains("\"stream\": 5"), "curl upgraded: {out}");
    let go_base = go_server.base();
    let (go_get_pid, out) = run(go_h2_client(&[
        &go_base,
        "/h2/c-a",
        "/h2/c-b?x=1",
        "/h2/status/404",
    ]));
    assert!(out.contains("status 404 HTTP/2.0"), "{out}");
    let (go_post_pid, _) = run(go_h2_client(&["-body", "3000", &go_base, "/h2/c-post"]));

    let metrics = monitor.scrape_metrics();
    let captured = monitor.stop();
    let mut checks = Checks::default();
    let ng = nghttpd.authority();

    checks.check("curl --http2-prior-knowledge to nghttpd --no-tls", || {
        for (pid, path, body) in [(curl_a, "/a.txt", 4), (curl_b, "/b.txt", 5)] {
            let calls = h2_calls(&captured, pid, "client");
            assert_eq!(calls.len(), 1, "{}", pretty(&calls));
            let call = calls[0];
            assert_h2_call(call, "GET", &ng, path, 200);
            assert_plain(call, "preface");
            assert_eq!(call["stream_id"], 1, "{call:#}");
            assert_eq!(call["response_body_bytes"], body, "{call:#}");
            let served = only_h2(&captured, nghttpd.pid(), "server", path);
            assert_h2_call(served, "GET", &ng, path, 200);
            assert_plain(served, "preface");
            // nghttpd accepts without a peer-address buffer, and curl's connection is over
            // within milliseconds: either end's address can be gone before userspace reads
            // /proc. It is then unknown (null), never wrong.
            if !served["remote"].is_null() && !call["local"].is_null() {
                assert_eq!(served["remote"], call["local"], "{served:#}");
            }
        }
    });
    checks.check(
        "h2load h2c: exactly 200 calls per side, 100 per connection",
        || {
            let calls = by_stream(&captured, h2load_pid, "client");
            assert_h2load(&calls, &ng, 200, 2);
            let served: Vec<_> = by_stream(&captured, nghttpd.pid(), "server")
                .into_iter()
                .filter(|c| c["path"] == "/load.txt")
                .collect();
            assert_h2load(&served, &ng, 200, 2);
        },
    );
    let up = format!("127.0.0.1:{upgrade_port}");
    checks.check(
        "curl --http2 http:// (Upgrade: h2c): stream 1 is the upgraded request, once",
        || {
            for (pid, role) in [(upgrade_curl, "client"), (upgrade_server.pid(), "server")] {
                // Everything this process printed: the HTTP/1.1 request that asked for the upgrade
                // is not reported as a call of its own.
                let all = captured.calls_of(pid);
                assert_eq!(all.len(), 3, "{role}: {}", pretty(&all));
                let calls = by_stream(&captured, pid, role);
                assert_eq!(stream_ids(&calls), [1, 3, 5], "{role}: {}", pretty(&calls));
                for (call, path, status) in [
                    (calls[0], "/up/one", 200),
                    (calls[1], "/up/two", 200),
                    (calls[2], "/status/404", 404),
                ] {
                    assert_h2_call(call, "GET", &up, path, status);
                    assert_plain(call, "upgrade");
                    assert_eq!(call["connection_id"], calls[0]["connection_id"], "{call:#}");
                }
                // Stream 1's request is the HTTP/1.1 one; its response came in HTTP/2 frames.
                assert_eq!(calls[0]["response_body_bytes"], 33, "{:#}", calls[0]);
            }
        },
    );
    let go = go_server.authority();
    checks.check("Go h2c client and server: both sides", || {
        let calls = by_stream(&captured, go_get_pid, "client");
        assert_eq!(stream_ids(&calls), [1, 3, 5], "{}", pretty(&calls));
        for (call, path, status) in [
            (calls[0], "/h2/c-a", 200),
            (calls[1], "/h2/c-b", 200),
            (calls[2], "/h2/status/404", 404),
        ] {
            assert_h2_call(call, "GET", &go, path, status);
            assert_plain(call, "preface");
        }
        let post = only_h2(&captured, go_post_pid, "client", "/h2/c-post");
        assert_h2_call(post, "POST", &go, "/h2/c-post", 201);
        assert_eq!(post["request_body_bytes"], 3000, "{post:#}");
        let served = h2_calls(&captured, go_server.pid(), "server");
        assert_eq!(served.len(), 4, "{}", pretty(&served));
        for (path, method, status) in [
            ("/h2/c-a", "GET", 200),
            ("/h2/c-b", "GET", 200),
            ("/h2/status/404", "GET", 404),
            ("/h2/c-post", "POST", 201),
        ] {
            let call = only_h2(&captured, go_server.pid(), "server", path);
            assert_h2_call(call, method, &go, path, status);
            assert_plain(call, "preface");
        }
    });
    checks.check(
        "every call of these programs is HTTP/2 and well-formed",
        || {
            for pid in [
                curl_a,
                curl_b,
                h2load_pid,
                upgrade_curl,
                go_get_pid,
                go_post_pid,
                nghttpd.pid(),
                go_server.pid(),
                upgrade_server.pid(),
            ] {
                for call in captured.calls_of(pid) {
                    assert_h2_shape(call);
                }
            }
        },
    );
    checks.check("metrics: connections by how capture started", || {
        // Client sides alone: 2 curl + 2 h2load + 2 Go from the preface, 1 upgrade.
        let preface = captured.metric("monitor_http2_connections_total{capture_start=\"preface\"}");
        assert!(preface >= 6, "{}", http2_metrics(&metrics));
        let upgrade = captured.metric("monitor_http2_connections_total{capture_start=\"upgrade\"}");
        assert!(upgrade >= 1, "{}", http2_metrics(&metrics));
    });
    checks.finish(&captured);
}
