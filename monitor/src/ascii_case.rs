//! Comparing short ASCII texts without regard to case (header names, scheme words), eight
//! bytes at a time.
//!
//! Written by hand because `<[u8]>::eq_ignore_ascii_case` folds and compares one byte at a
//! time: about 16 instructions per byte in the pipeline's profile (callgrind, issue 14), some
//! 1.4k per small call across the header-name checks of the parser and the detectors, which
//! ask "is this `content-type`?" of every header of every call. Here a word of eight bytes is
//! compared as is first (traffic's names are nearly always in one of a few spellings), and
//! folded only when that fails. The answer is the standard library's: only `A`..=`Z` fold,
//! every other byte (non-ASCII included) must be equal.

const ONES: u64 = u64::from_ne_bytes([1; 8]);

/// `text.eq_ignore_ascii_case(lower)` where `lower` has no upper-case letter (the monitor's
/// own names and lists are written in lower case), so only `text` is folded. The lengths are
/// compared inline: most names asked about differ in length from the one at hand.
#[inline(always)]
pub(crate) fn eq_lowercase(text: &[u8], lower: &[u8]) -> bool {
    debug_assert!(!lower.iter().any(u8::is_ascii_uppercase), "{lower:?}");
    text.len() == lower.len() && same_length_eq(text, lower)
}

/// [`eq_lowercase`] for `str`s.
#[inline(always)]
pub(crate) fn str_eq_lowercase(text: &str, lower: &str) -> bool {
    eq_lowercase(text.as_bytes(), lower.as_bytes())
}

/// Two texts of the same length, word by word: `text`'s folded word against `lower`'s.
fn same_length_eq(text: &[u8], lower: &[u8]) -> bool {
    let n = text.len();
    let same = |x: u64, y: u64| x == y || fold(x) == y;
    if n < 8 {
        return same(short_word(text), short_word(lower));
    }
    // Whole words from the front, then the last eight bytes (overlapping the last whole word
    // when the length is not a multiple of eight): both texts have the same length, so the
    // same positions are compared.
    let mut at = 0;
    while at + 8 <= n {
        if !same(word(text, at), word(lower, at)) {
            return false;
        }
        at += 8;
    }
    at == n || same(word(text, n - 8), word(lower, n - 8))
}

/// The eight bytes of `text` at `at` (the caller keeps `at + 8 <= text.len()`).
#[inline]
fn word(text: &[u8], at: usize) -> u64 {
    let bytes: [u8; 8] = text[at..at + 8].try_into().expect("eight bytes");
    u64::from_le_bytes(bytes)
}

/// A text of fewer than eight bytes as one word: two overlapping loads of four for 4..=7
/// bytes, the first, middle and last byte for 1..=3 (positions depend only on the length, so
/// two texts of one length line up). A copy into a buffer would call `memcpy`.
#[inline]
fn short_word(text: &[u8]) -> u64 {
    let n = text.len();
    if n >= 4 {
        let head = u32::from_le_bytes(text[..4].try_into().expect("four bytes"));
        let tail = u32::from_le_bytes(text[n - 4..].try_into().expect("four bytes"));
        u64::from(head) | u64::from(tail) << 32
    } else if n > 0 {
        u64::from(text[0]) | u64::from(text[n / 2]) << 8 | u64::from(text[n - 1]) << 16
    } else {
        0
    }
}

/// Each byte of `x` in `A`..=`Z` with its `0x20` bit set; every other byte as it is. Bytes of
/// `0x80` and above are left out by `!x`; below it, adding to the low seven bits cannot carry
/// into the next byte.
#[inline]
fn fold(x: u64) -> u64 {
    let low = x & (0x7f * ONES);
    let at_least_a = low.wrapping_add((0x80 - u64::from(b'A')) * ONES);
    let above_z = low.wrapping_add((0x80 - u64::from(b'Z') - 1) * ONES);
    let upper = at_least_a & !above_z & !x & (0x80 * ONES);
    x | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_standard_library_on_every_pair_of_bytes_at_every_position() {
        // Every byte pair (a fold, an exact match or a difference; the second text in lower
        // case, as the callers' are) at each position of texts of the lengths that take each
        // path: whole words, the overlapping last word, the short texts.
        for len in [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17] {
            for at in 0..len {
                let mut a = vec![b'k'; len];
                let mut b = vec![b'k'; len];
                for x in 0..=255u8 {
                    for y in 0..=255u8 {
                        a[at] = x;
                        b[at] = y;
                        if y.is_ascii_uppercase() {
                            continue;
                        }
                        assert_eq!(
                            eq_lowercase(&a, &b),
                            a.eq_ignore_ascii_case(&b),
                            "{a:?} {b:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn lengths_and_names() {
        assert!(eq_lowercase(b"", b""));
        assert!(!eq_lowercase(b"a", b""));
        assert!(str_eq_lowercase("Content-Type", "content-type"));
        assert!(str_eq_lowercase("HOST", "host"));
        assert!(!str_eq_lowercase("HOSTS", "host"));
        assert!(str_eq_lowercase(
            "X-AMZ-Security-Token",
            "x-amz-security-token"
        ));
        assert!(!str_eq_lowercase("content-typf", "content-type"));
        assert!(!str_eq_lowercase("content-type", "content-typ"));
        // `@`/`` ` ``, `[`/`{`, `_`/DEL differ only by 0x20 and are not letters.
        assert!(!eq_lowercase(b"@[_", b"`{\x7f"));
        // Non-ASCII bytes compare exactly, as in the standard library.
        assert!(!eq_lowercase("É".as_bytes(), "é".as_bytes()));
        assert!(eq_lowercase("ÉX".as_bytes(), "Éx".as_bytes()));
    }
}
