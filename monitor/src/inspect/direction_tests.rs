//! Direction, linking and the per-exchange checks, driven through the pipeline with synthetic
//! events for two processes on this host: `curl` (pid 10) calling `python3` (pid 20) over one
//! loopback connection, each traced on its own socket, as the kernel reports them.
use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;

use crate::{
    alerts::{Alert, Evidence},
    calls::ApiCall,
    capture::{CaptureEvent, ConnKey, DataChunk, EventKind, LibraryRegistry, SocketOpened},
    enrich::{ProcFacts, ProcessTable, RecordedFacts},
    inspect::Inspector,
    metrics::Metrics,
    pipeline::{Output, Pipeline},
    policy::Policy,
    protocols::{CallDirection, Direction},
    streams::StreamLimits,
    time::WallClock,
};

const SECOND: u64 = 1_000_000_000;
const CLIENT: u32 = 10;
const SERVER: u32 = 20;
const STRIPE: &str = "sk_live_51HcQ2bKx9TzW4mPq8RvN3yLd";

struct Host {
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    calls: Vec<ApiCall>,
    alerts: Vec<Alert>,
    now: u64,
}

impl Host {
    fn new(policy: &str) -> Self {
        let metrics = Arc::new(Metrics::new());
        let clock = WallClock::with_offset_ns(1_700_000_000 * SECOND as i128);
        let policy = Policy::from_yaml(policy).expect("test policy is valid");
        let inspector = Inspector::new(policy, vec![7; 32], clock, metrics.clone()).unwrap();
        let mut facts = RecordedFacts::default();
        for (pid, exe) in [
            (CLIENT, "/usr/bin/curl"),
            (SERVER, "/usr/bin/python3"),
            (30, "/usr/bin/wget"),
        ] {
            facts.insert(
                pid,
                ProcFacts {
                    executable: Some(exe.into()),
                    container_id: None,
                    pod_uid: None,
                },
            );
        }
        Self {
            pipeline: Pipeline::new(
                StreamLimits::default(),
                ProcessTable::new(facts),
                LibraryRegistry::default(),
                clock,
                metrics.clone(),
                Some(inspector),
            ),
            metrics,
            calls: Vec::new(),
            alerts: Vec::new(),
            now: SECOND,
        }
    }

    fn event(&mut self, tgid: u32, kind: EventKind) {
        self.now += 1_000_000;
        let comm = match tgid {
            CLIENT => "curl",
            SERVER => "python3",
            _ => "wget",
        };
        let event = CaptureEvent {
            timestamp_ns: self.now,
            tgid,
            tid: tgid,
            uid: 1000,
            comm: comm.into(),
            kind,
        };
        let (calls, alerts) = (&mut self.calls, &mut self.alerts);
        self.pipeline.handle(event, &mut |output| match output {
            Output::Call(call) => calls.push(call),
            Output::Alert(alert) => alerts.push(alert),
        });
    }

    fn open(&mut self, tgid: u32, conn: u64, role: u8, local: &str, remote: &str) {
        let parse = |a: &str| a.parse::<SocketAddr>().ok();
        self.event(
            tgid,
            EventKind::SocketOpen(SocketOpened {
                id: conn,
                fd: 5,
                listen_fd: None,
                role,
                recovered: false,
                remote: parse(remote),
                local: parse(local),
            }),
        );
    }

    fn data(&mut self, tgid: u32, conn: u64, direction: Direction, bytes: &str) {
        self.event(
            tgid,
            EventKind::Data(DataChunk {
                conn: ConnKey {
                    tgid,
                    source: monitor_common::source::SOCKET,
                    id: conn,
                },
                direction,
                call_len: bytes.len() as u64,
                offset: 0,
                last_chunk: true,
                lost_before: 0,
                library: 0,
                socket_id: conn,
                data: Bytes::from(bytes.as_bytes().to_vec()),
            }),
        );
    }

