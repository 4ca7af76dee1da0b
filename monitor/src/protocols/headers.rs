//! A message's header fields: [`Headers`] (owned, in one allocation), [`HeaderRef`] (one field,
//! borrowed) and [`Header`] (one field, owned: for building heads in tests and tools).
//!
//! Every captured message carries a `Headers`, so its shape is a per-call cost: a `String` and a
//! `Vec` per field were a dozen allocations per request, a byte buffer plus a `Vec` of offsets
//! two per head; the offsets now sit at the front of the byte buffer, one allocation per head.
//!
//! Header values may carry credentials, so they are kept as raw bytes for the policy checks and
//! the `Debug` impls print only a value's length.

use std::fmt;

/// One header as sent. The name keeps its original case; compare with `eq_ignore_ascii_case`.
/// HTTP/2 pseudo-headers (`:method`...) keep their colon.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are secrets-in-waiting; never let a `{:?}` leak them into logs.
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

/// One header of [`Headers`], borrowed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

impl fmt::Debug for HeaderRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As for `Header`: never the value.
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

/// Bytes of one index entry: where a field's name ends and where its value ends, two
/// little-endian `u32` offsets into the data.
const ENTRY: usize = 8;

/// Index entries reserved up front at most, whatever a caller asks for: the index grows past it.
const MAX_RESERVED_FIELDS: usize = 1024;

/// A message's headers in the order sent. Read through [`Headers::iter`].
#[derive(Clone, Default)]
pub struct Headers {
    /// The index (`slots` entries of [`ENTRY`] bytes, the first `len` used), then the data:
    /// names and values back to back, each field starting where the previous one ends.
    buf: Vec<u8>,
    slots: u32,
    len: u32,
}

impl Headers {
    /// Room for `fields` headers holding `bytes` bytes of names and values together.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        let fields = fields.min(MAX_RESERVED_FIELDS);
        let mut buf = Vec::with_capacity(fields * ENTRY + bytes);
        buf.resize(fields * ENTRY, 0);
        Self {
            buf,
            // At most `MAX_RESERVED_FIELDS`: fits.
            slots: fields as u32,
            len: 0,
        }
    }

    /// Appends a header. A head is at most a few hundred KiB, far below `u32::MAX`; a field
    /// that would pass it is dropped rather than wrapping the offsets.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let data_len = self.byte_len();
        let (Ok(name_end), Ok(value_end)) = (
            u32::try_from(data_len + name.len()),
            u32::try_from(data_len + name.len() + value.len()),
        ) else {
            return;
        };
        if self.len == self.slots && !self.grow_index() {
            return;
        }
        let at = self.len as usize * ENTRY;
        self.buf[at..at + 4].copy_from_slice(&name_end.to_le_bytes());
        self.buf[at + 4..at + ENTRY].copy_from_slice(&value_end.to_le_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(value);
        self.len += 1;
    }

    /// Doubles the index's room (moving the data up); false when the count would pass `u32`.
    fn grow_index(&mut self) -> bool {
        let Some(slots) = self.slots.max(2).checked_mul(2) else {
            return false;
        };
        let (old, new) = (self.index_bytes(), slots as usize * ENTRY);
        let data_len = self.buf.len() - old;
        self.buf.resize(new + data_len, 0);
        self.buf.copy_within(old..old + data_len, new);
        self.buf[old..new].fill(0);
        self.slots = slots;
        true
    }

    fn index_bytes(&self) -> usize {
        self.slots as usize * ENTRY
    }

    /// Field `i`'s name end and value end, as offsets into the data (one read of the entry).
    #[inline(always)]
    fn entry(&self, i: usize) -> (usize, usize) {
        let at = i * ENTRY;
        let entry: [u8; ENTRY] = self.buf[at..at + ENTRY].try_into().expect("an entry");
        let [a, b, c, d, e, f, g, h] = entry;
        (
            u32::from_le_bytes([a, b, c, d]) as usize,
            u32::from_le_bytes([e, f, g, h]) as usize,
        )
    }

    fn field(&self, i: usize) -> HeaderRef<'_> {
        let start = if i == 0 { 0 } else { self.entry(i - 1).1 };
        self.field_from(i, start)
    }

    /// Field `i`, which starts at `start` in the data (where field `i - 1` ends): a forward
    /// walk knows it already and reads one index entry per field instead of two. Inlined, with
    /// the field's bytes cut once: every walk of every head reads each field through here (out
    /// of line it was about 40 instructions a field, a thousand per HTTP/2 call; callgrind).
    #[inline(always)]
    fn field_from(&self, i: usize, start: usize) -> HeaderRef<'_> {
        let (name_end, end) = self.entry(i);
        let index = self.index_bytes();
        // `push` wrote `start <= name_end <= end` within the data.
        let (name, value) = self.buf[index + start..index + end].split_at(name_end - start);
        HeaderRef {
            // SAFETY: `push` is the only writer of the data and of the index entries in use, and
            // it copies each name from a `&str` to exactly `start..name_end` of the data (index
            // growth moves the data whole and rewrites no offset): those bytes are valid UTF-8.
            // Validating them again was 5 % of the pipeline's instructions per call (the
            // detectors walk every header several times).
            name: unsafe { std::str::from_utf8_unchecked(name) },
            value,
        }
    }

    pub fn iter(&self) -> HeadersIter<'_> {
        HeadersIter {
            headers: self,
            fields: 0..self.len(),
            front_start: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of names and values together.
    pub fn byte_len(&self) -> usize {
        self.buf.len() - self.index_bytes()
    }
}

