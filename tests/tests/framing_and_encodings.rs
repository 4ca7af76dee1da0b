//! Credentials are found wherever a server would read them (issue 15, point 2), through the real
//! kernel programs over TLS:
//! - request-smuggling and malformed-framing payloads (CL.TE, TE.CL, obfuscated
//!   Transfer-Encoding, doubled lengths, obs-fold, bare LF, a broken chunk, a head that never
//!   ends), each ending in a request head with a bearer token, sent to a lenient server that
//!   reads everything (`tests/fixtures/framing/`): the token is found on every connection, on
//!   both sides, in a call the strict parser rejected (`rejected`), and ambiguous framing is
//!   counted;
//! - a gzip-compressed JSON login body (`Content-Encoding: gzip`), a chunked one, and one whose
//!   password comes after 10 KiB (inside a `--body-scan-bytes` budget of 16 KiB) (curl): the
//!   password is found in the body, the decoding counted; a body beyond the budget is counted.
//!
//! The token never appears in what the monitor prints.
use std::{collections::BTreeMap, process::Command};

use monitor_e2e::{
    Monitor, PYTHON, TlsServer, metric_in, read_port, root_or_skip, run_client, scratch_dir,
    self_signed_cert, workspace_dir,
};
use serde_json::Value;

const TOKEN: &str = "ghp_R2bX7kLm9QpT4vW8yZ1cD3fG5hJ6kN0sA2uE";
const PASSWORD: &str = "Tr0ub4dor&3xQ";
/// Payloads the strict parser refuses as ambiguous framing (see `framing_client.py`).
const AMBIGUOUS: &[&str] = &[
    "cl-te",
    "te-cl",
    "te-xchunked",
    "te-obs-fold",
    "cl-twice",
    "bare-lf",
];

fn fixture(name: &str) -> std::path::PathBuf {
    workspace_dir().join("tests/fixtures/framing").join(name)
}