    /// One exchange on a new loopback connection from `client_port`; `traced` says which ends
    /// the monitor sees (client, server).
    fn exchange(&mut self, client_port: u16, traced: (bool, bool), request: &str, status: &str) {
        let conn = u64::from(client_port);
        let (client_addr, server_addr) = (format!("127.0.0.1:{client_port}"), "127.0.0.1:8443");
        let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        if traced.0 {
            self.open(
                CLIENT,
                conn,
                monitor_common::role::CLIENT,
                &client_addr,
                server_addr,
            );
            self.data(CLIENT, conn, Direction::Egress, request);
        }
        if traced.1 {
            self.open(
                SERVER,
                conn,
                monitor_common::role::SERVER,
                server_addr,
                &client_addr,
            );
            self.data(SERVER, conn, Direction::Ingress, request);
            self.data(SERVER, conn, Direction::Egress, &response);
        }
        if traced.0 {
            self.data(CLIENT, conn, Direction::Ingress, &response);
        }
    }

    fn rules(&self) -> Vec<&str> {
        self.alerts.iter().map(|a| a.rule_id.as_str()).collect()
    }
}

const BOTH: (bool, bool) = (true, true);
const NO_DISCOVERY: &str = "version: 1\nsettings: {discovery: off}\n";

fn get(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n{headers}\r\n")
}

/// The issue's report: one request with a Stripe key, both ends traced, gave four alerts, two
/// of them about the server as if it had made the call.
#[test]
fn one_exchange_with_both_ends_traced_alerts_once_naming_both_workloads() {
    let mut host = Host::new("version: 1\n");
    host.exchange(
        40000,
        BOTH,
        &get("/v1/x", &format!("Authorization: Bearer {STRIPE}\r\n")),
        "200 OK",
    );
    assert_eq!(
        host.rules(),
        ["credential.wrong_destination", "destination.discovered"]
    );
    for alert in &host.alerts {
        assert_eq!(alert.direction, CallDirection::Outbound);
        assert_eq!(&*alert.workload.command, "curl");
        assert_eq!(
            alert.peer_workload.as_ref().map(|p| p.command.as_ref()),
            Some("python3"),
            "{}",
            alert.rule_id
        );
        assert_eq!(
            alert.client.as_ref().map(|c| c.port),
            Some(40000),
            "{}",
            alert.rule_id
        );
    }
    // Both calls are reported, each naming the other end, each with its audit trail.
    assert_eq!(host.calls.len(), 2);
    for call in &host.calls {
        let peer = call.peer_process.as_ref().expect("the peer runs here");
        let expected = match call.direction {
            CallDirection::Outbound => "python3",
            CallDirection::Inbound => "curl",
        };
        assert_eq!(&*peer.command, expected);
        assert_eq!(call.credentials.len(), 1);
        assert_eq!(call.credentials[0].kind.as_str(), "stripe_key");
        assert_eq!(call.credentials[0].prefix.as_deref(), Some("sk_live_"));
    }
    let json = serde_json::to_string(&host.calls[0]).unwrap()
        + &serde_json::to_string(&host.alerts).unwrap();
    assert!(!json.contains(&STRIPE[8..]), "{json}");
}

#[test]
fn a_rule_both_views_raise_is_raised_once_whichever_view_completes_first() {
    let mut host = Host::new(NO_DISCOVERY);
    let request = get(&format!("/v1/x?api_key={STRIPE}"), "");
    host.exchange(40001, BOTH, &request, "200 OK");
    // credential.in_url applies to both directions; wrong_destination only to the caller.
    assert_eq!(
        host.rules(),
        ["credential.in_url", "credential.wrong_destination"]
    );
    let in_url = &host.alerts[0];
    // The server's view completed first (its response write), so it raised it, naming the
    // caller as the workload.
    assert_eq!(in_url.direction, CallDirection::Inbound);
    assert_eq!(&*in_url.workload.command, "curl");
    assert_eq!(
        in_url.peer_workload.as_ref().map(|p| p.command.as_ref()),
        Some("python3")
    );
    assert!(
        in_url
            .summary
            .contains("in the URL of GET /v1/x served to curl (127.0.0.1)"),
        "{}",
        in_url.summary
    );
    let merged = host.metrics.render();
    assert!(
        merged.contains("monitor_alerts_merged_total{rule=\"credential.in_url\"} 1"),
        "{merged}"
    );
    // A second exchange on another connection is a second finding (suppressed into the
    // window's summary, not merged away).
    host.exchange(40002, BOTH, &request, "200 OK");
    assert!(
        host.metrics
            .render()
            .contains("monitor_alerts_merged_total{rule=\"credential.in_url\"} 2")
    );
}

