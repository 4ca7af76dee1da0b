//! Alerts sent off the host, end to end: the real monitor raises alerts from this test's own
//! curl calls and posts them to a real Alertmanager (Debian's `prometheus-alertmanager`, started
//! here on loopback) and to a webhook receiver that fails, hangs and comes back. What is
//! asserted is what the receivers got (Alertmanager's own API, the receiver's log) and the
//! monitor's per-sink counters; never host-wide totals.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use monitor_e2e::{
    Monitor, PYTHON, TlsServer, h2::free_port, metric_in, read_port, root_or_skip, run_client,
    scratch_dir, workspace_dir,
};
use serde_json::Value;

/// A GitHub-token-shaped secret sent in the calls that raise the alerts: it must reach neither
/// receiver.
const TOKEN: &str = "ghp_R7cK2mZp9QvT4xWn8LbY3sHd6FjA1eGu5oIk";

/// Deny rules for this test's hosts only (other traffic on the host raises none of them), a
/// short suppression window so a quiet alert resolves within the test, no discovery alerts.
fn policy(dir: &Path, window: &str) -> PathBuf {
    let path = dir.join("policy.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
version: 1
settings:
  discovery: off
  suppression_window: {window}
destinations:
  - id: sinks-e2e-denied
    action: deny
    hosts: ["*.sinks.example"]
    severity: high
"#
        ),
    )
    .unwrap();
    path
}

/// One curl call to `host` (resolved to the local TLS server) carrying the token.
fn call(server: &TlsServer, host: &str) -> u32 {
    let (pid, _) = run_client(
        Command::new("curl")
            .args(["--silent", "--show-error", "--insecure", "--http1.1"])
            .arg("--resolve")
            .arg(format!("{host}:{}:127.0.0.1", server.port))
            .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--output", "/dev/null"])
            .arg(format!("https://{host}:{}/v1/items", server.port)),
    );
    pid
}

fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET on loopback with curl; the body, or None when nothing answers.
fn get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["--silent", "--fail", "--max-time", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A real Alertmanager on `127.0.0.1:port`, clustering off, every alert routed to a receiver
/// that sends nothing (the test reads Alertmanager's API).
struct Alertmanager {
    child: Child,
    port: u16,
}

impl Alertmanager {
    fn start(dir: &Path, port: u16) -> Self {
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\n  group_by: [alertname]\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let storage = dir.join(format!("am-data-{port}"));
        std::fs::create_dir_all(&storage).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "starting prometheus-alertmanager (Debian's package; scripts/setup.sh installs it)",
            );
        let am = Self { child, port };
        wait_until("Alertmanager to be ready", Duration::from_secs(30), || {
            get(&format!("http://127.0.0.1:{port}/-/ready"))
        });
        am
    }

    /// Active alerts of this test's rule, from Alertmanager's v2 API.
    fn alerts(&self) -> Vec<Value> {
        let body = get(&format!("http://127.0.0.1:{}/api/v2/alerts", self.port))
            .expect("Alertmanager answers");
        let all: Vec<Value> = serde_json::from_str(&body).expect("a JSON list");
        all.into_iter()
            .filter(|a| a["labels"]["alertname"] == "sinks-e2e-denied")
            .collect()
    }

    fn raw(&self) -> String {
        get(&format!("http://127.0.0.1:{}/api/v2/alerts", self.port)).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The monitor with this config file (its `outputs:` section) and the test's policy, and the TLS
/// server the test's calls go to.
fn start_with_config(dir: &Path, config: &str) -> (TlsServer, Monitor) {
    let path = dir.join("monitor.yaml");
    std::fs::write(&path, config).unwrap();
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        policy(dir, "60s").to_str().unwrap(),
        "--config",
        path.to_str().unwrap(),
    ]);
    (server, monitor)
}

fn sink_metric(monitor: &Monitor, name: &str, sink: &str) -> u64 {
    metric_in(
        &monitor.scrape_metrics(),
        &format!("{name}{{sink=\"{sink}\"}}"),
    )
}

