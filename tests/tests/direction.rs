//! Who calls whom, end to end: curl calling a Python HTTPS server on loopback, both traced by
//! the real kernel programs, then each end traced alone (`--exclude-command` leaves the other
//! out, as if it ran on another host). What must hold: one alert per exchange, raised in the
//! right direction and naming both workloads; the server never blamed for a call it received;
//! 401/403 bursts found from either side; a key sent by a second program found; every call's
//! credentials listed without their value.
use std::process::Command;

use monitor_e2e::{
    Captured, Monitor, PYTHON, TlsServer, metric_in, root_or_skip, run_client, scratch_dir,
};
use serde_json::Value;

/// Made-up keys in real formats.
const STRIPE_KEY: &str = "sk_live_9fQ2bKx7TzW4mPq8RvN3yLdA";
const OTHER_STRIPE_KEY: &str = "sk_live_3Jd8sKq1LmZ5xW2vB7nC9tRe";

/// `curl -k` to the server, one connection, each path in turn; returns curl's pid.
fn curl(server: &TlsServer, paths: &[&str], headers: &[&str]) -> u32 {
    let mut command = Command::new("curl");
    command.args([
        "--silent",
        "--show-error",
        "--insecure",
        "--http1.1",
        "--output",
        "/dev/null",
    ]);
    for header in headers {
        command.args(["--header", header]);
    }
    for path in paths {
        command.arg(server.url(path));
    }
    run_client(&mut command).0
}

fn write_policy(tag: &str, text: &str) -> String {
    let path = scratch_dir(tag).join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Alerts about the exchanges of these processes (as caller or as server).
fn alerts_involving<'a>(captured: &'a Captured, pids: &[u32]) -> Vec<&'a Value> {
    let involves = |w: &Value| {
        pids.iter()
            .any(|p| w["pid"].as_u64() == Some(u64::from(*p)))
    };
    captured
        .alerts()
        .into_iter()
        // Not the summaries of repeats that suppression prints when its window ends.
        .filter(|a| a["summary_of"].is_null())
        .filter(|a| involves(&a["workload"]) || involves(&a["peer_workload"]))
        .collect()
}

