//! One direction of one connection: a byte stream in, complete messages out.
//!
//! [`MessageReader`] knows nothing about the other direction; the little it needs from it (was
//! the request being answered a HEAD or a CONNECT?) is passed in as a [`RequestContext`], and
//! protocol switches are surfaced as [`After`] so the connection layer can decide. That keeps it
//! usable on its own, which the llhttp conformance test relies on.
//!
//! Memory: only a head in progress is buffered (bounded by `max_head_bytes`), plus body samples
//! and the bytes held while a request waits for its upgrade verdict (also bounded).
//!
//! Bytes of the request direction that the parser rejects or skips (a malformed or ambiguous
//! head, a broken chunk, the bytes passed over while resyncing) are not just dropped: a lenient
//! server may still read them as requests, so they come out as one [`ReaderEvent::Rejected`]
//! per episode (bounded by [`MAX_REJECTED_BYTES`]) for the detectors to scan.

use std::collections::VecDeque;

use super::Limits;
use super::body::{BodyGap, BodyReader};
use super::detect::{self, Plausible};
pub(crate) use super::framing::RequestContext;
use super::framing::{self, After};
use super::head::{self, Parsed};
use super::message::Message;
use super::problem::Problem;
use super::{Headers, HttpVersion, MessageStats, Request, RequestHead, Response};

/// Most rejected request bytes kept for scanning per episode; the rest is counted in the
/// rejected request's `body_bytes` but not kept.
pub(crate) const MAX_REJECTED_BYTES: usize = 16 * 1024;

/// Heads are re-parsed on every newline; below this size also on every call, so a bad start
/// line is rejected before its line ends (cheap: bounded quadratic cost).
const EARLY_PARSE_BYTES: usize = 1024;

/// Which kind of message this direction carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Request,
    Response,
}

#[derive(Debug)]
pub(crate) enum ReaderEvent {
    /// A request head was parsed and a body follows. Emitted before the body is read because
    /// the response may start earlier (`100 Continue`, early errors) and must find its request.
    /// (A request without a body comes out whole, as a `Complete` that `opens` its slot.)
    RequestStarted {
        method: crate::protocols::Method,
    },
    /// A message ended (possibly `incomplete`), and what the stream does next.
    Complete {
        message: Message,
        after: After,
        /// A request whose head and end came in one step (no body to read), with no
        /// `RequestStarted` before it: its slot is opened with it. One event instead of two
        /// saved moving the request through the reader's queue.
        opens: bool,
    },
    Problem(Problem),
    /// Request bytes the parser rejected or skipped, as a request whose head is unknown and
    /// whose body sample is the raw bytes; `problem` is the label of what rejected them.
    Rejected {
        request: Request,
        problem: &'static str,
    },
}

/// Request bytes rejected or skipped since the last message start.
#[derive(Debug)]
struct Rejected {
    bytes: Vec<u8>,
    /// All rejected bytes, kept or not.
    total: u64,
    start_ns: u64,
    end_ns: u64,
    problem: &'static str,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per direction, and most of the time a message is in its body"
)]
#[derive(Debug)]
enum State {
    /// Between messages.
    Idle,
    /// Head bytes accumulate in `head_buf`; `confirmed` once the start looks like HTTP.
    Head { start_ns: u64, confirmed: bool },
    Body {
        message: Message,
        body: BodyReader,
        after: After,
    },
    /// Lost our place; waiting for a chunk that starts like a message.
    Resync,
    /// Waiting for the verdict on an upgrade request; bytes go to `held`.
    Paused,
    /// Protocol switched.
    Stopped,
    /// Not HTTP.
    Dead,
}

#[derive(Debug)]
pub(crate) struct MessageReader {
    kind: MessageKind,
    limits: Limits,
    state: State,
    head_buf: Vec<u8>,
    held: Vec<u8>,
    held_lost: bool,
    queued: VecDeque<ReaderEvent>,
    /// A whole message head was parsed on this direction. From then on, bytes that do not
    /// start a message mean we lost our place (a hole the kernel could not report, a framing
    /// we misread), not that the connection is something else: resync instead of giving up,
    /// or one slip would silently lose every later call of a keep-alive connection.
    established: bool,
    rejected: Option<Rejected>,
}