#[test]
fn alerts_reach_alertmanager_as_one_routed_alert_that_resolves_when_quiet() {
    if !root_or_skip("alerts_reach_alertmanager_as_one_routed_alert_that_resolves_when_quiet") {
        return;
    }
    let dir = scratch_dir("sinks-am");
    let am = Alertmanager::start(&dir, free_port());
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        policy(&dir, "4s").to_str().unwrap(),
        "--no-api-calls",
        "--alertmanager-url",
        &format!("http://127.0.0.1:{}", am.port),
        "--alertmanager-label",
        "cluster=e2e",
    ]);

    // Three calls, three processes, one denied destination: one alert in Alertmanager.
    for _ in 0..3 {
        call(&server, "api.sinks.example");
    }
    let alert = wait_until("the alert in Alertmanager", Duration::from_secs(20), || {
        am.alerts().into_iter().next()
    });
    let labels = alert["labels"].as_object().unwrap();
    let names: Vec<&str> = labels.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "alertname",
            "cluster",
            "destination",
            "direction",
            "node",
            "severity",
            "source",
            "workload"
        ],
        "{alert:#}"
    );
    assert_eq!(labels["severity"], "high");
    assert_eq!(labels["workload"], "curl");
    assert_eq!(labels["destination"], "api.sinks.example");
    assert_eq!(labels["direction"], "outbound");
    assert_eq!(labels["cluster"], "e2e");
    assert!(!labels["node"].as_str().unwrap().is_empty());
    let notes = &alert["annotations"];
    assert!(
        notes["summary"].as_str().is_some_and(|s| !s.is_empty()),
        "{alert:#}"
    );
    assert_eq!(notes["request"], "GET /v1/items", "{alert:#}");
    assert_eq!(alert["status"]["state"], "active", "{alert:#}");

    // The repeats (suppressed, then summarised at the window's end) stay that one alert.
    std::thread::sleep(Duration::from_secs(6));
    let alerts = am.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["startsAt"], alert["startsAt"]);
    let raw = am.raw();
    assert!(
        !raw.contains(TOKEN),
        "the token reached Alertmanager: {raw}"
    );
    assert!(
        !raw.contains("R7cK2mZp9QvT"),
        "part of the token reached Alertmanager"
    );

    // Quiet: it resolves (Alertmanager's API stops listing it) after the window and the grace.
    wait_until("the alert to resolve", Duration::from_secs(40), || {
        am.alerts().is_empty().then_some(())
    });
    assert!(sink_metric(&monitor, "monitor_output_sent_total", "alertmanager") >= 1);
    assert_eq!(
        sink_metric(&monitor, "monitor_output_dropped_total", "alertmanager"),
        0
    );
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    assert!(!captured.stderr.contains(TOKEN));
}

#[test]
fn an_alertmanager_that_is_down_or_hangs_costs_retries_not_capture() {
    if !root_or_skip("an_alertmanager_that_is_down_or_hangs_costs_retries_not_capture") {
        return;
    }
    let dir = scratch_dir("sinks-am-down");
    let port = free_port();
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        policy(&dir, "60s").to_str().unwrap(),
        "--alertmanager-url",
        &format!("http://127.0.0.1:{port}"),
        "--sink-timeout",
        "1s",
    ]);

    // Down: nothing listens. The alert is raised, the post refused, and capture goes on.
    let first = call(&server, "down.sinks.example");
    wait_until("a refused post", Duration::from_secs(15), || {
        (sink_metric(&monitor, "monitor_output_failed_total", "alertmanager") >= 2).then_some(())
    });
    assert!(sink_metric(&monitor, "monitor_output_retries_total", "alertmanager") >= 1);

    // Hanging: a listener that accepts and never answers. Each post costs the 1 s timeout.
    let hang = Command::new(PYTHON)
        .args([
            "-c",
            &format!(
                "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen(64)\nprint('PORT {port}',flush=True)\nc=[]\nwhile True:\n  c.append(s.accept())\n"
            ),
        ])
        .stdout(Stdio::piped())
        .spawn();
    let mut hang = hang.expect("python3");
    read_port(&mut hang);
    let failed = sink_metric(&monitor, "monitor_output_failed_total", "alertmanager");
    let second = call(&server, "hang.sinks.example");
    wait_until("a timed-out post", Duration::from_secs(40), || {
        (sink_metric(&monitor, "monitor_output_failed_total", "alertmanager") > failed)
            .then_some(())
    });
    // The pipeline kept going while posts failed: both alerts were raised.
    let page = monitor.scrape_metrics();
    let raised = metric_in(
        &page,
        "monitor_alerts_total{rule=\"sinks-e2e-denied\",severity=\"high\"}",
    );
    assert!(raised >= 2, "{page}");
    let _ = hang.kill();
    let _ = hang.wait();

    // Back: a real Alertmanager on that port gets both alerts with the next retry.
    let am = Alertmanager::start(&dir, port);
    let alerts = wait_until(
        "both alerts in Alertmanager",
        Duration::from_secs(45),
        || {
            let alerts = am.alerts();
            (alerts.len() == 2).then_some(alerts)
        },
    );
    let mut destinations: Vec<&str> = alerts
        .iter()
        .map(|a| a["labels"]["destination"].as_str().unwrap())
        .collect();
    destinations.sort_unstable();
    assert_eq!(destinations, ["down.sinks.example", "hang.sinks.example"]);
    let captured = monitor.stop();
    for pid in [first, second] {
        assert_eq!(
            captured.calls_of(pid).len(),
            1,
            "the call of {pid} was not reported while Alertmanager was down"
        );
    }
}

