//! One direction's parsed message, before pairing: either a request or a response.

use crate::protocols::{MessageStats, Request, Response};

/// Either kind of message, as produced by one direction's reader.
#[derive(Clone, Debug)]
pub(crate) enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub(crate) fn stats_mut(&mut self) -> &mut MessageStats {
        match self {
            Message::Request(r) => &mut r.stats,
            Message::Response(r) => &mut r.stats,
        }
    }

    /// Rough bytes held by this message (headers + sample), for `buffered_bytes`.
    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            Message::Request(r) => r.held_bytes(),
            Message::Response(r) => r.held_bytes(),
        }
    }
}
