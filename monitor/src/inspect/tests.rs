//! The inspection stage inside the pipeline, driven by synthetic capture events. Plaintext
//! capture (sockets) arrives with its own issue; the transport rule must already work on events
//! such as a replay carries: a connection without a TLS library is plaintext.
use std::sync::Arc;

use bytes::Bytes;

use crate::{
    alerts::Alert,
    capture::{
        CaptureEvent, ConnKey, DataChunk, EventKind, LibraryInfo, LibraryRegistry, TlsLibraryKind,
    },
    enrich::{ProcessTable, RecordedFacts},
    inspect::Inspector,
    metrics::Metrics,
    pipeline::{Output, Pipeline},
    policy::Policy,
    protocols::Direction,
    streams::StreamLimits,
    time::WallClock,
};

const TLS_LIBRARY: u64 = 1;
const PLAINTEXT: u64 = 0;
const SECOND: u64 = 1_000_000_000;

fn pipeline(policy: &str) -> (Pipeline, Arc<Metrics>) {
    pipeline_with(policy, RecordedFacts::default())
}

fn pipeline_with(policy: &str, facts: RecordedFacts) -> (Pipeline, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let libraries = LibraryRegistry::default();
    libraries.insert(
        TLS_LIBRARY,
        LibraryInfo {
            kind: TlsLibraryKind::Openssl,
            path: "/usr/lib/libssl.so.3".into(),
        },
    );
    let clock = WallClock::with_offset_ns(1_700_000_000 * SECOND as i128);
    let policy = Policy::from_yaml(policy).expect("test policy is valid");
    let inspector = Inspector::new(policy, vec![7; 32], clock, metrics.clone()).unwrap();
    let pipeline = Pipeline::new(
        StreamLimits::default(),
        ProcessTable::new(facts),
        libraries,
        clock,
        metrics.clone(),
        Some(inspector),
    );
    (pipeline, metrics)
}

/// One request/response on its own connection; returns the alerts it raised.
fn call(pipeline: &mut Pipeline, conn: u64, library: u64, request: &str) -> Vec<Alert> {
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    feed(
        pipeline,
        conn,
        library,
        [request.as_bytes().to_vec(), response.to_vec()],
    )
}

/// One connection's request bytes (egress) then response bytes (ingress); the alerts raised.
fn feed(pipeline: &mut Pipeline, conn: u64, library: u64, bytes: [Vec<u8>; 2]) -> Vec<Alert> {
    feed_from(pipeline, 10, conn, library, bytes)
}

/// `feed`, by process `tgid`.
fn feed_from(
    pipeline: &mut Pipeline,
    tgid: u32,
    conn: u64,
    library: u64,
    bytes: [Vec<u8>; 2],
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let [request, response] = bytes;
    for (direction, bytes) in [(Direction::Egress, request), (Direction::Ingress, response)] {
        let event = CaptureEvent {
            timestamp_ns: conn * SECOND,
            tgid,
            tid: tgid,
            uid: 1000,
            comm: "app".into(),
            kind: EventKind::Data(DataChunk {
                conn: ConnKey {
                    tgid,
                    // Plaintext comes from the socket probes, TLS from a library's.
                    source: if library == PLAINTEXT {
                        monitor_common::source::SOCKET
                    } else {
                        monitor_common::source::OPENSSL
                    },
                    id: conn,
                },
                direction,
                call_len: bytes.len() as u64,
                offset: 0,
                last_chunk: true,
                lost_before: 0,
                library,
                socket_id: 0,
                data: Bytes::from(bytes),
            }),
        };
        pipeline.handle(event, &mut |output| {
            if let Output::Alert(alert) = output {
                alerts.push(alert)
            }
        });
    }
    alerts
}

fn rules(alerts: &[Alert]) -> Vec<&str> {
    let mut rules: Vec<&str> = alerts.iter().map(|a| a.rule_id.as_str()).collect();
    rules.sort_unstable();
    rules
}

const NO_DISCOVERY: &str = "version: 1\nsettings:\n  discovery: off\n";

