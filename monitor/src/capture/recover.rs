//! Connections that existed before the monitor started: the kernel never saw their `connect` or
//! `accept`, so it does not know them. At start, every process's TCP sockets that are established
//! (`/proc/<pid>/fd` + the process's `/proc/<pid>/net/tcp{,6}`) are added to the kernel's socket
//! table, so their next reads and writes are captured like any other connection's, and announced
//! with a `SOCKET_OPEN` record built here exactly as the kernel builds one (so a recording holds
//! them too).
use std::{
    collections::{HashMap, HashSet},
    fs,
    net::SocketAddr,
    path::Path,
};

use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData, MapError},
    sys::SyscallError,
};
use monitor_common::{
    AF_INET, AF_INET6, COMM_LEN, RECOVERED_ID_BIT, RecordHeader, SockKey, SockState, SocketOpen,
    TRACKED_PINNED, flags, protocol, record_kind, role, source, tracked_slot,
};
use tracing::{debug, warn};

/// `BPF_NOEXIST`: add only, never replace.
const BPF_NOEXIST: u64 = 1;

use crate::enrich::{
    TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_SENT, TcpEntry, parse_tcp_table, socket_inode,
};

/// Connections recovered at most (the kernel table also needs room for new ones).
const MAX_RECOVERED: usize = 32_768;

/// The kernel's socket table and its per-process filter (`TRACKED_TGIDS`): a connection added
/// here must also mark its process, or the kernel programs would skip its reads and writes.
pub struct SocketTable {
    pub sockets: BpfHashMap<MapData, SockKey, SockState>,
    pub tracked: Array<MapData, u64>,
    /// `TRACKING_ARMED`: the kernel tracks new connections once it is set.
    pub armed: Array<MapData, u32>,
}

impl SocketTable {
    /// Lets the kernel track new connections: to be done once every socket program is
    /// attached, and before [`recover_connections`] reads a table, so that a connection opened
    /// after it is the kernel's and one opened before is open when the scan reads the tables.
    pub fn arm_tracking(&mut self) -> Result<(), MapError> {
        self.armed.set(0, 1, 0)
    }

    /// Adds a recovered connection; `Ok(false)` when the kernel tracks that fd already.
    fn insert(&mut self, key: SockKey, state: SockState) -> Result<bool, aya::maps::MapError> {
        // Marked first: a filter that says "maybe" before the entry exists costs nothing.
        let slot = tracked_slot(key.tgid);
        // The kernel adds and takes away 1 atomically; this read-modify-write could overwrite
        // one of its updates, which the pinned value dwarfs either way.
        let count = self.tracked.get(&slot, 0)?;
        self.tracked
            .set(slot, count.wrapping_add(TRACKED_PINNED), 0)?;
        // Never over an entry the kernel made: the probes are attached before this scan, so a
        // connection accepted or connected meanwhile is tracked already, under the id its
        // `SOCKET_OPEN` announced, and replacing it would split its calls across two ids.
        match self.sockets.insert(key, state, BPF_NOEXIST) {
            Ok(()) => Ok(true),
            Err(MapError::SyscallError(SyscallError { io_error, .. }))
                if io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Adds established connections (and connects under way) to the kernel table; returns their
/// `SOCKET_OPEN` records. Called right after [`SocketTable::arm_tracking`].
pub fn recover_connections(proc_root: &Path, table: &mut SocketTable, now_ns: u64) -> Vec<Vec<u8>> {
    let own = std::process::id();
    let mut records = Vec::new();
    let mut next = 0u64;
    // Tables per network namespace, read once each.
    let mut by_netns: HashMap<String, (HashMap<u64, TcpEntry>, HashSet<u16>)> = HashMap::new();
    let Ok(procs) = fs::read_dir(proc_root) else {
        return records;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let dir = proc_root.join(pid.to_string());
        let Ok(fds) = fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let netns = fs::read_link(dir.join("ns/net"))
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        let (established, listening) = by_netns.entry(netns).or_insert_with(|| tcp_tables(&dir));
        if established.is_empty() {
            continue;
        }
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        for fd_entry in fds.flatten() {
            let Some(fd) = fd_entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(inode) = fs::read_link(fd_entry.path())
                .ok()
                .and_then(|l| l.to_str().and_then(socket_inode))
            else {
                continue;
            };
            let Some(tcp) = established.get(&inode) else {
                continue;
            };
            if records.len() >= MAX_RECOVERED {
                warn!(
                    recovered = records.len(),
                    "too many connections to recover; the rest are only seen when they reconnect"
                );
                return records;
            }
            next += 1;
            let id = RECOVERED_ID_BIT | next;
            let side = if listening.contains(&tcp.local.port()) {
                role::SERVER
            } else {
                role::CLIENT
            };
            let state = SockState {
                id,
                role: side,
                protocol: protocol::UNKNOWN,
                tls_records: 0,
                tied: 0,
                // Both ends come from the process's TCP table.
                addrs: 1,
                _pad: [0; 3],
            };
            match table.insert(SockKey { tgid: pid, fd }, state) {
                Ok(true) => {}
                Ok(false) => {
                    debug!(pid, fd, "connection opened since the probes were attached");
                    continue;
                }
                Err(e) => {
                    debug!(pid, fd, error = %e, "cannot recover a connection");
                    continue;
                }
            }
            records.push(socket_open_record(
                pid,
                fd,
                id,
                side,
                tcp,
                comm.trim(),
                now_ns,
            ));
        }
    }
    records
}

fn tcp_tables(dir: &Path) -> (HashMap<u64, TcpEntry>, HashSet<u16>) {
    let mut established = HashMap::new();
    let mut listening = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = fs::read_to_string(dir.join("net").join(table)) else {
            continue;
        };
        for entry in parse_tcp_table(&text) {
            match entry.state {
                // A connect still under way is taken too: one started before the kernel was
                // armed is not the kernel's, and would otherwise never be seen.
                TCP_ESTABLISHED | TCP_SYN_SENT => {
                    established.insert(entry.inode, entry);
                }
                TCP_LISTEN => {
                    listening.insert(entry.local.port());
                }
                _ => {}
            }
        }
    }
    (established, listening)
}

fn write_addr(addr: SocketAddr, out: &mut [u8; 16]) -> u16 {
    match addr {
        SocketAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.ip().octets());
            AF_INET
        }
        SocketAddr::V6(v6) => {
            *out = v6.ip().octets();
            AF_INET6
        }
    }
}

