//! Deciding from a connection's first bytes which parser gets it.
//!
//! The kernel already tells HTTP/1 from HTTP/2 for plaintext sockets, but TLS plaintext and
//! connections that predate the capture arrive unclassified, and either direction may speak
//! first (an HTTP/2 server often sends its SETTINGS before reading the client preface). So each
//! direction's first bytes are held until one of them decides.

pub use super::http2::frame::PREFACE;
use super::http2::frame::{FRAME_HEADER_LEN, FrameHead, kind};
/// Bytes held per direction before giving the connection to HTTP/1 (which has its own
/// detection and gives up on what is not HTTP).
const MAX_HELD: usize = 64;
const FRAME_HEADER: usize = FRAME_HEADER_LEN;
/// The default SETTINGS_MAX_FRAME_SIZE: a first frame larger than this is not plausible.
const MAX_FRAME: u32 = 16_384;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    NeedMore,
    /// This direction sent the client preface.
    Http2Preface,
    /// This direction is a server starting with its SETTINGS (its client's preface is on the
    /// other direction, maybe not captured yet).
    Http2ServerSettings,
    /// HTTP/2 frames without a preface: the capture started mid-connection.
    Http2MidConnection,
    Http1,
}

/// Chunks held per direction while neither protocol is recognised, before the connection goes
/// to HTTP/1 (which gives it up as not HTTP). A connection seen mid-stream can start inside a
/// frame (a read whose header went by before the capture): a later chunk may start on a frame.
pub const MAX_UNDECIDED_CHUNKS: usize = 8;
/// Bytes held per direction while undecided, at most (the same reason, bounded in memory).
pub const MAX_UNDECIDED_BYTES: usize = 16 * 1024;

/// What to do with one direction after its latest chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The direction's bytes from its first chunk decide.
    FromStart(Verdict),
    /// Only the latest chunk starts on HTTP/2 frames: a mid-connection capture whose earlier
    /// chunks of this direction were inside a frame (they are dropped).
    MidConnectionFromLatest,
    NeedMore,
}

/// Decides one direction from all its bytes so far (`all`) and its latest chunk.
pub fn decide(all: &[u8], latest: &[u8], chunks: usize) -> Decision {
    match classify(all) {
        Verdict::Http1 => {}
        verdict => {
            return if verdict == Verdict::NeedMore {
                Decision::NeedMore
            } else {
                Decision::FromStart(verdict)
            };
        }
    }
    if chunks > 1 && latest.len() >= FRAME_HEADER && plausible_frames(latest) {
        return Decision::MidConnectionFromLatest;
    }
    if super::http1::could_start_message(all)
        || chunks >= MAX_UNDECIDED_CHUNKS
        || all.len() >= MAX_UNDECIDED_BYTES
    {
        return Decision::FromStart(Verdict::Http1);
    }
    Decision::NeedMore
}

/// Classifies the first bytes of one direction.
pub fn classify(bytes: &[u8]) -> Verdict {
    if bytes.len() < PREFACE.len() && PREFACE.starts_with(bytes) {
        return Verdict::NeedMore;
    }
    if bytes.starts_with(PREFACE) {
        return Verdict::Http2Preface;
    }
    if bytes.len() < FRAME_HEADER {
        // A frame length's high byte is 0 for every frame under 64 KiB.
        return if bytes.first() == Some(&0) && bytes.len() < MAX_HELD {
            Verdict::NeedMore
        } else {
            Verdict::Http1
        };
    }
    if !plausible_frames(bytes) {
        return Verdict::Http1;
    }
    match frame_type(bytes) {
        Some(SETTINGS) => Verdict::Http2ServerSettings,
        _ => Verdict::Http2MidConnection,
    }
}

const SETTINGS: u8 = kind::SETTINGS;

fn frame_type(bytes: &[u8]) -> Option<u8> {
    bytes.get(3).copied()
}

/// Every frame header from the start to the end of `bytes` is one a real peer could send (the
/// last frame may run past the end). Strict on purpose: random binary data and other protocols
/// must not pass for HTTP/2.
pub fn plausible_frames(bytes: &[u8]) -> bool {
    let mut pos = 0usize;
    let mut frames = 0;
    while let Some(header) = bytes
        .get(pos..pos + FRAME_HEADER)
        .and_then(|h| <&[u8; FRAME_HEADER]>::try_from(h).ok())
    {
        let head = FrameHead::parse(header);
        // Only the ten defined types: an extension frame first is no evidence of HTTP/2.
        if head.kind > kind::CONTINUATION || !head.plausible(MAX_FRAME) {
            return false;
        }
        frames += 1;
        pos += head.wire_len() as usize;
    }
    frames > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preface_server_settings_mid_connection_and_http1() {
        assert_eq!(classify(b"PRI * HT"), Verdict::NeedMore);
        assert_eq!(classify(PREFACE), Verdict::Http2Preface);
        let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        assert_eq!(classify(&settings), Verdict::Http2ServerSettings);
        let headers = [0, 0, 3, 1, 5, 0, 0, 0, 1, 0x82, 0x84, 0x86];
        assert_eq!(classify(&headers), Verdict::Http2MidConnection);
        assert_eq!(classify(&headers[..4]), Verdict::NeedMore);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Verdict::Http1);
        assert_eq!(classify(b"HTTP/1.1 200 OK\r\n"), Verdict::Http1);
    }

    #[test]
    fn a_direction_starting_inside_a_frame_waits_for_one_that_starts_on_one() {
        let payload = [0x82, 0x86, 0x41, 0x8a, 0x08];
        assert_eq!(decide(&payload, &payload, 1), Decision::NeedMore);
        let headers = [0, 0, 3, 1, 5, 0, 0, 0, 1, 0x82, 0x84, 0x86];
        let all = [&payload[..], &headers].concat();
        assert_eq!(decide(&all, &headers, 2), Decision::MidConnectionFromLatest);
        // HTTP/1 is still recognised at once, and noise is given to it in the end.
        assert_eq!(
            decide(b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\n", 1),
            Decision::FromStart(Verdict::Http1)
        );
        assert_eq!(
            decide(&payload, &payload, MAX_UNDECIDED_CHUNKS),
            Decision::FromStart(Verdict::Http1)
        );
    }

    #[test]
    fn random_bytes_and_lookalikes_are_not_http2() {
        // A frame header of an unknown type, a bad flag, a reserved bit, a runaway length.
        assert_eq!(classify(&[0, 0, 0, 0x20, 0, 0, 0, 0, 1]), Verdict::Http1);
        assert_eq!(classify(&[0, 0, 0, 0x0, 0xff, 0, 0, 0, 1]), Verdict::Http1);
        assert_eq!(classify(&[0, 0, 0, 0x0, 0, 0x80, 0, 0, 1]), Verdict::Http1);
        assert_eq!(classify(&[0, 0x80, 0, 0x0, 0, 0, 0, 0, 1]), Verdict::Http1);
        // Two plausible frames followed by garbage where the third header must be.
        let mut chain = vec![0, 0, 0, 0x6, 0, 0, 0, 0, 0];
        chain[2] = 8;
        chain.extend([0; 8]);
        chain.extend([0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xff]);
        assert_eq!(classify(&chain), Verdict::Http1);
        // A pseudo-random stream.
        let mut x: u32 = 0x1234_5678;
        let noise: Vec<u8> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert_ne!(classify(&noise), Verdict::Http2MidConnection);
        assert_ne!(classify(&noise), Verdict::Http2ServerSettings);
    }
}