#[test]
fn plaintext_to_an_external_host_alerts_and_with_a_credential_is_critical() {
    let (mut p, _) = pipeline(NO_DISCOVERY);
    let alerts = call(
        &mut p,
        1,
        PLAINTEXT,
        "GET /v1/status HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
    );
    assert_eq!(rules(&alerts), vec!["transport.plaintext"]);
    assert!(!alerts[0].destination.tls);
    assert_eq!(alerts[0].destination.port, Some(80));

    let alerts = call(
        &mut p,
        2,
        PLAINTEXT,
        "GET /v1/me HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer 8f14e45fceea167a5a36dedd4bea2543aa\r\n\r\n",
    );
    let plaintext_credential: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule_id == "credential.plaintext")
        .collect();
    assert_eq!(plaintext_credential.len(), 1, "{alerts:#?}");
    assert_eq!(plaintext_credential[0].severity.as_str(), "critical");
    let json = serde_json::to_string(&alerts).unwrap();
    assert!(
        !json.contains("8f14e45fceea167a5a36dedd4bea2543aa"),
        "{json}"
    );
}

#[test]
fn plaintext_to_loopback_or_an_internal_network_is_fine() {
    let (mut p, _) =
        pipeline("version: 1\nsettings:\n  discovery: off\n  internal_networks: [10.0.0.0/8]\n");
    for (conn, host) in [
        (1, "localhost:8080"),
        (2, "127.0.0.1"),
        (3, "[::1]:80"),
        (4, "10.1.2.3:9200"),
    ] {
        let alerts = call(
            &mut p,
            conn,
            PLAINTEXT,
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        );
        assert!(alerts.is_empty(), "{host}: {alerts:#?}");
    }
}

#[test]
fn the_same_call_over_tls_raises_nothing_by_default() {
    let (mut p, metrics) = pipeline(NO_DISCOVERY);
    let alerts = call(
        &mut p,
        1,
        TLS_LIBRARY,
        "GET /v1/status HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
    );
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert!(metrics.render().contains("monitor_api_calls_by_destination_total{host=\"api.example.com\",method=\"GET\",status_class=\"2xx\",tls=\"true\"} 1"));
}

#[test]
fn repeated_identical_alerts_are_suppressed_and_counted() {
    let (mut p, metrics) = pipeline(NO_DISCOVERY);
    let mut all = Vec::new();
    for conn in 1..=5 {
        all.extend(call(
            &mut p,
            conn,
            PLAINTEXT,
            "GET /x HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
        ));
    }
    assert_eq!(
        all.len(),
        1,
        "the first goes out, the rest wait for the window's summary"
    );
    let mut flushed = Vec::new();
    p.flush(10 * SECOND, &mut |o| {
        if let Output::Alert(a) = o {
            flushed.push(a)
        }
    });
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].count, 4);
    assert!(
        metrics
            .render()
            .contains("monitor_alerts_suppressed_total{rule=\"transport.plaintext\"} 4")
    );
    assert!(
        metrics
            .render()
            .contains("monitor_alerts_total{rule=\"transport.plaintext\",severity=\"medium\"} 5")
    );
}

/// HTTP/2 frames for one h2c call: the client preface, a HEADERS block of literals (the
/// `authorization` one never indexed, as real clients send it), and the server's answer.
fn h2c_call(pipeline: &mut Pipeline, conn: u64, headers: &[(&str, &str)]) -> Vec<Alert> {
    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }
    let mut block = Vec::new();
    for (name, value) in headers {
        // Literal without indexing (0x00) or never indexed (0x10), new name, no Huffman.
        block.push(if *name == "authorization" { 0x10 } else { 0x00 });
        for s in [name, value] {
            block.push(s.len() as u8);
            block.extend_from_slice(s.as_bytes());
        }
    }
    let mut request = crate::protocols::PREFACE.to_vec();
    request.extend(frame(0x4, 0, 0, &[]));
    request.extend(frame(0x1, 0x5, 1, &block));
    let response = [frame(0x4, 0, 0, &[]), frame(0x1, 0x5, 1, &[0x88])].concat();
    feed(pipeline, conn, PLAINTEXT, [request, response])
}

#[test]
fn h2c_calls_meet_the_transport_and_credential_rules_like_http1() {
    let secret = "8f14e45fceea167a5a36dedd4bea2543aa";
    let (mut p, _) = pipeline(NO_DISCOVERY);
    let h2 = h2c_call(
        &mut p,
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "api.example.com"),
            (":path", "/v1/me"),
            ("authorization", &format!("Bearer {secret}")),
        ],
    );
    let (mut p, _) = pipeline(NO_DISCOVERY);
    let h1 = call(
        &mut p,
        1,
        PLAINTEXT,
        &format!(
            "GET /v1/me HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {secret}\r\n\r\n"
        ),
    );
    assert_eq!(rules(&h2), vec!["credential.plaintext"]);
    // The same alert, field for field, whichever HTTP version carried the call.
    let view = |alerts: &[Alert]| {
        let mut v = serde_json::to_value(alerts).unwrap();
        for a in v.as_array_mut().unwrap() {
            a.as_object_mut().unwrap().remove("id");
        }
        v
    };
    assert_eq!(view(&h2), view(&h1));
    assert_eq!(h2[0].severity.as_str(), "critical");
    let json = serde_json::to_string(&h2).unwrap();
    assert!(!json.contains(secret), "{json}");
}