/// The bytes of the `SOCKET_OPEN` record the kernel would have emitted.
fn socket_open_record(
    pid: u32,
    fd: u32,
    id: u64,
    side: u8,
    tcp: &TcpEntry,
    comm: &str,
    now_ns: u64,
) -> Vec<u8> {
    let mut open = SocketOpen {
        fd,
        role: side,
        recovered: 1,
        local_port: tcp.local.port(),
        remote_port: tcp.remote.port(),
        ..SocketOpen::default()
    };
    open.family = write_addr(tcp.remote, &mut open.remote_addr);
    write_addr(tcp.local, &mut open.local_addr);
    let mut comm_bytes = [0u8; COMM_LEN];
    let n = comm.len().min(COMM_LEN - 1);
    comm_bytes[..n].copy_from_slice(&comm.as_bytes()[..n]);
    let payload_len = std::mem::size_of::<SocketOpen>();
    let head = RecordHeader {
        timestamp_ns: now_ns,
        conn_id: id,
        call_len: payload_len as u64,
        lost_before: 0,
        attach_cookie: 0,
        socket_id: id,
        tgid: pid,
        tid: pid,
        offset: 0,
        data_len: payload_len as u32,
        kind: record_kind::SOCKET_OPEN,
        direction: 0,
        source: source::SOCKET,
        flags: flags::LAST_CHUNK,
        uid: 0,
        comm: comm_bytes,
    };
    // SAFETY: `SocketOpen` is `#[repr(C)]` plain data whose padding is spelled out as fields.
    let payload = unsafe {
        std::slice::from_raw_parts((&open as *const SocketOpen).cast::<u8>(), payload_len)
    };
    super::encode(&head, payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{EventKind, decode};

    #[test]
    fn connects_under_way_are_recovered_with_the_established_connections() {
        // A listener, an established connection, one in SYN_SENT, one in TIME_WAIT.
        let dir = std::env::temp_dir().join(format!("recover-states-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("net")).unwrap();
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 12 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C351 0100007F:1F91 02 00000000:00000000 00:00000000 00000000     0        0 13 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:C352 0100007F:1F90 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
";
        std::fs::write(dir.join("net").join("tcp"), table).unwrap();
        let (connections, listening) = tcp_tables(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let mut inodes: Vec<u64> = connections.keys().copied().collect();
        inodes.sort_unstable();
        assert_eq!(inodes, [12, 13]);
        assert_eq!(connections[&13].state, TCP_SYN_SENT);
        assert_eq!(connections[&13].local, "127.0.0.1:50001".parse().unwrap());
        assert_eq!(listening, HashSet::from([8080]));
    }

    #[test]
    fn a_recovered_connection_decodes_like_a_kernel_record() {
        let tcp = TcpEntry {
            local: "127.0.0.1:8080".parse().unwrap(),
            remote: "127.0.0.1:50000".parse().unwrap(),
            state: TCP_ESTABLISHED,
            inode: 1,
        };
        let raw = socket_open_record(42, 7, RECOVERED_ID_BIT | 1, role::SERVER, &tcp, "nginx", 5);
        let event = decode(&raw).unwrap();
        assert_eq!(event.comm, "nginx");
        let EventKind::SocketOpen(opened) = event.kind else {
            panic!("expected a socket open")
        };
        assert!(opened.recovered);
        assert_eq!(opened.fd, 7);
        assert_eq!(opened.role, role::SERVER);
        assert_eq!(opened.local, Some(tcp.local));
        assert_eq!(opened.remote, Some(tcp.remote));
    }
}
