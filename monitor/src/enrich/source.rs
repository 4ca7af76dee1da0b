//! Where process facts that the kernel records do not carry (executable path, container id) come
//! from: `/proc` on a live host, or the answers a recording saved, so that a replay sees exactly
//! what the live run saw.
use std::{
    collections::{HashMap, VecDeque},
    fs,
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::kubernetes::pod_uid_from_cgroup;

use super::{
    container::container_id_from_cgroup,
    proc_net::{parse_tcp_table, socket_inode},
};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcFacts {
    pub executable: Option<String>,
    pub container_id: Option<String>,
    /// The pod UID in the cgroup path, for a process in a Kubernetes pod.
    pub pod_uid: Option<String>,
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
        let cgroup = fs::read_to_string(dir.join("cgroup")).ok();
        ProcFacts {
            executable: fs::read_link(dir.join("exe"))
                .ok()
                .map(|p| p.display().to_string()),
            container_id: cgroup.as_deref().and_then(container_id_from_cgroup),
            pod_uid: cgroup.as_deref().and_then(pod_uid_from_cgroup),
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

/// Answers saved in a recording, given back in the order the live run got them: the same pid or
/// (pid, fd) can get different answers over a run (a file descriptor reused by a later
/// connection, a connection already gone when it was looked up), and the replayed pipeline asks
/// its questions in the same order as the live one. Past the last recorded answer, the last one
/// repeats. A pid the recording has nothing on gets no facts, as a process that had already
/// exited would.
#[derive(Default)]
pub struct RecordedFacts {
    facts: HashMap<u32, VecDeque<ProcFacts>>,
    sockets: HashMap<(u32, u32), VecDeque<Option<SocketAddrs>>>,
}

/// The next recorded answer: consumed, unless it is the last one.
fn next_answer<T: Clone>(answers: Option<&mut VecDeque<T>>) -> Option<T> {
    let answers = answers?;
    if answers.len() > 1 {
        answers.pop_front()
    } else {
        answers.front().cloned()
    }
}

impl RecordedFacts {
    pub fn insert(&mut self, pid: u32, facts: ProcFacts) {
        self.facts.entry(pid).or_default().push_back(facts);
    }

    /// `None`: the live lookup found nothing (the connection was already gone).
    pub fn insert_socket(&mut self, pid: u32, fd: u32, addrs: Option<SocketAddrs>) {
        self.sockets.entry((pid, fd)).or_default().push_back(addrs);
    }
}

impl ProcessSource for RecordedFacts {
    fn facts(&mut self, pid: u32) -> ProcFacts {
        next_answer(self.facts.get_mut(&pid)).unwrap_or_default()
    }

    fn socket_addrs(&mut self, pid: u32, fd: u32) -> Option<SocketAddrs> {
        next_answer(self.sockets.get_mut(&(pid, fd))).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_answers_come_back_in_order_then_the_last_repeats() {
        let addrs = |remote_port| SocketAddrs {
            local: "127.0.0.1:443".parse().unwrap(),
            remote: SocketAddr::from(([127, 0, 0, 1], remote_port)),
        };
        let mut facts = RecordedFacts::default();
        // fd 13: a first connection, then a later one on the same fd already gone at lookup.
        facts.insert_socket(7, 13, Some(addrs(33086)));
        facts.insert_socket(7, 13, None);
        facts.insert_socket(7, 14, Some(addrs(40000)));
        assert_eq!(facts.socket_addrs(7, 13), Some(addrs(33086)));
        assert_eq!(facts.socket_addrs(7, 13), None);
        assert_eq!(facts.socket_addrs(7, 13), None);
        assert_eq!(facts.socket_addrs(7, 14), Some(addrs(40000)));
        assert_eq!(facts.socket_addrs(7, 14), Some(addrs(40000)));
        assert_eq!(facts.socket_addrs(8, 13), None);

        let exe = |path: &str| ProcFacts {
            executable: Some(path.into()),
            ..ProcFacts::default()
        };
        facts.insert(7, exe("/bin/sh"));
        facts.insert(7, exe("/usr/bin/curl"));
        assert_eq!(facts.facts(7), exe("/bin/sh"));
        assert_eq!(facts.facts(7), exe("/usr/bin/curl"));
        assert_eq!(facts.facts(7), exe("/usr/bin/curl"));
        assert_eq!(facts.facts(9), ProcFacts::default());
    }
}
