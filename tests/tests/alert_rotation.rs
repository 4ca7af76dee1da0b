//! `--alerts-file` rotation end to end: the real monitor with a tiny maximum size, alerts raised
//! by this test's own curl calls, and the rotated files checked against what the monitor
//! printed on stdout.
//!
//! The monitor hands every alert to the alert file and to stdout in the same order, from one
//! thread. So, with no drops on either sink, the files that survive rotation (`FILE.2`,
//! `FILE.1`, `FILE`, oldest first) must hold exactly the newest alerts of stdout, in order:
//! a suffix of the stdout alerts. A line lost, split, repeated or reordered by a rotation
//! breaks that, whatever else the host was doing (its alerts are in both streams too).
use std::process::Command;

use monitor_e2e::{Monitor, TlsServer, root_or_skip, run_client, scratch_dir};
use serde_json::Value;

const MAX_SIZE: usize = 2048;
const KEEP: usize = 2;
/// Distinct denied hosts called: two alerts each (the deny rule and first-seen destination),
/// far more than `KEEP + 1` files of `MAX_SIZE` hold.
const HOSTS: usize = 40;

const POLICY: &str = r#"
version: 1
settings:
  discovery: info
destinations:
  - id: deny-rotation-test
    action: deny
    hosts: ["*.rotate.example"]
    severity: high
"#;

fn is_own(alert: &Value, pid: u32) -> bool {
    alert["workload"]["pid"].as_u64() == Some(u64::from(pid))
}

#[test]
fn rotated_alert_files_hold_the_newest_alerts_whole_and_in_order() {
    if !root_or_skip("rotated_alert_files_hold_the_newest_alerts_whole_and_in_order") {
        return;
    }
    let dir = scratch_dir("alert-rotation");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let alert_file = dir.join("alerts.jsonl");
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--alerts-file",
        alert_file.to_str().unwrap(),
        "--alerts-file-max-size",
        "2KiB",
        "--alerts-file-keep",
        &KEEP.to_string(),
        "--no-api-calls",
    ]);

    // One curl, one connection per host.
    let mut curl = Command::new("curl");
    curl.args(["--silent", "--show-error", "--insecure", "--http1.1"]);
    for i in 0..HOSTS {
        let host = format!("h{i}.rotate.example");
        curl.arg("--resolve")
            .arg(format!("{host}:{}:127.0.0.1", server.port));
        curl.args(["--output", "/dev/null"])
            .arg(format!("https://{host}:{}/hello", server.port));
    }
    let (curl_pid, _) = run_client(&mut curl);
    // Every own alert reached stdout before stopping, so none is raised during shutdown.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let captured = loop {
        let page = monitor.scrape_metrics();
        let raised = monitor_e2e::metric_in(
            &page,
            "monitor_alerts_total{rule=\"deny-rotation-test\",severity=\"high\"}",
        );
        if raised as usize >= HOSTS || std::time::Instant::now() > deadline {
            break monitor.stop();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(captured.exit_ok, "{}", captured.stderr);

    let printed: Vec<&Value> = captured.alerts();
    let own_printed = printed.iter().filter(|a| is_own(a, curl_pid)).count();
    assert_eq!(
        own_printed,
        2 * HOSTS,
        "a deny and a discovery alert per host on stdout:\n{}",
        captured.all_output()
    );
    for sink in ["stdout", "alert_file"] {
        assert_eq!(
            captured.metric(&format!("monitor_output_dropped_total{{sink=\"{sink}\"}}")),
            0,
            "{sink} dropped lines: the comparison below needs both complete"
        );
    }
    let rotations = captured.metric("monitor_output_rotations_total{sink=\"alert_file\"}");
    assert_eq!(
        captured.metric("monitor_output_rotation_failures_total{sink=\"alert_file\"}"),
        0
    );
    assert!(
        rotations as usize > KEEP,
        "{rotations} rotations: the test must rotate files away\n{}",
        captured.stderr
    );

    // The set on disk: FILE and FILE.1 … FILE.KEEP, nothing else.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("alerts.jsonl"))
        .collect();
    names.sort();
    let expected: Vec<String> = std::iter::once("alerts.jsonl".to_owned())
        .chain((1..=KEEP).map(|n| format!("alerts.jsonl.{n}")))
        .collect();
    assert_eq!(names, expected, "at most KEEP + 1 files");

    // Oldest first. Each file: whole lines of JSON, within the maximum unless one line alone
    // is longer, and rotated only when the next line would not have fitted.
    let files: Vec<String> = (1..=KEEP)
        .rev()
        .map(|n| format!("alerts.jsonl.{n}"))
        .chain(std::iter::once("alerts.jsonl".to_owned()))
        .map(|name| std::fs::read_to_string(dir.join(name)).unwrap())
        .collect();
    for (i, text) in files.iter().enumerate() {
        assert!(text.ends_with('\n'), "file {i} ends mid-line:\n{text}");
        assert!(
            text.len() <= MAX_SIZE || text.lines().count() == 1,
            "file {i} has {} bytes in {} lines",
            text.len(),
            text.lines().count()
        );
        if let Some(next) = files.get(i + 1) {
            let first_next = next.lines().next().map_or(0, |l| l.len() + 1);
            assert!(
                text.len() + first_next > MAX_SIZE,
                "file {i} was rotated with room left for the next line"
            );
        }
    }
    let kept: Vec<Value> = files
        .iter()
        .flat_map(|text| text.lines())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a line of the alert files is not JSON ({e}): {line}"))
        })
        .collect();

    // The kept lines are exactly the newest printed alerts: nothing lost, split or reordered
    // inside what survived; what is missing is a prefix, the files rotated away.
    assert!(kept.len() <= printed.len());
    let deleted = printed.len() - kept.len();
    let newest: Vec<Value> = printed[deleted..].iter().map(|a| (*a).clone()).collect();
    assert!(
        kept == newest,
        "the alert files are not the newest {} printed alerts in order\nfiles:\n{}\nstdout:\n{}",
        kept.len(),
        files.concat(),
        captured.stdout
    );
    // The same, counted on this test's own traffic: in the files = printed − rotated away.
    let own_kept = kept.iter().filter(|a| is_own(a, curl_pid)).count();
    let own_deleted = printed[..deleted]
        .iter()
        .filter(|a| is_own(a, curl_pid))
        .count();
    assert!(
        own_kept > 0 && own_deleted > 0,
        "{own_kept} kept, {own_deleted} rotated away"
    );
    assert_eq!(own_kept, own_printed - own_deleted);
}
