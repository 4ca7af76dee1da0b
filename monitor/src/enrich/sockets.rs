//! TCP connection identity: per process and connection id, both ends' addresses and the role.
//!
//! The kernel programs see the peer address (from `connect`/`accept`); the local end is looked up
//! in the process's `/proc` TCP table (through the process source, so a replay gets the recorded
//! answer) as soon as the connection is announced, and again on first use if that failed (the
//! process source reads each process's table at most every few milliseconds, so a burst of
//! connections does not cost a whole table each). An
//! accepted connection that is already gone falls back to its listening socket's address. A
//! closed connection's identity is kept a few seconds: a TLS library may report its last calls
//! after the socket is closed.
use std::{collections::HashMap, net::SocketAddr};

use super::ProcessTable;
use crate::capture::SocketOpened;

/// How long a closed connection's identity stays available.
const CLOSED_GRACE_NS: u64 = 10_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    pub fd: u32,
    pub listen_fd: Option<u32>,
    /// `monitor_common::role::*`
    pub role: u8,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub recovered: bool,
    /// `/proc` lookups tried (at announcement, at first use): each costs a table read.
    lookups: u8,
    /// Its first bytes were a TLS record.
    pub tls_handshake: bool,
    /// A TLS library's calls were tied to it: its plaintext is read.
    pub tls_read: bool,
    closed_at_ns: Option<u64>,
}

#[derive(Default)]
pub struct SocketTable {
    sockets: HashMap<(u32, u64), SocketInfo>,
}

impl SocketTable {
    pub fn on_open(&mut self, tgid: u32, opened: &SocketOpened, processes: &mut ProcessTable) {
        if let Some(info) = self.sockets.get_mut(&(tgid, opened.id)) {
            // The kernel's second announcement, from the connection's first read: its addresses
            // are the connection's own and win over a `/proc` lookup, which may have found a
            // later connection on a reused fd (or nothing, the connection being gone).
            if opened.local.is_some() {
                info.local = opened.local;
            }
            if opened.remote.is_some() {
                info.remote = opened.remote;
            }
            return;
        }
        self.sockets.insert(
            (tgid, opened.id),
            SocketInfo {
                fd: opened.fd,
                listen_fd: opened.listen_fd,
                role: opened.role,
                local: opened.local,
                remote: opened.remote,
                recovered: opened.recovered,
                lookups: 0,
                tls_handshake: false,
                tls_read: false,
                closed_at_ns: None,
            },
        );
        self.on_use(tgid, opened.id, processes);
    }

    /// The connection is in use: complete its addresses if the kernel could not see them.
    pub fn on_use(&mut self, tgid: u32, id: u64, processes: &mut ProcessTable) {
        let Some(info) = self.sockets.get_mut(&(tgid, id)) else {
            return;
        };
        if info.lookups >= 2 || (info.local.is_some() && info.remote.is_some()) {
            return;
        }
        info.lookups += 1;
        if let Some(addrs) = processes.socket_addrs(tgid, info.fd) {
            info.local.get_or_insert(addrs.local);
            info.remote.get_or_insert(addrs.remote);
        } else if let Some(listening) = info
            .listen_fd
            .and_then(|fd| processes.socket_addrs(tgid, fd))
        {
            info.local.get_or_insert(listening.local);
        }
    }

    pub fn on_tls_handshake(&mut self, tgid: u32, id: u64) {
        if let Some(info) = self.sockets.get_mut(&(tgid, id)) {
            info.tls_handshake = true;
        }
    }

    pub fn on_tls_read(&mut self, tgid: u32, id: u64) {
        if let Some(info) = self.sockets.get_mut(&(tgid, id)) {
            info.tls_read = true;
        }
    }

    /// Connections of `tgid` (all, or one) that carried TLS nobody read; each is reported once.
    pub fn take_unread_tls(&mut self, tgid: u32, id: Option<u64>) -> Vec<SocketInfo> {
        let mut unread = Vec::new();
        for ((pid, sid), info) in self.sockets.iter_mut() {
            if *pid == tgid
                && id.is_none_or(|id| id == *sid)
                && info.tls_handshake
                && !info.tls_read
            {
                info.tls_handshake = false;
                unread.push(info.clone());
            }
        }
        unread
    }

    pub fn get(&self, tgid: u32, id: u64) -> Option<&SocketInfo> {
        self.sockets.get(&(tgid, id))
    }

    pub fn on_close(&mut self, tgid: u32, id: u64, now_ns: u64) {
        if let Some(info) = self.sockets.get_mut(&(tgid, id)) {
            info.closed_at_ns = Some(now_ns);
        }
    }

    pub fn on_process_exit(&mut self, tgid: u32) {
        self.sockets.retain(|(pid, _), _| *pid != tgid);
    }

    /// Forgets connections closed more than the grace period ago.
    pub fn expire(&mut self, now_ns: u64) {
        self.sockets.retain(|_, info| {
            info.closed_at_ns
                .is_none_or(|closed| now_ns.saturating_sub(closed) < CLOSED_GRACE_NS)
        });
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::RecordedFacts;

    fn opened(id: u64, local: Option<&str>, remote: Option<&str>) -> SocketOpened {
        SocketOpened {
            id,
            fd: 20,
            listen_fd: Some(3),
            role: monitor_common::role::SERVER,
            recovered: false,
            local: local.map(|a| a.parse().unwrap()),
            remote: remote.map(|a| a.parse().unwrap()),
        }
    }

    #[test]
    fn the_kernels_second_announcement_completes_the_connection_and_wins() {
        let mut facts = RecordedFacts::default();
        // The /proc lookup found a later connection on the reused fd.
        facts.insert_socket(
            7,
            20,
            Some(crate::enrich::SocketAddrs {
                local: "127.0.0.1:443".parse().unwrap(),
                remote: "127.0.0.1:50002".parse().unwrap(),
            }),
        );
        let mut processes = ProcessTable::new(facts);
        let mut table = SocketTable::default();
        table.on_open(7, &opened(1, None, None), &mut processes);
        table.on_tls_handshake(7, 1);
        table.on_open(
            7,
            &opened(1, Some("127.0.0.1:443"), Some("127.0.0.1:50001")),
            &mut processes,
        );
        let info = table.get(7, 1).unwrap();
        assert_eq!(info.remote, Some("127.0.0.1:50001".parse().unwrap()));
        assert_eq!(info.local, Some("127.0.0.1:443".parse().unwrap()));
        // What the first announcement and later events said stays.
        assert_eq!(info.listen_fd, Some(3));
        assert!(info.tls_handshake);
    }
}
