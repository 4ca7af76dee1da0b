//! [`Connection`]: both directions of one TCP/TLS connection, paired into exchanges.
//!
//! Responsibilities kept here and nowhere else: deciding the role from the first recognised
//! message, routing each direction to the right [`MessageReader`], pairing responses with
//! requests in order (pipelining, interim 1xx), the upgrade hand-shake between the two readers,
//! and the connection-wide "not HTTP" verdict.

use std::collections::VecDeque;

use super::detect::{self, Class};
use super::framing::{After, RequestContext};
use super::message::Message;
use super::reader::{MessageKind, MessageReader, ReaderEvent};
use super::{Direction, Limits, Output, Problem, Role};
use super::{Exchange, Request, Response};

/// A request seen (at least its head) and the final response, once it arrives.
#[derive(Debug)]
struct Slot {
    ctx: RequestContext,
    /// `None` while the request body is still being read.
    request: Option<Request>,
    response: Option<Response>,
}

/// Bytes seen on one direction before the role is known.
#[derive(Debug, Default)]
struct Detection {
    buf: Vec<u8>,
    ts: u64,
    seen: usize,
    /// After a hole: chunks that do not look like a message start are dropped, not fatal.
    resync: bool,
}

/// An `Upgrade: h2c` the server accepted: what the HTTP/2 parser taking over needs.
#[derive(Debug)]
pub struct H2cUpgrade {
    /// The direction that carries requests.
    pub requests: Direction,
    /// The upgraded request: HTTP/2 stream 1.
    pub request: Request,
    /// Bytes each direction carried after the switch that this parser already received, in
    /// arrival order with their capture timestamps.
    pub leftovers: Vec<(Direction, u64, Vec<u8>)>,
}

/// One per TCP/TLS connection; owns both directions.
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    role: Option<Role>,
    not_http: bool,
    upgraded: bool,
    closed: bool,
    finishing: bool,
    detection: [Detection; 2],
    requests: MessageReader,
    responses: MessageReader,
    slots: VecDeque<Slot>,
    /// Set when the connection switched to HTTP/2 (`Upgrade: h2c`), until taken.
    h2c: Option<H2cUpgrade>,
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

impl Connection {
    pub fn new(limits: Limits) -> Self {
        Self {
            requests: MessageReader::new(MessageKind::Request, limits.clone()),
            responses: MessageReader::new(MessageKind::Response, limits.clone()),
            limits,
            role: None,
            not_http: false,
            upgraded: false,
            closed: false,
            finishing: false,
            detection: Default::default(),
            slots: VecDeque::new(),
            h2c: None,
        }
    }

    /// Decided from the first recognised message: a request on egress means `Client`.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// False once the connection was given up as not HTTP/1.
    pub fn is_http(&self) -> bool {
        !self.not_http
    }

    /// True once the connection switched protocols (101, CONNECT, HTTP/2 preface); further data
    /// is ignored.
    pub fn is_upgraded(&self) -> bool {
        self.upgraded
    }

    /// Memory held: head buffers, held bytes, body samples and messages awaiting their partner.
    pub fn buffered_bytes(&self) -> usize {
        let detection: usize = self.detection.iter().map(|d| d.buf.len()).sum();
        let slots: usize = self
            .slots
            .iter()
            .map(|s| {
                s.request.as_ref().map_or(0, Request::held_bytes)
                    + s.response.as_ref().map_or(0, Response::held_bytes)
            })
            .sum();
        detection + self.requests.held_bytes() + self.responses.held_bytes() + slots
    }

    /// The hand-over to HTTP/2 after an accepted `Upgrade: h2c`, once.
    pub fn take_h2c_upgrade(&mut self) -> Option<H2cUpgrade> {
        self.h2c.take()
    }

    fn active(&self) -> bool {
        !(self.not_http || self.upgraded || self.closed)
    }

    /// Bytes of one direction, in order, captured at `ts_ns`.
    pub fn on_data(&mut self, dir: Direction, ts_ns: u64, data: &[u8], out: &mut Vec<Output>) {
        if !self.active() || data.is_empty() {
            return;
        }
        match self.role {
            Some(role) => self.drive(dir == role.request_direction(), ts_ns, data, out),
            None => self.detect(dir, ts_ns, data, out),
        }
    }

    /// `len` bytes of this direction were not captured here.
    pub fn on_gap(&mut self, dir: Direction, ts_ns: u64, len: u64, out: &mut Vec<Output>) {
        if !self.active() || len == 0 {
            return;
        }
        let Some(role) = self.role else {
            let d = &mut self.detection[index(dir)];
            d.buf = Vec::new();
            d.resync = true;
            return;
        };
        let is_request = dir == role.request_direction();
        let mut events = Vec::new();
        self.reader(is_request).on_gap(len, ts_ns, &mut events);
        for ev in events {
            self.handle(ev, ts_ns, out);
        }
    }

