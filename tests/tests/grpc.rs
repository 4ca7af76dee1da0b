//! gRPC over HTTP/2, one monitor run: the `demo.Greeter` service (`tests/fixtures/h2/grpc_*`)
//! on grpcio in cleartext (h2c, read from the sockets; gRPC C-core writes with many iovecs) and on
//! `@grpc/grpc-js` over TLS (node's OpenSSL); and grpcio over TLS, whose BoringSSL is static and
//! stripped: the monitor cannot read it and says so (`coverage.tls_unreadable`), reporting no
//! call for it.
//!
//! Each client makes, on one channel (one connection, streams 1, 3, 5): `SayHello("world")` → OK,
//! `SayHello("missing")` → NOT_FOUND with a message, `StreamHellos("world,3")` → 3 messages.
use monitor_e2e::{
    Monitor,
    h2::{
        Background, Checks, assert_h2_shape, by_stream, h2_node, h2_python, pretty, run,
        stream_ids, unknown_fields,
    },
    root_or_skip, scratch_dir, self_signed_cert,
};
use serde_json::{Value, json};

/// The text of the NOT_FOUND status message: it must never be printed (only its presence and
/// length are).
const NOT_FOUND_MESSAGE: &str = "no greeting for missing";

const CLIENT_OUTPUT: &str = "SayHello hello world\nSayHello NOT_FOUND\nStreamHellos 3\n";

/// What each of the three calls must carry: (stream id, path, gRPC method, `grpc` object).
/// `ok_message`: the `grpc-message` a server sends with OK, if any (grpcio sends none or an
/// empty one; grpc-js sends "OK").
fn expected_calls(ok_message: Option<&str>) -> [(u64, &'static str, Value); 3] {
    let (ok_present, ok_length) = match ok_message {
        Some(m) => (true, json!(m.len())),
        None => (false, Value::Null),
    };
    [
        (
            1,
            "/demo.Greeter/SayHello",
            json!({"service": "demo.Greeter", "method": "SayHello", "status": 0,
                   "status_name": "OK", "message_present": ok_present, "message_length": ok_length,
                   "request_messages": 1, "response_messages": 1}),
        ),
        (
            3,
            "/demo.Greeter/SayHello",
            json!({"service": "demo.Greeter", "method": "SayHello", "status": 5,
                   "status_name": "NOT_FOUND", "message_present": true,
                   "message_length": NOT_FOUND_MESSAGE.len(),
                   "request_messages": 1, "response_messages": 0}),
        ),
        (
            5,
            "/demo.Greeter/StreamHellos",
            json!({"service": "demo.Greeter", "method": "StreamHellos", "status": 0,
                   "status_name": "OK", "message_present": ok_present, "message_length": ok_length,
                   "request_messages": 1, "response_messages": 3}),
        ),
    ]
}

/// The grpc object's fields that must match exactly (`message_length` may be absent when no
/// message: null either way).
fn assert_grpc(call: &Value, expected: &Value) {
    let grpc = &call["grpc"];
    assert!(grpc.is_object(), "a gRPC call carries `grpc`: {call:#}");
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&grpc[key], value, "grpc.{key}: {call:#}");
    }
}

/// One side of a Greeter session, read in full: three calls on streams 1/3/5 of one
/// connection, each a POST with status 200 and the right `grpc` object.
fn assert_session(calls: &[&Value], authority: &str, tls: bool, ok_message: Option<&str>) {
    assert_eq!(stream_ids(calls), [1, 3, 5], "{}", pretty(calls));
    for (call, (_, path, grpc)) in calls.iter().zip(expected_calls(ok_message)) {
        assert_h2_shape(call);
        assert!(unknown_fields(call).is_empty(), "{call:#}");
        assert_eq!(call["method"], "POST", "{call:#}");
        assert_eq!(call["path"], path, "{call:#}");
        assert_eq!(call["host"], authority, "{call:#}");
        assert_eq!(call["status"], 200, "gRPC answers HTTP 200: {call:#}");
        assert_eq!(call["complete"], true, "{call:#}");
        assert_eq!(call["tls"], tls, "{call:#}");
        assert_eq!(call["capture_start"], "preface", "{call:#}");
        assert!(call["reset"].is_null(), "{call:#}");
        assert_eq!(
            call["connection_id"], calls[0]["connection_id"],
            "one channel"
        );
        assert_grpc(call, &grpc);
    }
    // Request bodies are gRPC frames: a 5-byte prefix and the message.
    assert_eq!(
        calls[0]["request_body_bytes"],
        5 + "world".len(),
        "{:#}",
        calls[0]
    );
    assert_eq!(
        calls[2]["response_body_bytes"],
        3 * (5 + "hello world #0".len()),
        "{:#}",
        calls[2]
    );
}