/// A header field continued on the next line (RFC 9112 §5.2's obs-fold), within the head:
/// a line starting with a space or tab after a line that was a whole field (`name: value`).
fn has_obs_fold(buf: &[u8]) -> bool {
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = &buf[..head_end];
    let mut line_start = 0;
    for i in 0..head.len().saturating_sub(2) {
        if head[i] == b'\r' && head[i + 1] == b'\n' {
            let previous_is_field = line_start > 0 && head[line_start..i].contains(&b':');
            if previous_is_field && matches!(head[i + 2], b' ' | b'\t') {
                return true;
            }
            line_start = i + 2;
        }
    }
    false
}

/// A `\n` at or after `from` not preceded by `\r`. Runs on every complete head, so it jumps
/// from newline to newline (`memchr`) instead of testing each byte: the byte loop was 2.5 % of
/// the daemon's instructions per call.
pub(super) fn has_bare_lf(buf: &[u8], from: usize) -> bool {
    let Some(tail) = buf.get(from..) else {
        return false;
    };
    memchr::memchr_iter(b'\n', tail).any(|i| {
        let at = from + i;
        at == 0 || buf[at - 1] != b'\r'
    })
}

impl MessageReader {
    pub(crate) fn new(kind: MessageKind, limits: Limits) -> Self {
        Self {
            kind,
            limits,
            state: State::Idle,
            head_buf: Vec::new(),
            held: Vec::new(),
            held_lost: false,
            queued: VecDeque::new(),
            established: false,
            rejected: None,
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        matches!(self.state, State::Paused)
    }

    /// Bytes of heads, held data, framing lines and samples currently kept.
    pub(crate) fn held_bytes(&self) -> usize {
        let body = match &self.state {
            State::Body { message, body, .. } => message.held_bytes() + body.held_bytes(),
            _ => 0,
        };
        let rejected = self.rejected.as_ref().map_or(0, |r| r.bytes.len());
        self.head_buf.len() + self.held.len() + body + rejected
    }

    /// Keeps request bytes the parser passes over (requests only: responses are not scanned
    /// for credentials).
    fn reject(&mut self, parts: [&[u8]; 2], ts: u64, problem: &'static str) {
        if self.kind != MessageKind::Request {
            return;
        }
        let r = self.rejected.get_or_insert_with(|| Rejected {
            bytes: Vec::new(),
            total: 0,
            start_ns: ts,
            end_ns: ts,
            problem,
        });
        for part in parts {
            let room = MAX_REJECTED_BYTES.saturating_sub(r.bytes.len());
            r.bytes.extend_from_slice(&part[..part.len().min(room)]);
            r.total = r.total.saturating_add(part.len() as u64);
        }
        r.end_ns = r.end_ns.max(ts);
    }

    /// The rejected bytes of the episode that just ended, as a request with an unknown head.
    fn take_rejected(&mut self) -> Option<ReaderEvent> {
        let r = self.rejected.take().filter(|r| r.total > 0)?;
        let request = Request {
            head: RequestHead {
                method: Default::default(),
                target: String::new(),
                version: HttpVersion::Http11,
                host: None,
                headers: Headers::default(),
            },
            stats: MessageStats {
                start_ns: r.start_ns,
                end_ns: r.end_ns,
                head_bytes: 0,
                body_bytes: r.total,
                body_sample: r.bytes.into(),
                incomplete: true,
            },
        };
        Some(ReaderEvent::Rejected {
            request,
            problem: r.problem,
        })
    }

    fn plausible_start(&self, buf: &[u8]) -> Plausible {
        match self.kind {
            MessageKind::Request => detect::request_start(buf),
            MessageKind::Response => detect::response_start(buf),
        }
    }

    /// Consumes a prefix of `data` (bytes of this direction captured at `ts`) and returns how
    /// many bytes were used plus at most one event. Call again with the rest until it returns
    /// `(0, None)` or the data is used up and no event is returned; `chunk_start` tells whether
    /// `data` begins a capture chunk (only those are resync candidates). `ctx` describes the
    /// request the next response answers (ignored for requests).
    // Inlined into `Connection::drive`, its one caller: when a change elsewhere tipped the
    // compiler into calling it instead, the reader's `memchr` calls stopped being inlined too
    // (+250 instructions per call, callgrind).
    #[inline]
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        ts: u64,
        chunk_start: bool,
        ctx: RequestContext,
    ) -> (usize, Option<ReaderEvent>) {
        if let Some(ev) = self.queued.pop_front() {
            return (0, Some(ev));
        }
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match &mut self.state {
                State::Dead | State::Stopped => return (data.len(), None),
                State::Paused => {
                    if self.held.len() + rest.len() > self.limits.max_head_bytes {
                        // Would-be pipelined data beyond a head's worth: give up on it.
                        self.held_lost = true;
                        self.held = Vec::new();
                    } else if !self.held_lost {
                        self.held.extend_from_slice(rest);
                    }
                    return (data.len(), None);
                }
                State::Resync => {
                    let is_request = self.kind == MessageKind::Request;
                    if chunk_start && pos == 0 && detect::is_resync_point(is_request, rest) {
                        self.state = State::Idle;
                        if let Some(ev) = self.take_rejected() {
                            return (0, Some(ev));
                        }
                        continue;
                    }
                    self.reject([rest, &[]], ts, "desync");
                    return (data.len(), None);
                }
                State::Idle => {
                    pos += detect::skip_noise(rest);
                    let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) else {
                        break;
                    };
                    match self.plausible_start(rest) {
                        Plausible::No => return (data.len(), Some(self.die(rest, ts))),
                        v => {
                            self.state = State::Head {
                                start_ns: ts,
                                confirmed: v == Plausible::Yes,
                            }
                        }
                    }
                }
                State::Head { .. } => {
                    let (n, ev) = self.feed_head(rest, ts, ctx);
                    pos += n;
                    if ev.is_some() {
                        return (pos, ev);
                    }
                    if n == 0 {
                        break;
                    }
                }
                State::Body { message, body, .. } => match body.feed(rest, message.stats_mut()) {
                    Ok((n, done)) => {
                        pos += n;
                        if n > 0 {
                            message.stats_mut().end_ns = ts;
                        }
                        if done {
                            return (pos, Some(self.complete_current()));
                        }
                    }
                    Err(p) => {
                        // Position inside the chunk is unknown now: drop the rest of it (kept
                        // for the scan: a smuggled request may sit in a broken chunk).
                        let ev = self.abandon_current(ts);
                        self.reject([rest, &[]], ts, p.label());
                        self.queued.push_back(ReaderEvent::Problem(p));
                        return (data.len(), ev);
                    }
                },
            }
        }
        (pos, None)
    }

    /// Head bytes: buffer (bounded), parse, and on completion set up the body.
    fn feed_head(
        &mut self,
        rest: &[u8],
        ts: u64,
        ctx: RequestContext,
    ) -> (usize, Option<ReaderEvent>) {
        let State::Head {
            start_ns,
            confirmed,
        } = self.state
        else {
            return (0, None);
        };
        let max = self.limits.max_head_bytes;
        let old = self.head_buf.len();
        let take = rest.len().min((max + 1).saturating_sub(old));
        let new = &rest[..take];

        if !confirmed {
            let mut probe = self.head_buf.clone();
            probe.extend_from_slice(&new[..new.len().min(32)]);
            match self.plausible_start(&probe) {
                Plausible::No => {
                    let head = std::mem::take(&mut self.head_buf);
                    self.reject([&head, &[]], ts, "desync");
                    return (rest.len(), Some(self.die(rest, ts)));
                }
                Plausible::Yes => {
                    self.state = State::Head {
                        start_ns,
                        confirmed: true,
                    }
                }
                Plausible::NeedMore => {}
            }
        }

        let has_nl = memchr::memchr(b'\n', new).is_some();
        if !has_nl && old + take > EARLY_PARSE_BYTES {
            self.head_buf.extend_from_slice(new);
            if self.head_buf.len() > max {
                let ev = self.fail_head_skipping(Problem::HeadTooLarge, old, rest, ts);
                return (rest.len(), Some(ev));
            }
            return (take, None);
        }

        let zero_copy = old == 0;
        if !zero_copy {
            self.head_buf.extend_from_slice(new);
        }
        let buf: &[u8] = if zero_copy { new } else { &self.head_buf };
        let parsed = match self.kind {
            MessageKind::Request => head::parse_request(buf).map(|p| match p {
                Parsed::Partial => None,
                Parsed::Complete { len, head, info } => Some((len, Ok((head, info)))),
            }),
            MessageKind::Response => head::parse_response(buf).map(|p| match p {
                Parsed::Partial => None,
                Parsed::Complete { len, head, info } => Some((len, Err((head, info)))),
            }),
        };
        match parsed {
            Err(p) => {
                if self.kind == MessageKind::Request && buf.starts_with(b"PRI * HTTP/2") {
                    return (rest.len(), Some(self.stop_upgrade()));
                }
                let p = if has_bare_lf(buf, 0) {
                    Problem::AmbiguousFraming("bare LF")
                } else if has_obs_fold(buf) {
                    Problem::AmbiguousFraming("obs-fold")
                } else {
                    p
                };
                (rest.len(), Some(self.fail_head_skipping(p, old, rest, ts)))
            }
            Ok(None) => {
                if zero_copy {
                    self.head_buf.extend_from_slice(new);
                }
                if has_nl && has_bare_lf(&self.head_buf, old.saturating_sub(1)) {
                    let p = Problem::AmbiguousFraming("bare LF");
                    return (rest.len(), Some(self.fail_head_skipping(p, old, rest, ts)));
                }
                if self.head_buf.len() > max {
                    let ev = self.fail_head_skipping(Problem::HeadTooLarge, old, rest, ts);
                    return (rest.len(), Some(ev));
                }
                (take, None)
            }
            Ok(Some((len, parsed))) => {
                // A complete head's bare LFs were refused by the parse (`head.rs`).
                if len > max {
                    let ev = self.fail_head_skipping(Problem::HeadTooLarge, old, rest, ts);
                    return (rest.len(), Some(ev));
                }
                let consumed = len - old;
                self.release_head_buf();
                self.established = true;
                let stats = MessageStats {
                    start_ns,
                    end_ns: ts,
                    head_bytes: len as u64,
                    ..MessageStats::default()
                };
                let ev = match parsed {
                    Ok((head, info)) => {
                        if head.method == "PRI" && head.target == "*" {
                            return (rest.len(), Some(self.stop_upgrade()));
                        }
                        match framing::request_body(&head.method, &info) {
                            Err(p) => {
                                return (
                                    rest.len(),
                                    Some(self.fail_head_skipping(p, old, rest, ts)),
                                );
                            }
                            Ok((kind, after)) => {
                                let method = head.method.clone();
                                let message = Message::Request(Request { head, stats });
                                match self.start_body(message, kind, after, true) {
                                    Some(whole) => whole,
                                    None => ReaderEvent::RequestStarted { method },
                                }
                            }
                        }
                    }
                    Err((head, info)) => {
                        let (kind, after) = framing::response_body(head.status, &info, ctx);
                        let message = Message::Response(Response { head, stats });
                        match self.start_body(message, kind, after, false) {
                            Some(ev) => ev,
                            None => return (consumed, None),
                        }
                    }
                };
                (consumed, Some(ev))
            }
        }
    }

    /// Enters the body state (`None`), or completes right away for an empty body (`opens`: see
    /// [`ReaderEvent::Complete`]).
    fn start_body(
        &mut self,
        message: Message,
        kind: framing::BodyKind,
        after: After,
        opens: bool,
    ) -> Option<ReaderEvent> {
        let cap = self.limits.body_sample_bytes;
        match BodyReader::new(kind, cap, self.limits.max_head_bytes) {
            None => Some(self.finish_message(message, after, opens)),
            Some(body) => {
                self.state = State::Body {
                    message,
                    body,
                    after,
                };
                None
            }
        }
    }

    fn finish_message(&mut self, message: Message, after: After, opens: bool) -> ReaderEvent {
        self.state = match after {
            After::Continue => State::Idle,
            After::Paused => State::Paused,
            After::Stopped => State::Stopped,
        };
        ReaderEvent::Complete {
            message,
            after,
            opens,
        }
    }

    fn complete_current(&mut self) -> ReaderEvent {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Body { message, after, .. } => self.finish_message(message, after, false),
            other => {
                self.state = other;
                ReaderEvent::Problem(Problem::Desync)
            }
        }
    }

    /// Ends the current message as incomplete and resyncs.
    fn abandon_current(&mut self, ts: u64) -> Option<ReaderEvent> {
        self.release_head_buf();
        match std::mem::replace(&mut self.state, State::Resync) {
            State::Body { mut message, .. } => {
                let stats = message.stats_mut();
                stats.incomplete = true;
                stats.end_ns = stats.end_ns.max(ts);
                Some(ReaderEvent::Complete {
                    message,
                    after: After::Continue,
                    opens: false,
                })
            }
            _ => None,
        }
    }

    fn release_head_buf(&mut self) {
        // Keep a small allocation for the next head, but never pin a huge one.
        if self.head_buf.capacity() > 4096 {
            self.head_buf = Vec::new();
        } else {
            self.head_buf.clear();
        }
    }

    /// A head rejected: the bytes buffered before `rest` (`old` of them) and all of `rest` are
    /// skipped, so they are kept for the scan first.
    fn fail_head_skipping(&mut self, p: Problem, old: usize, rest: &[u8], ts: u64) -> ReaderEvent {
        let head = std::mem::take(&mut self.head_buf);
        self.reject([&head[..old.min(head.len())], rest], ts, p.label());
        self.fail_head(p)
    }

    fn fail_head(&mut self, p: Problem) -> ReaderEvent {
        self.release_head_buf();
        self.state = State::Resync;
        ReaderEvent::Problem(p)
    }

    /// Bytes that cannot start a message: not HTTP, unless this direction already carried
    /// HTTP, in which case we lost our place.
    fn die(&mut self, skipped: &[u8], ts: u64) -> ReaderEvent {
        if self.established {
            self.reject([skipped, &[]], ts, "desync");
            return self.fail_head(Problem::Desync);
        }
        self.release_head_buf();
        self.state = State::Dead;
        ReaderEvent::Problem(Problem::NotHttp)
    }

    fn stop_upgrade(&mut self) -> ReaderEvent {
        self.release_head_buf();
        self.state = State::Stopped;
        ReaderEvent::Problem(Problem::UnsupportedUpgrade)
    }

    /// `len` bytes of this direction are missing at the current position.
    pub(crate) fn on_gap(&mut self, len: u64, ts: u64, out: &mut Vec<ReaderEvent>) {
        out.extend(self.queued.drain(..));
        if len == 0 {
            return;
        }
        match &mut self.state {
            State::Idle | State::Head { .. } => {
                // The head cut by the hole: kept for the scan with what follows it.
                let head = std::mem::take(&mut self.head_buf);
                self.reject([&head, &[]], ts, "desync");
                self.state = State::Resync;
                out.push(ReaderEvent::Problem(Problem::Desync));
            }
            State::Body { message, body, .. } => {
                let stats = message.stats_mut();
                match body.gap(len, stats) {
                    BodyGap::Skipped => stats.end_ns = ts,
                    BodyGap::Ended { rest } => {
                        stats.end_ns = ts;
                        out.push(self.complete_current());
                        if rest > 0 {
                            self.on_gap(rest, ts, out);
                        }
                    }
                    BodyGap::Lost => {
                        out.extend(self.abandon_current(ts));
                        out.push(ReaderEvent::Problem(Problem::Desync));
                    }
                }
            }
            State::Paused => {
                self.held_lost = true;
                self.held = Vec::new();
            }
            State::Resync | State::Stopped | State::Dead => {}
        }
    }

    /// End of data: `eof` for a real close (completes close-delimited bodies), false for a
    /// flush. A message in progress comes out; the reader is left resyncing.
    pub(crate) fn finish(&mut self, eof: bool, out: &mut Vec<ReaderEvent>) {
        out.extend(self.queued.drain(..));
        if matches!(self.state, State::Head { .. }) && !self.head_buf.is_empty() {
            // A head that never ended: a server waiting for the rest may still act on it.
            let head = std::mem::take(&mut self.head_buf);
            let ts = match self.state {
                State::Head { start_ns, .. } => start_ns,
                _ => 0,
            };
            self.reject([&head, &[]], ts, "incomplete_head");
        }
        out.extend(self.take_rejected());
        match std::mem::replace(&mut self.state, State::Resync) {
            State::Body {
                mut message,
                body,
                after,
            } => {
                if !(eof && body.ends_at_close()) {
                    message.stats_mut().incomplete = true;
                }
                out.push(ReaderEvent::Complete {
                    message,
                    after,
                    opens: false,
                });
                self.state = State::Resync;
            }
            State::Idle => self.state = State::Idle,
            s @ (State::Stopped | State::Dead) => self.state = s,
            State::Head { .. } | State::Paused | State::Resync => {}
        }
        self.release_head_buf();
        self.held = Vec::new();
        self.held_lost = false;
    }

    /// The upgrade was refused: continue parsing, starting with the held bytes, which the
    /// caller must feed back (as a chunk start).
    pub(crate) fn resume(&mut self) -> Vec<u8> {
        if !matches!(self.state, State::Paused) {
            return Vec::new();
        }
        self.state = if self.held_lost {
            State::Resync
        } else {
            State::Idle
        };
        self.held_lost = false;
        std::mem::take(&mut self.held)
    }

    /// The bytes held while paused, for the protocol the connection switched to (empty if
    /// some were dropped: the new parser then starts from a hole).
    pub(crate) fn take_held(&mut self) -> Vec<u8> {
        if self.held_lost {
            return Vec::new();
        }
        std::mem::take(&mut self.held)
    }

    /// The protocol switched: ignore everything from now on.
    pub(crate) fn stop(&mut self) {
        self.state = State::Stopped;
        self.held = Vec::new();
        self.release_head_buf();
    }

    /// Not HTTP after all (decided by the other direction): ignore everything from now on.
    pub(crate) fn kill(&mut self) {
        self.state = State::Dead;
        self.held = Vec::new();
        self.release_head_buf();
    }
}

#[cfg(test)]
mod bare_lf {
    use super::has_bare_lf;

    /// The definition, byte by byte: what the `memchr` walk must agree with.
    fn naive(buf: &[u8], from: usize) -> bool {
        (from..buf.len()).any(|i| buf[i] == b'\n' && (i == 0 || buf[i - 1] != b'\r'))
    }

    #[test]
    fn agrees_with_the_byte_by_byte_definition() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"\r\n\n",
            b"a\rb\nc",
            b"\n\r\n\r\n",
        ];
        for buf in cases {
            for from in 0..=buf.len() + 2 {
                assert_eq!(
                    has_bare_lf(buf, from),
                    naive(buf, from),
                    "{:?} from {from}",
                    String::from_utf8_lossy(buf)
                );
            }
        }
    }
}
