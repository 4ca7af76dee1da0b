//! The security core end to end: real curl traffic over TLS through the real kernel programs,
//! checked against a policy, and the alerts (stdout, alert file), metrics and a replay of the
//! recorded run asserted on. The credentials are fake but have real formats.
use std::{path::Path, process::Command, time::Duration};

use monitor_e2e::{
    Captured, Monitor, TlsServer, monitor_binary, root_or_skip, run_client, scratch_dir,
};
use serde_json::Value;

/// Made-up keys in real formats (AWS's documented `...EXAMPLE` key is, rightly, treated as a placeholder).
const AWS_KEY: &str = "AKIA4HKQ7XJ2N3TB5WPD";
const STRIPE_KEY: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQ2bvXz9Y";
const GITHUB_TOKEN: &str = "ghp_R2bX7kLm9QpT4vW8yZ1cD3fG5hJ6kN0sA2uE";
/// A webhook-style secret carried in a URL path.
const PATH_SECRET: &str = "XyZ9aB7cD5eF3gH1iJ0kL2mN";

const POLICY: &str = r#"
version: 1
settings:
  suppression_window: 60s
  discovery: info
destinations:
  - id: deny-evil
    action: deny
    hosts: ["*.evil.example"]
    severity: high
rate_limits:
  - id: burst-limit
    hosts: [rate.example]
    limit: 1
    per: 1m
    burst: 2
    severity: medium
"#;

/// curl to `https://HOST:PORT/PATH` where HOST resolves to the local test server.
fn curl_to(server: &TlsServer, host: &str, paths: &[&str], extra: &[&str]) -> u32 {
    let mut command = Command::new("curl");
    command
        .args([
            "--silent",
            "--show-error",
            "--insecure",
            "--http1.1",
            "--output",
            "/dev/null",
        ])
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", server.port))
        .args(extra);
    for path in paths {
        command.arg(format!("https://{host}:{}{path}", server.port));
    }
    run_client(&mut command).0
}

/// The traffic every test here sends: one call per rule kind.
fn send_traffic(server: &TlsServer) {
    curl_to(server, "api.evil.example", &["/exfil"], &[]);
    curl_to(
        server,
        "upload.example",
        &["/v1/files"],
        &["--header", &format!("X-Api-Key: {AWS_KEY}")],
    );
    curl_to(
        server,
        "api.example.com",
        &[&format!("/v1/items/42?api_key={STRIPE_KEY}")],
        &[],
    );
    curl_to(
        server,
        "api.github.com",
        &["/user"],
        &["--header", &format!("Authorization: Bearer {GITHUB_TOKEN}")],
    );
    curl_to(server, "rate.example", &["/hello"; 5], &[]);
    curl_to(
        server,
        "hooks.example.com",
        &[&format!("/services/T0123ABCD/B0456EFGH/{PATH_SECRET}")],
        &[],
    );
}

fn write_policy(dir: &Path, text: &str) -> String {
    let path = dir.join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn only<'a>(alerts: Vec<&'a Value>, what: &str, captured: &Captured) -> &'a Value {
    assert_eq!(
        alerts.len(),
        1,
        "expected one {what} alert, got {alerts:#?}\n{}",
        captured.all_output()
    );
    alerts[0]
}