#[test]
fn each_end_traced_alone_gets_its_own_alerts() {
    let request = get(&format!("/v1/x?api_key={STRIPE}"), "");
    // The server alone: only what concerns a served call.
    let mut server = Host::new("version: 1\n");
    server.exchange(40003, (false, true), &request, "200 OK");
    assert_eq!(server.rules(), ["credential.in_url"]);
    let alert = &server.alerts[0];
    assert_eq!(alert.direction, CallDirection::Inbound);
    assert_eq!(&*alert.workload.command, "python3");
    assert!(alert.peer_workload.is_none());
    assert!(
        alert.summary.contains("served to 127.0.0.1"),
        "{}",
        alert.summary
    );
    assert_eq!(server.calls[0].peer_process, None);
    // The client alone: its own call's checks.
    let mut client = Host::new("version: 1\n");
    client.exchange(40004, (true, false), &request, "200 OK");
    assert_eq!(
        client.rules(),
        [
            "credential.in_url",
            "credential.wrong_destination",
            "destination.discovered"
        ]
    );
    assert!(client.alerts.iter().all(|a| &*a.workload.command == "curl"
        && a.peer_workload.is_none()
        && a.direction == CallDirection::Outbound));
}

#[test]
fn a_storm_of_rejected_logins_alerts_once_per_window_per_client_and_credential() {
    let mut host = Host::new(
        "version: 1\nsettings: {discovery: off}\nauth_failures: {threshold: 5, credential_threshold: 3, window: 1m}\n",
    );
    for i in 0..12u16 {
        host.exchange(
            41000 + i,
            BOTH,
            &get("/login", &format!("Authorization: Bearer {STRIPE}\r\n")),
            "401 Unauthorized",
        );
    }
    let mut rules = host.rules();
    rules.retain(|r| r.starts_with("auth."));
    assert_eq!(rules, ["auth.credential_rejected", "auth.failures"]);
    let failures = host
        .alerts
        .iter()
        .find(|a| a.rule_id == "auth.failures")
        .unwrap();
    let Some(Evidence::AuthFailures(evidence)) = &failures.evidence else {
        panic!("no auth-failure evidence: {failures:?}");
    };
    assert_eq!(
        (
            evidence.failures,
            evidence.unauthorized_401,
            evidence.window_seconds
        ),
        (5, 5, 60)
    );
    assert!(
        failures.summary.starts_with(
            "5 authentication failures (401/403) in 1m for curl (127.0.0.1) calling GET /login"
        ),
        "{}",
        failures.summary
    );
    let rejected = host
        .alerts
        .iter()
        .find(|a| a.rule_id == "auth.credential_rejected")
        .unwrap();
    let Some(Evidence::AuthFailures(evidence)) = &rejected.evidence else {
        panic!("no evidence: {rejected:?}");
    };
    assert_eq!(evidence.failures, 3);
    let credential = evidence.credential.as_ref().expect("names the credential");
    assert_eq!(credential.kind.as_str(), "stripe_key");
}

#[test]
fn a_client_whose_key_keeps_being_rejected_is_found_from_its_own_side() {
    let mut host = Host::new(
        "version: 1\nsettings: {discovery: off}\nauth_failures: {threshold: 4, credential_threshold: 100}\n",
    );
    for i in 0..4u16 {
        host.exchange(
            42000 + i,
            (true, false),
            &get("/v1/charges", "X-Api-Key: k3y-7f9a2b4c6d8e0f1a3b5c\r\n"),
            "403 Forbidden",
        );
    }
    let alert = host
        .alerts
        .iter()
        .find(|a| a.rule_id == "auth.failures")
        .expect("four 403 in a row");
    assert_eq!(alert.direction, CallDirection::Outbound);
    assert!(
        alert
            .summary
            .contains("for /usr/bin/curl@host calling GET /v1/charges at 127.0.0.1"),
        "{}",
        alert.summary
    );
    // Turned off, nothing.
    let mut off =
        Host::new("version: 1\nsettings: {discovery: off}\nauth_failures: {enabled: false}\n");
    for i in 0..20u16 {
        off.exchange(43000 + i, (true, false), &get("/x", ""), "401 Unauthorized");
    }
    assert!(off.alerts.is_empty(), "{:?}", off.rules());
}

