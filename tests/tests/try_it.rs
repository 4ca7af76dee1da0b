//! The README's "Try it" promise: `scripts/try.sh` against a running monitor shows the calls and
//! the alert the script tells the user to look for, and never the fake key. Runs the script
//! itself, as a user does, against the harness's monitor with the built-in default policy.
use std::process::Command;

use monitor_e2e::{Monitor, monitor_binary, root_or_skip, workspace_dir};
use serde_json::Value;

const HOST: &str = "api.shop.test";
/// Given to the script instead of a freshly generated key, so that the test knows what must
/// never show. Made up, in a Stripe key's shape.
const FAKE_KEY: &str = "sk_live_Q7wT2mZk9RbX4nLc8VhJ3pYd";

fn try_script(args: &[&str], metrics_addr: Option<&str>) -> String {
    let mut command = Command::new(workspace_dir().join("scripts/try.sh"));
    command
        .args(args)
        .env("TRY_IT_FAKE_KEY", FAKE_KEY)
        .env("MONITOR_BIN", monitor_binary());
    if let Some(addr) = metrics_addr {
        command.env("MONITOR_METRICS_ADDR", addr);
    }
    let output = command.output().expect("running scripts/try.sh");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "scripts/try.sh failed:\n{stdout}\n{stderr}"
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(FAKE_KEY),
            "the script printed the key:\n{text}"
        );
        assert!(
            !text.contains(&FAKE_KEY[8..]),
            "the script printed the key:\n{text}"
        );
    }
    stdout
}

/// The port the script served on, from its "Serving ... on 127.0.0.1:PORT" line.
fn served_port(stdout: &str) -> u16 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Serving a small HTTPS API on 127.0.0.1:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the script did not say where it served:\n{stdout}"))
}

/// What the script tells the user to look for, word for word: the test below checks each claim.
fn promises(port: u16) -> Vec<String> {
    vec![
        format!(
            "  3 API calls by curl to {HOST}:{port} (GET /v1/users, POST /v1/orders, GET /v1/balance),"
        ),
        "    each also reported from the server's side (python3)".to_owned(),
        format!(
            "  1 alert credential.wrong_destination (critical): a stripe_key sent to {HOST}, not to Stripe"
        ),
    ]
}

#[test]
fn try_script_shows_the_calls_and_the_alert_it_promises() {
    if !root_or_skip("try_script_shows_the_calls_and_the_alert_it_promises") {
        return;
    }
    let monitor = Monitor::start(&[]);
    let stdout = try_script(&[], Some(&monitor.metrics_addr));
    assert!(
        !stdout.contains("no monitor answers"),
        "the script found the monitor ready"
    );
    let port = served_port(&stdout);
    for promise in promises(port) {
        assert!(
            stdout.lines().any(|l| l == promise),
            "the script no longer promises {promise:?}: update this test with the README\n{stdout}"
        );
    }
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    let authority = format!("{HOST}:{port}");

    let of_demo = |role: &str| -> Vec<&Value> {
        captured
            .calls
            .iter()
            .filter(|c| c["event"] == "api_call" && c["role"] == role)
            .filter(|c| c["host"] == authority.as_str())
            .collect()
    };
    let summary = |calls: &[&Value]| -> Vec<(String, String, String, u64)> {
        calls
            .iter()
            .map(|c| {
                (
                    c["process"]["command"].as_str().unwrap_or("?").to_owned(),
                    c["method"].as_str().unwrap_or("?").to_owned(),
                    c["path"].as_str().unwrap_or("?").to_owned(),
                    c["status"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let expected = |command: &str| {
        vec![
            (
                command.to_owned(),
                "GET".to_owned(),
                "/v1/users".to_owned(),
                200,
            ),
            (
                command.to_owned(),
                "POST".to_owned(),
                "/v1/orders".to_owned(),
                201,
            ),
            (
                command.to_owned(),
                "GET".to_owned(),
                "/v1/balance".to_owned(),
                200,
            ),
        ]
    };
    assert_eq!(
        summary(&of_demo("client")),
        expected("curl"),
        "{}",
        captured.all_output()
    );
    assert_eq!(
        summary(&of_demo("server")),
        expected("python3"),
        "{}",
        captured.all_output()
    );

    let wrong: Vec<&Value> = captured
        .alerts_of("credential.wrong_destination")
        .into_iter()
        .filter(|a| a["destination"]["host"] == HOST && a["destination"]["port"] == port)
        .collect();
    assert_eq!(wrong.len(), 1, "{}", captured.all_output());
    assert_eq!(wrong[0]["severity"], "critical");
    assert_eq!(wrong[0]["workload"]["command"], "curl");
    assert_eq!(wrong[0]["request"]["path_template"], "/v1/balance");
    let evidence = &wrong[0]["evidence"]["credential"];
    assert_eq!(evidence["kind"], "stripe_key");
    assert_eq!(evidence["location"]["in"], "header");
    assert_eq!(evidence["length"], FAKE_KEY.len());
    let discovered = captured
        .alerts_of("destination.discovered")
        .into_iter()
        .filter(|a| a["destination"]["host"] == HOST && a["workload"]["command"] == "curl")
        .count();
    assert_eq!(discovered, 1, "{}", captured.all_output());

    assert!(
        !captured.all_output().contains(&FAKE_KEY[8..]),
        "the key leaked"
    );
}

#[test]
fn try_script_with_monitor_runs_one_itself_and_reports_the_demo() {
    if !root_or_skip("try_script_with_monitor_runs_one_itself_and_reports_the_demo") {
        return;
    }
    let stdout = try_script(&["--with-monitor"], None);
    let port = served_port(&stdout);
    for promise in promises(port) {
        assert!(
            stdout.lines().any(|l| l == promise),
            "{promise:?}\n{stdout}"
        );
    }
    assert!(
        stdout.lines().any(|l| l
            == "Seen: 3 calls made, 3 calls served; alerts: credential.wrong_destination, destination.discovered"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"kind\": \"stripe_key\""),
        "the redacted evidence is shown:\n{stdout}"
    );
}
