//! Decoding of raw ring-buffer records into owned [`CaptureEvent`]s.
//!
//! The bytes come from the kernel, but they are still validated: a record shorter than its header,
//! a payload length past the end of the record, or an unknown kind/direction is a
//! [`DecodeError`] (counted by the caller), never a panic.
use bytes::Bytes;
use monitor_common::{
    AF_INET, AF_INET6, HEADER_LEN, RecordHeader, SocketOpen, direction, flags, record_kind,
};
use thiserror::Error;

use super::arena::PayloadArena;
use crate::protocols::Direction;

/// Identifies a connection across the whole host: the process and its library-level handle
/// (the `SSL*` for OpenSSL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    pub tgid: u32,
    pub source: u8,
    pub id: u64,
}

#[derive(Clone, Debug)]
pub struct DataChunk {
    pub conn: ConnKey,
    pub direction: Direction,
    /// Bytes the whole call moved.
    pub call_len: u64,
    /// Offset of `data` within the call.
    pub offset: u64,
    pub last_chunk: bool,
    /// Bytes of this connection and direction lost in the kernel just before this chunk.
    pub lost_before: u64,
    /// Identifies the probed library file (see `LibraryRegistry`); 0 for plaintext.
    pub library: u64,
    /// The TCP connection under these bytes (its `SocketOpen` id), 0 when unknown.
    pub socket_id: u64,
    pub data: Bytes,
}

impl DataChunk {
    /// Bytes of the call past this chunk that were not captured (the call exceeded the per-call
    /// cap). Only the last chunk of a call can have any.
    pub fn truncated_after(&self) -> u64 {
        if self.last_chunk {
            self.call_len
                .saturating_sub(self.offset + self.data.len() as u64)
        } else {
            0
        }
    }
}

/// A TCP connection the kernel (or startup recovery) gave an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOpened {
    pub id: u64,
    pub fd: u32,
    /// For an accepted connection: the listening socket.
    pub listen_fd: Option<u32>,
    pub role: u8,
    pub recovered: bool,
    /// `None` when the kernel could not see it (accept without a peer buffer).
    pub remote: Option<std::net::SocketAddr>,
    pub local: Option<std::net::SocketAddr>,
}

#[derive(Clone, Debug)]
pub enum EventKind {
    Data(DataChunk),
    Close(ConnKey),
    SocketOpen(SocketOpened),
    /// The socket's first bytes are TLS (see `record_kind::TLS_HANDSHAKE`).
    TlsHandshake(ConnKey),
    ProcessExec {
        filename: String,
    },
    /// The process mapped a file's code (see `record_kind::CODE_MAPPED`).
    CodeMapped,
    ProcessExit,
}

#[derive(Clone, Debug)]
pub struct CaptureEvent {
    /// CLOCK_MONOTONIC nanoseconds.
    pub timestamp_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: super::Comm,
    pub kind: EventKind,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than its {HEADER_LEN}-byte header")]
    Short { len: usize },
    #[error("record says {data_len} payload bytes but carries {available}")]
    PayloadOverrun { data_len: usize, available: usize },
    #[error("unknown record kind {kind}")]
    UnknownKind { kind: u8 },
    #[error("unknown direction {direction} in a data record")]
    UnknownDirection { direction: u8 },
}

impl DecodeError {
    /// Stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Short { .. } => "short",
            Self::PayloadOverrun { .. } => "payload_overrun",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::UnknownDirection { .. } => "unknown_direction",
        }
    }
}

/// `raw` decoded, its payload copied into a `Bytes` of its own (tests, tools, replays).
pub fn decode(raw: &[u8]) -> Result<CaptureEvent, DecodeError> {
    decode_copying(raw, Bytes::copy_from_slice)
}

/// `raw` decoded, its payload copied into `arena`: the ring reader's path, with no allocation
/// per record.
pub fn decode_into(raw: &[u8], arena: &mut PayloadArena) -> Result<CaptureEvent, DecodeError> {
    decode_copying(raw, |payload| arena.copy(payload))
}

