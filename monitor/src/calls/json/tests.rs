//! The hand-written line against the derived `Serialize`: the same bytes, whatever is set.
use std::{net::SocketAddr, sync::Arc};

use super::*;
use crate::{
    calls::{QueryNames, api_call::ConnectionId},
    capture::{LibraryInfo, TlsLibraryKind},
    credentials::{CredentialKind, Finding, JwtFacts, Location},
    kubernetes::K8sIdentity,
    protocols::{
        CallDirection, Role,
        http2::{CaptureStart, GrpcCall, StreamReset, UnknownField},
    },
    sensitive::{Part, SensitiveKind, SensitiveSummary},
    time::WallClock,
};

/// Text that serde_json must escape, and text it must leave alone (non-ASCII, DEL).
const AWKWARD: &str = "a\"b\\c\u{1}\n\t\r\u{7f}é–😀/";

fn process(command: &str, tid: u32) -> ProcessOut {
    ProcessOut {
        pid: 4100,
        tid,
        command: command.into(),
        executable: Some("/usr/bin/curl".into()),
        uid: 1000,
        container_id: None,
        k8s: None,
    }
}

fn bare() -> ApiCall {
    ApiCall {
        time: WallClock::with_offset_ns(1_780_000_000_123_456_789).at(0),
        event: "api_call",
        role: Role::Client,
        direction: CallDirection::Outbound,
        process: process("curl", 4101),
        peer_process: None,
        tls: false,
        tls_library: None,
        local: None,
        remote: None,
        connection_id: ConnectionId(0x7f3a_0000_1234),
        method: None,
        host: None,
        path: None,
        path_template: None,
        query_params: QueryNames::default(),
        http_version: "HTTP/1.1",
        status: None,
        request_bytes: 0,
        request_body_bytes: 0,
        response_bytes: None,
        response_body_bytes: None,
        latency_ms: None,
        complete: false,
        stream_id: None,
        capture_start: None,
        unknown_fields: Vec::new(),
        reset: None,
        grpc: None,
        rejected: None,
        credentials: Vec::new(),
        sensitive_data: Vec::new(),
    }
}

fn full() -> ApiCall {
    let mut peer = process(AWKWARD, 0);
    peer.executable = None;
    peer.container_id = Some("0123abcd".into());
    peer.k8s = Some(Arc::new(K8sIdentity::unknown_pod("9f0e-uid")));
    let query: QueryNames = ["page", AWKWARD].into_iter().map(str::to_owned).collect();
    ApiCall {
        role: Role::Server,
        direction: CallDirection::Inbound,
        peer_process: Some(peer),
        tls: true,
        tls_library: Some(TlsOut {
            name: TlsLibraryKind::Openssl,
            library: Arc::new(LibraryInfo {
                kind: TlsLibraryKind::Openssl,
                path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".to_owned(),
            }),
        }),
        local: Some("127.0.0.1:8443".parse::<SocketAddr>().unwrap().into()),
        remote: Some("[2001:db8::1]:51234".parse::<SocketAddr>().unwrap().into()),
        method: Some("POST".into()),
        host: Some("api.shop.test:8443".into()),
        path: Some(format!("/v1/users/{{id}}/{AWKWARD}").into()),
        path_template: None,
        query_params: query,
        http_version: "HTTP/2",
        status: Some(200),
        request_bytes: u64::MAX,
        request_body_bytes: 17,
        response_bytes: Some(1234),
        response_body_bytes: Some(0),
        latency_ms: Some(0.000_123),
        complete: true,
        stream_id: Some(7),
        capture_start: Some(CaptureStart::MidConnection),
        unknown_fields: vec![UnknownField::Host, UnknownField::ResponseHeaders],
        reset: Some(StreamReset {
            by: Role::Client,
            error_code: 8,
            error: "CANCEL",
        }),
        grpc: Some(GrpcCall {
            service: Some("pkg.Service".to_owned()),
            method: Some("Get".to_owned()),
            status: Some(0),
            status_name: Some("OK"),
            ..GrpcCall::default()
        }),
        rejected: Some("ambiguous_framing"),
        credentials: vec![Finding {
            kind: CredentialKind::Jwt,
            location: Location::Query {
                parameter: AWKWARD.to_owned(),
            },
            length: 40,
            prefix: Some("eyJ".to_owned()),
            fingerprint: "f1e2d3c4b5a69788".into(),
            jwt: None,
        }],
        sensitive_data: vec![SensitiveSummary {
            kind: SensitiveKind::Card,
            part: Part::Response,
            count: 2,
        }],
        ..bare()
    }
}

