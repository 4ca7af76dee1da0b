//! Where process facts that the kernel records do not carry (executable path, container id) come
//! from: `/proc` on a live host, or the answers a recording saved, so that a replay sees exactly
//! what the live run saw.
use std::{collections::HashMap, fs, net::SocketAddr, path::PathBuf};

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
}

impl ProcFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
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
        // The process's own network namespace's tables.
        ["tcp", "tcp6"].iter().find_map(|table| {
            let text = fs::read_to_string(dir.join("net").join(table)).ok()?;
            parse_tcp_table(&text)
                .into_iter()
                .find(|e| e.inode == inode)
                .map(|e| SocketAddrs {
                    local: e.local,
                    remote: e.remote,
                })
        })
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
