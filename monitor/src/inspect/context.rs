//! What inspection needs to know about one call beyond its fields, worked out once: which way
//! it goes, the server end (host, port, address), the caller (the workload itself, or the client
//! of a served call), the request's method and path template, the connection's two addresses in
//! (client, server) order, and the alert fields that name who was involved.
//!
//! Both views of one exchange (the client's and the server's, when both run here) describe it
//! alike: the server end, the caller, the (client, server) address pair. That is what lets
//! their alerts be recognised as one.
use std::net::{IpAddr, SocketAddr};

use compact_str::CompactString;

use super::destination::{Authority, clipped};
use crate::{
    alerts::{AlertDestination, AlertEndpoint, AlertRequest, AlertWorkload},
    calls::{ApiCall, EndpointOut, Ipv4Text},
    enrich::canonical_addr,
    policy::Destination,
    protocols::{CallDirection, Role},
    rates::path_template,
};

/// Stands for a method or path an HTTP/2 capture could not know (in alerts and policy views).
pub(super) const UNKNOWN_FIELD: &str = "<unknown>";

/// Longest method kept: it is chosen by whoever sends the request, and it ends up in table keys
/// and summaries (the host is clipped by [`Authority`]).
const MAX_METHOD_BYTES: usize = 32;

pub(super) struct CallContext {
    pub direction: CallDirection,
    /// Host from `Host` / `:authority`, lower-case, without its port.
    pub host: Option<CompactString>,
    pub port: Option<u16>,
    /// The server end's address.
    pub ip: Option<IpAddr>,
    pub tls: bool,
    /// Clipped; borrowed from a static table for the known methods (no copy per call).
    pub method: crate::protocols::Method,
    pub method_known: bool,
    pub template: CompactString,
    pub path_known: bool,
    /// The traced process's workload key.
    pub workload_key: CompactString,
    /// The caller of a served call (see [`Self::caller_key`]); `None` for a call made, whose
    /// caller is `workload_key` (not copied: this is built for every call).
    inbound_caller: Option<CompactString>,
    /// How summaries name the client of a served call.
    pub client_label: Option<CompactString>,
    /// The client end's address.
    pub client: Option<SocketAddr>,
    /// The connection as the client's address and the server's port, when both are known.
    pub link: Option<(SocketAddr, u16)>,
}

fn socket_addr(endpoint: Option<&EndpointOut>) -> Option<SocketAddr> {
    let endpoint = endpoint?;
    Some(canonical_addr(SocketAddr::new(endpoint.ip, endpoint.port)))
}

/// `ip.to_string()`, with IPv4 written without `core::fmt` (see `Ipv4Text`).
fn ip_text(ip: IpAddr) -> CompactString {
    match ip {
        IpAddr::V4(v4) => Ipv4Text::new(v4).as_str().into(),
        IpAddr::V6(_) => compact_str::ToCompactString::to_compact_string(&ip),
    }
}

impl CallContext {
    /// `authority` is the call's host as [`Authority`] keeps it, worked out by the caller.
    pub fn of(call: &ApiCall, authority: Option<Authority>) -> Self {
        let direction = CallDirection::from(call.role);
        let (host, host_port) = match authority {
            Some(Authority { host, port }) => (Some(host), port),
            None => (None, None),
        };
        let (local, remote) = (
            socket_addr(call.local.as_ref()),
            socket_addr(call.remote.as_ref()),
        );
        let (client, server) = match call.role {
            Role::Client => (local, remote),
            Role::Server => (remote, local),
        };
        let port = server
            .map(|s| s.port())
            .or(host_port)
            .or(Some(if call.tls { 443 } else { 80 }));
        // A wildcard address (a server's listening socket, when the connection was gone before
        // its own address could be read) says nothing about where the call went.
        let ip = server
            .map(|s| s.ip())
            .filter(|ip| !ip.is_unspecified())
            .or_else(|| host.as_deref().and_then(|h| h.parse::<IpAddr>().ok()));
        let client = client.filter(|c| !c.ip().is_unspecified());
        let link = client.zip(server.map(|s| s.port()));

        let workload_key = call.process.workload_key();
        let (inbound_caller, client_label) = match direction {
            CallDirection::Outbound => (None, None),
            CallDirection::Inbound => {
                let address = client.map(|c| ip_text(c.ip()));
                let label = match (&call.peer_process, &address) {
                    // Pieced together: `format!` cost about a thousand instructions a call.
                    (Some(peer), Some(ip)) => {
                        Some(crate::short_text::concat(&[&peer.command, " (", ip, ")"]))
                    }
                    (Some(peer), None) => Some(CompactString::from(&*peer.command)),
                    (None, address) => address.clone(),
                };
                let key = call
                    .peer_process
                    .as_ref()
                    .map(|p| p.workload_key())
                    .or(address)
                    .unwrap_or_else(|| UNKNOWN_FIELD.into());
                (Some(key), label)
            }
        };
        Self {
            direction,
            host,
            port,
            ip,
            tls: call.tls,
            method: match &call.method {
                Some(m) if m.len() > MAX_METHOD_BYTES => {
                    clipped(CompactString::from(&**m), MAX_METHOD_BYTES)
                        .to_string()
                        .into()
                }
                Some(m) => m.clone(),
                None => UNKNOWN_FIELD.into(),
            },
            method_known: call.method.is_some(),
            // Made with the redacted path when the call was built; else from the path.
            template: match (&call.path_template, call.path.as_deref()) {
                (Some(template), Some(_)) => template.clone(),
                (_, Some(path)) => path_template(path),
                (_, None) => UNKNOWN_FIELD.into(),
            },
            path_known: call.path.is_some(),
            workload_key,
            inbound_caller,
            client_label,
            client,
            link,
        }
    }