fn rule_ids(alerts: &[&Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts
        .iter()
        .map(|a| a["rule_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// `rule_ids` of a curl's alerts, counting `destination.discovered` as raised when another curl
/// raised it for 127.0.0.1 in this run. The discovery is once per workload (curl) and host over
/// the monitor's life, so any other curl on the host calling 127.0.0.1 first (other tests
/// running beside this one) takes it. It must still have been raised in the run: by this curl,
/// or by that earlier call.
fn rule_ids_of_curl(captured: &Captured, alerts: &[&Value], curl_pid: u32) -> Vec<String> {
    let mut ids = rule_ids(alerts);
    let discovery = "destination.discovered";
    let taken = captured.alerts_of(discovery).iter().any(|a| {
        a["workload"]["command"] == "curl"
            && a["workload"]["pid"] != u64::from(curl_pid)
            && a["destination"]["host"] == "127.0.0.1"
    });
    if taken && !ids.iter().any(|id| id == discovery) {
        ids.push(discovery.to_owned());
        ids.sort();
    }
    ids
}

fn assert_no_raw_key(captured: &Captured) {
    let everything = captured.all_output();
    for key in [STRIPE_KEY, OTHER_STRIPE_KEY] {
        assert!(!everything.contains(&key[8..]), "a raw key leaked");
    }
}

/// The report, fixed: one request with a Stripe key gave four alerts, two of them
/// blaming the server that received it.
#[test]
fn both_ends_traced_one_alert_per_exchange_naming_the_caller_and_the_server() {
    if !root_or_skip("both_ends_traced_one_alert_per_exchange_naming_the_caller_and_the_server") {
        return;
    }
    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let bearer = format!("Authorization: Bearer {STRIPE_KEY}");
    let with_header = curl(&server, &["/hello"], &[&bearer]);
    let in_url = curl(&server, &[&format!("/hello?api_key={STRIPE_KEY}")], &[]);
    let metrics_page = monitor.scrape_metrics();
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    let server_pid = u64::from(server.pid());

    // The header call: the caller sent a Stripe key to a host that is not Stripe's, and called
    // 127.0.0.1 for the first time. Nothing about the server.
    let alerts = alerts_involving(&captured, &[with_header]);
    assert_eq!(
        rule_ids_of_curl(&captured, &alerts, with_header),
        ["credential.wrong_destination", "destination.discovered"],
        "{}",
        captured.all_output()
    );
    for alert in &alerts {
        assert_eq!(alert["direction"], "outbound", "{alert:#}");
        assert_eq!(alert["workload"]["command"], "curl", "{alert:#}");
        assert_eq!(alert["peer_workload"]["pid"], server_pid, "{alert:#}");
        assert_eq!(alert["destination"]["port"], server.port);
    }
    assert!(
        captured
            .alerts()
            .iter()
            .all(|a| a["workload"]["pid"] != server_pid),
        "no alert blames the server for a call it received:\n{}",
        captured.all_output()
    );

    // The URL call: a key in the URL is a finding on both ends, one exchange: one alert.
    let alerts = alerts_involving(&captured, &[in_url]);
    let in_url_alerts: Vec<_> = alerts
        .iter()
        .filter(|a| a["rule_id"] == "credential.in_url")
        .collect();
    assert_eq!(in_url_alerts.len(), 1, "{}", captured.all_output());
    let alert = in_url_alerts[0];
    assert_eq!(alert["workload"]["pid"], u64::from(in_url));
    assert_eq!(alert["peer_workload"]["pid"], server_pid);
    assert_eq!(alert["evidence"]["credential"]["kind"], "stripe_key");
    // Both ends did raise it: the second was merged into the first, and counted. The counter is
    // host-wide, so another exchange with a key in its URL between two processes here adds its
    // own merge (its alert may even be suppressed as a repeat, so printed alerts cannot bound
    // it). At most one merge per exchange seen from both ends: the client calls with a peer
    // process and a credential in the URL bound it (exactly 1 on a quiet host). Fails if the
    // merge is not counted, or counted more than once for an exchange.
    let merged = metric_in(
        &metrics_page,
        "monitor_alerts_merged_total{rule=\"credential.in_url\"}",
    );
    let exchanges = captured
        .calls
        .iter()
        .filter(|c| c["event"] == "api_call" && c["role"] == "client")
        .filter(|c| c["peer_process"]["pid"].is_u64())
        .filter(|c| {
            c["credentials"].as_array().is_some_and(|creds| {
                creds
                    .iter()
                    .any(|cred| matches!(cred["location"]["in"].as_str(), Some("query" | "path")))
            })
        })
        .count() as u64;
    assert!(
        merged >= 1 && merged <= exchanges,
        "{merged} merged, {exchanges} client calls with a key in the URL and a peer: \
         {metrics_page}\n{}",
        captured.all_output()
    );

    // Both views of the header call are reported, each naming the other end, each listing the
    // credential it carried by fingerprint, never by value.
    let client_call = captured.only(with_header, "client", "/hello");
    assert_eq!(client_call["direction"], "outbound");
    assert_eq!(client_call["peer_process"]["pid"], server_pid);
    let server_calls: Vec<_> = captured
        .calls_to(server.pid(), "server", "/hello")
        .into_iter()
        .filter(|c| c["peer_process"]["pid"] == u64::from(with_header))
        .collect();
    assert_eq!(server_calls.len(), 1, "{}", captured.all_output());
    let server_call = server_calls[0];
    assert_eq!(server_call["direction"], "inbound");
    for call in [client_call, server_call] {
        let credentials = call["credentials"].as_array().unwrap();
        assert_eq!(credentials.len(), 1, "{call:#}");
        let credential = &credentials[0];
        assert_eq!(credential["kind"], "stripe_key");
        assert_eq!(credential["location"]["in"], "header");
        assert_eq!(credential["location"]["name"], "authorization");
        assert_eq!(credential["length"], STRIPE_KEY.len());
        assert_eq!(credential["prefix"], "sk_live_");
    }
    assert_eq!(
        client_call["credentials"][0]["fingerprint"],
        server_call["credentials"][0]["fingerprint"]
    );
    let wrong = alerts_involving(&captured, &[with_header])
        .into_iter()
        .find(|a| a["rule_id"] == "credential.wrong_destination")
        .unwrap();
    assert_eq!(
        wrong["evidence"]["credential"]["fingerprint"],
        client_call["credentials"][0]["fingerprint"]
    );
    assert_no_raw_key(&captured);
}

/// The other end on another host: only the traced end's own checks fire, from its side.
#[test]
fn each_end_traced_alone_gets_the_alerts_of_its_own_side() {
    if !root_or_skip("each_end_traced_alone_gets_the_alerts_of_its_own_side") {
        return;
    }
    let policy = write_policy(
        "direction-alone",
        "version: 1\nauth_failures: {threshold: 4, credential_threshold: 100}\n",
    );
    let server = TlsServer::start();
    let url_path = format!("/hello?api_key={STRIPE_KEY}");

    // The client alone.
    let monitor = Monitor::start(&["--policy", &policy, "--exclude-command", "python3"]);
    let client = curl(&server, &[&url_path], &[]);
    let rejected = curl(
        &server,
        &["/status/403"; 4],
        &[&format!("X-Api-Key: {OTHER_STRIPE_KEY}")],
    );
    let captured = monitor.stop();
    assert!(captured.calls_of(server.pid()).is_empty());
    let alerts = alerts_involving(&captured, &[client]);
    assert_eq!(
        rule_ids_of_curl(&captured, &alerts, client),
        [
            "credential.in_url",
            "credential.wrong_destination",
            "destination.discovered"
        ],
        "{}",
        captured.all_output()
    );
    assert!(alerts.iter().all(|a| a["direction"] == "outbound"
        && a["workload"]["pid"] == u64::from(client)
        && a["peer_workload"].is_null()));
    // A client whose key keeps being refused is a finding from its own side.
    let failures: Vec<_> = alerts_involving(&captured, &[rejected])
        .into_iter()
        .filter(|a| a["rule_id"] == "auth.failures")
        .collect();
    assert_eq!(failures.len(), 1, "{}", captured.all_output());
    assert_eq!(failures[0]["direction"], "outbound");
    assert_eq!(failures[0]["evidence"]["auth_failures"]["forbidden_403"], 4);
    assert_no_raw_key(&captured);

    // The server alone: the key it received in a URL, nothing about destinations.
    let monitor = Monitor::start(&["--policy", &policy, "--exclude-command", "curl"]);
    let client = curl(&server, &[&url_path], &[]);
    let captured = monitor.stop();
    assert!(captured.calls_of(client).is_empty());
    let server_pid = u64::from(server.pid());
    let alerts: Vec<_> = captured
        .alerts()
        .into_iter()
        .filter(|a| a["workload"]["pid"] == server_pid)
        .collect();
    assert_eq!(
        rule_ids(&alerts),
        ["credential.in_url"],
        "{}",
        captured.all_output()
    );
    let alert = alerts[0];
    assert_eq!(alert["direction"], "inbound");
    assert!(alert["peer_workload"].is_null());
    assert_eq!(alert["client"]["ip"], "127.0.0.1");
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .contains("in the URL of GET /hello served to 127.0.0.1"),
        "{alert:#}"
    );
    assert_no_raw_key(&captured);
}

#[test]
fn a_401_storm_and_a_key_used_by_a_second_program_are_found() {
    if !root_or_skip("a_401_storm_and_a_key_used_by_a_second_program_are_found") {
        return;
    }
    let policy = write_policy(
        "direction-auth",
        "version: 1\nsettings: {discovery: off}\nauth_failures: {threshold: 6, credential_threshold: 4, window: 1m}\n",
    );
    let server = TlsServer::start();
    let monitor = Monitor::start(&["--policy", &policy]);
    let bearer = format!("Authorization: Bearer {STRIPE_KEY}");
    // Eight rejected logins on one connection.
    let stuffer = curl(&server, &["/status/401"; 8], &[&bearer]);
    // The same key, later, from another program.
    let python = run_client(Command::new(PYTHON).args([
        "-c",
        &format!(
            "import ssl, urllib.request\n\
             ctx = ssl._create_unverified_context()\n\
             req = urllib.request.Request('{}', headers={{'Authorization': 'Bearer {STRIPE_KEY}'}})\n\
             urllib.request.urlopen(req, context=ctx).read()\n",
            server.url("/hello")
        ),
    ]))
    .0;
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);

    let storm = alerts_involving(&captured, &[stuffer]);
    let auth: Vec<_> = storm
        .iter()
        .filter(|a| a["rule_id"].as_str().unwrap().starts_with("auth."))
        .collect();
    assert_eq!(
        rule_ids(&auth.iter().copied().copied().collect::<Vec<_>>()),
        ["auth.credential_rejected", "auth.failures"],
        "one auth.failures and one auth.credential_rejected for the storm, whichever end saw it first:\n{}",
        captured.all_output()
    );
    let failures = auth
        .iter()
        .find(|a| a["rule_id"] == "auth.failures")
        .expect("auth.failures");
    assert_eq!(failures["workload"]["pid"], u64::from(stuffer));
    assert_eq!(failures["peer_workload"]["pid"], u64::from(server.pid()));
    assert_eq!(failures["evidence"]["auth_failures"]["failures"], 6);
    assert_eq!(failures["evidence"]["auth_failures"]["unauthorized_401"], 6);
    assert_eq!(failures["evidence"]["auth_failures"]["window_seconds"], 60);
    let rejected = auth
        .iter()
        .find(|a| a["rule_id"] == "auth.credential_rejected")
        .expect("auth.credential_rejected");
    let credential = &rejected["evidence"]["auth_failures"]["credential"];
    assert_eq!(credential["kind"], "stripe_key");
    assert_eq!(rejected["evidence"]["auth_failures"]["failures"], 4);

    let copied: Vec<_> = captured
        .alerts_of("credential.new_workload")
        .into_iter()
        .filter(|a| a["workload"]["pid"] == u64::from(python))
        .collect();
    assert_eq!(copied.len(), 1, "{}", captured.all_output());
    let copied = copied[0];
    assert_eq!(
        copied["evidence"]["credential"]["fingerprint"],
        credential["fingerprint"]
    );
    assert!(
        copied["summary"].as_str().unwrap().starts_with(
            "stripe_key credential first used by /usr/bin/curl@host is now sent by /usr/bin/python3"
        ),
        "{copied:#}"
    );
    assert_no_raw_key(&captured);
}

/// The live inventory after a mixed run, from all three places a user reads it: `/inventory`,
/// `--inventory-file`, and `monitor inventory`; a policy reload in the middle keeps it.
#[test]
fn the_inventory_lists_what_was_called_and_served_and_survives_a_reload() {
    if !root_or_skip("the_inventory_lists_what_was_called_and_served_and_survives_a_reload") {
        return;
    }
    let dir = scratch_dir("inventory");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "version: 1\n").unwrap();
    let file = dir.join("inventory.json");
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--inventory-file",
        file.to_str().unwrap(),
        "--inventory-interval",
        "1",
    ]);
    let bearer = format!("Authorization: Bearer {STRIPE_KEY}");
    curl(&server, &["/hello", "/status/401"], &[&bearer]);
    curl(
        &server,
        &["/hello"],
        &["Authorization: Basic c3ZjLXJlcG9ydHM6VHIwdWI0ZG9yJjN4UQ=="],
    );
    // A reload between the calls: the inventory stays.
    let seen = monitor.log_lines();
    std::fs::write(&policy, "version: 1\nsettings: {discovery: off}\n").unwrap();
    monitor.wait_for_log("policy reloaded", seen, std::time::Duration::from_secs(10));
    curl(&server, &["/hello", "/status/404"], &[]);

    // The daemon publishes about once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let inventory = loop {
        let (status, body) = monitor.http_get("/inventory");
        assert_eq!(status, 200);
        let document: Value = serde_json::from_str(&body).expect("/inventory is JSON");
        let hello_calls = entry_of(&document, "outbound", "/usr/bin/curl@host", "/hello")
            .map(|e| e["calls"].as_u64().unwrap())
            .unwrap_or(0);
        if hello_calls == 3 || std::time::Instant::now() > deadline {
            break document;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);

    let called = entry_of(&inventory, "outbound", "/usr/bin/curl@host", "/hello")
        .unwrap_or_else(|| panic!("no outbound /hello entry: {inventory:#}"));
    assert_eq!(called["host"], "127.0.0.1");
    assert_eq!(called["method"], "GET");
    assert_eq!(called["calls"], 3, "{called:#}");
    assert_eq!(called["responses"], serde_json::json!({"2xx": 3}));
    assert_eq!(
        called["auth_schemes"],
        serde_json::json!(["none", "bearer", "basic"])
    );
    assert_eq!(
        called["credential_kinds"],
        serde_json::json!(["basic_auth", "stripe_key"])
    );
    assert_eq!(
        (
            called["tls_calls"].as_u64(),
            called["plaintext_calls"].as_u64()
        ),
        (Some(3), Some(0))
    );
    assert_eq!(called["peers"], 1);
    assert_eq!(called["peers_capped"], false);
    assert_eq!(called["unauthenticated_external"], false);
    assert!(called["first_seen"].as_str().unwrap() <= called["last_seen"].as_str().unwrap());

    let workload = |e: &Value| e["workload"].as_str().unwrap().to_owned();
    let served_hello = inventory["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["direction"] == "inbound"
                && workload(e).starts_with("/usr/bin/python3")
                && e["path_template"] == "/hello"
        })
        .unwrap_or_else(|| panic!("no inbound /hello entry: {inventory:#}"));
    assert_eq!(served_hello["calls"], 3);
    // Three curl processes, one workload: the clients are counted by workload on this host.
    assert_eq!(served_hello["peers"], 1);
    // Loopback clients are internal: not marked, even for the call without credentials.
    assert_eq!(served_hello["unauthenticated_external"], false);
    let statuses: Vec<(String, Value)> = ["/status/{id}"]
        .iter()
        .filter_map(|path| entry_of(&inventory, "outbound", "/usr/bin/curl@host", path))
        .map(|e| {
            (
                e["path_template"].as_str().unwrap().to_owned(),
                e["responses"].clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("/status/{id}".to_owned(), serde_json::json!({"4xx": 2}))],
        "{inventory:#}"
    );

    // The file holds the same document, written atomically (no temporary file left).
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let from_file = entry_of(&written, "outbound", "/usr/bin/curl@host", "/hello").unwrap();
    assert_eq!(from_file["calls"], 3);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "policy.yaml" && n != "inventory.json")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // `monitor inventory` prints it as a table.
    let table = Command::new(monitor_e2e::monitor_binary())
        .args(["inventory", "--file", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(table.status.success(), "{table:?}");
    let table = String::from_utf8(table.stdout).unwrap();
    let row = table
        .lines()
        .find(|l| l.contains("outbound") && l.contains("/hello") && l.contains("curl"))
        .unwrap_or_else(|| panic!("no /hello row:\n{table}"));
    assert!(row.contains("GET") && row.contains("127.0.0.1"), "{row}");
    let everything = format!(
        "{}{table}{}",
        captured.all_output(),
        serde_json::to_string(&written).unwrap()
    );
    assert!(!everything.contains(&STRIPE_KEY[8..]));
    assert!(!everything.contains("c3ZjLXJlcG9ydHM6VHIwdWI0ZG9yJjN4UQ=="));
}

fn entry_of<'a>(
    document: &'a Value,
    direction: &str,
    workload: &str,
    path: &str,
) -> Option<&'a Value> {
    document["entries"].as_array()?.iter().find(|e| {
        e["direction"] == direction && e["workload"] == workload && e["path_template"] == path
    })
}
