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
//!
//! Connections whose two ends both run on this host (loopback, pod to pod on one node) are
//! found from either end: the table indexes every connection by its (local, remote) address
//! pair, and the other end is the connection whose pair is the mirror image. An accepted
//! connection whose own address fell back to its listening socket's wildcard address cannot be
//! mirrored exactly, so connecting sockets are also indexed by their local address alone and
//! accepted ones by their remote address (a client's ephemeral address names one connection),
//! and the wildcard end is checked by its port. Addresses
//! are compared in canonical form (an IPv4-mapped IPv6 address is its IPv4 address), since one
//! end may be a dual-stack socket.
use std::net::SocketAddr;

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
    /// The other end's process as last looked up (see [`SocketTable::peer_of_connection`]).
    peer: PeerLookup,
}

/// A connection's other end, remembered: it does not change while the connection lives, and
/// looking it up (up to three hash probes of socket addresses) ran for every call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum PeerLookup {
    #[default]
    NotYet,
    /// Found while the table was at these revisions: stale once a connection's addresses were
    /// corrected or a process left (its pid may be reused, its sockets are gone).
    Found { pid: u32, revisions: u64 },
    /// Not found while the address indexes were at this generation: worth asking again only
    /// once a connection was indexed since (its other end may have been announced late).
    Missing { generation: u64 },
}

#[derive(Default)]
pub struct SocketTable {
    sockets: crate::IdMap<(u32, u64), SocketInfo>,
    /// (local, remote) → (tgid, connection id). Entries whose connection is gone or changed are
    /// ignored on lookup and pruned by [`SocketTable::expire`]. The address maps are
    /// [`crate::TrafficMap`]s: a remote client picks its own address and port.
    by_addresses: crate::TrafficMap<(SocketAddr, SocketAddr), (u32, u64)>,
    /// Connecting sockets by their local address, same rules.
    clients_by_local: crate::TrafficMap<SocketAddr, (u32, u64)>,
    /// Accepted sockets by their remote (the client's) address, same rules.
    servers_by_remote: crate::TrafficMap<SocketAddr, (u32, u64)>,
    /// Counts the address-index updates: a remembered miss is stale once it moves.
    generation: u64,
    /// Counts what can make a found peer wrong: addresses corrected or filled in, a process
    /// gone. Rare next to calls on live connections, unlike new connections.
    revisions: u64,
}