/// Same fields in the same order; how much room the index has left does not count.
impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

/// The fields of [`Headers`], in order.
pub struct HeadersIter<'a> {
    headers: &'a Headers,
    fields: std::ops::Range<usize>,
    /// Where the next field from the front starts in the data.
    front_start: usize,
}

impl<'a> Iterator for HeadersIter<'a> {
    type Item = HeaderRef<'a>;
    fn next(&mut self) -> Option<HeaderRef<'a>> {
        let i = self.fields.next()?;
        let field = self.headers.field_from(i, self.front_start);
        self.front_start += field.name.len() + field.value.len();
        Some(field)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl DoubleEndedIterator for HeadersIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.fields.next_back().map(|i| self.headers.field(i))
    }
}

impl ExactSizeIterator for HeadersIter<'_> {}

impl<'a> IntoIterator for &'a Headers {
    type Item = HeaderRef<'a>;
    type IntoIter = HeadersIter<'a>;
    fn into_iter(self) -> HeadersIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(fields: I) -> Self {
        let mut headers = Headers::default();
        for h in fields {
            headers.push(&h.name, &h.value);
        }
        headers
    }
}

impl<'a> FromIterator<HeaderRef<'a>> for Headers {
    fn from_iter<I: IntoIterator<Item = HeaderRef<'a>>>(fields: I) -> Self {
        let mut headers = Headers::default();
        for h in fields {
            headers.push(h.name, h.value);
        }
        headers
    }
}

impl From<Vec<Header>> for Headers {
    fn from(fields: Vec<Header>) -> Self {
        fields.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_names_and_values_and_never_print_a_value() {
        let mut headers = Headers::with_capacity(3, 64);
        headers.push("Host", b"api.example.com");
        headers.push("Authorization", b"Bearer s3cr3t-value");
        headers.push("X-Empty", b"");
        let seen: Vec<(&str, &[u8])> = headers.iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(
            seen,
            [
                ("Host", &b"api.example.com"[..]),
                ("Authorization", b"Bearer s3cr3t-value"),
                ("X-Empty", b""),
            ]
        );
        assert_eq!(headers.len(), 3);
        assert_eq!(headers.iter().next_back().map(|h| h.name), Some("X-Empty"));
        assert_eq!(
            headers.byte_len(),
            "HostAuthorizationX-Empty".len() + 15 + 19
        );
        let printed = format!("{headers:?}");
        assert!(printed.contains("Authorization: <19 bytes>"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        let owned: Headers = vec![Header {
            name: "a".into(),
            value: b"1".to_vec(),
        }]
        .into();
        assert_eq!(owned.iter().next().map(|h| h.value), Some(&b"1"[..]));
    }

    #[test]
    fn the_index_grows_under_the_data_and_spare_room_does_not_count() {
        let fields: Vec<(String, Vec<u8>)> = (0..40)
            .map(|i| (format!("X-{i}"), format!("v{i}").into_bytes()))
            .collect();
        let mut grown = Headers::default();
        let mut reserved = Headers::with_capacity(64, 0);
        for (name, value) in &fields {
            grown.push(name, value);
            reserved.push(name, value);
        }
        let seen: Vec<(String, Vec<u8>)> = grown
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        assert_eq!(seen, fields);
        assert_eq!(grown, reserved);
        assert_eq!(grown.byte_len(), reserved.byte_len());
        assert_ne!(grown, Headers::default());
    }
}