fn kinds(call: &Value) -> Vec<&str> {
    call["credentials"]
        .as_array()
        .map(|c| c.iter().filter_map(|f| f["kind"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn credentials_are_found_however_the_request_is_framed_or_encoded() {
    if !root_or_skip("credentials_are_found_however_the_request_is_framed_or_encoded") {
        return;
    }
    let dir = scratch_dir("framing");
    let (cert, key) = self_signed_cert(&dir);
    let mut lenient = Command::new(PYTHON)
        .arg(fixture("lenient_server.py"))
        .arg(&cert)
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the lenient server");
    let lenient_port = read_port(&mut lenient);
    let echo = TlsServer::start();

    // A scan budget above the 4 KiB default, so that a 10 KiB body is read to its end.
    let monitor = Monitor::start(&["--body-scan-bytes", "16384"]);
    let (_, output) = run_client(
        Command::new(PYTHON)
            .arg(fixture("framing_client.py"))
            .arg(lenient_port.to_string())
            .arg(TOKEN),
    );
    assert!(output.status.success(), "{output:?}");
    // name → the client's local port of that payload's connection.
    let sent: BTreeMap<String, u64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("SENT ")?.split(' ');
            Some((words.next()?.to_owned(), words.next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(sent.len(), 9, "{output:?}");

    // A gzip-compressed login body, and a chunked one.
    let body = format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#);
    let plain = dir.join("login.json");
    std::fs::write(&plain, &body).unwrap();
    let gzipped = dir.join("login.json.gz");
    let gz = Command::new("gzip")
        .arg("--stdout")
        .arg(&plain)
        .output()
        .expect("running gzip");
    assert!(gz.status.success());
    std::fs::write(&gzipped, gz.stdout).unwrap();
    let curl = |path: &str, file: &std::path::Path, headers: &[&str]| {
        let mut c = Command::new("curl");
        c.args(["--silent", "--show-error", "--insecure", "--http1.1"])
            .args([
                "--output",
                "/dev/null",
                "--header",
                "Content-Type: application/json",
            ]);
        for h in headers {
            c.args(["--header", h]);
        }
        c.arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(echo.url(path));
        let (_, out) = run_client(&mut c);
        assert!(out.status.success(), "{out:?}");
    };
    curl("/echo?gzip", &gzipped, &["Content-Encoding: gzip"]);
    curl("/echo?chunked", &plain, &["Transfer-Encoding: chunked"]);
    // The password after 10 KiB of other fields: inside the budget. After 20 KiB: beyond it.
    let padded = |n: usize| {
        format!(
            r#"{{"notes":"{}","username":"alice","password":"{PASSWORD}"}}"#,
            "n".repeat(n)
        )
    };
    let within = dir.join("within.json");
    std::fs::write(&within, padded(10 * 1024)).unwrap();
    curl("/echo?within", &within, &[]);
    let beyond = dir.join("beyond.json");
    std::fs::write(&beyond, padded(20 * 1024)).unwrap();
    curl("/echo?beyond", &beyond, &[]);

    let metrics = monitor.scrape_metrics();
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    let calls: Vec<&Value> = captured
        .calls
        .iter()
        .filter(|c| c["event"] == "api_call")
        .collect();

    // Every payload: the token found by the client's side and by the lenient server's side.
    let mut rejected = 0;
    for (name, port) in &sent {
        for (role, end) in [("client", "local"), ("server", "remote")] {
            let mine: Vec<&&Value> = calls
                .iter()
                .filter(|c| c["role"] == role && c[end]["port"].as_u64() == Some(*port))
                .collect();
            assert!(
                mine.iter().any(|c| kinds(c).contains(&"github_token")),
                "{name} ({role}): the token was not found in {mine:#?}"
            );
            let via_rejected = mine
                .iter()
                .any(|c| !c["rejected"].is_null() && kinds(c).contains(&"github_token"));
            rejected += usize::from(via_rejected);
            if let Some(c) = mine.iter().find(|c| !c["rejected"].is_null()) {
                // A rejected call says what it does not know.
                assert!(c["method"].is_null() && c["path"].is_null(), "{c:#}");
                assert_eq!(c["complete"], false, "{c:#}");
            }
        }
    }
    // The strict parser refuses most of these shapes: without the scan of rejected bytes the
    // token would be lost on those connections.
    assert!(
        rejected >= 2 * AMBIGUOUS.len(),
        "{rejected} found through rejected bytes"
    );
    let ambiguous = metric_in(
        &metrics,
        r#"monitor_http_problems_total{problem="ambiguous_framing",protocol="http1"}"#,
    );
    assert!(
        ambiguous >= 2 * AMBIGUOUS.len() as u64,
        "ambiguous framing counted {ambiguous} times:\n{metrics}"
    );

    // The compressed, the chunked and the long login: the password found in the body, both
    // sides.
    for path in ["/echo?gzip", "/echo?chunked", "/echo?within"] {
        for role in ["client", "server"] {
            let call = calls
                .iter()
                .find(|c| {
                    c["role"] == role
                        && c["path"] == "/echo"
                        && c["query_params"] == serde_json::json!([path.split('?').nth(1)])
                })
                .unwrap_or_else(|| panic!("no {role} call to {path}:\n{}", captured.all_output()));
            let body_finding = call["credentials"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["location"]["in"] == "body" && f["length"] == PASSWORD.len());
            assert!(body_finding, "{path} ({role}): {call:#}");
        }
    }
    let cut = metric_in(&metrics, "monitor_body_scan_cut_total");
    assert!(
        cut >= 2,
        "the 20 KiB body (both sides) is beyond the budget: {cut}"
    );
    let gzip_decoded = metric_in(
        &metrics,
        r#"monitor_body_decoding_total{encoding="gzip",result="decoded"}"#,
    );
    assert!(
        gzip_decoded >= 2,
        "gzip bodies decoded: {gzip_decoded}\n{metrics}"
    );

    let everything = captured.all_output();
    assert!(!everything.contains(TOKEN), "the token was printed");
    assert!(!everything.contains(PASSWORD), "the password was printed");
    let _ = lenient.kill();
    let _ = lenient.wait();
}
