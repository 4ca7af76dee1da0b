//! Which way bytes flow and which side of a call the traced process is on: the two facts every
//! protocol parser and every stage after it share.

/// Which way bytes flowed, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Bytes written by the traced process.
    Egress,
    /// Bytes read by the traced process.
    Ingress,
}

impl Direction {
    /// The other direction of the same connection.
    pub fn opposite(self) -> Self {
        match self {
            Direction::Egress => Direction::Ingress,
            Direction::Ingress => Direction::Egress,
        }
    }

    /// 0 for egress, 1 for ingress: an index into per-direction state.
    pub fn index(self) -> usize {
        match self {
            Direction::Egress => 0,
            Direction::Ingress => 1,
        }
    }
}

/// What the traced process is on this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The traced process sends requests (egress carries requests).
    Client,
    /// The traced process answers requests (ingress carries requests).
    Server,
}

impl Role {
    /// Stable name, as serialised and used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }

    /// The direction that carries requests for this role.
    pub fn request_direction(self) -> Direction {
        match self {
            Role::Client => Direction::Egress,
            Role::Server => Direction::Ingress,
        }
    }

    /// The role whose requests travel in `dir`.
    pub fn sending_requests_on(dir: Direction) -> Self {
        match dir {
            Direction::Egress => Role::Client,
            Direction::Ingress => Role::Server,
        }
    }
}

/// Which way a call goes for the traced workload: the question every policy decision asks
/// first. Seen from the client side a call is outbound (the workload is the caller, the
/// destination is its peer); seen from the server side it is inbound (the workload serves the
/// API, the other end is its client).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CallDirection {
    Outbound,
    Inbound,
}

impl CallDirection {
    /// Stable name, as serialised and used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Outbound => "outbound",
            CallDirection::Inbound => "inbound",
        }
    }
}

impl From<Role> for CallDirection {
    fn from(role: Role) -> Self {
        match role {
            Role::Client => CallDirection::Outbound,
            Role::Server => CallDirection::Inbound,
        }
    }
}