    /// The connection ended: close-delimited responses complete, everything pending comes out.
    pub fn on_close(&mut self, ts_ns: u64, out: &mut Vec<Output>) {
        if self.closed {
            return;
        }
        self.finish(true, ts_ns, out);
        self.closed = true;
    }

    /// Emits everything pending as if the connection had been cut (e.g. idle eviction):
    /// messages in progress are marked incomplete. Parsing continues afterwards from the next
    /// plausible message start.
    pub fn flush(&mut self, ts_ns: u64, out: &mut Vec<Output>) {
        if !self.closed {
            self.finish(false, ts_ns, out);
        }
    }

    fn finish(&mut self, eof: bool, ts: u64, out: &mut Vec<Output>) {
        self.finishing = true;
        for is_request in [true, false] {
            let mut events = Vec::new();
            self.reader(is_request).finish(eof, &mut events);
            for ev in events {
                self.handle(ev, ts, out);
            }
        }
        self.finishing = false;
        let role = self.role.unwrap_or(Role::Client);
        for slot in self.slots.drain(..) {
            if let Some(request) = slot.request {
                out.push(Output::Exchange(Exchange {
                    role,
                    request,
                    response: slot.response,
                    http2: None,
                    rejected: None,
                }));
            }
        }
    }

    fn reader(&mut self, is_request: bool) -> &mut MessageReader {
        if is_request {
            &mut self.requests
        } else {
            &mut self.responses
        }
    }

    /// Role not yet known: classify the start of this direction's data.
    fn detect(&mut self, dir: Direction, ts: u64, data: &[u8], out: &mut Vec<Output>) {
        let i = index(dir);
        let d = &mut self.detection[i];
        let combined;
        let bytes: &[u8] = if d.buf.is_empty() {
            d.ts = ts;
            data
        } else {
            combined = [d.buf.as_slice(), data].concat();
            &combined
        };
        d.seen = d.seen.saturating_add(data.len());
        match detect::classify(bytes) {
            Class::NeedMore if d.seen <= self.limits.detect_bytes => {
                // Only a method's worth of bytes can be pending here (noise is not kept).
                let start = detect::skip_noise(bytes);
                d.buf = bytes[start..].to_vec();
            }
            Class::NeedMore => self.give_up(out),
            Class::Neither if d.resync => d.buf = Vec::new(),
            Class::Neither => self.give_up(out),
            class @ (Class::Request | Class::Response) => {
                let request_dir = if class == Class::Request {
                    dir
                } else {
                    dir.opposite()
                };
                self.role = Some(match request_dir {
                    Direction::Egress => Role::Client,
                    Direction::Ingress => Role::Server,
                });
                // Earlier bytes keep their own timestamp (latency starts at the first byte).
                let mine = std::mem::take(&mut self.detection[i]);
                let other = std::mem::take(&mut self.detection[index(dir.opposite())]);
                if !mine.buf.is_empty() {
                    self.drive(dir == request_dir, mine.ts, &mine.buf, out);
                }
                self.drive(dir == request_dir, ts, data, out);
                if !other.buf.is_empty() {
                    self.drive(dir != request_dir, other.ts, &other.buf, out);
                }
            }
        }
    }

    fn give_up(&mut self, out: &mut Vec<Output>) {
        if self.not_http {
            return;
        }
        self.not_http = true;
        self.detection = Default::default();
        self.requests.kill();
        self.responses.kill();
        out.push(Output::Problem(Problem::NotHttp.into()));
    }

    /// The request the next response answers: the oldest one without a response.
    fn response_context(&self) -> RequestContext {
        self.slots
            .iter()
            .find(|s| s.response.is_none())
            .map(|s| s.ctx)
            .unwrap_or_default()
    }

    /// Feeds one capture chunk to a reader, handling its events as they come so that each
    /// response head sees the right request context.
    fn drive(&mut self, is_request: bool, ts: u64, data: &[u8], out: &mut Vec<Output>) {
        let mut pos = 0;
        while self.active() {
            let ctx = self.response_context();
            let rest = data.get(pos..).unwrap_or_default();
            let (n, ev) = self.reader(is_request).feed(rest, ts, pos == 0, ctx);
            pos += n;
            match ev {
                Some(ev) => self.handle(ev, ts, out),
                None if n == 0 || pos >= data.len() => break,
                None => {}
            }
        }
        // The switch to HTTP/2 happened inside this chunk: the rest is the new protocol's.
        if let Some(up) = &mut self.h2c
            && self.upgraded
            && let Some(rest) = data.get(pos..).filter(|r| !r.is_empty())
        {
            let dir = if is_request {
                up.requests
            } else {
                up.requests.opposite()
            };
            up.leftovers.push((dir, ts, rest.to_vec()));
        }
    }

