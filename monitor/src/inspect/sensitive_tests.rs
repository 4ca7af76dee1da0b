//! Sensitive data through the whole inspection stage: a card over plaintext, an e-mail in a
//! query string, personal data to a host not allowed to receive it, a response full of
//! personal data; the alerts, the per-endpoint metrics, the API call's summary, and no raw
//! value anywhere in what the monitor exports. The values are made up.
use std::sync::Arc;

use bytes::Bytes;

use crate::{
    capture::{CaptureEvent, ConnKey, DataChunk, EventKind, LibraryRegistry},
    enrich::{ProcessTable, RecordedFacts},
    inspect::Inspector,
    metrics::Metrics,
    pipeline::{Output, Pipeline},
    policy::Policy,
    protocols::Direction,
    streams::StreamLimits,
    time::WallClock,
};

const SECOND: u64 = 1_000_000_000;
const CARD: &str = "4539578763621486";
const EMAIL: &str = "ada.lovelace@example.com";
const PHONE: &str = "+44 20 7946 0958";
const SSN: &str = "219-09-9991";

const POLICY: &str = "version: 1
sensitive_data:
  bulk_response_threshold: 3
  allowed_destinations:
    email: [\"*.crm.example.com\"]
";

fn run(requests: &[(String, String)]) -> (Vec<Output>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let clock = WallClock::with_offset_ns(1_700_000_000 * SECOND as i128);
    let policy = Policy::from_yaml(POLICY).expect("valid");
    let inspector = Inspector::new(policy, vec![7; 32], clock, metrics.clone()).unwrap();
    let mut pipeline = Pipeline::new(
        StreamLimits::default(),
        ProcessTable::new(RecordedFacts::default()),
        LibraryRegistry::default(),
        clock,
        metrics.clone(),
        Some(inspector),
    );
    let mut out = Vec::new();
    for (conn, (request, response)) in requests.iter().enumerate() {
        let conn = conn as u64 + 1;
        for (direction, bytes) in [(Direction::Egress, request), (Direction::Ingress, response)] {
            let event = CaptureEvent {
                timestamp_ns: conn * SECOND,
                tgid: 10,
                tid: 10,
                uid: 1000,
                comm: "app".into(),
                kind: EventKind::Data(DataChunk {
                    conn: ConnKey {
                        tgid: 10,
                        source: monitor_common::source::SOCKET,
                        id: conn,
                    },
                    direction,
                    call_len: bytes.len() as u64,
                    offset: 0,
                    last_chunk: true,
                    lost_before: 0,
                    library: 0,
                    socket_id: 0,
                    data: Bytes::from(bytes.clone().into_bytes()),
                }),
            };
            pipeline.handle(event, &mut |output| out.push(output));
        }
    }
    (out, metrics)
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn post(host: &str, path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn alerts_metrics_and_calls_carry_kinds_and_counts_never_values() {
    let users = format!(
        r#"{{"users":[{{"email":"{EMAIL}","phone":"{PHONE}","ssn":"{SSN}"}},{{"email":"grace@example.org"}}]}}"#
    );
    let (out, metrics) = run(&[
        (
            post(
                "pay.example.com",
                "/v1/charges",
                "application/x-www-form-urlencoded",
                &format!("amount=12.50&card={CARD}"),
            ),
            ok("{}"),
        ),
        (
            format!(
                "GET /v1/subscribe?email={} HTTP/1.1\r\nHost: news.example.com\r\n\r\n",
                EMAIL.replace('@', "%40")
            ),
            ok("{}"),
        ),
        (
            post(
                "tracker.example.net",
                "/collect",
                "application/json",
                &format!(r#"{{"email":"{EMAIL}"}}"#),
            ),
            ok("{}"),
        ),
        (
            "GET /v1/users HTTP/1.1\r\nHost: api.example.com\r\n\r\n".to_owned(),
            ok(&users),
        ),
    ]);
    let alerts: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Alert(a) => Some(a),
            Output::Call(_) => None,
        })
        .collect();
    let of = |rule: &str| -> Vec<_> { alerts.iter().filter(|a| a.rule_id == rule).collect() };

    let card = of("sensitive.card_plaintext");
    assert_eq!(card.len(), 1, "{alerts:#?}");
    assert_eq!(card[0].destination.host.as_deref(), Some("pay.example.com"));
    let evidence = serde_json::to_value(&card[0].evidence).unwrap();
    assert_eq!(
        evidence["sensitive_data"]["findings"][0],
        serde_json::json!({"kind": "card", "location": {"in": "request_body"}, "count": 1, "cards": [{"brand": "visa", "last4": "1486"}]})
    );
    let in_url = of("sensitive.in_url");
    assert_eq!(in_url.len(), 1, "{alerts:#?}");
    let evidence = serde_json::to_value(&in_url[0].evidence).unwrap();
    assert_eq!(
        evidence["sensitive_data"]["findings"][0]["location"]["parameter"],
        "email"
    );
    let unapproved = of("sensitive.unapproved_destination");
    // news.example.com and tracker.example.net both got an e-mail; neither is a CRM host.
    assert_eq!(unapproved.len(), 2, "{alerts:#?}");
    let bulk = of("sensitive.bulk_response");
    assert_eq!(bulk.len(), 1, "{alerts:#?}");
    assert!(
        bulk[0].summary.contains("4 sensitive values"),
        "{}",
        bulk[0].summary
    );

    let calls: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Call(c) => Some(c),
            Output::Alert(_) => None,
        })
        .collect();
    let users_call = serde_json::to_value(calls[3]).unwrap();
    assert_eq!(
        users_call["sensitive_data"],
        serde_json::json!([
            {"kind": "email", "part": "response", "count": 2},
            {"kind": "phone", "part": "response", "count": 1},
            {"kind": "us_ssn", "part": "response", "count": 1},
        ])
    );

    let page = metrics.render();
    let series = |needle: &str| {
        page.lines()
            .find(|l| l.starts_with("monitor_sensitive_fields_total") && l.contains(needle))
            .unwrap_or_else(|| panic!("no series with {needle} in\n{page}"))
            .to_owned()
    };
    let returned = series(
        r#"kind="email",location="response_body",method="GET",part="response",path_template="/v1/users""#,
    );
    assert!(returned.ends_with(" 2"), "{returned}");
    assert!(series(r#"host="pay.example.com",kind="card""#).ends_with(" 1"));

    let exported = format!(
        "{}\n{}\n{page}",
        serde_json::to_string(&alerts).unwrap(),
        serde_json::to_string(&calls).unwrap()
    );
    for value in [
        CARD,
        "453957",
        EMAIL,
        "ada.lovelace",
        "7946 0958",
        SSN,
        "219099991",
        "grace@",
    ] {
        assert!(!exported.contains(value), "{value} leaked:\n{exported}");
    }
}
