//! One HTTP/2 stream, both sides, until it becomes an [`Exchange`].
//!
//! Sides are kept by direction, not by request/response: a capture that starts mid-connection
//! learns which direction carries requests only from the first header block it can read, and
//! must not misfile what came before.
use std::borrow::Cow;

use super::{
    call::{CaptureStart, GrpcCall, Http2Call, StreamReset, UnknownField, error_name},
    grpc::{self, MessageCounter},
    hpack::Field,
};
use crate::protocols::{
    Direction, Exchange, Headers, HttpVersion, MessageStats, Request, RequestHead, Response,
    ResponseHead, Role,
};

/// One direction of a stream.
#[derive(Debug, Default)]
pub(super) struct Side {
    /// A header block (or at least DATA) was seen on this side.
    pub started: bool,
    pub start_ns: u64,
    pub end_ns: u64,
    pub head_bytes: u64,
    pub body_bytes: u64,
    pub sample: crate::protocols::BodySample,
    /// The first non-interim header block, readable fields only.
    pub head: Option<Headers>,
    /// Some fields of the head were unreadable (or the head itself was lost).
    pub head_unknown: bool,
    pub trailers: Headers,
    pub trailers_unknown: bool,
    /// END_STREAM seen.
    pub ended: bool,
    /// Part of this side was lost in a way that could not be skipped exactly.
    pub incomplete: bool,
    pub messages: MessageCounter,
}

impl Side {
    fn touch(&mut self, ts: u64) {
        if !self.started {
            self.started = true;
            self.start_ns = ts;
        }
        self.end_ns = ts;
    }

    /// A decoded header block: the head (after any 1xx), or trailers.
    pub fn on_block(&mut self, fields: &[Field], wire_bytes: u64, end_stream: bool, ts: u64) {
        self.touch(ts);
        self.head_bytes = self.head_bytes.saturating_add(wire_bytes);
        let unknown = fields.iter().any(|f| f.name.is_none() || f.value.is_none());
        let known = readable(fields);
        if self.head.is_none() {
            let interim = pseudo(&known, ":status")
                .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok())
                .is_some_and(|s| (100..200).contains(&s));
            if !interim || end_stream {
                self.head = Some(known);
                self.head_unknown |= unknown;
            }
        } else if self.trailers.is_empty() {
            // One trailers block (RFC 9113 §8.1): more blocks on the stream are a sender's error
            // and are not kept, or they would grow the stream without bound.
            self.trailers = known;
            self.trailers_unknown |= unknown;
        }
        if end_stream {
            self.ended = true;
        }
    }

    /// The head block was lost (a gap, or over the size limit): its fields are all unknown.
    pub fn on_block_lost(&mut self, ts: u64) {
        self.touch(ts);
        self.incomplete = true;
        if self.head.is_none() {
            self.head = Some(Headers::default());
            self.head_unknown = true;
        } else {
            self.trailers_unknown = true;
        }
    }

    pub fn on_data(&mut self, bytes: &[u8], sample_limit: usize, ts: u64) {
        self.touch(ts);
        self.body_bytes = self.body_bytes.saturating_add(bytes.len() as u64);
        let room = sample_limit.saturating_sub(self.sample.len());
        self.sample
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        self.messages.data(bytes);
    }

    pub fn on_data_gap(&mut self, len: u64, ts: u64) {
        self.touch(ts);
        self.body_bytes = self.body_bytes.saturating_add(len);
        self.messages.gap(len);
    }

    /// The HTTP/1.1 request an `Upgrade: h2c` connection switched on: stream 1's request,
    /// whole.
    pub fn adopt_http1(&mut self, request: &Request) {
        self.started = true;
        self.start_ns = request.stats.start_ns;
        self.end_ns = request.stats.end_ns;
        self.head_bytes = request.stats.head_bytes;
        self.body_bytes = request.stats.body_bytes;
        self.sample = request.stats.body_sample.clone();
        let head = &request.head;
        let mut headers = Headers::default();
        headers.push(":method", head.method.as_bytes());
        headers.push(":path", head.target.as_bytes());
        for h in head.headers.iter() {
            headers.push(h.name, h.value);
        }
        self.head = Some(headers);
        self.incomplete = request.stats.incomplete;
        self.ended = true;
    }

    pub fn on_end(&mut self, ts: u64) {
        self.touch(ts);
        self.ended = true;
    }

    /// The side's figures for its message, taking its body sample (the side ends with the
    /// exchange: a copy of the sample was an allocation per call once it passed 24 bytes).
    fn take_stats(&mut self) -> MessageStats {
        MessageStats {
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            head_bytes: self.head_bytes,
            body_bytes: self.body_bytes,
            body_sample: std::mem::take(&mut self.sample),
            incomplete: self.incomplete || !self.ended || self.head.is_none(),
        }
    }

    pub fn held_bytes(&self) -> usize {
        self.sample.len()
            + self.head.as_ref().map_or(0, Headers::byte_len)
            + self.trailers.byte_len()
    }
}

