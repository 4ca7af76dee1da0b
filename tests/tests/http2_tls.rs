//! HTTP/2 over TLS, one monitor run for every pair of real programs (all connections seen from
//! their preface): curl and nghttp/h2load (libssl) to nghttpd (libssl), a Go client and server
//! (crypto/tls), httpx to hypercorn (Python on libssl), node's http2 client and server (OpenSSL
//! inside node). Every request is reported exactly once per traced side, as `HTTP/2`, with its
//! stream id, method, `:authority`, path (query stripped), status and body sizes.
use std::process::Command;

use monitor_e2e::{
    Monitor,
    h2::{
        Background, Checks, GoH2Server, Nghttpd, assert_h2_call, assert_h2_shape, assert_h2load,
        by_stream, go_h2_client, h2_calls, h2_node, h2_python, http2_metrics, only_h2, pretty, run,
        stream_ids,
    },
    root_or_skip, scratch_dir, self_signed_cert,
};
use serde_json::Value;

fn assert_tls(call: &Value, library: &str) {
    assert_eq!(call["tls"], true, "{call:#}");
    assert_eq!(call["tls_library"]["name"], library, "{call:#}");
    assert_eq!(call["capture_start"], "preface", "{call:#}");
}

#[test]
fn http2_over_tls_each_call_once_per_side() {
    if !root_or_skip("http2_over_tls_each_call_once_per_side") {
        return;
    }
    // Servers first (found by the monitor's startup scan), clients after the monitor is ready.
    let nghttpd = Nghttpd::start(true);
    let go_server = GoH2Server::start(true);
    let dir = scratch_dir("h2-tls");
    let (cert, key) = self_signed_cert(&dir);
    let (hypercorn, hypercorn_port) =
        Background::server(h2_python("hypercorn_server.py").arg(&cert).arg(&key));
    let (node_server, node_port) =
        Background::server(h2_node("node_h2.js").arg("server").arg(&cert).arg(&key));
    let monitor = Monitor::start(&[]);

    // curl: three URLs multiplexed on one connection (streams 1, 3, 5).
    let (curl_pid, _) = run(Command::new("curl").args([
        "--silent",
        "--show-error",
        "--fail",
        "--insecure",
        "--http2",
        "--output",
        "/dev/null",
        "--output",
        "/dev/null",
        "--output",
        "/dev/null",
        &nghttpd.url("/a.txt"),
        &nghttpd.url("/b.txt?x=1"),
        &nghttpd.url("/c.txt"),
    ]));
    // nghttp: PRIORITY frames on idle streams 3..11 first, the five requests on 13..21.
    let (nghttp_pid, _) =
        run(Command::new("nghttp").args(["-n", "-m", "5", &nghttpd.url("/c.txt")]));
    // h2load: 200 requests, 2 connections, 5 streams at a time.
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
    // Go: GETs on one connection, then a POST on another.
    let go_base = go_server.base();
    let (go_get_pid, out) = run(go_h2_client(&[
        &go_base,
        "/h2/go-a",
        "/h2/go-b?x=1",
        "/h2/status/404",
    ]));
    assert!(out.contains("status 404 HTTP/2.0"), "{out}");
    let (go_post_pid, _) = run(go_h2_client(&["-body", "3000", &go_base, "/h2/go-post"]));
    // httpx to hypercorn.
    let py_base = format!("https://127.0.0.1:{hypercorn_port}");
    let (httpx_pid, out) =
        run(h2_python("httpx_client.py").args([&py_base, "/py/a", "/py/b?q=1", "/status/404"]));
    assert!(out.contains("status 404 HTTP/2"), "{out}");
    let (httpx_post_pid, _) =
        run(h2_python("httpx_client.py").args([&py_base, "/py/post", "--post", "5000"]));
    // node to node.
    let node_base = format!("https://127.0.0.1:{node_port}");
    let (node_pid, out) = run(h2_node("node_h2.js").args([
        "client",
        &node_base,
        "/node/a",
        "/node/b?x=1",
        "/status/503",
    ]));
    assert!(out.contains("status 503"), "{out}");

    let metrics = monitor.scrape_metrics();
    let captured = monitor.stop();
    let mut checks = Checks::default();
    let ng = nghttpd.authority();

    checks.check("curl --http2 to nghttpd: 3 calls, streams 1/3/5", || {
        let calls = by_stream(&captured, curl_pid, "client");
        assert_eq!(stream_ids(&calls), [1, 3, 5], "{}", pretty(&calls));
        for (call, path, body) in [
            (calls[0], "/a.txt", 4),
            (calls[1], "/b.txt", 5),
            (calls[2], "/c.txt", 6),
        ] {
            assert_h2_call(call, "GET", &ng, path, 200);
            assert_tls(call, "openssl");
            assert_eq!(call["response_body_bytes"], body, "{call:#}");
            assert_eq!(call["request_body_bytes"], 0, "{call:#}");
            assert_eq!(
                call["connection_id"], calls[0]["connection_id"],
                "one connection"
            );
        }
        assert_eq!(calls[1]["query_params"], serde_json::json!(["x"]));
    });
    checks.check("nghttpd serves curl's 3 calls", || {
        for (path, stream) in [("/a.txt", 1), ("/b.txt", 3)] {
            let served = only_h2(&captured, nghttpd.pid(), "server", path);
            assert_h2_call(served, "GET", &ng, path, 200);
            assert_tls(served, "openssl");
            assert_eq!(served["stream_id"], stream, "{served:#}");
        }
    });
    checks.check(
        "nghttp -n -m 5: 5 calls on streams 13..21, none for PRIORITY-only streams",
        || {
            let calls = by_stream(&captured, nghttp_pid, "client");
            assert_eq!(
                stream_ids(&calls),
                [13, 15, 17, 19, 21],
                "{}",
                pretty(&calls)
            );
            for call in &calls {
                assert_h2_call(call, "GET", &ng, "/c.txt", 200);
                assert_tls(call, "openssl");
                assert_eq!(call["response_body_bytes"], 6, "{call:#}");
            }
        },
    );
    checks.check(
        "nghttpd serves /c.txt 6 times (curl once, nghttp 5 times)",
        || {
            let served: Vec<_> = h2_calls(&captured, nghttpd.pid(), "server")
                .into_iter()
                .filter(|c| c["path"] == "/c.txt")
                .collect();
            assert_eq!(served.len(), 6, "{}", pretty(&served));
            let mut ids = stream_ids(&served);
            ids.sort_unstable();
            assert_eq!(ids, [5, 13, 15, 17, 19, 21]);
        },
    );
    checks.check("h2load TLS: exactly 200 calls, 100 per connection", || {
        let calls = by_stream(&captured, h2load_pid, "client");
        assert_h2load(&calls, &ng, 200, 2);
        let served: Vec<_> = by_stream(&captured, nghttpd.pid(), "server")
            .into_iter()
            .filter(|c| c["path"] == "/load.txt")
            .collect();
        assert_h2load(&served, &ng, 200, 2);
    });
    let go = go_server.authority();
    checks.check(
        "Go client (crypto/tls): GETs on one connection, a POST",
        || {
            let calls = by_stream(&captured, go_get_pid, "client");
            assert_eq!(stream_ids(&calls), [1, 3, 5], "{}", pretty(&calls));
            for (call, path, status) in [
                (calls[0], "/h2/go-a", 200),
                (calls[1], "/h2/go-b", 200),
                (calls[2], "/h2/status/404", 404),
            ] {
                assert_h2_call(call, "GET", &go, path, status);
                assert_tls(call, "go");
            }
            let post = only_h2(&captured, go_post_pid, "client", "/h2/go-post");
            assert_h2_call(post, "POST", &go, "/h2/go-post", 201);
            assert_tls(post, "go");
            assert_eq!(post["request_body_bytes"], 3000, "{post:#}");
        },
    );
    checks.check("Go server (crypto/tls): each call once", || {
        let calls = h2_calls(&captured, go_server.pid(), "server");
        assert_eq!(calls.len(), 4, "{}", pretty(&calls));
        for (path, method, status) in [
            ("/h2/go-a", "GET", 200),
            ("/h2/go-b", "GET", 200),
            ("/h2/status/404", "GET", 404),
            ("/h2/go-post", "POST", 201),
        ] {
            let served = only_h2(&captured, go_server.pid(), "server", path);
            assert_h2_call(served, method, &go, path, status);
            assert_tls(served, "go");
        }
        let post = only_h2(&captured, go_server.pid(), "server", "/h2/go-post");
        assert_eq!(post["request_body_bytes"], 3000, "{post:#}");
        assert_eq!(post["stream_id"], 1, "{post:#}");
    });
    let py = format!("127.0.0.1:{hypercorn_port}");
    checks.check("httpx to hypercorn: both sides", || {
        for (pid, role) in [(httpx_pid, "client"), (hypercorn.pid(), "server")] {
            for (path, status) in [("/py/a", 200), ("/py/b", 200), ("/status/404", 404)] {
                let call = only_h2(&captured, pid, role, path);
                assert_h2_call(call, "GET", &py, path, status);
                assert_tls(call, "openssl");
            }
        }
        let calls = by_stream(&captured, httpx_pid, "client");
        assert_eq!(stream_ids(&calls), [1, 3, 5], "{}", pretty(&calls));
        for (pid, role) in [(httpx_post_pid, "client"), (hypercorn.pid(), "server")] {
            let post = only_h2(&captured, pid, role, "/py/post");
            assert_h2_call(post, "POST", &py, "/py/post", 201);
            assert_eq!(post["request_body_bytes"], 5000, "{post:#}");
        }
    });
    let nd = format!("127.0.0.1:{node_port}");
    checks.check("node http2 client and server: both sides", || {
        for (pid, role) in [(node_pid, "client"), (node_server.pid(), "server")] {
            let calls = by_stream(&captured, pid, role);
            assert_eq!(stream_ids(&calls), [1, 3, 5], "{role}: {}", pretty(&calls));
            for (call, path, status) in [
                (calls[0], "/node/a", 200),
                (calls[1], "/node/b", 200),
                (calls[2], "/status/503", 503),
            ] {
                assert_h2_call(call, "GET", &nd, path, status);
                assert_tls(call, "openssl");
            }
        }
    });
    checks.check(
        "every call of these programs is HTTP/2 and well-formed",
        || {
            let pids = [
                curl_pid,
                nghttp_pid,
                h2load_pid,
                go_get_pid,
                go_post_pid,
                httpx_pid,
                httpx_post_pid,
                node_pid,
                nghttpd.pid(),
                go_server.pid(),
                hypercorn.pid(),
                node_server.pid(),
            ];
            for pid in pids {
                for call in captured.calls_of(pid) {
                    assert_h2_shape(call);
                }
            }
        },
    );
    checks.check("metrics: connections from their preface", || {
        // At least the client side of curl, nghttp, h2load (2), Go (2), httpx (2), node.
        let from_preface =
            captured.metric("monitor_http2_connections_total{capture_start=\"preface\"}");
        assert!(from_preface >= 9, "{}", http2_metrics(&metrics));
    });
    checks.finish(&captured);
    drop((hypercorn, node_server));
}