    /// Who an alert names (built only when one is raised): the caller when it runs here, else
    /// the traced process; and the server when both ends run here.
    pub fn alert_parties(&self, call: &ApiCall) -> (AlertWorkload, Option<AlertWorkload>) {
        let me = AlertWorkload::from(&call.process);
        let peer = call.peer_process.as_ref().map(AlertWorkload::from);
        match (self.direction, peer) {
            (CallDirection::Outbound, peer) => (me, peer),
            (CallDirection::Inbound, Some(caller)) => (caller, Some(me)),
            (CallDirection::Inbound, None) => (me, None),
        }
    }

    /// The server end as the policy matches it.
    pub fn policy_destination(&self) -> Destination<'_> {
        Destination {
            host: self.host.as_deref(),
            port: self.port,
            ip: self.ip,
            tls: self.tls,
        }
    }

    pub fn destination(&self) -> AlertDestination {
        AlertDestination {
            host: self.host.as_ref().map(|h| h.to_string()),
            ip: self.ip.map(|ip| ip.to_string()),
            port: self.port,
            tls: self.tls,
        }
    }

    pub fn client_endpoint(&self) -> Option<AlertEndpoint> {
        self.client.map(|c| AlertEndpoint {
            ip: c.ip().to_string(),
            port: c.port(),
        })
    }

    pub fn request(&self) -> AlertRequest {
        AlertRequest {
            method: self.method.to_string(),
            path_template: self.template.to_string(),
        }
    }

    /// What per-endpoint keys (rates, auth failures) name the server end by. For a call made,
    /// the host it was sent to. For a call served, the server's port: the `Host` header is the
    /// client's to choose, and a client changing it on every request must not get a fresh
    /// bucket each time.
    pub fn endpoint_key(&self) -> String {
        match self.direction {
            CallDirection::Outbound => self.host.as_deref().unwrap_or_default().to_owned(),
            CallDirection::Inbound => format!(":{}", self.port.unwrap_or(0)),
        }
    }

    /// Who made the call: the workload itself (outbound), the client's workload when it runs on
    /// this host, else the client's address (inbound). Keys per-client rates and auth failures.
    pub fn caller_key(&self) -> &str {
        self.inbound_caller.as_deref().unwrap_or(&self.workload_key)
    }

    /// The host as the inventory names it: the host name, else the server's address. Borrowed
    /// when there is a host name (every call).
    pub fn host_or_ip(&self) -> std::borrow::Cow<'_, str> {
        match (&self.host, self.ip) {
            (Some(host), _) => host.as_str().into(),
            (None, Some(ip)) => ip.to_string().into(),
            (None, None) => "".into(),
        }
    }
}

#[cfg(test)]
mod ip_text_tests {
    use super::*;

    #[test]
    fn writes_addresses_as_display_does() {
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "127.0.0.1",
            "192.168.100.9",
            "255.255.255.255",
            "1.20.199.250",
            "::1",
            "fe80::1:2",
            "::ffff:10.1.2.3",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
        let values = [0u32, 1, 9, 10, 99, 100, 101, 199, 200, 255, 256, 65_535];
        for n in values.into_iter().chain([u32::MAX]) {
            let ip = IpAddr::V4(n.into());
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
}