/// The block's fields whose name and value are known, in one allocation: grown field by field,
/// a head's index and bytes were reallocated five or six times per block.
fn readable(fields: &[Field]) -> Headers {
    let known = || {
        fields
            .iter()
            .filter_map(|f| Some((f.name.as_ref()?, f.value.as_ref()?)))
    };
    let (count, bytes) = known().fold((0, 0), |(count, bytes), (name, value)| {
        (count + 1, bytes + name.len() + value.len())
    });
    let mut headers = Headers::with_capacity(count, bytes);
    for (name, value) in known() {
        headers.push(&lossy(name), value);
    }
    headers
}

/// `bytes` as text, invalid UTF-8 replaced: names and values are nearly always ASCII, which a
/// word-at-a-time check borrows as they are (`from_utf8_lossy` walked them in chunks, 1.9k
/// instructions per small HTTP/2 call).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match crate::short_text::ascii(bytes) {
        Some(text) => Cow::Borrowed(text),
        None => String::from_utf8_lossy(bytes),
    }
}

/// `head` without its `:path` (the request's target says it), in one allocation.
fn without_path(head: &Headers) -> Headers {
    let mut out = Headers::with_capacity(head.len(), head.byte_len());
    for h in head
        .iter()
        .filter(|h| !h.name.eq_ignore_ascii_case(":path"))
    {
        out.push(h.name, h.value);
    }
    out
}

/// The fields an exchange is built from, the first of each name, found in one walk of a head:
/// looked up one by one, the method, path, authority, host, status and both content types
/// walked the heads seven times per call.
#[derive(Debug, Default)]
struct HeadFields<'h> {
    method: Option<&'h [u8]>,
    path: Option<&'h [u8]>,
    authority: Option<&'h [u8]>,
    host: Option<&'h [u8]>,
    status: Option<&'h [u8]>,
    content_type: Option<&'h [u8]>,
}

impl<'h> HeadFields<'h> {
    fn of(head: &'h Headers) -> Self {
        let mut fields = Self::default();
        for h in head.iter() {
            let (slot, name) = match h.name.len() {
                4 => (&mut fields.host, "host"),
                5 => (&mut fields.path, ":path"),
                7 if h.name.as_bytes()[1].eq_ignore_ascii_case(&b's') => {
                    (&mut fields.status, ":status")
                }
                7 => (&mut fields.method, ":method"),
                10 => (&mut fields.authority, ":authority"),
                12 => (&mut fields.content_type, "content-type"),
                _ => continue,
            };
            // HTTP/2 names are lower-case (RFC 9113 §8.2.1): compared whole first, and without
            // regard to case only when that fails (a case-folding compare costs a few
            // instructions a byte). Not `ascii_case::str_eq_lowercase`, made for HTTP/1's
            // mixed-case names: here it cost 100–200 instructions more per call (callgrind).
            if slot.is_none() && (h.name == name || h.name.eq_ignore_ascii_case(name)) {
                *slot = Some(h.value);
            }
        }
        fields
    }
}

fn pseudo<'a>(headers: &'a Headers, name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name == name || h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// A field's value as trimmed text, borrowed when it is UTF-8 (nearly always): the method, the
/// status and the host are read from it without a `String` of their own.
fn text(v: &[u8]) -> Cow<'_, str> {
    match lossy(v) {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    }
}

/// One stream's state.
#[derive(Debug, Default)]
pub(super) struct Stream {
    pub sides: [Side; 2],
    /// Who reset it and with which code.
    pub reset: Option<(Direction, u32)>,
}

impl Stream {
    pub fn side(&mut self, dir: Direction) -> &mut Side {
        // `index` is 0 or 1.
        &mut self.sides[dir.index()]
    }

    /// Both sides ended: the exchange is whole.
    pub fn finished(&self) -> bool {
        self.sides.iter().all(|s| s.ended)
    }

    /// Worth reporting: at least one side's head (or its loss) was seen.
    pub fn has_head(&self) -> bool {
        self.sides.iter().any(|s| s.head.is_some())
    }

    pub fn held_bytes(&self) -> usize {
        self.sides.iter().map(Side::held_bytes).sum()
    }

