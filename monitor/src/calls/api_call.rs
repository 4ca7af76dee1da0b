//! The API-call event and how it is built from an exchange and its enrichment.
use std::{net::IpAddr, sync::Arc};

use compact_str::CompactString;
use serde::Serialize;

use super::{QueryNames, split_target};
use crate::{
    capture::{LibraryInfo, TlsLibraryKind},
    credentials::Finding,
    enrich::{ProcessInfo, SocketInfo},
    kubernetes::K8sIdentity,
    protocols::{
        CallDirection, Role,
        http2::{CaptureStart, GrpcCall, StreamReset, UnknownField},
    },
    streams::ConnectionExchange,
    time::{WallClock, WallTime},
};

/// One API call, as printed (one JSON object per line). Field names are a stable interface:
/// see `docs/api-call-schema.md` before changing them.
#[derive(Debug, Serialize)]
pub struct ApiCall {
    /// When the request started (RFC 3339, UTC).
    pub time: WallTime,
    pub event: &'static str,
    /// Which side of the call the traced process is on.
    pub role: Role,
    /// `outbound` when the traced process made the call (client), `inbound` when it served it.
    pub direction: CallDirection,
    pub process: ProcessOut,
    /// The process at the other end of the connection, when it runs on this host too (both
    /// ends of a loopback or pod-to-pod connection); `None` when it is elsewhere or unknown.
    pub peer_process: Option<ProcessOut>,
    /// Whether the call was encrypted (captured inside a TLS library).
    pub tls: bool,
    /// The TLS library that carried it; `None` for plaintext calls.
    pub tls_library: Option<TlsOut>,
    /// The traced process's end of the TCP connection, when known.
    pub local: Option<EndpointOut>,
    /// The peer's end of the TCP connection, when known.
    pub remote: Option<EndpointOut>,
    /// Connection handle within the process (hex), to group calls of one connection.
    pub connection_id: ConnectionId,
    /// `None` only for an HTTP/2 call whose method the capture could not know (`unknown_fields`).
    pub method: Option<crate::protocols::Method>,
    pub host: Option<CompactString>,
    /// Path without the query string; token-like segments (secrets in paths) are redacted.
    pub path: Option<CompactString>,
    /// The template of `path` (`/v1/users/{id}`), which the rate limits and the inventory group
    /// calls by. Made with `path`, in one pass over its segments; not printed.
    #[serde(skip)]
    pub path_template: Option<CompactString>,
    /// Names (never values) of the query parameters.
    pub query_params: QueryNames,
    pub http_version: &'static str,
    /// `None` when no response was seen (connection closed or monitor stopped first).
    pub status: Option<u16>,
    /// Request head + body bytes.
    pub request_bytes: u64,
    pub request_body_bytes: u64,
    pub response_bytes: Option<u64>,
    pub response_body_bytes: Option<u64>,
    /// From the request's first byte to the response's last byte.
    pub latency_ms: Option<f64>,
    /// Both messages were seen whole (no gap that could not be skipped, no missing response).
    pub complete: bool,
    /// HTTP/2: the stream that carried the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// HTTP/2: how the capture of the connection started (`preface`, `upgrade`,
    /// `mid_connection`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_start: Option<CaptureStart>,
    /// HTTP/2: fields the monitor could not know (they are `null` above), never guessed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_fields: Vec<UnknownField>,
    /// HTTP/2: the stream was reset (RST_STREAM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<StreamReset>,
    /// gRPC calls: service, method, status, message counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcCall>,
    /// HTTP/1: not a parsed call but request bytes the parser rejected or skipped (what
    /// rejected them: `ambiguous_framing`, `malformed_head`, `bad_chunked_encoding`, `desync`,
    /// `head_too_large`, `incomplete_head`). Method, host and path are unknown; the bytes were
    /// scanned for credentials, since a lenient server may have read them as a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<&'static str>,
    /// The credentials the request carried (the audit trail): kind, location, length, public
    /// prefix and keyed fingerprint, never the value. Filled by inspection; empty without a
    /// policy.
    pub credentials: Vec<Finding>,
    /// Card and personal data the exchange carried: kinds and counts per part (request,
    /// response), never a value. Filled by inspection; absent when none was found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensitive_data: Vec<crate::sensitive::SensitiveSummary>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProcessOut {
    pub pid: u32,
    pub tid: u32,
    pub command: Arc<str>,
    pub executable: Option<Arc<str>>,
    pub uid: u32,
    pub container_id: Option<Arc<str>>,
    /// Kubernetes identity, for a process in a pod (absent outside Kubernetes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s: Option<Arc<K8sIdentity>>,
}