/// The receiver fixture, with its mode file and request log.
struct Receiver {
    child: Child,
    port: u16,
    mode: PathBuf,
    log: PathBuf,
}

impl Receiver {
    /// A receiver that fails until told otherwise; over TLS with `tls = Some((cert, key))`.
    fn start(dir: &Path, key: &Path, bearer: &Path, tls: Option<(&Path, &Path)>) -> Self {
        let mode = dir.join("mode");
        let log = dir.join("requests.jsonl");
        std::fs::write(&mode, "fail").unwrap();
        let mut command = Command::new(PYTHON);
        command
            .arg(workspace_dir().join("tests/fixtures/webhook_receiver.py"))
            .args([&mode, &log, &key.to_path_buf(), &bearer.to_path_buf()]);
        if let Some((cert, cert_key)) = tls {
            command.args([cert, cert_key]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the webhook receiver");
        let port = read_port(&mut child);
        Self {
            child,
            port,
            mode,
            log,
        }
    }

    fn set_mode(&self, mode: &str) {
        std::fs::write(&self.mode, mode).unwrap();
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn destinations_in(request: &Value) -> Vec<String> {
    request["body"]["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter(|a| a["rule_id"] == "sinks-e2e-denied")
                .map(|a| a["destination"]["host"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_webhook_gets_signed_batches_through_failures_hangs_and_recovery() {
    if !root_or_skip("a_webhook_gets_signed_batches_through_failures_hangs_and_recovery") {
        return;
    }
    let dir = scratch_dir("sinks-webhook");
    let key = dir.join("hmac.key");
    std::fs::write(&key, "webhook-signing-key-for-the-e2e-test\n").unwrap();
    let bearer = dir.join("bearer");
    std::fs::write(&bearer, "receiver-bearer-token\n").unwrap();
    let receiver = Receiver::start(&dir, &key, &bearer, None);
    // From the config file's `outputs:` section: short timeouts and two retries.
    let (server, monitor) = start_with_config(
        &dir,
        &format!(
            r#"
outputs:
  stdout: {{ calls: true, alerts: true }}
  webhook:
    - name: hook
      url: http://127.0.0.1:{}/alerts
      min_severity: medium
      batch_wait: 200ms
      timeout: 1s
      max_retries: 2
      bearer_token_file: {}
      hmac_key_file: {}
"#,
            receiver.port,
            bearer.display(),
            key.display()
        ),
    );

    // Failing (500): the first attempt and two retries, then the batch is dropped and counted.
    call(&server, "a.sinks.example");
    wait_until(
        "the failing batch to be dropped",
        Duration::from_secs(20),
        || (sink_metric(&monitor, "monitor_output_dropped_total", "hook") >= 1).then_some(()),
    );
    assert!(sink_metric(&monitor, "monitor_output_failed_total", "hook") >= 3);
    assert!(sink_metric(&monitor, "monitor_output_retries_total", "hook") >= 2);
    let refused = receiver.requests();
    assert!(
        refused.len() >= 3 && refused.iter().all(|r| r["mode"] == "fail"),
        "{refused:#?}"
    );

    // Hanging, then back: the attempt that hangs times out, a retry is answered.
    receiver.set_mode("hang");
    call(&server, "b.sinks.example");
    let seen = receiver.requests().len();
    wait_until("a hanging attempt", Duration::from_secs(20), || {
        (receiver.requests().len() > seen).then_some(())
    });
    receiver.set_mode("ok");
    let delivered = wait_until("delivery after recovery", Duration::from_secs(20), || {
        receiver.requests().into_iter().find(|r| {
            r["mode"] == "ok" && destinations_in(r).contains(&"b.sinks.example".to_owned())
        })
    });
    assert!(sink_metric(&monitor, "monitor_output_sent_total", "hook") >= 1);

    // What the receiver got: a signed, authenticated batch in the documented shape.
    assert_eq!(delivered["signature_valid"], true, "{delivered:#}");
    assert_eq!(delivered["timestamp_fresh"], true);
    assert_eq!(delivered["bearer_valid"], true);
    assert_eq!(delivered["content_type"], "application/json");
    let body = &delivered["body"];
    assert_eq!(body["version"], 1);
    assert!(body["node"].as_str().is_some_and(|n| !n.is_empty()));
    let alert = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule_id"] == "sinks-e2e-denied")
        .unwrap();
    assert_eq!(alert["event"], "alert");
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["workload"]["command"], "curl");
    // The dropped alert was never delivered later: drops are final, and counted.
    assert!(
        receiver
            .requests()
            .iter()
            .filter(|r| r["mode"] == "ok")
            .all(|r| !destinations_in(r).contains(&"a.sinks.example".to_owned()))
    );
    for request in receiver.requests() {
        let raw = request["raw"].as_str().unwrap_or("");
        assert!(!raw.contains(TOKEN), "the token reached the webhook: {raw}");
    }
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    assert!(!captured.stderr.contains("receiver-bearer-token"));
}

/// A CA and a certificate it issued for 127.0.0.1 (rustls, as any strict client, refuses a CA
/// certificate used as a server's): (ca.pem, server.pem, server.key).
fn ca_and_server_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr) = (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("server.csr"),
    );
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&std::ffi::OsStr]| {
        let status = Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    openssl(&[
        &os("req"),
        &os("-x509"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-days"),
        &os("1"),
        &os("-subj"),
        &os("/CN=sinks-e2e-ca"),
        &os("-keyout"),
        ca_key.as_os_str(),
        &os("-out"),
        ca.as_os_str(),
    ]);
    openssl(&[
        &os("req"),
        &os("-newkey"),
        &os("rsa:2048"),
        &os("-nodes"),
        &os("-subj"),
        &os("/CN=127.0.0.1"),
        &os("-keyout"),
        key.as_os_str(),
        &os("-out"),
        csr.as_os_str(),
    ]);
    openssl(&[
        &os("x509"),
        &os("-req"),
        &os("-in"),
        csr.as_os_str(),
        &os("-CA"),
        ca.as_os_str(),
        &os("-CAkey"),
        ca_key.as_os_str(),
        &os("-CAcreateserial"),
        &os("-days"),
        &os("1"),
        &os("-extfile"),
        ext.as_os_str(),
        &os("-out"),
        cert.as_os_str(),
    ]);
    (ca, cert, key)
}

#[test]
fn a_webhook_over_tls_is_verified_unless_told_whom_to_trust() {
    if !root_or_skip("a_webhook_over_tls_is_verified_unless_told_whom_to_trust") {
        return;
    }
    let dir = scratch_dir("sinks-webhook-tls");
    let key = dir.join("hmac.key");
    std::fs::write(&key, "k").unwrap();
    let bearer = dir.join("bearer");
    std::fs::write(&bearer, "b").unwrap();
    let (ca, cert, cert_key) = ca_and_server_cert(&dir);
    let receiver = Receiver::start(&dir, &key, &bearer, Some((&cert, &cert_key)));
    receiver.set_mode("ok");
    let url = format!("https://127.0.0.1:{}/alerts", receiver.port);
    // The same receiver twice: once with default verification (its CA is unknown), once
    // trusting its CA.
    let (server, monitor) = start_with_config(
        &dir,
        &format!(
            r#"
outputs:
  stdout: {{ calls: false }}
  webhook:
    - {{ name: untrusted, url: "{url}", batch_wait: 100ms, timeout: 2s, max_retries: 1 }}
    - {{ name: trusted, url: "{url}", batch_wait: 100ms, timeout: 2s, tls: {{ ca_file: {} }} }}
"#,
            ca.display()
        ),
    );
    call(&server, "tls.sinks.example");
    wait_until(
        "delivery to the trusted sink",
        Duration::from_secs(20),
        || (sink_metric(&monitor, "monitor_output_sent_total", "trusted") >= 1).then_some(()),
    );
    wait_until(
        "the untrusted sink to give up",
        Duration::from_secs(20),
        || (sink_metric(&monitor, "monitor_output_dropped_total", "untrusted") >= 1).then_some(()),
    );
    assert_eq!(
        sink_metric(&monitor, "monitor_output_sent_total", "untrusted"),
        0
    );
    assert!(sink_metric(&monitor, "monitor_output_failed_total", "untrusted") >= 2);
    // The receiver saw only the trusted sink's requests: the other never finished a handshake.
    let requests = receiver.requests();
    assert!(
        requests
            .iter()
            .any(|r| destinations_in(r).contains(&"tls.sinks.example".to_owned())),
        "{requests:#?}"
    );
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    assert!(
        captured
            .stderr
            .lines()
            .any(|l| l.contains("cannot post alerts") && l.contains("UnknownIssuer")),
        "the TLS failure is logged with its reason: {}",
        captured.stderr
    );
}

/// An Alertmanager that stays down for longer than an alert lasts: the alert ends (quiet for the
/// window) without ever being delivered, and that loss is counted, not silent.
#[test]
fn an_alert_that_ends_before_any_alertmanager_took_it_is_counted_dropped() {
    if !root_or_skip("an_alert_that_ends_before_any_alertmanager_took_it_is_counted_dropped") {
        return;
    }
    let dir = scratch_dir("sinks-am-lost");
    let server = TlsServer::start();
    let monitor = Monitor::start(&[
        "--policy",
        policy(&dir, "1s").to_str().unwrap(),
        "--no-api-calls",
        "--alertmanager-url",
        &format!("http://127.0.0.1:{}", free_port()),
    ]);
    call(&server, "lost.sinks.example");
    // Window 1 s + 5 s of grace: the alert has ended by then, undelivered.
    wait_until(
        "the undelivered alert to be counted",
        Duration::from_secs(30),
        || {
            (sink_metric(&monitor, "monitor_output_dropped_total", "alertmanager") >= 1)
                .then_some(())
        },
    );
    assert_eq!(
        sink_metric(&monitor, "monitor_output_sent_total", "alertmanager"),
        0
    );
    assert!(sink_metric(&monitor, "monitor_output_failed_total", "alertmanager") >= 1);
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
}

/// `monitor config check`: what a user runs before rolling a config file out. No root needed.
#[test]
fn config_check_names_every_problem_and_passes_a_good_file() {
    let dir = scratch_dir("sinks-config-check");
    let key = dir.join("hmac.key");
    std::fs::write(&key, "k\n").unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        format!(
            "outputs:\n  alertmanager:\n    - urls: [http://127.0.0.1:9093]\n  webhook:\n    - url: https://hooks.example/x\n      hmac_key_file: {}\n",
            key.display()
        ),
    )
    .unwrap();
    let out = Command::new(monitor_e2e::monitor_binary())
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "outputs:\n  webhook:\n    - url: hooks.example/x?token=s3cr3t\n      bearer_token_file: /nonexistent/token\n",
    )
    .unwrap();
    let out = Command::new(monitor_e2e::monitor_binary())
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hooks.example/x") && stderr.contains("/nonexistent/token"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");

    let typo = dir.join("typo.yaml");
    std::fs::write(&typo, "outputs:\n  webhooks: []\n").unwrap();
    let out = Command::new(monitor_e2e::monitor_binary())
        .args(["config", "check"])
        .arg(&typo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("webhooks") && stderr.contains("line 2"),
        "{stderr}"
    );
}