    /// Builds the exchange; `requests` is the direction that carries requests.
    pub fn into_exchange(
        self,
        id: u32,
        requests: Direction,
        start: CaptureStart,
    ) -> (Exchange, Vec<UnknownField>) {
        let [egress, ingress] = self.sides;
        let (mut req, mut resp) = match requests {
            Direction::Egress => (egress, ingress),
            Direction::Ingress => (ingress, egress),
        };
        let role = Role::sending_requests_on(requests);
        // Both sides end with the exchange: their samples are moved into it.
        let mut req_stats = req.take_stats();
        let resp_stats = resp.take_stats();
        let mut unknown = Vec::new();
        let no_head = Headers::default();
        let req_head = req.head.as_ref().unwrap_or(&no_head);
        let req_unknown = req.head_unknown || req.head.is_none();
        let req_fields = HeadFields::of(req_head);
        let resp_fields = resp.head.as_ref().map(HeadFields::of);
        for (value, which) in [
            (req_fields.method, UnknownField::Method),
            (req_fields.path, UnknownField::Path),
        ] {
            if value.is_none() && req_unknown {
                unknown.push(which);
            }
        }
        let method = req_fields.method.map(text);
        let path = req_fields.path.map(text);
        let host = req_fields
            .authority
            .or(req_fields.host)
            .map(|v| compact_str::CompactString::from(&*text(v)));
        if host.is_none() && req_unknown {
            unknown.push(UnknownField::Host);
        }
        if req_unknown {
            unknown.push(UnknownField::RequestHeaders);
        }
        let resp_unknown = resp.head_unknown || resp.trailers_unknown;
        let status = resp_fields.as_ref().and_then(|fields| {
            let s = fields.status;
            if s.is_none() && resp.head_unknown {
                unknown.push(UnknownField::Status);
            }
            s.and_then(|s| text(s).parse::<u16>().ok())
        });
        if resp_unknown {
            unknown.push(UnknownField::ResponseHeaders);
        }
        let is_grpc = |fields: Option<&HeadFields<'_>>| {
            fields
                .and_then(|f| f.content_type)
                .is_some_and(grpc::is_grpc_content_type)
        };
        let grpc = (is_grpc(Some(&req_fields)) || is_grpc(resp_fields.as_ref()))
            .then(|| grpc_call(&req, &resp, path.as_deref()));
        let reset = self.reset.map(|(dir, code)| StreamReset {
            // The side of the call that sent it, not the traced process's role.
            by: if dir == requests {
                Role::Client
            } else {
                Role::Server
            },
            error_code: code,
            error: error_name(code),
        });
        // A request never seen (it went by before the capture): its times are the response's,
        // so the call is placed when it was seen, and `request_seen` withholds a latency.
        let request_seen = req.started;
        if !request_seen {
            req_stats.start_ns = resp.start_ns;
            req_stats.end_ns = resp.start_ns;
        }
        let request = Request {
            head: RequestHead {
                method: method
                    .map(|m| crate::protocols::method_of(&m))
                    .unwrap_or_default(),
                target: path.map(Cow::into_owned).unwrap_or_default(),
                version: HttpVersion::Http2,
                host,
                headers: without_path(req_head),
            },
            stats: req_stats,
        };
        // Moved, not copied: the side ends here.
        let response = resp.head.take().map(|headers| Response {
            head: ResponseHead {
                status: status.unwrap_or(0),
                version: HttpVersion::Http2,
                headers,
            },
            stats: resp_stats,
        });
        let exchange = Exchange {
            role,
            request,
            response,
            http2: Some(Box::new(Http2Call {
                stream_id: id,
                capture_start: start,
                request_seen,
                unknown_fields: unknown.clone(),
                reset,
                grpc,
            })),
            rejected: None,
        };
        (exchange, unknown)
    }
}

/// A gRPC call's facts, for a stream whose request or response said it carries gRPC.
fn grpc_call(req: &Side, resp: &Side, path: Option<&str>) -> GrpcCall {
    let no_head = Headers::default();
    let resp_head = resp.head.as_ref().unwrap_or(&no_head);
    // Trailers-Only responses carry the status in their only header block.
    let status_source = if resp.trailers.is_empty() {
        resp_head
    } else {
        &resp.trailers
    };
    let status = pseudo(status_source, "grpc-status").and_then(|s| text(s).parse::<u32>().ok());
    // An empty `grpc-message` (sent with OK by some servers) carries no message.
    let message = pseudo(status_source, "grpc-message").filter(|m| !m.is_empty());
    let (service, method) = match path.and_then(grpc::split_path) {
        Some((s, m)) => (Some(s), Some(m)),
        None => (None, None),
    };
    GrpcCall {
        service,
        method,
        status,
        status_name: status.map(grpc::status_name),
        message_present: message.is_some(),
        message_length: message.map(grpc::decoded_message_len),
        request_messages: req.messages.count(),
        response_messages: resp.messages.count(),
    }
}
