//! Reads TCP connection tables (`/proc/<pid>/net/tcp`, `tcp6`): the addresses of a socket inode,
//! for connections whose local address the kernel programs do not see, and for connections that
//! existed before the monitor started.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states in the tables (`include/net/tcp_states.h`).
pub const TCP_ESTABLISHED: u8 = 1;
/// A `connect` under way (non-blocking, or not returned yet).
pub const TCP_SYN_SENT: u8 = 2;
pub const TCP_LISTEN: u8 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpEntry {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub inode: u64,
}

/// Parses the text of a `/proc/net/tcp` or `tcp6` table; malformed lines are skipped.
pub fn parse_tcp_table(text: &str) -> Vec<TcpEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(TcpEntry {
                local: parse_endpoint(fields.get(1)?)?,
                remote: parse_endpoint(fields.get(2)?)?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:port` (IPv6). The kernel prints each 32-bit word of
/// the address in host byte order.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip: IpAddr = match addr.len() {
        8 => Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.to_le_bytes()).into(),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map(Into::into).unwrap_or(v6.into())
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The socket inode behind `/proc/<pid>/fd/<fd>`'s link text (`socket:[12345]`).
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1
   2: garbage
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 0 10 -1
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D432 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 0 10 -1
";

    #[test]
    fn parses_ipv4_tables() {
        let entries = parse_tcp_table(TCP);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(entries[0].state, TCP_LISTEN);
        assert_eq!(entries[1].remote, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(entries[1].local.port(), 50000);
        assert_eq!(entries[1].state, TCP_ESTABLISHED);
        assert_eq!(entries[1].inode, 31338);
    }

    #[test]
    fn parses_ipv6_tables_and_unmaps_ipv4() {
        let entries = parse_tcp_table(TCP6);
        assert_eq!(entries[0].local, "[::1]:8080".parse().unwrap());
        assert_eq!(entries[1].remote, "127.0.0.1:54322".parse().unwrap());
    }

    #[test]
    fn reads_socket_links() {
        assert_eq!(socket_inode("socket:[31338]"), Some(31338));
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }
}