#[test]
fn the_same_key_sent_by_a_second_program_alerts_once() {
    let mut host = Host::new(NO_DISCOVERY);
    let request = get("/v1/x", &format!("Authorization: Bearer {STRIPE}\r\n"));
    host.exchange(44000, (true, false), &request, "200 OK");
    host.exchange(44001, (true, false), &request, "200 OK");
    assert!(!host.rules().contains(&"credential.new_workload"));
    // wget (pid 30) sends the same key.
    for port in [44002u64, 44003] {
        host.open(
            30,
            port,
            monitor_common::role::CLIENT,
            &format!("127.0.0.1:{port}"),
            "127.0.0.1:8443",
        );
        host.data(30, port, Direction::Egress, &request);
        host.data(
            30,
            port,
            Direction::Ingress,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
    }
    let new_workload: Vec<_> = host
        .alerts
        .iter()
        .filter(|a| a.rule_id == "credential.new_workload")
        .collect();
    assert_eq!(new_workload.len(), 1);
    assert_eq!(&*new_workload[0].workload.command, "wget");
    assert_eq!(
        new_workload[0].summary,
        "stripe_key credential first used by /usr/bin/curl@host is now sent by /usr/bin/wget@host"
    );
}

#[test]
fn inbound_rate_limits_are_kept_per_client_and_endpoint() {
    let mut host = Host::new(
        r#"
version: 1
settings: {discovery: off}
rate_limits:
  - id: harvest
    direction: inbound
    path: /v1/users/{id}
    limit: 2
    per: 1m
    by: [client, method, path]
"#,
    );
    for (i, path) in ["/v1/users/1", "/v1/users/2", "/v1/users/3"]
        .iter()
        .enumerate()
    {
        host.exchange(45000 + i as u16, BOTH, &get(path, ""), "200 OK");
    }
    assert_eq!(host.rules(), ["harvest"]);
    let alert = &host.alerts[0];
    assert_eq!(alert.direction, CallDirection::Inbound);
    assert_eq!(&*alert.workload.command, "curl");
    assert!(
        alert.summary.starts_with(
            "GET /v1/users/{id} served to curl (127.0.0.1): over the limit of 2 calls per 1m"
        ),
        "{}",
        alert.summary
    );
}

#[test]
fn an_excluded_process_is_neither_reported_nor_linked_and_its_traffic_is_counted() {
    let mut host = Host::new("version: 1\n");
    host.pipeline.exclude_commands(vec!["python3".to_owned()]);
    host.exchange(
        46000,
        BOTH,
        &get(&format!("/v1/x?api_key={STRIPE}"), ""),
        "200 OK",
    );
    assert_eq!(host.calls.len(), 1);
    assert_eq!(&*host.calls[0].process.command, "curl");
    assert_eq!(host.calls[0].peer_process, None);
    assert!(host.alerts.iter().all(|a| a.peer_workload.is_none()));
    assert!(
        host.metrics
            .render()
            .contains("monitor_capture_records_total{kind=\"excluded_process\"} 3")
    );
}

#[test]
fn the_inventory_lists_called_and_served_endpoints_and_survives_a_policy_reload() {
    let mut host = Host::new(NO_DISCOVERY);
    let published = crate::inventory::PublishedInventory::default();
    host.pipeline.publish_inventory_to(published.clone());
    let bearer = format!("Authorization: Bearer {STRIPE}\r\n");
    host.exchange(47000, BOTH, &get("/v1/users/17", &bearer), "200 OK");
    host.exchange(47001, BOTH, &get("/v1/users/18", ""), "401 Unauthorized");
    host.exchange(47002, (false, true), &get("/health", ""), "200 OK");
    host.pipeline
        .set_policy(Policy::from_yaml("version: 1\n").unwrap())
        .unwrap();
    host.exchange(
        47003,
        (true, false),
        &get("/v1/users/19", &bearer),
        "404 Not Found",
    );
    host.pipeline.tick(host.now, &mut |_| {});
    let snapshot = published.latest();
    let rows: Vec<_> = snapshot
        .entries
        .iter()
        .map(|e| {
            (
                e.direction,
                e.workload.as_str(),
                e.host.as_str(),
                e.method.as_str(),
                e.path_template.as_str(),
                e.calls,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                CallDirection::Outbound,
                "/usr/bin/curl@host",
                "127.0.0.1",
                "GET",
                "/v1/users/{id}",
                3
            ),
            (
                CallDirection::Inbound,
                "/usr/bin/python3@host",
                "127.0.0.1",
                "GET",
                "/health",
                1
            ),
            (
                CallDirection::Inbound,
                "/usr/bin/python3@host",
                "127.0.0.1",
                "GET",
                "/v1/users/{id}",
                2
            ),
        ]
    );
    let called = &snapshot.entries[0];
    assert_eq!(
        (
            called.responses.success,
            called.responses.client_error,
            called.tls_calls,
            called.plaintext_calls,
            called.peers
        ),
        (1, 2, 0, 3, 1)
    );
    let schemes: Vec<&str> = called.auth_schemes.iter().map(|s| s.as_str()).collect();
    assert_eq!(schemes, ["none", "bearer"]);
    assert_eq!(called.credential_kinds, ["stripe_key"]);
    let served = &snapshot.entries[2];
    // Served to a client on this host: its peer is that workload, and loopback is internal.
    assert_eq!(served.peers, 1);
    assert!(!served.unauthenticated_external);
    let json = serde_json::to_string(&*snapshot).unwrap();
    assert!(!json.contains(&STRIPE[8..]));
}

#[test]
fn a_client_changing_its_host_header_still_adds_up_and_keys_stay_small() {
    let mut host = Host::new(
        "version: 1\nsettings: {discovery: off}\nauth_failures: {threshold: 4, credential_threshold: 100}\n",
    );
    host.pipeline.exclude_commands(vec!["curl".to_owned()]);
    for i in 0..4u16 {
        let giant = format!("h{i}{}", "x".repeat(20_000));
        let request = format!("POST /login HTTP/1.1\r\nHost: {giant}\r\nContent-Length: 0\r\n\r\n");
        host.exchange(48000 + i, BOTH, &request, "401 Unauthorized");
    }
    assert_eq!(host.rules(), ["auth.failures"]);
    let alert = &host.alerts[0];
    assert_eq!(alert.direction, CallDirection::Inbound);
    assert!(alert.summary.len() < 600, "{}", alert.summary.len());
    assert!(alert.destination.host.as_ref().unwrap().len() <= 255);
}

#[test]
fn several_exchanges_on_one_kept_alive_connection_each_alert_once() {
    let mut host = Host::new(NO_DISCOVERY);
    let request = get(&format!("/v1/x?api_key={STRIPE}"), "");
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (client_addr, server_addr) = ("127.0.0.1:49000", "127.0.0.1:8443");
    host.open(
        CLIENT,
        49000,
        monitor_common::role::CLIENT,
        client_addr,
        server_addr,
    );
    host.open(
        SERVER,
        49000,
        monitor_common::role::SERVER,
        server_addr,
        client_addr,
    );
    for _ in 0..3 {
        host.data(CLIENT, 49000, Direction::Egress, &request);
        host.data(SERVER, 49000, Direction::Ingress, &request);
        host.data(SERVER, 49000, Direction::Egress, response);
        host.data(CLIENT, 49000, Direction::Ingress, response);
    }
    host.pipeline.flush(host.now, &mut |output| {
        if let Output::Alert(alert) = output {
            host.alerts.push(alert);
        }
    });
    // Three exchanges, each raised by one end: the first printed, the two repeats summarised
    // (count 2), the three twins merged.
    let in_url: Vec<_> = host
        .alerts
        .iter()
        .filter(|a| a.rule_id == "credential.in_url")
        .collect();
    assert_eq!(in_url.len(), 2, "{:?}", host.rules());
    assert_eq!((in_url[0].count, in_url[1].count), (1, 2));
    assert!(
        host.metrics
            .render()
            .contains("monitor_alerts_merged_total{rule=\"credential.in_url\"} 3")
    );
}