#[test]
fn each_rule_kind_raises_its_alert_and_no_secret_leaks() {
    if !root_or_skip("each_rule_kind_raises_its_alert_and_no_secret_leaks") {
        return;
    }
    let dir = scratch_dir("policy-alerts");
    let policy = write_policy(&dir, POLICY);
    let alert_file = dir.join("alerts.jsonl");
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        &policy,
        "--alerts-file",
        alert_file.to_str().unwrap(),
    ]);
    send_traffic(&server);
    let metrics_page = monitor.scrape_metrics();
    // The inventory is published each second: wait for this traffic in it.
    let mut inventory = String::new();
    for _ in 0..50 {
        inventory = monitor.http_get("/inventory").1;
        if inventory.contains("hooks.example.com") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        inventory.contains("\"credential_kinds\":[\"aws_access_key\"]"),
        "{inventory}"
    );
    assert_eq!(monitor.http_get("/healthz").0, 200);
    assert_eq!(monitor.http_get("/readyz").0, 200);
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);

    // A denied host.
    let denied: Vec<_> = captured
        .alerts_of("deny-evil")
        .into_iter()
        .filter(|a| a["workload"]["command"] == "curl")
        .collect();
    let denied = only(denied, "deny-evil", &captured);
    assert_eq!(denied["severity"], "high");
    assert_eq!(denied["destination"]["host"], "api.evil.example");
    assert_eq!(denied["destination"]["port"], server.port);
    assert_eq!(denied["destination"]["tls"], true);
    assert_eq!(denied["request"]["method"], "GET");
    assert_eq!(denied["request"]["path_template"], "/exfil");
    assert_eq!(denied["workload"]["executable"], "/usr/bin/curl");

    // A credential sent where it does not belong.
    let wrong: Vec<_> = captured
        .alerts_of("credential.wrong_destination")
        .into_iter()
        .filter(|a| {
            a["workload"]["command"] == "curl" && a["destination"]["host"] == "upload.example"
        })
        .collect();
    let wrong = only(wrong, "AWS key to upload.example", &captured);
    assert_eq!(wrong["severity"], "critical");
    let evidence = &wrong["evidence"]["credential"];
    assert_eq!(evidence["kind"], "aws_access_key");
    assert_eq!(evidence["location"]["in"], "header");
    assert_eq!(evidence["location"]["name"], "x-api-key");
    assert_eq!(evidence["length"], AWS_KEY.len());
    assert_eq!(evidence["prefix"], "AKIA");
    assert_eq!(evidence["fingerprint"].as_str().map(str::len), Some(16));

    // A secret in a URL: the client sent it and the server received it, one exchange: one
    // alert, naming the caller and the server.
    let in_url: Vec<_> = captured
        .alerts_of("credential.in_url")
        .into_iter()
        .filter(|a| a["summary_of"].is_null())
        .collect();
    let in_url = only(in_url, "credential.in_url", &captured);
    assert_eq!(in_url["workload"]["command"], "curl");
    assert_eq!(in_url["peer_workload"]["pid"], server.pid());
    assert_eq!(in_url["evidence"]["credential"]["location"]["in"], "query");
    assert_eq!(
        in_url["evidence"]["credential"]["location"]["parameter"],
        "api_key"
    );
    assert_eq!(in_url["request"]["path_template"], "/v1/items/{id}");

    // A credential to its own provider over TLS is fine: no wrong-destination alert for GitHub.
    assert!(
        captured
            .alerts_of("credential.wrong_destination")
            .iter()
            .all(|a| a["destination"]["host"] != "api.github.com"),
        "a GitHub token to api.github.com must not alert:\n{}",
        captured.all_output()
    );

    // A rate limit: 5 calls, burst 2 → 3 over the limit: one alert now, a summary of 2 repeats.
    let rate: Vec<_> = captured
        .alerts_of("burst-limit")
        .into_iter()
        .filter(|a| a["workload"]["command"] == "curl")
        .collect();
    let rate_calls = captured
        .calls
        .iter()
        .filter(|c| c["event"] == "api_call" && c["role"] == "client")
        .filter(|c| {
            c["host"]
                .as_str()
                .is_some_and(|h| h.starts_with("rate.example"))
        })
        .count();
    assert_eq!(
        rate_calls,
        5,
        "every call is captured:\n{}",
        captured.all_output()
    );
    assert_eq!(rate.len(), 2, "{rate:#?}");
    assert_eq!(rate[0]["count"], 1);
    assert!(
        rate[0]["evidence"]["rate"]["limit_per_second"]
            .as_f64()
            .unwrap()
            < 0.02
    );
    assert_eq!(rate[1]["count"], 2);
    assert_eq!(rate[1]["summary_of"], rate[0]["id"]);

    // First-seen destinations: one discovery alert per host for curl.
    let discovered: Vec<_> = captured
        .alerts_of("destination.discovered")
        .into_iter()
        .filter(|a| a["workload"]["command"] == "curl")
        .map(|a| a["destination"]["host"].as_str().unwrap().to_owned())
        .collect();
    for host in [
        "hooks.example.com",
        "api.evil.example",
        "upload.example",
        "api.example.com",
        "api.github.com",
        "rate.example",
    ] {
        assert_eq!(
            discovered.iter().filter(|h| *h == host).count(),
            1,
            "{host}: {discovered:?}"
        );
    }

    // The alert file holds exactly the alerts (and no API calls).
    let file = std::fs::read_to_string(&alert_file).unwrap();
    let file_alerts: Vec<Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(file_alerts.len(), captured.alerts().len());
    assert!(file_alerts.iter().all(|a| a["event"] == "alert"));

    // Metrics: alerts by rule and severity, calls by destination (bounded labels, no paths).
    assert!(
        metrics_page.contains("monitor_alerts_total{rule=\"deny-evil\",severity=\"high\"} "),
        "{metrics_page}"
    );
    assert!(
        metrics_page.contains("host=\"api.evil.example\""),
        "{metrics_page}"
    );
    assert!(
        !metrics_page.contains("/v1/items"),
        "no raw path in any label"
    );

    // No raw secret anywhere: stdout (API calls with their audit trail, alerts), logs, alert
    // file, metrics, the inventory.
    assert!(
        captured
            .calls
            .iter()
            .any(|c| c["event"] == "api_call" && c["credentials"][0]["kind"] == "github_token"),
        "the audit trail lists the GitHub token by kind"
    );
    let everything = format!(
        "{}\n{file}\n{metrics_page}\n{inventory}",
        captured.all_output()
    );
    assert!(
        captured.calls.iter().any(|c| c["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("hooks.example.com"))),
        "the webhook call is reported (with its secret segment redacted)"
    );
    for secret in [AWS_KEY, STRIPE_KEY, GITHUB_TOKEN, PATH_SECRET] {
        assert!(!everything.contains(secret), "raw secret {secret} leaked");
        assert!(
            !everything.contains(&secret[4..]),
            "the secret part of {secret} leaked"
        );
    }
}

#[test]
fn a_replay_of_a_recorded_run_prints_what_the_live_run_printed() {
    if !root_or_skip("a_replay_of_a_recorded_run_prints_what_the_live_run_printed") {
        return;
    }
    let dir = scratch_dir("record-replay");
    let policy = write_policy(&dir, POLICY);
    let key = dir.join("fingerprint.key");
    let recording = dir.join("run.rec");
    let server = TlsServer::start();
    let monitor = Monitor::start_command(
        "record",
        &[
            "--out",
            recording.to_str().unwrap(),
            "--policy",
            &policy,
            "--fingerprint-key",
            key.to_str().unwrap(),
        ],
    );
    send_traffic(&server);
    let live = monitor.stop();
    assert!(live.exit_ok, "{}", live.stderr);
    assert!(live.alerts().len() >= 10, "{}", live.stdout);

    // Replay needs no root and no kernel: run it as a plain program.
    let replayed = Command::new(monitor_binary())
        .args(["replay", recording.to_str().unwrap(), "--policy", &policy])
        .args(["--fingerprint-key", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let replay_stdout = String::from_utf8(replayed.stdout).unwrap();
    let mut live_lines: Vec<&str> = live.stdout.lines().collect();
    let mut replay_lines: Vec<&str> = replay_stdout.lines().collect();
    live_lines.sort_unstable();
    replay_lines.sort_unstable();
    assert_eq!(
        live_lines, replay_lines,
        "replay must print exactly what the live run printed"
    );
}

#[test]
fn policy_reloads_on_change_and_a_broken_policy_keeps_the_last_good_one() {
    if !root_or_skip("policy_reloads_on_change_and_a_broken_policy_keeps_the_last_good_one") {
        return;
    }
    let dir = scratch_dir("policy-reload");
    let policy = write_policy(&dir, "version: 1\n");
    let server = TlsServer::start();
    let monitor = Monitor::start(&["--policy", &policy]);
    curl_to(&server, "api.evil.example", &["/before"], &[]);

    let seen = monitor.log_lines();
    std::fs::write(&policy, POLICY).unwrap();
    let seen = monitor.wait_for_log("policy reloaded", seen, Duration::from_secs(10));
    curl_to(&server, "api.evil.example", &["/after-reload"], &[]);

    std::fs::write(
        &policy,
        "version: 1\ndestinations:\n  - id: x\n    action: maybe\n",
    )
    .unwrap();
    monitor.wait_for_log("policy rejected", seen, Duration::from_secs(10));
    curl_to(&server, "api.evil.example", &["/after-broken"], &[]);

    // SIGHUP reloads at once, file changed or not (here: still broken, so still rejected).
    let seen = monitor.log_lines();
    monitor.signal(libc::SIGHUP);
    monitor.wait_for_log("trigger=\"SIGHUP\"", seen, Duration::from_secs(10));
    let metrics_page = monitor.scrape_metrics();
    let captured = monitor.stop();

    let denied: Vec<String> = captured
        .alerts_of("deny-evil")
        .into_iter()
        .filter(|a| a["workload"]["command"] == "curl")
        .map(|a| a["request"]["path_template"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        denied,
        vec!["/after-reload", "/after-broken"],
        "{}",
        captured.all_output()
    );
    assert!(
        captured.stderr.contains("line 4"),
        "the rejection says where: {}",
        captured.stderr
    );
    assert!(
        metrics_page.contains("monitor_policy_reloads_total{result=\"failure\"} 2"),
        "{metrics_page}"
    );
    assert!(
        metrics_page.contains("monitor_policy_reloads_total{result=\"success\"} 2"),
        "{metrics_page}"
    );
}
