//! Golden replay tests. The first: a recording built from synthetic kernel records (byte-exact
//! `RecordHeader`s, as the ring buffer delivers them) is replayed through the whole pipeline with
//! a fixed policy and fingerprint key, and the output must equal the committed golden file line
//! for line. It holds calls made (to providers, a paste site, a plaintext host) and, with both
//! ends' sockets, exchanges where both ends run on the host (each alert raised once, naming both
//! workloads, a 401 burst) and a server receiving a credential in plaintext from outside. Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test -p monitor
//! --test replay_golden`, and review the diff: it is the user-visible output. The second replays a
//! real HTTP/2 recording against the live run's own output.
use std::{path::PathBuf, sync::Arc};

use monitor::{
    capture::TlsLibraryKind,
    kubernetes::{Owner, PodMeta},
    metrics::Metrics,
    pipeline::Output,
    policy::Policy,
    recording::{LibraryFrame, PodFrame, ProcessFrame, Recorder},
    replay::{Checks, replay},
    streams::StreamLimits,
};
use monitor_common::{
    AF_INET, COMM_LEN, RecordHeader, SocketOpen, direction, flags, record_kind, role, source,
};

const SECOND: u64 = 1_000_000_000;
const OPENSSL_COOKIE: u64 = 1;

fn raw(kind: u8, tgid: u32, conn: u64, dir: u8, ts: u64, cookie: u64, payload: &[u8]) -> Vec<u8> {
    let mut comm = [0u8; COMM_LEN];
    let name: &[u8] = match tgid {
        100 => b"billing-worker",
        300 => b"users-api",
        400 => b"curl",
        _ => b"legacy-cron",
    };
    comm[..name.len()].copy_from_slice(name);
    let head = RecordHeader {
        timestamp_ns: ts,
        conn_id: conn,
        call_len: payload.len() as u64,
        lost_before: 0,
        attach_cookie: cookie,
        // Plaintext calls are made on the socket itself: it is their connection.
        socket_id: if cookie == 0 { conn } else { 0 },
        tgid,
        tid: tgid,
        offset: 0,
        data_len: payload.len() as u32,
        kind,
        direction: dir,
        // Plaintext (no library cookie) comes from the socket probes.
        source: if cookie == 0 {
            source::SOCKET
        } else {
            source::OPENSSL
        },
        flags: flags::LAST_CHUNK,
        uid: 1000,
        comm,
    };
    monitor::capture::encode(&head, payload)
}

fn exchange(
    rec: &Recorder,
    tgid: u32,
    conn: u64,
    ts: u64,
    cookie: u64,
    request: &str,
    status: &str,
) {
    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
    rec.record(&raw(
        record_kind::DATA,
        tgid,
        conn,
        direction::EGRESS,
        ts,
        cookie,
        request.as_bytes(),
    ))
    .unwrap();
    rec.record(&raw(
        record_kind::DATA,
        tgid,
        conn,
        direction::INGRESS,
        ts + 3_000_000,
        cookie,
        response.as_bytes(),
    ))
    .unwrap();
}

/// A TCP connection as the kernel announces it (`connect` or `accept`), IPv4.
fn socket_open(
    tgid: u32,
    conn: u64,
    ts: u64,
    side: u8,
    local: ([u8; 4], u16),
    remote: ([u8; 4], u16),
) -> Vec<u8> {
    let mut open = SocketOpen {
        fd: 5,
        family: AF_INET,
        local_port: local.1,
        remote_port: remote.1,
        role: side,
        recovered: 0,
        listen_fd: 3,
        local_addr: [0; 16],
        remote_addr: [0; 16],
    };
    open.local_addr[..4].copy_from_slice(&local.0);
    open.remote_addr[..4].copy_from_slice(&remote.0);
    // SAFETY: `SocketOpen` is `repr(C)` plain data without padding (checked below).
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&open as *const SocketOpen).cast::<u8>(),
            std::mem::size_of::<SocketOpen>(),
        )
    };
    assert_eq!(bytes.len(), 48, "SocketOpen has no padding");
    raw(
        record_kind::SOCKET_OPEN,
        tgid,
        conn,
        direction::NONE,
        ts,
        0,
        bytes,
    )
}

