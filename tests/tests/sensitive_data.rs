//! Sensitive data end to end: real curl clients and a Python server, through the real kernel
//! programs, checked against a `sensitive_data` policy. A card posted over plain HTTP and over
//! TLS, an e-mail in a query string, an e-mail posted to a host not allowed to receive it, a
//! server returning personal data in a JSON response. The alerts, the per-endpoint metrics and
//! the API calls are asserted on, and none of the raw values may appear anywhere the monitor
//! writes (stdout, stderr, the alert file, the metrics page). Only this test's own server port
//! is looked at, so other traffic on the host does not matter. The values are made up.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use monitor_e2e::{
    Monitor, metric_in, programs::read_port, root_or_skip, run_client, scratch_dir,
    self_signed_cert,
};
use serde_json::Value;

const CARD_PLAIN: &str = "4539578763621486";
const CARD_TLS: &str = "5425233430109903";
const QUERY_EMAIL: &str = "ada.lovelace@example.com";
const POSTED_EMAIL: &str = "grace.hopper@example.com";
const USER_EMAILS: [&str; 2] = ["linus.t@example.org", "barbara.liskov@example.org"];
const USER_PHONE: &str = "+44 20 7946 0958";
const USER_SSN: &str = "219-09-9991";

const POLICY: &str = r#"
version: 1
settings:
  discovery: off
sensitive_data:
  bulk_response_threshold: 3
  allowed_destinations:
    email: ["*.crm.example.com"]
"#;

/// A small HTTP(S) server: `POST` anything → 201; `GET /v1/users` → personal data; any other
/// `GET` → 200. Plain on ADDRESS, or TLS with CERT KEY.
const SERVER: &str = r#"
import http.server, json, ssl, sys

USERS = json.dumps({"users": [
    {"id": 1, "email": "linus.t@example.org", "phone": "+44 20 7946 0958", "ssn": "219-09-9991"},
    {"id": 2, "email": "barbara.liskov@example.org"},
]}).encode()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._send(200, USERS if self.path == "/v1/users" else b'{"ok":true}')
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(201, b'{"ok":true}')

server = http.server.ThreadingHTTPServer((sys.argv[1], 0), Handler)
if len(sys.argv) > 3:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
"#;

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path, address: &str, tls: bool) -> Self {
        let script = dir.join("pii_server.py");
        std::fs::write(&script, SERVER).unwrap();
        let mut command = Command::new("/usr/bin/python3");
        command.arg(&script).arg(address);
        if tls {
            let (cert, key) = self_signed_cert(dir);
            command.arg(cert).arg(key);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the Python server");
        let port = read_port(&mut child);
        Self { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address of this host that is not loopback (loopback is always internal, and card data
/// in clear is only an alert towards a destination that is not), if there is one.
fn external_address() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_owned)
}

fn curl(args: &[&str]) {
    let mut command = Command::new("curl");
    command
        .args([
            "--silent",
            "--show-error",
            "--http1.1",
            "--output",
            "/dev/null",
        ])
        .args(args);
    run_client(&mut command);
}

/// `curl https://HOST:PORT...` with HOST resolved to the local TLS server.
fn curl_tls(server: &Server, host: &str, path: &str, extra: &[&str]) {
    let resolve = format!("{host}:{}:127.0.0.1", server.port);
    let url = format!("https://{host}:{}{path}", server.port);
    let mut args = vec!["--insecure", "--resolve", &resolve];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args);
}

/// The alerts of `rule` about this test's server (`port`), made by curl or served to it.
fn alerts_at<'c>(alerts: &[&'c Value], rule: &str, port: u16) -> Vec<&'c Value> {
    alerts
        .iter()
        .copied()
        .filter(|a| a["rule_id"] == rule && a["destination"]["port"] == port)
        .collect()
}

