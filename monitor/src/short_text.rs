//! Short strings made of pieces (a workload key, a path template, a caller's label), built as a
//! [`CompactString`]: one of up to 24 bytes is kept inline, with no heap allocation.
//!
//! The pieces are gathered first and copied once: `CompactString::push_str` decides between
//! inline and heap storage on every call, about a hundred instructions each (callgrind), which
//! cost more per call than the allocations it saved.
//!
//! Also here: ASCII bytes taken as `str` without a UTF-8 validation ([`ascii`]), for the short
//! texts the monitor writes on the stack and for traffic's nearly always ASCII fields.
use compact_str::CompactString;

/// Longest text kept inline.
const MAX_INLINE: usize = std::mem::size_of::<CompactString>();

/// `parts` joined, inline when they fit, else in one allocation.
pub(crate) fn concat(parts: &[&str]) -> CompactString {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > MAX_INLINE {
        let mut text = String::with_capacity(len);
        for part in parts {
            text.push_str(part);
        }
        // Takes over the `String`'s buffer.
        return CompactString::from(text);
    }
    // Written straight into the inline buffer: `CompactString::new` measured about a hundred
    // instructions for a short text.
    let mut out = CompactString::with_capacity(MAX_INLINE);
    // SAFETY: the inline buffer holds `MAX_INLINE >= len` bytes; it is given whole `str`s, so
    // its first `len` bytes are UTF-8 when the length is set.
    unsafe {
        let bytes = out.as_mut_bytes();
        let mut at = 0;
        for part in parts {
            // Separators (`/`, `@`) are most pieces: a store, not a call to `memcpy`.
            match part.as_bytes() {
                [byte] => bytes[at] = *byte,
                more => bytes[at..at + more.len()].copy_from_slice(more),
            }
            at += part.len();
        }
        out.set_len(len);
    }
    out
}

/// `bytes` as text when they are all ASCII: texts the monitor wrote itself from digits and
/// separators (an address, a hex id, a timestamp), and fields of traffic that are nearly always
/// ASCII (HTTP/2 names and values). `is_ascii` checks a short text a word at a time;
/// `str::from_utf8` cost about 85 instructions for each, `String::from_utf8_lossy` more.
pub(crate) fn ascii(bytes: &[u8]) -> Option<&str> {
    // SAFETY: ASCII bytes are valid UTF-8.
    bytes
        .is_ascii()
        .then(|| unsafe { std::str::from_utf8_unchecked(bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_text_is_taken_as_is_and_anything_else_refused() {
        assert_eq!(ascii(b"127.0.0.1"), Some("127.0.0.1"));
        assert_eq!(ascii(b""), Some(""));
        assert_eq!(ascii("é".as_bytes()), None);
        assert_eq!(ascii(&[0xff, b'a']), None);
    }

    #[test]
    fn joins_short_and_long_texts_alike() {
        assert_eq!(concat(&[]), "");
        assert_eq!(concat(&["nginx", "@", "host"]), "nginx@host");
        let exactly_inline = "x".repeat(MAX_INLINE);
        assert_eq!(
            concat(&[&exactly_inline[..10], &exactly_inline[10..]]),
            exactly_inline
        );
        assert!(!concat(&[&exactly_inline]).is_heap_allocated());
        let long = format!("/usr/local/bin/{}@{}", "é".repeat(20), "c0ffee".repeat(10));
        let (a, b) = long.split_at(long.find('@').unwrap());
        assert_eq!(concat(&[a, b]), long);
    }
}