fn decode_copying(
    raw: &[u8],
    copy: impl FnOnce(&[u8]) -> Bytes,
) -> Result<CaptureEvent, DecodeError> {
    if raw.len() < HEADER_LEN {
        return Err(DecodeError::Short { len: raw.len() });
    }
    // SAFETY: `raw` holds at least HEADER_LEN bytes and every bit pattern is a valid
    // `RecordHeader` (integers and byte arrays only); the read is unaligned-safe.
    let head: RecordHeader = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
    let data_len = head.data_len as usize;
    let available = raw.len() - HEADER_LEN;
    if data_len > available {
        return Err(DecodeError::PayloadOverrun {
            data_len,
            available,
        });
    }
    let payload = &raw[HEADER_LEN..HEADER_LEN + data_len];
    let conn = ConnKey {
        tgid: head.tgid,
        source: head.source,
        id: head.conn_id,
    };
    let kind = match head.kind {
        record_kind::DATA => EventKind::Data(DataChunk {
            conn,
            direction: match head.direction {
                direction::EGRESS => Direction::Egress,
                direction::INGRESS => Direction::Ingress,
                other => return Err(DecodeError::UnknownDirection { direction: other }),
            },
            call_len: head.call_len,
            offset: u64::from(head.offset),
            last_chunk: head.flags & flags::LAST_CHUNK != 0,
            lost_before: head.lost_before,
            library: head.attach_cookie,
            socket_id: head.socket_id,
            data: copy(payload),
        }),
        record_kind::SOCKET_OPEN => EventKind::SocketOpen(socket_opened(head.conn_id, payload)?),
        record_kind::CLOSE => EventKind::Close(conn),
        record_kind::TLS_HANDSHAKE => EventKind::TlsHandshake(conn),
        record_kind::PROCESS_EXEC => EventKind::ProcessExec {
            filename: String::from_utf8_lossy(payload).into_owned(),
        },
        record_kind::PROCESS_EXIT => EventKind::ProcessExit,
        record_kind::CODE_MAPPED => EventKind::CodeMapped,
        other => return Err(DecodeError::UnknownKind { kind: other }),
    };
    Ok(CaptureEvent {
        timestamp_ns: head.timestamp_ns,
        tgid: head.tgid,
        tid: head.tid,
        uid: head.uid,
        comm: super::Comm::from_kernel(&head.comm),
        kind,
    })
}

/// The filled part of a ring-buffer record: its header and `data_len` payload bytes. The kernel
/// reserves a record in one of a few fixed sizes (a reservation's size must be a constant for
/// the verifier), so what follows is leftover ring memory: it must not reach a recording or a
/// held-back copy. A record too short for what it claims is left whole for [`decode`] to reject.
pub fn filled(raw: &[u8]) -> &[u8] {
    if raw.len() < HEADER_LEN {
        return raw;
    }
    // SAFETY: at least HEADER_LEN bytes; every bit pattern is a valid `RecordHeader`.
    let head: RecordHeader = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
    let len = HEADER_LEN.saturating_add(head.data_len as usize);
    if len <= raw.len() { &raw[..len] } else { raw }
}

/// The bytes the kernel emits for a record: the inverse of [`decode`]. Used to announce
/// recovered connections exactly as the kernel would, and to build recordings in tests.
pub fn encode(head: &RecordHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    // SAFETY: `RecordHeader` is `#[repr(C)]` plain data whose padding is spelled out as fields,
    // so all of its bytes are initialised.
    out.extend_from_slice(unsafe {
        std::slice::from_raw_parts((head as *const RecordHeader).cast::<u8>(), HEADER_LEN)
    });
    out.extend_from_slice(payload);
    out
}

