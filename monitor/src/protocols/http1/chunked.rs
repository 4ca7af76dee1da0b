//! Incremental `Transfer-Encoding: chunked` decoder that never buffers payload.
//!
//! Only the framing lines (chunk-size line, CRLF after data, trailer section) are buffered, each
//! bounded; payload slices are handed to a callback as they pass. Syntax is checked strictly
//! (no whitespace after the size, well-formed extensions, CRLF only) because a lax chunk parser
//! is the classic way to desynchronise from the peer on a smuggling attempt. The numeric value
//! itself comes from `httparse::parse_chunk_size`.

use super::problem::Problem;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SizeLine,
    Data(u64),
    /// The CRLF that closes a chunk's data.
    DataEnd,
    Trailers,
    Done,
}

/// What a hole of known size did to the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GapResult {
    /// Entirely inside chunk data: skipped, still in sync.
    Skipped,
    /// Touched framing: position unknown.
    Lost,
}

#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    max_line: usize,
}

impl ChunkedDecoder {
    /// `max_line` bounds a chunk-size line and the whole trailer section.
    pub(crate) fn new(max_line: usize) -> Self {
        Self {
            state: State::SizeLine,
            line: Vec::new(),
            max_line,
        }
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.line.len()
    }

    /// Consumes bytes from `data`, passing payload to `payload`. Returns the bytes consumed and
    /// whether the body (including trailers) is complete; bytes after the end are not consumed.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        payload: &mut dyn FnMut(&[u8]),
    ) -> Result<(usize, bool), Problem> {
        let mut pos = 0;
        while pos < data.len() && self.state != State::Done {
            let rest = &data[pos..];
            match self.state {
                State::SizeLine => {
                    let (take, line_done) = match rest.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (rest.len(), false),
                    };
                    self.push_line(&rest[..take])?;
                    pos += take;
                    if line_done {
                        let size = parse_size_line(&self.line)?;
                        self.line.clear();
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                }
                State::Data(remaining) => {
                    let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    payload(&rest[..n]);
                    pos += n;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    let b = rest[0];
                    pos += 1;
                    let expected = if self.line.is_empty() { b'\r' } else { b'\n' };
                    if b != expected {
                        return Err(Problem::BadChunkedEncoding);
                    }
                    if b == b'\n' {
                        self.line.clear();
                        self.state = State::SizeLine;
                    } else {
                        self.line.push(b);
                    }
                }
                State::Trailers => {
                    // Trailers are small; byte-wise keeps the end-of-section check trivial.
                    let b = rest[0];
                    pos += 1;
                    self.push_line(&[b])?;
                    if b == b'\n' {
                        self.check_trailer_line()?;
                    }
                }
                State::Done => {}
            }
        }
        Ok((pos, self.state == State::Done))
    }

    /// A hole of `len` bytes at the current position.
    pub(crate) fn gap(&mut self, len: u64) -> GapResult {
        match self.state {
            State::Data(remaining) if len <= remaining => {
                self.state = if len == remaining {
                    State::DataEnd
                } else {
                    State::Data(remaining - len)
                };
                GapResult::Skipped
            }
            _ => GapResult::Lost,
        }
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), Problem> {
        if self.line.len() + bytes.len() > self.max_line {
            return Err(if self.state == State::Trailers {
                Problem::HeadTooLarge
            } else {
                Problem::BadChunkedEncoding
            });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Called after each LF in the trailer section.
    fn check_trailer_line(&mut self) -> Result<(), Problem> {
        let l = &self.line;
        let n = l.len();
        if n < 2 || l[n - 2] != b'\r' {
            return Err(Problem::BadChunkedEncoding);
        }
        if n == 2 {
            self.line.clear();
            self.state = State::Done;
        } else if l.ends_with(b"\r\n\r\n") {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            match httparse::parse_headers(l, &mut headers) {
                Ok(httparse::Status::Complete(_)) => {
                    self.line = Vec::new();
                    self.state = State::Done;
                }
                _ => return Err(Problem::BadChunkedEncoding),
            }
        }
        Ok(())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `1*HEXDIG *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF`, with
/// whitespace only where it precedes `;` or `=` or follows them.
fn parse_size_line(line: &[u8]) -> Result<u64, Problem> {
    let body = line
        .strip_suffix(b"\r\n")
        .ok_or(Problem::BadChunkedEncoding)?;
    let digits = body.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(Problem::BadChunkedEncoding);
    }
    check_extensions(&body[digits..]).ok_or(Problem::BadChunkedEncoding)?;
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((_, size))) => Ok(size),
        _ => Err(Problem::BadChunkedEncoding),
    }
}

