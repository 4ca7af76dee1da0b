//! HPACK primitive types (RFC 7541 §5): prefixed integers and string literals, read from a
//! cursor over one header block. Everything is bounds-checked: the block is hostile input.

use super::{HpackError, huffman};

/// Integers above this are rejected: no legitimate index, length or table size comes close, and
/// it keeps all arithmetic far from overflow on 32-bit targets too.
const MAX_INTEGER: u64 = u32::MAX as u64;

/// A read position in one header block.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, HpackError> {
        let b = self.peek().ok_or(HpackError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], HpackError> {
        let end = self.pos.checked_add(len).ok_or(HpackError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(HpackError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// An integer with an N-bit prefix (RFC 7541 §5.1); the bits above the prefix in the first
    /// byte are the representation's type and are ignored here.
    pub fn integer(&mut self, prefix_bits: u8) -> Result<usize, HpackError> {
        let mask = (1u16 << prefix_bits) - 1;
        let first = u16::from(self.next()?) & mask;
        if first < mask {
            return Ok(usize::from(first));
        }
        let mut value = u64::from(mask);
        let mut shift = 0u32;
        loop {
            let b = self.next()?;
            let chunk = u64::from(b & 0x7f)
                .checked_shl(shift)
                .ok_or(HpackError::IntegerOverflow)?;
            value = value
                .checked_add(chunk)
                .ok_or(HpackError::IntegerOverflow)?;
            if value > MAX_INTEGER {
                return Err(HpackError::IntegerOverflow);
            }
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            // Past 35 bits of continuation nothing but zero padding could follow; refuse it
            // rather than loop over an arbitrarily long run of 0x80 bytes.
            if shift > 35 {
                return Err(HpackError::IntegerOverflow);
            }
        }
        usize::try_from(value).map_err(|_| HpackError::IntegerOverflow)
    }

    /// A string literal (RFC 7541 §5.2), Huffman-decoded if flagged, at most `max_len` bytes
    /// once decoded.
    pub fn string(&mut self, max_len: usize) -> Result<Vec<u8>, HpackError> {
        let huffman = self.peek().ok_or(HpackError::Truncated)? & 0x80 != 0;
        let len = self.integer(7)?;
        let raw = self.take(len)?;
        if huffman {
            huffman::decode(raw, max_len).map_err(HpackError::Huffman)
        } else if raw.len() > max_len {
            Err(HpackError::StringTooLong(raw.len()))
        } else {
            Ok(raw.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_integer_examples() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 at 8 bits.
        assert_eq!(Cursor::new(&[0x0a]).integer(5), Ok(10));
        assert_eq!(Cursor::new(&[0x1f, 0x9a, 0x0a]).integer(5), Ok(1337));
        assert_eq!(Cursor::new(&[0x2a]).integer(8), Ok(42));
    }

    #[test]
    fn hostile_integers() {
        assert_eq!(
            Cursor::new(&[0x1f, 0x80]).integer(5),
            Err(HpackError::Truncated)
        );
        assert_eq!(
            Cursor::new(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f]).integer(5),
            Err(HpackError::IntegerOverflow)
        );
        let mut zeros = vec![0x1f];
        zeros.extend([0x80; 100]);
        zeros.push(0);
        assert_eq!(
            Cursor::new(&zeros).integer(5),
            Err(HpackError::IntegerOverflow)
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            Cursor::new(&[0x03, b'a', b'b', b'c']).string(10),
            Ok(b"abc".to_vec())
        );
        assert_eq!(
            Cursor::new(&[0x03, b'a', b'b']).string(10),
            Err(HpackError::Truncated)
        );
        assert_eq!(
            Cursor::new(&[0x03, b'a', b'b', b'c']).string(2),
            Err(HpackError::StringTooLong(3))
        );
    }
}