/// One plaintext exchange on a loopback connection whose two ends both run here: `curl` (pid
/// 400, from port `client_port`) calling `users-api` (pid 300, on port 8080), each on its own
/// socket, records in the order the two processes make them.
fn local_exchange(rec: &Recorder, client_port: u16, ts: u64, request: &str, status: &str) {
    let loopback = [127, 0, 0, 1];
    let (client_conn, server_conn) = (u64::from(client_port), 10_000 + u64::from(client_port));
    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
    let records = [
        socket_open(
            400,
            client_conn,
            ts,
            role::CLIENT,
            (loopback, client_port),
            (loopback, 8080),
        ),
        socket_open(
            300,
            server_conn,
            ts + 1_000,
            role::SERVER,
            (loopback, 8080),
            (loopback, client_port),
        ),
        raw(
            record_kind::DATA,
            400,
            client_conn,
            direction::EGRESS,
            ts + 2_000,
            0,
            request.as_bytes(),
        ),
        raw(
            record_kind::DATA,
            300,
            server_conn,
            direction::INGRESS,
            ts + 3_000,
            0,
            request.as_bytes(),
        ),
        raw(
            record_kind::DATA,
            300,
            server_conn,
            direction::EGRESS,
            ts + 4_000,
            0,
            response.as_bytes(),
        ),
        raw(
            record_kind::DATA,
            400,
            client_conn,
            direction::INGRESS,
            ts + 5_000,
            0,
            response.as_bytes(),
        ),
    ];
    for record in records {
        rec.record(&record).unwrap();
    }
}

const POLICY: &str = r#"
version: 1
auth_failures:
  threshold: 3
  credential_threshold: 3
settings:
  discovery: info
destinations:
  - id: deny-paste
    action: deny
    hosts: [pastebin.com]
    severity: high
rate_limits:
  - id: charges
    hosts: [api.stripe.com]
    limit: 1
    per: 1m
    burst: 1
    severity: medium
"#;

fn build_recording(path: &std::path::Path) {
    let rec = Recorder::create(path, 1_790_000_000 * SECOND as i128).unwrap();
    rec.library(&LibraryFrame {
        cookie: OPENSSL_COOKIE,
        kind: TlsLibraryKind::Openssl,
        path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
    })
    .unwrap();
    for (pid, exe) in [
        (100, "/opt/billing/worker"),
        (200, "/usr/local/bin/legacy-cron"),
        (300, "/opt/users/api"),
        (400, "/usr/bin/curl"),
    ] {
        rec.process(&ProcessFrame {
            pid,
            executable: Some(exe.into()),
            container_id: None,
            pod_uid: None,
        })
        .unwrap();
    }
    let stripe_key = "sk_live_51HcQ2bKx9TzW4mPq8RvN3yLd";
    // Over TLS to its own provider, twice: the second exceeds the rate limit.
    for (i, conn) in [(0u64, 1u64), (1, 2)] {
        exchange(
            &rec,
            100,
            conn,
            (10 + i) * SECOND,
            OPENSSL_COOKIE,
            &format!(
                "POST /v1/charges HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer {stripe_key}\r\nContent-Length: 0\r\n\r\n"
            ),
            "200 OK",
        );
    }
    // The same key to a paste site, in the URL.
    exchange(
        &rec,
        100,
        3,
        20 * SECOND,
        OPENSSL_COOKIE,
        &format!("GET /raw/8f3kd92?api_key={stripe_key} HTTP/1.1\r\nHost: pastebin.com\r\n\r\n"),
        "200 OK",
    );
    // Plaintext (no TLS library) with basic auth to an external host.
    exchange(
        &rec,
        200,
        4,
        30 * SECOND,
        0,
        "GET /export/users/1234 HTTP/1.1\r\nHost: legacy.example.net\r\nAuthorization: Basic c3luYzpUcjB1YmFkb3IhMjAyNg==\r\n\r\n",
        "200 OK",
    );
    rec.record(&raw(
        record_kind::PROCESS_EXIT,
        200,
        0,
        direction::NONE,
        31 * SECOND,
        0,
        b"",
    ))
    .unwrap();
    // Both ends here: a token in the URL (one alert, raised by the first view to complete,
    // naming curl and users-api), then three refused logins (one auth.failures, one
    // auth.credential_rejected).
    local_exchange(
        &rec,
        50_000,
        40 * SECOND,
        &format!(
            "GET /v1/users/42?api_key={stripe_key} HTTP/1.1\r\nHost: users.internal:8080\r\n\r\n"
        ),
        "200 OK",
    );
    for i in 0..3u16 {
        local_exchange(
            &rec,
            50_001 + i,
            (41 + u64::from(i)) * SECOND,
            "POST /login HTTP/1.1\r\nHost: users.internal:8080\r\nAuthorization: Basic YWRtaW46aHVudGVyMg==\r\nContent-Length: 0\r\n\r\n",
            "401 Unauthorized",
        );
    }
    // Served alone: a client from outside sends a bearer token in plaintext.
    rec.record(&socket_open(
        300,
        20_000,
        50 * SECOND,
        role::SERVER,
        ([10, 1, 2, 3], 8080),
        ([203, 0, 113, 9], 41_000),
    ))
    .unwrap();
    let request = format!(
        "GET /v1/users/7 HTTP/1.1\r\nHost: users.example.com\r\nAuthorization: Bearer {stripe_key}\r\n\r\n"
    );
    for (dir, ts, bytes) in [
        (direction::INGRESS, 50 * SECOND + 1_000, request.as_bytes()),
        (
            direction::EGRESS,
            50 * SECOND + 2_000,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".as_slice(),
        ),
    ] {
        rec.record(&raw(record_kind::DATA, 300, 20_000, dir, ts, 0, bytes))
            .unwrap();
    }
    rec.flush().unwrap();
}

