//! Enrichment: who made a call and over which connection. Process identity (pid, command,
//! executable, user, container) and TCP connection identity (addresses, ports, role);
//! Kubernetes metadata comes later.
mod container;
mod proc_net;
mod process;
mod sockets;
mod source;

pub use container::container_id_from_cgroup;
pub use proc_net::{
    TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_SENT, TcpEntry, parse_tcp_table, socket_inode,
};
pub use process::{ProcessInfo, ProcessTable};
pub use sockets::{SocketInfo, SocketTable, canonical_addr};
pub use source::{ProcFacts, ProcFs, ProcessSource, RecordedFacts, SocketAddrs};