/// grpcio in cleartext: gRPC C-core writes with `sendmsg` and many iovecs, every one of which
/// the kernel copies (up to the per-call cap): the session is read in full.
fn assert_grpcio_h2c_session(calls: &[&Value], authority: &str) {
    assert_session(calls, authority, false, None);
}

#[test]
fn grpc_unary_errors_and_streaming_and_unreadable_tls() {
    if !root_or_skip("grpc_unary_errors_and_streaming_and_unreadable_tls") {
        return;
    }
    let dir = scratch_dir("grpc");
    let (cert, key) = self_signed_cert(&dir);
    let (py_server, py_port) = Background::server(h2_python("grpc_py.py").arg("server"));
    let (py_tls_server, py_tls_port) = Background::server(
        h2_python("grpc_py.py")
            .args(["server", "--tls"])
            .arg(&cert)
            .arg(&key),
    );
    let (node_server, node_port) =
        Background::server(h2_node("grpc_node.js").arg("server").arg(&cert).arg(&key));
    let monitor = Monitor::start(&[]);

    let py_target = format!("127.0.0.1:{py_port}");
    let (py_client, out) = run(h2_python("grpc_py.py").args(["client", &py_target]));
    assert_eq!(out, CLIENT_OUTPUT);
    let node_target = format!("127.0.0.1:{node_port}");
    let (node_client, out) = run(h2_node("grpc_node.js")
        .args(["client", &node_target])
        .arg(&cert));
    assert_eq!(out, CLIENT_OUTPUT);
    let py_tls_target = format!("127.0.0.1:{py_tls_port}");
    let (py_tls_client, out) = run(h2_python("grpc_py.py")
        .args(["client", &py_tls_target, "--tls"])
        .arg(&cert));
    assert_eq!(out, CLIENT_OUTPUT);

    let captured = monitor.stop();
    let mut checks = Checks::default();

    checks.check("grpcio h2c client: 3 calls, status, messages", || {
        assert_grpcio_h2c_session(&by_stream(&captured, py_client, "client"), &py_target);
    });
    checks.check("grpcio h2c server: 3 calls, status, messages", || {
        assert_grpcio_h2c_session(&by_stream(&captured, py_server.pid(), "server"), &py_target);
    });
    checks.check("grpc-js TLS client: 3 calls, status, messages", || {
        let calls = by_stream(&captured, node_client, "client");
        assert_session(&calls, &node_target, true, Some("OK"));
        assert_eq!(calls[0]["tls_library"]["name"], "openssl", "{:#}", calls[0]);
    });
    checks.check("grpc-js TLS server: 3 calls, status, messages", || {
        let calls = by_stream(&captured, node_server.pid(), "server");
        assert_session(&calls, &node_target, true, Some("OK"));
    });
    checks.check("grpcio over TLS: unreadable, said so, no call", || {
        let alerts: Vec<_> = captured
            .alerts_of("coverage.tls_unreadable")
            .into_iter()
            .filter(|a| a["workload"]["pid"] == py_tls_client)
            .collect();
        assert_eq!(alerts.len(), 1, "one connection: {alerts:#?}");
        assert_eq!(
            alerts[0]["destination"]["port"], py_tls_port,
            "{:#}",
            alerts[0]
        );
        assert_eq!(alerts[0]["severity"], "info");
        assert!(
            captured.calls_of(py_tls_client).is_empty(),
            "{}",
            pretty(&captured.calls_of(py_tls_client))
        );
        assert!(
            captured.calls_of(py_tls_server.pid()).is_empty(),
            "{}",
            pretty(&captured.calls_of(py_tls_server.pid()))
        );
    });
    checks.check("no gRPC message text or payload in the output", || {
        let output = captured.all_output();
        assert!(
            !output.contains(NOT_FOUND_MESSAGE),
            "the grpc-message text leaked"
        );
        assert!(!output.contains("hello world"), "a message payload leaked");
    });
    checks.finish(&captured);
}