fn findings(alert: &Value) -> &Vec<Value> {
    alert["evidence"]["sensitive_data"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no sensitive_data evidence in {alert:#}"))
}

#[test]
fn card_and_personal_data_alert_count_and_never_leak() {
    if !root_or_skip("card_and_personal_data_alert_count_and_never_leak") {
        return;
    }
    let dir = scratch_dir("sensitive-data");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let alert_file = dir.join("alerts.jsonl");
    let tls = Server::start(&dir, "127.0.0.1", true);
    let external = external_address();
    let plain = external
        .as_deref()
        .map(|address| (address, Server::start(&dir, address, false)));
    let monitor = Monitor::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--alerts-file",
        alert_file.to_str().unwrap(),
    ]);

    // A card over plain HTTP to a non-loopback address of this host.
    if let Some((address, server)) = &plain {
        curl(&[
            "--data",
            &format!("amount=12.50&card_number={CARD_PLAIN}"),
            &format!("http://{address}:{}/v1/charges", server.port),
        ]);
    }
    // The same over TLS: counted, not a plaintext alert.
    curl_tls(
        &tls,
        "pay.example.com",
        "/v1/charges",
        &["--data", &format!("amount=9.99&card_number={CARD_TLS}")],
    );
    // An e-mail in a query string (and to a host not allowed to receive e-mails).
    curl_tls(
        &tls,
        "news.example.com",
        &format!("/subscribe?email={}", QUERY_EMAIL.replace('@', "%40")),
        &[],
    );
    // An e-mail posted to a tracker (not allowed), then one to the CRM (allowed).
    let posted = format!(r#"{{"email":"{POSTED_EMAIL}"}}"#);
    for host in ["tracker.example.net", "eu.crm.example.com"] {
        curl_tls(
            &tls,
            host,
            "/collect",
            &[
                "--header",
                "Content-Type: application/json",
                "--data",
                &posted,
            ],
        );
    }
    // A server returning personal data.
    curl_tls(&tls, "api.example.com", "/v1/users", &[]);

    let page = monitor.scrape_metrics();
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    let alerts = captured.alerts();
    let everything = captured.all_output();

    // Card over plaintext: one alert naming curl as the caller, critical, with the last four.
    // Both views raise it; they are linked into one alert (raised by whichever view came
    // first), except when the server's view could not name its peer yet: then the server's
    // own alert (workload python3) comes too.
    if let Some((_, server)) = &plain {
        let all = alerts_at(&alerts, "sensitive.card_plaintext", server.port);
        assert!((1..=2).contains(&all.len()), "{all:#?}\n{everything}");
        let card: Vec<_> = all
            .into_iter()
            .filter(|a| a["workload"]["command"] == "curl")
            .collect();
        assert_eq!(card.len(), 1, "{card:#?}\n{everything}");
        assert_eq!(card[0]["severity"], "critical");
        assert_eq!(card[0]["request"]["path_template"], "/v1/charges");
        let f = findings(card[0]);
        assert_eq!(f[0]["kind"], "card");
        assert_eq!(f[0]["location"]["in"], "request_body");
        assert_eq!(f[0]["count"], 1);
        assert_eq!(f[0]["cards"][0]["brand"], "visa");
        assert_eq!(f[0]["cards"][0]["last4"], &CARD_PLAIN[12..]);
    } else {
        eprintln!("no non-loopback IPv4 address: the plaintext card case is skipped");
    }
    assert!(
        alerts_at(&alerts, "sensitive.card_plaintext", tls.port).is_empty(),
        "a card over TLS is not a plaintext alert:\n{everything}"
    );

    // The e-mail in the URL: one alert naming the parameter, not the address.
    let in_url = alerts_at(&alerts, "sensitive.in_url", tls.port);
    assert_eq!(in_url.len(), 1, "{in_url:#?}\n{everything}");
    assert_eq!(in_url[0]["workload"]["command"], "curl");
    assert_eq!(in_url[0]["peer_workload"]["pid"], tls.child.id());
    let f = findings(in_url[0]);
    assert_eq!(f[0]["kind"], "email");
    assert_eq!(
        f[0]["location"],
        serde_json::json!({"in": "query", "parameter": "email"})
    );

    // E-mails to hosts not among the allowed destinations: the query one and the tracker, not
    // the CRM.
    let mut unapproved: Vec<&str> =
        alerts_at(&alerts, "sensitive.unapproved_destination", tls.port)
            .iter()
            .map(|a| a["destination"]["host"].as_str().unwrap_or(""))
            .collect();
    unapproved.sort_unstable();
    assert_eq!(
        unapproved,
        ["news.example.com", "tracker.example.net"],
        "{everything}"
    );

    // Personal data in a response: counted per endpoint, and over the bulk threshold.
    let bulk = alerts_at(&alerts, "sensitive.bulk_response", tls.port);
    assert_eq!(bulk.len(), 1, "{bulk:#?}\n{everything}");
    assert!(
        findings(bulk[0])
            .iter()
            .all(|f| f["location"]["in"] == "response_body"),
        "{bulk:#?}"
    );
    let users_call = captured
        .calls
        .iter()
        .find(|c| {
            c["event"] == "api_call"
                && c["role"] == "client"
                && c["path"] == "/v1/users"
                && c["remote"]["port"] == tls.port
        })
        .unwrap_or_else(|| panic!("no client call to /v1/users:\n{everything}"));
    assert_eq!(
        users_call["sensitive_data"],
        serde_json::json!([
            {"kind": "email", "part": "response", "count": 2},
            {"kind": "phone", "part": "response", "count": 1},
            {"kind": "us_ssn", "part": "response", "count": 1},
        ]),
        "{users_call:#}"
    );
    let series = |labels: &str| {
        metric_in(
            &page,
            &format!("monitor_sensitive_fields_total{{{labels}}}"),
        )
    };
    assert_eq!(
        series(
            r#"direction="outbound",host="api.example.com",kind="email",location="response_body",method="GET",part="response",path_template="/v1/users""#
        ),
        2,
        "{page}"
    );
    assert_eq!(
        series(
            r#"direction="inbound",host="api.example.com",kind="email",location="response_body",method="GET",part="response",path_template="/v1/users""#
        ),
        2,
        "the server's own view counts too:\n{page}"
    );
    assert_eq!(
        series(
            r#"direction="outbound",host="pay.example.com",kind="card",location="request_body",method="POST",part="request",path_template="/v1/charges""#
        ),
        1,
        "{page}"
    );

    // No raw value anywhere the monitor wrote.
    let file = std::fs::read_to_string(&alert_file).unwrap_or_default();
    assert!(!file.is_empty(), "the alert file holds the alerts");
    let mut values = vec![
        CARD_PLAIN,
        CARD_TLS,
        QUERY_EMAIL,
        POSTED_EMAIL,
        USER_PHONE,
        USER_SSN,
    ];
    values.extend(USER_EMAILS);
    let encoded_query = QUERY_EMAIL.replace('@', "%40");
    values.push(&encoded_query);
    for value in values {
        for (what, text) in [
            ("output", &everything),
            ("alert file", &file),
            ("metrics", &page),
        ] {
            assert!(!text.contains(value), "{value} appears in the {what}");
        }
    }
}