#[derive(Debug, Serialize)]
pub struct TlsOut {
    pub name: TlsLibraryKind,
    /// Printed as the library's `path`; shared with the registry, not copied per call.
    #[serde(rename = "path", serialize_with = "library_path")]
    pub library: Arc<LibraryInfo>,
}

fn library_path<S: serde::Serializer>(library: &Arc<LibraryInfo>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&library.path)
}

/// An address as calls print it (`{"ip": "127.0.0.1", "port": 443}`). The IP stays an
/// `IpAddr`, formatted only when serialised.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EndpointOut {
    pub ip: IpAddr,
    pub port: u16,
}

impl From<std::net::SocketAddr> for EndpointOut {
    fn from(addr: std::net::SocketAddr) -> Self {
        Self {
            ip: addr.ip(),
            port: addr.port(),
        }
    }
}

/// An IPv4 address's dotted text, written on the stack: every call prints two addresses and
/// every served call names its client by one, and `core::fmt` cost over a thousand
/// instructions each.
pub(crate) struct Ipv4Text {
    buf: [u8; 15],
    len: usize,
}

impl Ipv4Text {
    pub(crate) fn new(ip: std::net::Ipv4Addr) -> Self {
        let mut text = Self {
            buf: [0; 15],
            len: 0,
        };
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                text.push(b'.');
            }
            if octet >= 100 {
                text.push(b'0' + octet / 100);
            }
            if octet >= 10 {
                text.push(b'0' + octet / 10 % 10);
            }
            text.push(b'0' + octet % 10);
        }
        text
    }

    fn push(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and dots were written.
        crate::short_text::ascii(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A connection handle, printed in hex (`"0x7f3a..."`) when serialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

impl ConnectionId {
    /// `format!("{:#x}")`'s text (`0x` and lower-case digits without leading zeros), written
    /// on the stack: every call prints one, and `core::fmt` cost hundreds of instructions.
    pub(crate) fn hex<'b>(&self, buf: &'b mut [u8; 18]) -> &'b str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut start = buf.len();
        let mut rest = self.0;
        loop {
            start -= 1;
            buf[start] = DIGITS[(rest & 0xf) as usize];
            rest >>= 4;
            if rest == 0 {
                break;
            }
        }
        buf[start - 2..start].copy_from_slice(b"0x");
        // Only ASCII was written.
        crate::short_text::ascii(&buf[start - 2..]).unwrap_or_default()
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.hex(&mut [0; 18]))
    }
}

pub fn build_api_call(
    item: &ConnectionExchange,
    process: &ProcessInfo,
    library: Option<&Arc<LibraryInfo>>,
    socket: Option<&SocketInfo>,
    clock: &WallClock,
) -> ApiCall {
    let exchange = &item.exchange;
    let request = &exchange.request;
    let target = split_target(&request.head.target);
    let response = exchange.response.as_ref();
    let complete = !request.stats.incomplete && response.is_some_and(|r| !r.stats.incomplete);
    let h2 = exchange.http2.as_deref();
    let rejected = exchange.rejected;
    let unknown =
        |f: UnknownField| rejected.is_some() || h2.is_some_and(|h| h.unknown_fields.contains(&f));
    let (path, path_template) = if unknown(UnknownField::Path) {
        (None, None)
    } else {
        let (path, template) = super::redact_path_and_template(target.path);
        (Some(path), Some(template))
    };
    ApiCall {
        time: clock.at(request.stats.start_ns),
        event: "api_call",
        role: exchange.role,
        direction: exchange.role.into(),
        process: ProcessOut {
            tid: item.tid,
            command: if process.command.is_empty() {
                item.comm.as_str().into()
            } else {
                process.command.clone()
            },
            ..ProcessOut::of(process)
        },
        peer_process: None,
        tls: item.conn.source != monitor_common::source::SOCKET,
        tls_library: library.map(|l| TlsOut {
            name: l.kind,
            library: l.clone(),
        }),
        local: socket.and_then(|s| s.local).map(Into::into),
        remote: socket.and_then(|s| s.remote).map(Into::into),
        connection_id: ConnectionId(item.conn.id),
        method: (!unknown(UnknownField::Method)).then(|| request.head.method.clone()),
        host: if unknown(UnknownField::Host) {
            None
        } else {
            request
                .head
                .host
                .clone()
                .or_else(|| target.authority.map(CompactString::from))
        },
        path,
        path_template,
        query_params: target.query_names,
        http_version: request.head.version.as_str(),
        status: response
            .filter(|_| !unknown(UnknownField::Status))
            .map(|r| r.head.status),
        request_bytes: request
            .stats
            .head_bytes
            .saturating_add(request.stats.body_bytes),
        request_body_bytes: request.stats.body_bytes,
        response_bytes: response.map(|r| r.stats.head_bytes.saturating_add(r.stats.body_bytes)),
        response_body_bytes: response.map(|r| r.stats.body_bytes),
        latency_ms: response
            .filter(|_| h2.is_none_or(|h| h.request_seen))
            .map(|r| r.stats.end_ns.saturating_sub(request.stats.start_ns) as f64 / 1_000_000.0),
        complete,
        stream_id: h2.map(|h| h.stream_id),
        capture_start: h2.map(|h| h.capture_start),
        unknown_fields: match (rejected, h2) {
            (Some(_), _) => vec![
                UnknownField::Method,
                UnknownField::Path,
                UnknownField::Host,
                UnknownField::RequestHeaders,
            ],
            (None, h2) => h2.map(|h| h.unknown_fields.clone()).unwrap_or_default(),
        },
        reset: h2.and_then(|h| h.reset.clone()),
        grpc: h2.and_then(|h| h.grpc.clone()),
        rejected,
        credentials: Vec::new(),
        sensitive_data: Vec::new(),
    }
}