#[test]
fn h2c_to_an_external_host_is_plaintext_transport() {
    let (mut p, _) = pipeline(NO_DISCOVERY);
    let alerts = h2c_call(
        &mut p,
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "api.example.com"),
            (":path", "/v1/status"),
        ],
    );
    assert_eq!(rules(&alerts), vec!["transport.plaintext"]);
    assert_eq!(alerts[0].destination.port, Some(80));
}

#[test]
fn h2c_to_loopback_with_no_credential_raises_nothing() {
    let (mut p, _) = pipeline(NO_DISCOVERY);
    let alerts = h2c_call(
        &mut p,
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "127.0.0.1:8080"),
            (":path", "/health"),
        ],
    );
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[test]
fn h2_calls_count_against_rate_limits_by_path_template() {
    let policy = "version: 1\nsettings:\n  discovery: off\nrate_limits:\n  - id: items\n    hosts: [api.example.com]\n    path: /v1/items/*\n    limit: 1\n    per: 1m\n    burst: 1\n    by: [workload, host, method, path]\n    severity: medium\n";
    let (mut p, _) = pipeline(policy);
    let get = |id: &'static str| {
        [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "api.example.com"),
            (":path", id),
        ]
    };
    // Two ids, one template (`/v1/items/{id}`): the second call is over the limit.
    let first = h2c_call(&mut p, 1, &get("/v1/items/1001"));
    let second = h2c_call(&mut p, 2, &get("/v1/items/1002"));
    assert!(!rules(&first).contains(&"items"), "{first:#?}");
    let over: Vec<_> = second.iter().filter(|a| a.rule_id == "items").collect();
    assert_eq!(over.len(), 1, "{second:#?}");
    let request = over[0].request.as_ref().unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path_template, "/v1/items/{id}");
}

/// Rate limits key a pod's process by its owner workload and container: the pods of a rollout
/// (new ReplicaSet, new pod, new container id) share one bucket; another Deployment does not.
#[test]
fn rate_limits_follow_the_owner_workload_across_a_rollout() {
    use crate::{
        enrich::ProcFacts,
        kubernetes::{Owner, PodMeta, PodStore},
    };
    let policy = "version: 1\nsettings:\n  discovery: off\nrate_limits:\n  - id: charges\n    hosts: [api.stripe.com]\n    limit: 1\n    per: 1m\n    burst: 1\n    by: [workload, host]\n";
    let store = Arc::new(PodStore::default());
    let mut facts = RecordedFacts::default();
    for (pid, uid, deployment, hash) in [
        (21, "u-old", "checkout", "6d4b9c7f5d"),
        (22, "u-new", "checkout", "7f8e9a0b1c"),
        (23, "u-other", "refunds", "5c4d3e2f1a"),
    ] {
        let container = format!("{pid:064}");
        facts.insert(
            pid,
            ProcFacts {
                executable: Some("/app/server".into()),
                container_id: Some(container.clone()),
                pod_uid: Some(uid.into()),
            },
        );
        store.apply(PodMeta {
            uid: uid.into(),
            namespace: "payments".into(),
            name: format!("{deployment}-{hash}-x2k8q"),
            labels: [("pod-template-hash".to_owned(), hash.to_owned())].into(),
            owner: Some(Owner::of(
                "ReplicaSet",
                &format!("{deployment}-{hash}"),
                Some(hash),
            )),
            service_account: None,
            containers: [(container, "app".to_owned())].into(),
            mirror_of: None,
        });
    }
    let (pipeline, _) = pipeline_with(policy, facts);
    let mut pipeline = pipeline.with_pods(Box::new(store));
    let request = "POST /v1/charges HTTP/1.1\r\nHost: api.stripe.com\r\nContent-Length: 0\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    let mut send = |pid: u32, conn: u64| {
        let alerts = feed_from(
            &mut pipeline,
            pid,
            conn,
            TLS_LIBRARY,
            [request.as_bytes().to_vec(), response.clone()],
        );
        rules(&alerts)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(send(21, 1).is_empty());
    // The new pod of the same Deployment: the same bucket, already spent.
    assert_eq!(send(22, 2), ["charges"]);
    // Another Deployment: its own bucket.
    assert!(send(23, 3).is_empty());
}