    fn handle(&mut self, ev: ReaderEvent, ts: u64, out: &mut Vec<Output>) {
        match ev {
            ReaderEvent::RequestStarted { method } => self.open_slot(&method, out),
            ReaderEvent::Complete {
                message: Message::Request(request),
                opens,
                ..
            } => {
                if opens {
                    self.open_slot(&request.head.method, out);
                }
                // The newest slot is the one being read, unless overflow already dropped it.
                if let Some(slot) = self.slots.back_mut().filter(|s| s.request.is_none()) {
                    slot.request = Some(request);
                }
                self.emit_ready(out);
            }
            ReaderEvent::Complete {
                message: Message::Response(response),
                after,
                ..
            } => self.on_response(response, after, ts, out),
            ReaderEvent::Rejected { request, problem } => {
                // Out of the request/response pairing: a server may have answered it or not.
                out.push(Output::Exchange(Exchange {
                    role: self.role.unwrap_or(Role::Client),
                    request,
                    response: None,
                    http2: None,
                    rejected: Some(problem),
                }));
            }
            ReaderEvent::Problem(Problem::NotHttp) => self.give_up(out),
            ReaderEvent::Problem(Problem::UnsupportedUpgrade) => self.switch_protocols(out),
            ReaderEvent::Problem(p) => out.push(Output::Problem(p.into())),
        }
    }

    /// A request's head was read: its slot waits for the request's end and its response.
    fn open_slot(&mut self, method: &str, out: &mut Vec<Output>) {
        self.slots.push_back(Slot {
            ctx: RequestContext::for_method(method),
            request: None,
            response: None,
        });
        self.enforce_pipeline_limit(out);
    }

    fn enforce_pipeline_limit(&mut self, out: &mut Vec<Output>) {
        let unanswered = self.slots.iter().filter(|s| s.response.is_none()).count();
        if unanswered <= self.limits.max_pipelined {
            return;
        }
        // Drop the oldest unanswered one, never the request currently being read.
        if let Some(idx) = self.slots.iter().position(|s| s.response.is_none())
            && idx + 1 < self.slots.len()
        {
            self.slots.remove(idx);
            out.push(Output::Problem(Problem::PipelineOverflow.into()));
        }
    }

    fn on_response(&mut self, response: Response, after: After, ts: u64, out: &mut Vec<Output>) {
        let status = response.head.status;
        if after != After::Stopped && (100..200).contains(&status) {
            // Interim (100 Continue, 103 Early Hints): the final response is still to come.
            return;
        }
        let to_h2c = after == After::Stopped && status == 101 && upgrades_to_h2c(&response);
        match self.slots.iter().position(|s| s.response.is_none()) {
            Some(i) if to_h2c && self.slots.get(i).is_some_and(|s| s.request.is_some()) => {
                // Stream 1 of the HTTP/2 connection: reported by the HTTP/2 parser, not here.
                if let Some(request) = self.slots.remove(i).and_then(|s| s.request) {
                    let requests = self.role.unwrap_or(Role::Client).request_direction();
                    let held = self.requests.take_held();
                    let leftovers = if held.is_empty() {
                        Vec::new()
                    } else {
                        vec![(requests, ts, held)]
                    };
                    self.h2c = Some(H2cUpgrade {
                        requests,
                        request,
                        leftovers,
                    });
                }
            }
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    slot.response = Some(response);
                }
            }
            None => out.push(Output::Problem(Problem::ResponseWithoutRequest.into())),
        }
        if after == After::Stopped {
            self.switch_protocols(out);
        } else if self.requests.is_paused()
            && !self.finishing
            && self.slots.iter().all(|s| s.response.is_some())
        {
            // The upgrade request was answered without switching: carry on with HTTP/1,
            // starting with whatever the client sent meanwhile.
            let held = self.requests.resume();
            self.emit_ready(out);
            if !held.is_empty() {
                self.drive(true, ts, &held, out);
            }
        }
        self.emit_ready(out);
    }

    fn switch_protocols(&mut self, out: &mut Vec<Output>) {
        if self.upgraded {
            return;
        }
        self.upgraded = true;
        self.requests.stop();
        self.responses.stop();
        self.emit_ready(out);
        if self.h2c.is_none() {
            out.push(Output::Problem(Problem::UnsupportedUpgrade.into()));
        }
    }

    /// Emits leading slots whose request and response are both complete, in order.
    fn emit_ready(&mut self, out: &mut Vec<Output>) {
        let role = self.role.unwrap_or(Role::Client);
        while self
            .slots
            .front()
            .is_some_and(|s| s.request.is_some() && s.response.is_some())
        {
            let Some(Slot {
                request: Some(request),
                response,
                ..
            }) = self.slots.pop_front()
            else {
                break;
            };
            out.push(Output::Exchange(Exchange {
                role,
                request,
                response,
                http2: None,
                rejected: None,
            }));
        }
    }
}

/// A 101 that switches to cleartext HTTP/2.
fn upgrades_to_h2c(response: &Response) -> bool {
    response.head.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade") && h.value.trim_ascii().eq_ignore_ascii_case(b"h2c")
    })
}
