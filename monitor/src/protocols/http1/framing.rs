//! Where a message's body ends (RFC 9112 §6.3) and whether the stream stays HTTP/1 afterwards.
//!
//! Kept apart from parsing because the answer for a response depends on the request it answers
//! (HEAD, CONNECT), which only the connection layer knows.

use super::head::HeadInfo;
use super::problem::Problem;

/// How the body of one message is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Empty,
    Length(u64),
    Chunked,
    /// Responses only: the body runs until the connection closes.
    UntilClose,
}

/// What the direction does once the current message is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    /// Next message follows.
    Continue,
    /// Request asked to switch protocols (Upgrade, CONNECT): what follows depends on the
    /// response, so the reader holds further bytes until told to resume or stop.
    Paused,
    /// The stream switched protocols (101, successful CONNECT): stop parsing.
    Stopped,
}

/// What the response reader needs to know about the request being answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestContext {
    pub head: bool,
    pub connect: bool,
}

impl RequestContext {
    pub(crate) fn for_method(method: &str) -> Self {
        Self {
            head: method == "HEAD",
            connect: method == "CONNECT",
        }
    }
}

pub(crate) fn request_body(method: &str, info: &HeadInfo) -> Result<(BodyKind, After), Problem> {
    if method == "CONNECT" {
        // Whatever follows a CONNECT head is tunnel data (RFC 9110 §9.3.6), never a body.
        return Ok((BodyKind::Empty, After::Paused));
    }
    let after = if info.upgrade {
        After::Paused
    } else {
        After::Continue
    };
    let body = match (info.transfer_encoding, info.content_length) {
        (Some(true), _) => BodyKind::Chunked,
        // A request has no "until close" framing, so its length would be unknowable (§6.3 p4).
        (Some(false), _) => {
            return Err(Problem::AmbiguousFraming(
                "request transfer-encoding not chunked",
            ));
        }
        (None, Some(0) | None) => BodyKind::Empty,
        (None, Some(n)) => BodyKind::Length(n),
    };
    Ok((body, after))
}

pub(crate) fn response_body(
    status: u16,
    info: &HeadInfo,
    req: RequestContext,
) -> (BodyKind, After) {
    if status == 101 || (req.connect && (200..300).contains(&status)) {
        return (BodyKind::Empty, After::Stopped);
    }
    if (100..200).contains(&status) || status == 204 || status == 304 || req.head {
        return (BodyKind::Empty, After::Continue);
    }
    let body = match (info.transfer_encoding, info.content_length) {
        (Some(true), _) => BodyKind::Chunked,
        (Some(false), _) => BodyKind::UntilClose,
        (None, Some(0)) => BodyKind::Empty,
        (None, Some(n)) => BodyKind::Length(n),
        (None, None) => BodyKind::UntilClose,
    };
    (body, After::Continue)
}
