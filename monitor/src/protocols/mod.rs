//! Protocol parsers behind one small contract, and the exchange model they all produce.
//!
//! A connection's bytes reach exactly one [`Tracker`]: per direction, data in order, gaps of a
//! known size, and the close. The tracker is a closed enum (no `Box<dyn>` on the hot path): it
//! starts by sniffing, becomes one protocol's parser, and may be handed over to another (an
//! HTTP/1.1 connection that upgrades) or given up (`Opaque`). Every parser reports the same two
//! things: completed [`Exchange`]s and counted [`Problem`]s.
//!
//! A new protocol is one folder here plus one arm in [`Tracker`], [`Protocol`] and [`Problem`].
mod direction;
mod exchange;
mod headers;
pub mod http1;
pub mod http2;
mod name_set;
mod problem;
mod sniff;
mod tracker;

pub use direction::{CallDirection, Direction, Role};
pub use exchange::{
    BodySample, Exchange, HttpVersion, MessageStats, Method, Request, RequestHead, RequestView,
    Response, ResponseHead, method_of,
};
pub use headers::{Header, HeaderRef, Headers, HeadersIter};
pub use name_set::NameSet;
pub use problem::Problem;
pub use sniff::{MAX_UNDECIDED_BYTES, MAX_UNDECIDED_CHUNKS, PREFACE};
pub use tracker::{Limits, Output, Tracker};

/// The protocols a connection can be parsed as (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
        }
    }
}