fn socket_opened(id: u64, payload: &[u8]) -> Result<SocketOpened, DecodeError> {
    let len = std::mem::size_of::<SocketOpen>();
    if payload.len() < len {
        return Err(DecodeError::PayloadOverrun {
            data_len: len,
            available: payload.len(),
        });
    }
    // SAFETY: at least `len` bytes; every bit pattern is a valid `SocketOpen`.
    let open: SocketOpen = unsafe { std::ptr::read_unaligned(payload.as_ptr().cast()) };
    let addr = |bytes: [u8; 16], port: u16| -> Option<std::net::SocketAddr> {
        let ip: std::net::IpAddr = match open.family {
            AF_INET => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into(),
            AF_INET6 => {
                let v6 = std::net::Ipv6Addr::from(bytes);
                // Dual-stack sockets show IPv4 peers as ::ffff:a.b.c.d: report them as IPv4.
                v6.to_ipv4_mapped().map(Into::into).unwrap_or(v6.into())
            }
            _ => return None,
        };
        (port != 0 || !ip.is_unspecified()).then(|| std::net::SocketAddr::new(ip, port))
    };
    Ok(SocketOpened {
        id,
        fd: open.fd,
        listen_fd: (open.role == monitor_common::role::SERVER && open.recovered == 0)
            .then_some(open.listen_fd),
        role: open.role,
        recovered: open.recovered != 0,
        remote: addr(open.remote_addr, open.remote_port),
        local: addr(open.local_addr, open.local_port),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use monitor_common::{COMM_LEN, source};

    use super::*;

    /// Builds the bytes the kernel would emit for a data record.
    pub(crate) fn raw_data_record(
        conn_id: u64,
        dir: u8,
        offset: u32,
        call_len: u64,
        last: bool,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut comm = [0u8; COMM_LEN];
        comm[..4].copy_from_slice(b"curl");
        let head = RecordHeader {
            timestamp_ns: 42,
            conn_id,
            call_len,
            lost_before: 0,
            attach_cookie: 7,
            socket_id: 0,
            tgid: 100,
            tid: 101,
            offset,
            data_len: payload.len() as u32,
            kind: record_kind::DATA,
            direction: dir,
            source: source::OPENSSL,
            flags: if last { flags::LAST_CHUNK } else { 0 },
            uid: 1000,
            comm,
        };
        encode(&head, payload)
    }

    #[test]
    fn decodes_a_data_record() {
        let raw = raw_data_record(0xabc, direction::EGRESS, 0, 10, true, b"GET / HTTP/1.1\r\n");
        let event = decode(&raw).expect("valid record");
        assert_eq!(event.comm, "curl");
        assert_eq!(event.tgid, 100);
        assert_eq!(event.uid, 1000);
        let EventKind::Data(chunk) = event.kind else {
            panic!("expected data, got {:?}", event.kind)
        };
        assert_eq!(chunk.direction, Direction::Egress);
        assert_eq!(chunk.conn.id, 0xabc);
        assert_eq!(chunk.library, 7);
        assert_eq!(&chunk.data[..], b"GET / HTTP/1.1\r\n");
        assert!(chunk.last_chunk);
    }

    #[test]
    fn a_record_longer_than_its_payload_decodes_and_is_trimmed() {
        let exact = raw_data_record(0xabc, direction::EGRESS, 0, 5, true, b"hello");
        let mut reserved = exact.clone();
        reserved.extend_from_slice(&[0xee; 251]);
        let EventKind::Data(chunk) = decode(&reserved).expect("valid record").kind else {
            panic!("expected data")
        };
        assert_eq!(&chunk.data[..], b"hello");
        assert_eq!(filled(&reserved), &exact[..]);
        assert_eq!(filled(&exact), &exact[..]);
        // Claims more than it carries: left whole, and decode says why.
        let short = &exact[..exact.len() - 2];
        assert_eq!(filled(short), short);
        assert_eq!(filled(&[1, 2, 3]), &[1, 2, 3]);
    }

    #[test]
    fn truncated_tail_is_the_rest_of_the_call() {
        let raw = raw_data_record(1, direction::INGRESS, 4096, 10_000, true, &[b'x'; 100]);
        let EventKind::Data(chunk) = decode(&raw).unwrap().kind else {
            panic!("expected data")
        };
        assert_eq!(chunk.truncated_after(), 10_000 - 4196);
    }

    #[test]
    fn rejects_hostile_records() {
        assert_eq!(
            decode(&[0u8; 10]).unwrap_err(),
            DecodeError::Short { len: 10 }
        );
        let mut raw = raw_data_record(1, direction::EGRESS, 0, 5, true, b"hello");
        raw.truncate(raw.len() - 2);
        assert!(matches!(
            decode(&raw),
            Err(DecodeError::PayloadOverrun { .. })
        ));
        let raw = raw_data_record(1, 9, 0, 5, true, b"hello");
        assert_eq!(
            decode(&raw).unwrap_err(),
            DecodeError::UnknownDirection { direction: 9 }
        );
        let mut raw = raw_data_record(1, direction::EGRESS, 0, 5, true, b"hello");
        raw[std::mem::offset_of!(RecordHeader, kind)] = 77;
        assert_eq!(
            decode(&raw).unwrap_err(),
            DecodeError::UnknownKind { kind: 77 }
        );
    }
}
