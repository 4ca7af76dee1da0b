//! Reads the capture records of a `monitor record` recording (docs/recording-format.md), so that
//! a test can check what the kernel delivered for its own processes. The monitor's counters are
//! host-wide: any other process's traffic adds to them while a test runs. The records carry the
//! process id, so a test asserts exactly on its own and keeps only bounds on the counters.
use std::path::Path;

/// The fields of a kind-1 frame's `RecordHeader` (88 bytes, little-endian, `#[repr(C)]`) that the
/// tests use.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub conn_id: u64,
    /// Bytes the whole call moved.
    pub call_len: u64,
    pub lost_before: u64,
    pub tgid: u32,
    /// Offset of this chunk's first byte within its call.
    pub offset: u32,
    pub data_len: u32,
    pub kind: u8,
    pub direction: u8,
    pub flags: u8,
}

/// `monitor_common::record_kind::DATA`.
pub const DATA: u8 = 1;
/// `monitor_common::flags::LAST_CHUNK`.
pub const LAST_CHUNK: u8 = 1;
const HEADER_LEN: usize = 88;

impl Record {
    /// Bytes of the call past this chunk that were not copied (over the per-call cap): only the
    /// last chunk of a call has any.
    pub fn truncated_after(&self) -> u64 {
        if self.kind == DATA && self.flags & LAST_CHUNK != 0 {
            self.call_len
                .saturating_sub(u64::from(self.offset) + u64::from(self.data_len))
        } else {
            0
        }
    }
}

/// One read or write call as its data records delivered it.
#[derive(Clone, Debug)]
pub struct Call {
    pub tgid: u32,
    pub conn_id: u64,
    pub direction: u8,
    pub call_len: u64,
    /// Payload bytes of its chunks.
    pub copied: u64,
    /// Whether its chunks started at offset 0 and followed each other without a hole.
    pub contiguous: bool,
    /// From its last chunk; 0 if that chunk never came.
    pub truncated: u64,
    pub saw_last_chunk: bool,
}

/// Every capture record of the recording at `path`, in order.
pub fn records(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("reading the recording {}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"APIMREC\n") && bytes.len() >= 12,
        "{} is not a recording",
        path.display()
    );
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 12;
    while bytes.len() - at >= 5 {
        let kind = bytes[at];
        let len = u32_at(&bytes, at + 1) as usize;
        let Some(payload) = bytes.get(at + 5..at + 5 + len) else {
            break; // cut short: the monitor was killed mid-frame
        };
        if kind == 1 && payload.len() >= HEADER_LEN {
            out.push(Record {
                conn_id: u64_at(payload, 8),
                call_len: u64_at(payload, 16),
                lost_before: u64_at(payload, 24),
                tgid: u32_at(payload, 48),
                offset: u32_at(payload, 56),
                data_len: u32_at(payload, 60),
                kind: payload[64],
                direction: payload[65],
                flags: payload[67],
            });
        }
        at += 5 + len;
    }
    out
}

/// The read and write calls of process `tgid`, in order: a chunk at offset 0 starts a call on
/// its connection and direction, the following chunks of that connection and direction continue
/// it.
pub fn calls_of(records: &[Record], tgid: u32) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    // Index in `calls` of the call each (connection, direction) is in.
    let mut open: std::collections::HashMap<(u64, u8), usize> = Default::default();
    for r in records.iter().filter(|r| r.tgid == tgid && r.kind == DATA) {
        let key = (r.conn_id, r.direction);
        let index = match open.get(&key) {
            Some(&i) if r.offset != 0 => i,
            _ => {
                calls.push(Call {
                    tgid,
                    conn_id: r.conn_id,
                    direction: r.direction,
                    call_len: r.call_len,
                    copied: 0,
                    contiguous: r.offset == 0,
                    truncated: 0,
                    saw_last_chunk: false,
                });
                open.insert(key, calls.len() - 1);
                calls.len() - 1
            }
        };
        let call = &mut calls[index];
        if u64::from(r.offset) != call.copied {
            call.contiguous = false;
        }
        call.copied += u64::from(r.data_len);
        if r.flags & LAST_CHUNK != 0 {
            call.saw_last_chunk = true;
            call.truncated = r.truncated_after();
            open.remove(&key);
        }
    }
    calls
}

/// Sum of the bytes every call in the recording had cut at the cap, all processes.
pub fn truncated_bytes(records: &[Record]) -> u64 {
    records.iter().map(Record::truncated_after).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(conn_id: u64, offset: u32, data_len: u32, call_len: u64, last: bool) -> Record {
        Record {
            conn_id,
            call_len,
            lost_before: 0,
            tgid: 7,
            offset,
            data_len,
            kind: DATA,
            direction: 1,
            flags: if last { LAST_CHUNK } else { 0 },
        }
    }

    #[test]
    fn chunks_make_calls_per_connection_and_the_last_one_says_what_was_cut() {
        let records = [
            chunk(1, 0, 4096, 20_000, false),
            chunk(2, 0, 100, 100, true),
            chunk(1, 4096, 4096, 20_000, true),
            // A hole: the chunk at 4096 is missing.
            chunk(1, 0, 4096, 9000, false),
            chunk(1, 8192, 808, 9000, true),
        ];
        let calls = calls_of(&records, 7);
        assert_eq!(calls.len(), 3);
        assert_eq!((calls[0].copied, calls[0].truncated), (8192, 20_000 - 8192));
        assert!(calls[0].contiguous && calls[0].saw_last_chunk);
        assert_eq!((calls[1].copied, calls[1].truncated), (100, 0));
        assert!(!calls[2].contiguous);
        assert_eq!(truncated_bytes(&records), 20_000 - 8192);
        assert!(calls_of(&records, 8).is_empty());
    }
}