fn check_extensions(ext: &[u8]) -> Option<()> {
    let skip_ws = |i: &mut usize| {
        while *i < ext.len() && is_ws(ext[*i]) {
            *i += 1;
        }
    };
    let mut i = 0;
    while i < ext.len() {
        skip_ws(&mut i);
        if ext.get(i) != Some(&b';') {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let start = i;
        while i < ext.len() && is_tchar(ext[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let before_eq = i;
        skip_ws(&mut i);
        if ext.get(i) == Some(&b'=') {
            i += 1;
            skip_ws(&mut i);
            i = ext_value_end(ext, i)?;
        } else {
            // Whitespace not followed by `=` must be followed by `;`.
            i = before_eq;
            if i < ext.len() && is_ws(ext[i]) {
                let mut j = i;
                skip_ws(&mut j);
                if ext.get(j) != Some(&b';') {
                    return None;
                }
            }
        }
    }
    Some(())
}

/// End index of a token or quoted-string value starting at `i`.
fn ext_value_end(ext: &[u8], mut i: usize) -> Option<usize> {
    if ext.get(i) == Some(&b'"') {
        i += 1;
        loop {
            match *ext.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => {
                    let escaped = *ext.get(i + 1)?;
                    if escaped != b'\t' && !(0x20..0x7f).contains(&escaped) && escaped < 0x80 {
                        return None;
                    }
                    i += 2;
                }
                b'\t' | 0x20..=0x7e | 0x80..=0xff => i += 1,
                _ => return None,
            }
        }
    }
    let start = i;
    while i < ext.len() && is_tchar(ext[i]) {
        i += 1;
    }
    (i > start).then_some(i)
}

#[cfg(test)]
mod unit {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), Problem> {
        let mut d = ChunkedDecoder::new(1024);
        let mut out = Vec::new();
        let (n, done) = d.feed(input, &mut |p| out.extend_from_slice(p))?;
        Ok((out, n, done))
    }

    #[test]
    fn decodes_with_extensions_and_trailers() {
        let raw = b"5;a=b;c=\"x; y\"\r\nhello\r\n6 ; z\r\n world\r\n0\r\nVary: *\r\n\r\nNEXT";
        let (out, n, done) = decode_all(raw).unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(&raw[n..], b"NEXT");
    }

    #[test]
    fn byte_by_byte() {
        let raw = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new(1024);
        let mut out = Vec::new();
        let mut done = false;
        for b in raw.iter() {
            let (n, dn) = d
                .feed(std::slice::from_ref(b), &mut |p| out.extend_from_slice(p))
                .unwrap();
            assert_eq!(n, 1);
            done = dn;
        }
        assert!(done);
        assert_eq!(out, b"0123456789");
    }

    #[test]
    fn rejects_bad_lines() {
        for bad in [
            &b"2;\r\naa\r\n0\r\n\r\n"[..],
            b"25  \r\n",
            b"a \r\n",
            b"3 \n",
            b"\r\n",
            b"2 xx\r\n",
            b"5;a=\"unterminated\r\n",
            b"zz\r\n",
            b"2\r\naaX",
            b"0\r\nbad header\r\n\r\n",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn gaps() {
        let mut d = ChunkedDecoder::new(1024);
        let (_, _) = d.feed(b"10\r\nab", &mut |_| {}).unwrap();
        assert_eq!(d.gap(14), GapResult::Skipped);
        let (_, done) = d.feed(b"\r\n0\r\n\r\n", &mut |_| {}).unwrap();
        assert!(done);
        let mut d = ChunkedDecoder::new(1024);
        d.feed(b"1", &mut |_| {}).unwrap();
        assert_eq!(d.gap(1), GapResult::Lost);
    }
}