impl ProcessOut {
    /// A process as calls show it; `tid` is 0 when no thread is known (a peer process).
    pub fn of(process: &ProcessInfo) -> Self {
        Self {
            pid: process.pid,
            tid: 0,
            command: process.command.clone(),
            executable: process.executable.clone(),
            uid: process.uid,
            container_id: process.container_id.clone(),
            k8s: None,
        }
    }

    /// The key rates, inventories and credential owners group a workload by: its executable
    /// (or command) and container, so that restarts and worker processes are one workload.
    pub fn workload_key(&self) -> CompactString {
        let who = self.executable.as_deref().unwrap_or(&self.command);
        // Inline up to 24 bytes (see `short_text`).
        let joined = |place: &str| crate::short_text::concat(&[who, "@", place]);
        match &self.k8s {
            Some(k8s) => joined(&k8s.workload_key()),
            None => joined(self.container_id.as_deref().unwrap_or("host")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        capture::ConnKey,
        protocols::{
            Exchange, HttpVersion, MessageStats, Request, RequestHead, Response, ResponseHead,
        },
    };

    #[test]
    fn connection_ids_print_as_format_hex_does() {
        for id in [0, 1, 0xf, 0x10, 0x55d8_a40a_1e90, u64::MAX >> 4, u64::MAX] {
            assert_eq!(
                serde_json::to_string(&ConnectionId(id)).unwrap(),
                format!("\"{id:#x}\"")
            );
        }
    }

    #[test]
    fn saturated_body_counts_do_not_overflow_the_totals() {
        // Found by `cargo xtask fuzz`: a hole of nearly 2^64 bytes saturates a body count, and
        // adding the head to it overflowed (a panic with overflow checks).
        let stats = MessageStats {
            head_bytes: 40,
            body_bytes: u64::MAX,
            ..MessageStats::default()
        };
        let item = ConnectionExchange {
            conn: ConnKey {
                tgid: 1,
                source: monitor_common::source::SOCKET,
                id: 7,
            },
            library: 0,
            tid: 1,
            uid: 0,
            comm: "client".into(),
            socket_id: 0,
            exchange: Exchange {
                role: Role::Client,
                request: Request {
                    head: RequestHead {
                        method: "POST".into(),
                        target: "/upload".into(),
                        version: HttpVersion::Http11,
                        host: None,
                        headers: Default::default(),
                    },
                    stats: stats.clone(),
                },
                response: Some(Response {
                    head: ResponseHead {
                        status: 200,
                        version: HttpVersion::Http11,
                        headers: Default::default(),
                    },
                    stats,
                }),
                http2: None,
                rejected: None,
            },
        };
        let process = ProcessInfo {
            pid: 1,
            command: "client".into(),
            executable: None,
            uid: 0,
            container_id: None,
            pod_uid: None,
        };
        let call = build_api_call(&item, &process, None, None, &WallClock::with_offset_ns(0));
        assert_eq!(call.request_bytes, u64::MAX);
        assert_eq!(call.response_bytes, Some(u64::MAX));
    }
}