fn written(call: &ApiCall) -> String {
    let mut out = String::new();
    write_api_call(call, &mut out).unwrap();
    out
}

#[track_caller]
fn same_as_serde(call: &ApiCall) {
    assert_eq!(written(call), serde_json::to_string(call).unwrap());
}

#[test]
fn a_call_with_nothing_optional_is_serdes_line() {
    same_as_serde(&bare());
}

#[test]
fn a_call_with_everything_set_and_text_to_escape_is_serdes_line() {
    let call = full();
    same_as_serde(&call);
    // The case is what it claims: escapes, nested objects and every optional field printed.
    let line = written(&call);
    for part in [
        r#"a\"b\\c\u0001\n\t\r"#,
        r#""k8s":{"#,
        r#""ip":"2001:db8::1""#,
        r#""grpc":{"#,
        r#""sensitive_data":["#,
        r#""stream_id":7"#,
        r#""rejected":"ambiguous_framing""#,
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

#[test]
fn each_optional_part_alone_is_serdes_line() {
    let all = full();
    type Change<'a> = Box<dyn Fn(&mut ApiCall) + 'a>;
    let cases: Vec<Change> = vec![
        Box::new(|c| c.peer_process = all.peer_process.clone()),
        Box::new(|c| c.tls_library = full().tls_library),
        Box::new(|c| c.local = full().local),
        Box::new(|c| c.remote = full().remote),
        Box::new(|c| c.method = all.method.clone()),
        Box::new(|c| c.host = all.host.clone()),
        Box::new(|c| c.path = all.path.clone()),
        Box::new(|c| c.query_params = all.query_params.clone()),
        Box::new(|c| c.status = all.status),
        Box::new(|c| c.response_bytes = all.response_bytes),
        Box::new(|c| c.response_body_bytes = all.response_body_bytes),
        Box::new(|c| c.stream_id = all.stream_id),
        Box::new(|c| c.capture_start = all.capture_start),
        Box::new(|c| c.unknown_fields = all.unknown_fields.clone()),
        Box::new(|c| c.reset = all.reset.clone()),
        Box::new(|c| c.grpc = all.grpc.clone()),
        Box::new(|c| c.rejected = all.rejected),
        Box::new(|c| c.credentials = full().credentials),
        Box::new(|c| c.sensitive_data = full().sensitive_data),
        Box::new(|c| c.process.executable = None),
        Box::new(|c| c.process.container_id = Some(AWKWARD.into())),
    ];
    for (i, set) in cases.iter().enumerate() {
        let mut call = bare();
        set(&mut call);
        assert_eq!(
            written(&call),
            serde_json::to_string(&call).unwrap(),
            "case {i}"
        );
    }
}

#[test]
fn every_tls_library_and_empty_text_are_serdes_line() {
    for kind in [
        TlsLibraryKind::Openssl,
        TlsLibraryKind::Gnutls,
        TlsLibraryKind::Nss,
        TlsLibraryKind::Go,
    ] {
        let mut call = bare();
        call.tls_library = Some(TlsOut {
            name: kind,
            library: Arc::new(LibraryInfo {
                kind,
                path: String::new(),
            }),
        });
        same_as_serde(&call);
    }
    let mut call = bare();
    call.process.command = "".into();
    call.host = Some("".into());
    call.path = Some("".into());
    call.query_params = [String::new()].into_iter().collect();
    same_as_serde(&call);
}

#[test]
fn every_credential_location_and_jwt_facts_are_serdes_line() {
    let base = full().credentials.remove(0);
    let findings = [
        Finding {
            location: Location::Header {
                name: "authorization".into(),
            },
            prefix: None,
            ..base.clone()
        },
        Finding {
            location: Location::Header {
                name: AWKWARD.to_owned().into(),
            },
            ..base.clone()
        },
        Finding {
            location: Location::Path,
            length: usize::MAX,
            ..base.clone()
        },
        Finding {
            location: Location::Body,
            jwt: Some(JwtFacts {
                alg: Some("none".to_owned()),
                unsigned: true,
                expired: false,
                issuer: Some(AWKWARD.to_owned()),
                public: true,
            }),
            ..base.clone()
        },
        Finding {
            kind: CredentialKind::GenericSecret,
            jwt: Some(JwtFacts {
                alg: None,
                unsigned: false,
                expired: true,
                issuer: None,
                public: false,
            }),
            ..base.clone()
        },
    ];
    for finding in &findings {
        let mut call = bare();
        call.credentials = vec![finding.clone()];
        same_as_serde(&call);
    }
    let mut call = bare();
    call.credentials = findings.to_vec();
    same_as_serde(&call);
}

#[test]
fn numbers_and_times_print_as_serde_prints_them() {
    for latency in [
        0.0,
        -0.0,
        1.0,
        0.5,
        1e-7,
        123_456.789,
        1e21,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::NAN,
        f64::INFINITY,
    ] {
        let mut call = bare();
        call.latency_ms = Some(latency);
        same_as_serde(&call);
    }
    for id in [0, 0xf, 0x10, u64::MAX] {
        let mut call = bare();
        call.connection_id = ConnectionId(id);
        same_as_serde(&call);
    }
    for ns in [0, 1, 999_999_999, 1_000_000_000, u64::MAX / 2] {
        let mut call = bare();
        call.time = WallClock::with_offset_ns(i128::from(ns)).at(0);
        same_as_serde(&call);
    }
    for ip in [
        "0.0.0.0",
        "10.1.20.255",
        "::1",
        "::ffff:192.0.2.1",
        "fe80::1:2:3:4",
    ] {
        let mut call = bare();
        let ip: std::net::IpAddr = ip.parse().unwrap();
        call.local = Some(SocketAddr::new(ip, 0).into());
        same_as_serde(&call);
    }
}

#[test]
fn only_what_serde_escapes_counts_as_needing_it() {
    for byte in 0u8..=0x7f {
        let text = char::from(byte).to_string();
        let escaped = serde_json::to_string(&text).unwrap() != format!("\"{text}\"");
        assert_eq!(needs_escape(&text), escaped, "byte {byte:#x}");
    }
    assert!(!needs_escape("é–😀"));
}

/// The word-at-a-time check against the byte-wise one: every byte value at every position of
/// every length up to three words, over backgrounds of plain and of non-ASCII bytes (whose
/// borrows and high bits the word arithmetic must not mistake for a match).
#[test]
fn the_word_check_agrees_with_the_byte_check_everywhere() {
    let bytewise = |bytes: &[u8]| bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    for background in [b'a', 0x20, 0x21, 0x5d, 0x7f, 0x80, 0xff] {
        for len in 0..=24 {
            for at in 0..len {
                for byte in 0u8..=0xff {
                    let mut text = vec![background; len];
                    text[at] = byte;
                    assert_eq!(
                        super::needs_escape_bytes(&text),
                        bytewise(&text),
                        "{background:#x} × {len}, {byte:#x} at {at}"
                    );
                }
            }
            assert_eq!(
                super::needs_escape_bytes(&vec![background; len]),
                bytewise(&vec![background; len])
            );
        }
    }
}
