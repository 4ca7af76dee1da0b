//! Helpers shared by the fuzz targets: the byte layout of the byte-oriented inputs and two small
//! checks. The layout is plain (a few control bytes, then sections separated by [`SECTION`]) so
//! that `cargo xtask fuzz` can write seeds from real HTTP messages and secrets without knowing
//! `arbitrary`'s encoding; `xtask/src/fuzz/seeds.rs` writes exactly this layout.

/// Separates the sections of an input (e.g. the two directions of a connection). Bytes that
/// never occur in HTTP text or YAML, so seeds built from real messages split where intended.
pub const SECTION: &[u8] = b"\xff\xfe\xfd\xfc";

/// Splits `data` into exactly `n` sections at the first `n - 1` separators; missing sections
/// are empty, so every input decodes to something.
pub fn sections(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match find(rest, SECTION) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + SECTION.len()..];
            }
            None => {
                out.push(rest);
                rest = &[];
            }
        }
    }
    out.push(rest);
    out
}

/// Position of the first occurrence of `needle` in `haystack` (an empty needle is at 0).
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// True when `needle` occurs in `haystack`: the check that a parsed field really came from the
/// input rather than from a stale buffer or another message.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Memory one HTTP/1 connection may hold under `limits` (its `buffered_bytes`): detection
/// buffers, both readers' head buffers and held bytes, and every slot the pipelining limit lets
/// through, each a head plus a body sample. Generous on purpose: it catches growth with the
/// input, not a byte of slack.
pub fn memory_bound(limits: &monitor::protocols::http1::Limits) -> usize {
    let message = limits.max_head_bytes + limits.body_sample_bytes;
    2 * limits.detect_bytes
        + 2 * (3 * (limits.max_head_bytes + 1) + message)
        + (limits.max_pipelined + 2) * 2 * message
}

/// Bytes one HTTP/2 frame reader may keep while searching for a frame boundary: the search
/// horizon (`frame::resync::HORIZON`, 32 KiB, private to the monitor) plus a frame header, with
/// room to spare.
pub const RESYNC_BUFFER: usize = 48 * 1024;
/// SETTINGS parameters a reader keeps per frame (`frame::reader::MAX_SETTINGS`) × 6 bytes.
const SETTINGS_BUFFER: usize = 64 * 6;

/// Memory one HTTP/2 connection may hold under `limits` after a call that fed `chunk` bytes (its
/// `buffered_bytes`): per direction the open header block, the boundary search (which may still
/// hold the chunk) and a frame header and SETTINGS; per tracked stream, per side, the body sample
/// and two decoded header lists (the head and the trailers) of at most `MAX_HEADER_LIST` each
/// (HPACK lets one indexed byte expand to a table entry, so the wire size bounds nothing); and
/// the HTTP/1 request an `Upgrade: h2c` connection adopted as stream 1.
pub fn http2_memory_bound(limits: &monitor::protocols::Limits, chunk: usize) -> usize {
    use monitor::protocols::http2::hpack::MAX_HEADER_LIST;
    let h2 = &limits.http2;
    let reader = h2.frames.max_header_block + RESYNC_BUFFER + chunk + 9 + SETTINGS_BUFFER;
    let side = h2.body_sample_bytes + 2 * MAX_HEADER_LIST;
    let upgrade = limits.http1.max_head_bytes + limits.http1.body_sample_bytes;
    2 * reader + h2.max_streams * 2 * side + upgrade
}