#[test]
fn replay_matches_the_golden_output() {
    let dir = std::env::temp_dir().join(format!("monitor-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recording = dir.join("golden.rec");
    build_recording(&recording);

    let mut lines = Vec::new();
    replay(
        &recording,
        StreamLimits::default(),
        Some(Checks {
            policy: Policy::from_yaml(POLICY).unwrap(),
            fingerprint_key: b"golden-test-key-golden-test-key!".to_vec(),
        }),
        Arc::new(Metrics::new()),
        &mut |output: Output| lines.push(serde_json::to_string(&output).unwrap()),
    )
    .unwrap();
    let actual = lines.join("\n") + "\n";

    for secret in [
        "51HcQ2bKx9TzW4mPq8RvN3yLd",
        "c3luYzpUcjB1YmFkb3IhMjAyNg",
        "Tr0ubador!2026",
        "YWRtaW46aHVudGVyMg",
        "hunter2",
    ] {
        assert!(
            !actual.contains(secret),
            "a raw secret reached the output:\n{actual}"
        );
    }
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/replay_basic.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            golden.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "replay output differs from {}",
        golden.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real recording (`monitor record`, not synthetic records) of HTTP/2 traffic on loopback,
/// made and filtered to its own processes by `tests/golden/record_http2.sh`: curl over TLS (`h2`,
/// three requests on one connection) to nghttpd, prior-knowledge `h2c` to nghttpd, an
/// `Upgrade: h2c` to the Python fixture, and a fake GitHub token in `Authorization` over TLS.
/// The expected file is the live run's stdout: the replay must print it line for line (the
/// built-in default policy and the fingerprint key the live run used).
#[test]
fn http2_recording_replays_the_live_output() {
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut lines = Vec::new();
    let summary = replay(
        &golden.join("replay_http2.rec"),
        StreamLimits::default(),
        Some(Checks {
            policy: Policy::builtin_default(),
            fingerprint_key: b"golden-test-key-golden-test-key!".to_vec(),
        }),
        Arc::new(Metrics::new()),
        &mut |output: Output| lines.push(serde_json::to_string(&output).unwrap()),
    )
    .unwrap();
    assert_eq!(
        (summary.undecodable, summary.ignored_trailing_bytes),
        (0, 0)
    );
    let actual = lines.join("\n") + "\n";
    assert!(
        !actual.contains("FakeGoldenReplay0Token1NotReal2xY3z4"),
        "a raw secret reached the output:\n{actual}"
    );
    let expected_path = golden.join("replay_http2.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(
        actual,
        expected,
        "replay output differs from {}",
        expected_path.display()
    );
    // What the traffic must have produced: 6 calls per side, all HTTP/2 and complete, and the
    // token alert once, from curl's side (the server did not send the token anywhere), with its
    // fingerprint, never the token; both sides' calls list the token in their audit trail.
    let values: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<_> = values.iter().filter(|v| v["event"] == "api_call").collect();
    assert_eq!(calls.len(), 12);
    assert!(
        calls
            .iter()
            .all(|c| c["http_version"] == "HTTP/2" && c["complete"] == true && c["status"] == 200)
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c["capture_start"] == "upgrade")
            .count(),
        2
    );
    let token_alerts: Vec<_> = values
        .iter()
        .filter(|v| v["rule_id"] == "credential.wrong_destination")
        .collect();
    assert_eq!(token_alerts.len(), 1);
    assert_eq!(token_alerts[0]["direction"], "outbound");
    assert_eq!(token_alerts[0]["workload"]["command"], "curl");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c["credentials"][0]["kind"] == "github_token")
            .count(),
        2
    );
    for alert in token_alerts {
        let credential = &alert["evidence"]["credential"];
        assert_eq!(credential["kind"], "github_token");
        assert_eq!(credential["prefix"], "ghp_");
        assert!(credential["fingerprint"].is_string());
    }
}

