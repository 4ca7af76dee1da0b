//! Frame layout. A recording is `MAGIC`, a little-endian `u32` format version, then frames:
//! `kind: u8`, `length: u32` (little-endian), `length` bytes of payload.
//!
//! Capture records are kept byte for byte as the kernel wrote them (`monitor_common::RecordHeader`
//! plus payload), so a replay decodes them with the same code as a live run. Metadata frames are
//! JSON objects so that fields can be added without a new version.
use serde::{Deserialize, Serialize};

use crate::capture::TlsLibraryKind;

pub const MAGIC: &[u8; 8] = b"APIMREC\n";
pub const FORMAT_VERSION: u32 = 1;

pub(super) const KIND_RECORD: u8 = 1;
pub(super) const KIND_CLOCK: u8 = 2;
pub(super) const KIND_LIBRARY: u8 = 3;
pub(super) const KIND_PROCESS: u8 = 4;
pub(super) const KIND_SOCKET: u8 = 5;
pub(super) const KIND_POD: u8 = 6;

/// A frame larger than this is corrupt: the largest capture record is a header and one chunk.
pub(super) const MAX_FRAME_LEN: u32 = 1 << 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// Raw ring-buffer record.
    Record(Vec<u8>),
    /// Wall-clock minus monotonic nanoseconds on the recording host.
    Clock {
        monotonic_to_unix_offset_ns: i128,
    },
    Library(LibraryFrame),
    Process(ProcessFrame),
    Socket(SocketFrame),
    Pod(PodFrame),
}

/// What the live run's pod watch answered for a pod UID, from that UID's `lookup`-th lookup on
/// (see `kubernetes::RecordedPods`).
pub type PodFrame = crate::kubernetes::PodAnswer;

/// What the recording host's `/proc` answered about a process's TCP socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketFrame {
    pub pid: u32,
    pub fd: u32,
    pub local: Option<std::net::SocketAddr>,
    pub remote: Option<std::net::SocketAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryFrame {
    pub cookie: u64,
    pub kind: TlsLibraryKind,
    pub path: String,
}

/// What the recording host's `/proc` answered about a process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFrame {
    pub pid: u32,
    pub executable: Option<String>,
    pub container_id: Option<String>,
    /// Absent in recordings made before the monitor knew pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct ClockJson {
    pub monotonic_to_unix_offset_ns: i128,
}
