//! Where process facts that the kernel records do not carry (executable path, container id) come
//! from: `/proc` on a live host, or the answers a recording saved, so that a replay sees exactly
//! what the live run saw.
use std::{
    collections::HashMap,
    fs,
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use super::{
    container::container_id_from_cgroup,
    proc_net::{parse_tcp_table, socket_inode},
};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcFacts {
    pub executable: Option<String>,
    pub container_id: Option<String>,
}

/// Both ends of a TCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketAddrs {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

pub trait ProcessSource: Send {
    fn facts(&mut self, pid: u32) -> ProcFacts;
    /// Addresses of a process's TCP socket, by file descriptor.
    fn socket_addrs(&mut self, pid: u32, fd: u32) -> Option<SocketAddrs>;
}

/// The live host's `/proc` (another root in tests).
pub struct ProcFs {
    root: PathBuf,
    /// The last TCP tables read, per process: (when, inode → addresses). Reading a table costs
    /// one line per connection in the namespace, so reading it for each new connection made N
    /// connections cost N² lines; a table is now re-read for a missing inode at most every
    /// `TABLE_REREAD`, and a connection not found yet is looked up again at its first use.
    tables: Vec<(u32, Instant, HashMap<u64, SocketAddrs>)>,
}

/// How often one process's TCP tables are read at most.
const TABLE_REREAD: Duration = Duration::from_millis(10);
/// Processes whose tables are kept (the ones opening connections right now).
const CACHED_TABLES: usize = 8;

impl ProcFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            tables: Vec::new(),
        }
    }

    fn read_tables(&self, pid: u32) -> HashMap<u64, SocketAddrs> {
        let dir = self.root.join(pid.to_string());
        // The process's own network namespace's tables.
        ["tcp", "tcp6"]
            .iter()
            .filter_map(|table| fs::read_to_string(dir.join("net").join(table)).ok())
            .flat_map(|text| parse_tcp_table(&text))
            .map(|e| {
                (
                    e.inode,
                    SocketAddrs {
                        local: e.local,
                        remote: e.remote,
                    },
                )
            })
            .collect()
    }
}

impl ProcessSource for ProcFs {
    fn facts(&mut self, pid: u32) -> ProcFacts {
        let dir = self.root.join(pid.to_string());
        ProcFacts {
            executable: fs::read_link(dir.join("exe"))
                .ok()
                .map(|p| p.display().to_string()),
            container_id: fs::read_to_string(dir.join("cgroup"))
                .ok()
                .and_then(|text| container_id_from_cgroup(&text)),
        }
    }

    fn socket_addrs(&mut self, pid: u32, fd: u32) -> Option<SocketAddrs> {
        let dir = self.root.join(pid.to_string());
        let link = fs::read_link(dir.join("fd").join(fd.to_string())).ok()?;
        let inode = socket_inode(link.to_str()?)?;
        let now = Instant::now();
        if let Some((_, read_at, table)) = self.tables.iter().find(|(p, _, _)| *p == pid)
            && (table.contains_key(&inode) || now.duration_since(*read_at) < TABLE_REREAD)
        {
            return table.get(&inode).copied();
        }
        let table = self.read_tables(pid);
        let found = table.get(&inode).copied();
        self.tables.retain(|(p, _, _)| *p != pid);
        if self.tables.len() >= CACHED_TABLES {
            self.tables.remove(0);
        }
        self.tables.push((pid, now, table));
        found
    }
}

/// Answers saved in a recording; a pid the recording has nothing on gets no facts, as a process
/// that had already exited would.
#[derive(Default)]
pub struct RecordedFacts {
    facts: HashMap<u32, ProcFacts>,
    sockets: HashMap<(u32, u32), SocketAddrs>,
}

impl RecordedFacts {
    pub fn insert(&mut self, pid: u32, facts: ProcFacts) {
        self.facts.insert(pid, facts);
    }

    pub fn insert_socket(&mut self, pid: u32, fd: u32, addrs: SocketAddrs) {
        self.sockets.insert((pid, fd), addrs);
    }
}

impl ProcessSource for RecordedFacts {
    fn facts(&mut self, pid: u32) -> ProcFacts {
        self.facts.get(&pid).cloned().unwrap_or_default()
    }

    fn socket_addrs(&mut self, pid: u32, fd: u32) -> Option<SocketAddrs> {
        self.sockets.get(&(pid, fd)).copied()
    }
}