/// A pod's metadata is an answer the live run got from its API server at one moment: the
/// recording keeps each changed answer with the lookup it first applied to, so a replay gives
/// the first call (made before the watch knew the pod) only the pod UID, and the next one the
/// pod, exactly as live; `k8s` selectors then match the second call only.
#[test]
fn pod_metadata_replays_as_the_live_run_saw_it() {
    let dir = std::env::temp_dir().join(format!("monitor-golden-pods-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recording = dir.join("pods.rec");
    let uid = "5f0c2a8e-9a51-4f8e-8f0e-3b2a1c9d7e6f";
    let container = "ab".repeat(32);
    let rec = Recorder::create(&recording, 1_790_000_000 * SECOND as i128).unwrap();
    rec.library(&LibraryFrame {
        cookie: OPENSSL_COOKIE,
        kind: TlsLibraryKind::Openssl,
        path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
    })
    .unwrap();
    rec.process(&ProcessFrame {
        pid: 500,
        executable: Some("/app/checkout".into()),
        container_id: Some(container.clone()),
        pod_uid: Some(uid.into()),
    })
    .unwrap();
    let request = "GET /v1/ping HTTP/1.1\r\nHost: api.partner.test\r\n\r\n";
    exchange(&rec, 500, 1, 10 * SECOND, OPENSSL_COOKIE, request, "200 OK");
    rec.pod(&PodFrame {
        pod_uid: uid.into(),
        lookup: 1,
        pod: None,
    })
    .unwrap();
    exchange(&rec, 500, 2, 11 * SECOND, OPENSSL_COOKIE, request, "200 OK");
    rec.pod(&PodFrame {
        pod_uid: uid.into(),
        lookup: 2,
        pod: Some(PodMeta {
            uid: uid.into(),
            namespace: "payments".into(),
            name: "checkout-6d4b9c7f5d-x2k8q".into(),
            labels: [("app".to_owned(), "checkout".to_owned())].into(),
            owner: Some(Owner {
                kind: "Deployment".into(),
                name: "checkout".into(),
            }),
            service_account: Some("checkout".into()),
            containers: [(container.clone(), "app".to_owned())].into(),
            mirror_of: None,
        }),
    })
    .unwrap();
    rec.flush().unwrap();

    let policy = "version: 1
workloads:
  checkout: {k8s: {namespace: [payments], labels: {matchLabels: {app: checkout}}}}
destinations:
  - {id: checkout-egress, action: deny, hosts: ['*'], workloads: [checkout]}
";
    let mut outputs = Vec::new();
    replay(
        &recording,
        StreamLimits::default(),
        Some(Checks {
            policy: Policy::from_yaml(policy).unwrap(),
            fingerprint_key: b"golden-test-key-golden-test-key!".to_vec(),
        }),
        Arc::new(Metrics::new()),
        &mut |output: Output| outputs.push(serde_json::to_value(&output).unwrap()),
    )
    .unwrap();
    let calls: Vec<_> = outputs
        .iter()
        .filter(|o| o["event"] == "api_call")
        .collect();
    assert_eq!(calls.len(), 2, "{outputs:#?}");
    assert_eq!(
        calls[0]["process"]["k8s"],
        serde_json::json!({"pod_uid": uid})
    );
    assert_eq!(
        calls[1]["process"]["k8s"],
        serde_json::json!({
            "namespace": "payments",
            "pod": "checkout-6d4b9c7f5d-x2k8q",
            "pod_uid": uid,
            "container": "app",
            "labels": {"app": "checkout"},
            "owner": {"kind": "Deployment", "name": "checkout"},
            "service_account": "checkout"
        })
    );
    let alerts: Vec<_> = outputs
        .iter()
        .filter(|o| o["rule_id"] == "checkout-egress")
        .collect();
    assert_eq!(alerts.len(), 1, "{outputs:#?}");
    assert_eq!(
        alerts[0]["workload"]["k8s"]["pod"],
        "checkout-6d4b9c7f5d-x2k8q"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
