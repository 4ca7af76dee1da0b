//! HPACK Huffman decoding (RFC 7541 §5.2, code table from Appendix B).
//!
//! Hand-written rather than pulled from a crate: the code is canonical (codes are assigned in
//! order of length, then symbol), so decoding needs only the per-symbol code lengths turned into
//! "first code / count / offset" rows per length, built at compile time from the RFC table
//! below. That is ~100 lines with no dependency, and bounds are easy to audit. Decoding goes bit
//! by bit, which is fast enough for header fields (a few hundred bytes each) and never indexes
//! past a table.

use thiserror::Error;

/// Why a Huffman-coded string was rejected.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    #[error("bit sequence is not a Huffman code")]
    InvalidCode,
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    #[error("Huffman padding longer than 7 bits or not all ones")]
    BadPadding,
    #[error("decoded string longer than {0} bytes")]
    TooLong(usize),
}

/// (code, length in bits) for symbols 0..=256 (256 = EOS), RFC 7541 Appendix B.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    (0x3fffffff, 30),
];

const EOS: u16 = 256;
const MAX_LEN: usize = 30;

/// Canonical decoding rows: for each code length, the first code of that length, how many
/// codes have it, and where their symbols start in `symbols` (sorted by length, then symbol).
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    symbols: [u16; 257],
}

const fn build() -> Canonical {
    let mut c = Canonical {
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        offset: [0; MAX_LEN + 1],
        symbols: [0; 257],
    };
    let mut next: u16 = 0;
    let mut len = 1;
    while len <= MAX_LEN {
        c.offset[len] = next;
        let mut first = u32::MAX;
        let mut sym = 0;
        while sym < 257 {
            let (code, l) = CODES[sym];
            if l as usize == len {
                if code < first {
                    first = code;
                }
                c.symbols[next as usize] = sym as u16;
                next += 1;
                c.count[len] += 1;
            }
            sym += 1;
        }
        c.first[len] = if first == u32::MAX { 0 } else { first };
        len += 1;
    }
    c
}

static CANONICAL: Canonical = build();

/// Decodes `input` into a new buffer of at most `max_len` bytes.
pub fn decode(input: &[u8], max_len: usize) -> Result<Vec<u8>, HuffmanError> {
    // Huffman codes are at least 5 bits, so the output is at most 8/5 of the input.
    let mut out = Vec::with_capacity((input.len() * 8 / 5).min(max_len));
    let mut code: u32 = 0;
    let mut len: usize = 0;
    let mut all_ones = true;
    for byte in input {
        for shift in (0..8).rev() {
            let bit = u32::from((byte >> shift) & 1);
            code = (code << 1) | bit;
            len += 1;
            all_ones &= bit == 1;
            if let Some(sym) = symbol(code, len) {
                if sym == EOS {
                    return Err(HuffmanError::Eos);
                }
                if out.len() >= max_len {
                    return Err(HuffmanError::TooLong(max_len));
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
                all_ones = true;
            } else if len >= MAX_LEN {
                return Err(HuffmanError::InvalidCode);
            }
        }
    }
    // Leftover bits must be a strict prefix of EOS (all ones), at most 7 of them.
    if len > 7 || !all_ones {
        return Err(HuffmanError::BadPadding);
    }
    Ok(out)
}

fn symbol(code: u32, len: usize) -> Option<u16> {
    let c = &CANONICAL;
    let count = *c.count.get(len)?;
    let index = code.checked_sub(*c.first.get(len)?)?;
    if index >= count {
        return None;
    }
    let offset = usize::from(*c.offset.get(len)?);
    c.symbols.get(offset + index as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc: u64 = 0;
        let mut bits = 0;
        for &b in data {
            let (code, len) = CODES[usize::from(b)];
            acc = (acc << len) | u64::from(code);
            bits += u32::from(len);
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            out.push(((acc << (8 - bits)) | (0xff >> bits)) as u8);
        }
        out
    }

    #[test]
    fn every_symbol_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode(&encode(&all), 1024).unwrap(), all);
        for b in 0..=255u8 {
            assert_eq!(decode(&encode(&[b]), 4).unwrap(), vec![b]);
        }
    }

    #[test]
    fn rfc_example_www_example_com() {
        let wire = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decode(&wire, 100).unwrap(), b"www.example.com");
    }

    #[test]
    fn padding_rules() {
        // 'a' is 00011 (5 bits): padded with 111 is valid.
        assert_eq!(decode(&[0b0001_1111], 4).unwrap(), b"a");
        // Padding with a zero bit is invalid.
        assert_eq!(decode(&[0b0001_1110], 4), Err(HuffmanError::BadPadding));
        // A whole byte of ones is 8 bits of padding: invalid.
        assert_eq!(
            decode(&[0b0001_1111, 0xff], 4),
            Err(HuffmanError::BadPadding)
        );
        // EOS (30 ones) explicitly encoded.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff], 4), Err(HuffmanError::Eos));
        assert_eq!(decode(&[], 4).unwrap(), b"");
    }

    #[test]
    fn output_is_bounded() {
        let wire = encode(&[b'a'; 100]);
        assert_eq!(decode(&wire, 99), Err(HuffmanError::TooLong(99)));
    }
}