/// An address in the form both ends of one connection agree on.
pub fn canonical_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
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
            info.peer = PeerLookup::NotYet;
            self.revisions += 1;
            self.index(tgid, opened.id);
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
                peer: PeerLookup::NotYet,
            },
        );
        self.on_use(tgid, opened.id, processes);
        self.index(tgid, opened.id);
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
        self.revisions += 1;
        if let Some(addrs) = processes.socket_addrs(tgid, info.fd) {
            info.local.get_or_insert(addrs.local);
            info.remote.get_or_insert(addrs.remote);
        } else if let Some(listening) = info
            .listen_fd
            .and_then(|fd| processes.socket_addrs(tgid, fd))
        {
            info.local.get_or_insert(listening.local);
        }
        self.index(tgid, id);
    }

    fn index(&mut self, tgid: u32, id: u64) {
        let Some(info) = self.sockets.get(&(tgid, id)) else {
            return;
        };
        let (Some(local), Some(remote)) = (info.local, info.remote) else {
            return;
        };
        let (local, remote) = (canonical_addr(local), canonical_addr(remote));
        let key = (tgid, id);
        self.generation += 1;
        if !local.ip().is_unspecified() {
            self.by_addresses.insert((local, remote), key);
        }
        match info.role {
            monitor_common::role::CLIENT if !local.ip().is_unspecified() => {
                self.clients_by_local.insert(local, key);
            }
            monitor_common::role::SERVER => {
                self.servers_by_remote.insert(remote, key);
            }
            _ => {}
        }
    }

    /// The process at the other end of connection `id` of `tgid`: [`SocketTable::peer_of`] on
    /// its addresses, remembered with the connection.
    pub fn peer_of_connection(&mut self, tgid: u32, id: u64) -> Option<u32> {
        let info = self.sockets.get(&(tgid, id))?;
        match info.peer {
            PeerLookup::Found { pid, revisions } if revisions == self.revisions => {
                return Some(pid);
            }
            PeerLookup::Missing { generation } if generation == self.generation => return None,
            _ => {}
        }
        let (local, remote) = info.local.zip(info.remote)?;
        let found = self.peer_of(local, remote);
        let (generation, revisions) = (self.generation, self.revisions);
        if let Some(info) = self.sockets.get_mut(&(tgid, id)) {
            info.peer = match found {
                Some(pid) => PeerLookup::Found { pid, revisions },
                None => PeerLookup::Missing { generation },
            };
        }
        found
    }

    /// The process at the other end of the connection `local` ↔ `remote`, when it runs on this
    /// host and the monitor knows its socket. Either end's own address may be a wildcard (an
    /// accepted connection known only by its listening socket): then its port must match.
    pub fn peer_of(&self, local: SocketAddr, remote: SocketAddr) -> Option<u32> {
        let (local, remote) = (canonical_addr(local), canonical_addr(remote));
        let same = |a: SocketAddr, b: SocketAddr| {
            a == b || ((a.ip().is_unspecified() || b.ip().is_unspecified()) && a.port() == b.port())
        };
        let mirrors = |key: &(u32, u64)| {
            let info = self.sockets.get(key)?;
            let peer_local = info.local.map(canonical_addr)?;
            let peer_remote = info.remote.map(canonical_addr)?;
            (same(peer_local, remote) && same(peer_remote, local)).then_some(key.0)
        };
        self.by_addresses
            .get(&(remote, local))
            .and_then(mirrors)
            // We are the server: the client's own address is our remote.
            .or_else(|| self.clients_by_local.get(&remote).and_then(mirrors))
            // We are the client: the server's connection has our address as its remote.
            .or_else(|| self.servers_by_remote.get(&local).and_then(mirrors))
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
        self.revisions += 1;
        self.sockets.retain(|(pid, _), _| *pid != tgid);
    }

    /// Forgets connections closed more than the grace period ago.
    pub fn expire(&mut self, now_ns: u64) {
        self.sockets.retain(|_, info| {
            info.closed_at_ns
                .is_none_or(|closed| now_ns.saturating_sub(closed) < CLOSED_GRACE_NS)
        });
        let sockets = &self.sockets;
        self.by_addresses.retain(|_, key| sockets.contains_key(key));
        self.clients_by_local
            .retain(|_, key| sockets.contains_key(key));
        self.servers_by_remote
            .retain(|_, key| sockets.contains_key(key));
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

    fn opened(id: u64, role: u8, local: &str, remote: &str) -> SocketOpened {
        SocketOpened {
            id,
            fd: 5,
            listen_fd: None,
            role,
            recovered: false,
            local: local.parse().ok(),
            remote: remote.parse().ok(),
        }
    }

    fn table(sockets: &[(u32, SocketOpened)]) -> SocketTable {
        let mut processes = ProcessTable::new(RecordedFacts::default());
        let mut table = SocketTable::default();
        for (tgid, open) in sockets {
            table.on_open(*tgid, open, &mut processes);
        }
        table
    }

    const CLIENT: u8 = monitor_common::role::CLIENT;
    const SERVER: u8 = monitor_common::role::SERVER;

    #[test]
    fn both_ends_of_a_loopback_connection_find_each_other() {
        let t = table(&[
            (10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443")),
            (20, opened(2, SERVER, "127.0.0.1:8443", "127.0.0.1:40000")),
            (30, opened(3, CLIENT, "127.0.0.1:40001", "127.0.0.1:8443")),
        ]);
        let (c, s) = (
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:8443".parse().unwrap(),
        );
        assert_eq!(t.peer_of(c, s), Some(20));
        assert_eq!(t.peer_of(s, c), Some(10));
        // pid 30's connection has no traced server end.
        assert_eq!(t.peer_of("127.0.0.1:40001".parse().unwrap(), s), None);
        // A remote peer is not on this host.
        assert_eq!(t.peer_of(c, "198.51.100.7:443".parse().unwrap()), None);
    }

    #[test]
    fn a_connections_peer_is_remembered_and_a_miss_is_retried_once_another_end_appears() {
        let mut processes = ProcessTable::new(RecordedFacts::default());
        let mut t = table(&[(10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443"))]);
        assert_eq!(
            t.peer_of_connection(10, 1),
            None,
            "the server end is not known yet"
        );
        assert_eq!(t.peer_of_connection(10, 1), None);
        // The server's end is announced after the client's first call.
        t.on_open(
            20,
            &opened(2, SERVER, "127.0.0.1:8443", "127.0.0.1:40000"),
            &mut processes,
        );
        assert_eq!(t.peer_of_connection(10, 1), Some(20));
        assert_eq!(t.peer_of_connection(20, 2), Some(10));
        // Its process gone, the answer goes too (the pid may be reused).
        t.on_process_exit(20);
        assert_eq!(t.peer_of_connection(10, 1), None);
        assert_eq!(t.peer_of_connection(20, 2), None, "gone with its process");
        assert_eq!(t.peer_of_connection(99, 1), None);
    }

    #[test]
    fn a_connection_given_new_addresses_looks_its_peer_up_again() {
        let mut processes = ProcessTable::new(RecordedFacts::default());
        let mut t = table(&[
            (10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443")),
            (20, opened(2, SERVER, "127.0.0.1:8443", "127.0.0.1:40000")),
            (30, opened(3, SERVER, "127.0.0.1:9443", "127.0.0.1:40000")),
        ]);
        assert_eq!(t.peer_of_connection(10, 1), Some(20));
        // The kernel's own announcement corrects what a `/proc` lookup had found.
        t.on_open(
            10,
            &opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:9443"),
            &mut processes,
        );
        assert_eq!(t.peer_of_connection(10, 1), Some(30));
    }

    #[test]
    fn a_remembered_peer_is_dropped_when_the_peers_own_addresses_are_corrected() {
        let mut processes = ProcessTable::new(RecordedFacts::default());
        let both_ends = || {
            table(&[
                (10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443")),
                (20, opened(2, SERVER, "127.0.0.1:8443", "127.0.0.1:40000")),
            ])
        };
        let mut t = both_ends();
        assert_eq!(t.peer_of_connection(10, 1), Some(20));
        // The server's connection was really another client's: the kernel says so.
        t.on_open(
            20,
            &opened(2, SERVER, "127.0.0.1:8443", "127.0.0.1:40001"),
            &mut processes,
        );
        assert_eq!(t.peer_of_connection(10, 1), None);
        // New connections alone leave a found peer as it was.
        let mut t = both_ends();
        assert_eq!(t.peer_of_connection(10, 1), Some(20));
        t.on_open(
            30,
            &opened(3, CLIENT, "127.0.0.1:40002", "127.0.0.1:9"),
            &mut processes,
        );
        assert_eq!(t.peer_of_connection(10, 1), Some(20));
    }

    #[test]
    fn a_server_known_only_by_its_wildcard_listening_address_is_still_found_both_ways() {
        let t = table(&[
            (10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443")),
            (20, opened(2, SERVER, "0.0.0.0:8443", "127.0.0.1:40000")),
        ]);
        assert_eq!(
            t.peer_of(
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.1:8443".parse().unwrap()
            ),
            Some(20)
        );
        assert_eq!(
            t.peer_of(
                "0.0.0.0:8443".parse().unwrap(),
                "127.0.0.1:40000".parse().unwrap()
            ),
            Some(10)
        );
        // Another port on the same wildcard is another listener.
        assert_eq!(
            t.peer_of(
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.1:9999".parse().unwrap()
            ),
            None
        );
    }

    #[test]
    fn an_ipv4_mapped_end_matches_its_plain_ipv4_peer() {
        let t = table(&[
            (10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443")),
            (
                20,
                opened(
                    2,
                    SERVER,
                    "[::ffff:127.0.0.1]:8443",
                    "[::ffff:127.0.0.1]:40000",
                ),
            ),
        ]);
        assert_eq!(
            t.peer_of(
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.1:8443".parse().unwrap()
            ),
            Some(20)
        );
    }

    #[test]
    fn an_expired_connection_is_forgotten_by_the_index() {
        let mut t = table(&[
            (10, opened(1, CLIENT, "127.0.0.1:40000", "127.0.0.1:8443")),
            (20, opened(2, SERVER, "127.0.0.1:8443", "127.0.0.1:40000")),
        ]);
        t.on_close(20, 2, 0);
        t.expire(CLOSED_GRACE_NS + 1);
        assert_eq!(
            t.peer_of(
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.1:8443".parse().unwrap()
            ),
            None
        );
        assert!(t.by_addresses.len() == 1 && t.servers_by_remote.is_empty());
    }

    fn announced(id: u64, local: Option<&str>, remote: Option<&str>) -> SocketOpened {
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
        table.on_open(7, &announced(1, None, None), &mut processes);
        table.on_tls_handshake(7, 1);
        table.on_open(
            7,
            &announced(1, Some("127.0.0.1:443"), Some("127.0.0.1:50001")),
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
