//! Request bodies: bounds the sample that is scanned and picks the view to scan. A body sent
//! with `Content-Encoding: gzip` or `deflate` is decompressed first (the server reads it
//! decompressed), within hard bounds on output and ratio; a JSON body is scanned with its
//! string escapes undone (`\"`, `\n`, `\u0041`), so that a credential inside a JSON string
//! looks as it would anywhere else; a form body is split into fields.
use std::{borrow::Cow, io::Read as _};

use serde::Serialize;

/// Most bytes a compressed body sample may decompress to.
pub(crate) const MAX_DECODED: usize = 64 * 1024;
/// Most bytes of output per byte of input (a decompression bomb stops here).
pub(crate) const MAX_RATIO: usize = 100;

/// What became of a body's `Content-Encoding`, for the `monitor_body_decoding_total` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeOutcome {
    /// Decompressed (all of the sample, or as much as a cut-off sample holds).
    Decoded,
    /// A bound on output or ratio stopped it; the part before the bound was scanned.
    Cut,
    /// Not decompressible: scanned as it came.
    Failed,
    /// An encoding the monitor does not decode (`br`, `zstd`, stacked encodings): scanned as
    /// it came.
    Unsupported,
}

impl DecodeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decoded => "decoded",
            Self::Cut => "cut",
            Self::Failed => "failed",
            Self::Unsupported => "unsupported",
        }
    }
}

/// How a body was decoded, when it had a `Content-Encoding` other than `identity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyDecoding {
    /// `gzip`, `deflate`, or `other`.
    pub encoding: &'static str,
    pub outcome: DecodeOutcome,
}

/// The sample as the server reads it: decompressed when its `Content-Encoding` says so.
pub(crate) fn decode<'a>(
    sample: &'a [u8],
    content_encoding: Option<&[u8]>,
) -> (Cow<'a, [u8]>, Option<BodyDecoding>) {
    let Some(encoding) = content_encoding.map(<[u8]>::trim_ascii) else {
        return (Cow::Borrowed(sample), None);
    };
    let (name, result) =
        if encoding.eq_ignore_ascii_case(b"gzip") || encoding.eq_ignore_ascii_case(b"x-gzip") {
            (
                "gzip",
                inflate(flate2::read::MultiGzDecoder::new(sample), sample.len()),
            )
        } else if encoding.eq_ignore_ascii_case(b"deflate") {
            // RFC 9110's `deflate` is zlib-wrapped; some servers and clients send it raw.
            let zlib = inflate(flate2::read::ZlibDecoder::new(sample), sample.len());
            match zlib {
                (out, DecodeOutcome::Failed) if out.is_empty() => (
                    "deflate",
                    inflate(flate2::read::DeflateDecoder::new(sample), sample.len()),
                ),
                other => ("deflate", other),
            }
        } else if encoding.is_empty() || encoding.eq_ignore_ascii_case(b"identity") {
            return (Cow::Borrowed(sample), None);
        } else {
            let decoding = BodyDecoding {
                encoding: "other",
                outcome: DecodeOutcome::Unsupported,
            };
            return (Cow::Borrowed(sample), Some(decoding));
        };
    let (out, outcome) = result;
    let decoding = Some(BodyDecoding {
        encoding: name,
        outcome,
    });
    if outcome == DecodeOutcome::Failed {
        (Cow::Borrowed(sample), decoding)
    } else {
        (Cow::Owned(out), decoding)
    }
}

/// Reads a decompressor up to the bounds. A sample is the first bytes of a body, so the
/// stream usually ends early: what came out before that is kept.
fn inflate(decoder: impl std::io::Read, input_len: usize) -> (Vec<u8>, DecodeOutcome) {
    let limit = MAX_DECODED.min(input_len.saturating_mul(MAX_RATIO));
    let mut out = Vec::new();
    let read = decoder.take(limit as u64 + 1).read_to_end(&mut out);
    if out.len() > limit {
        out.truncate(limit);
        return (out, DecodeOutcome::Cut);
    }
    match read {
        Ok(_) => (out, DecodeOutcome::Decoded),
        Err(_) if !out.is_empty() => (out, DecodeOutcome::Decoded),
        Err(_) => (out, DecodeOutcome::Failed),
    }
}

/// Bytes of a body sample that are scanned (the rest of the sample is ignored).
pub(crate) const MAX_BODY_SCAN: usize = MAX_DECODED;

/// The body encodings handled specially.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Form,
    Other,
}

/// From a `Content-Type` value.
pub(crate) fn kind_from_content_type(content_type: Option<&[u8]>) -> BodyKind {
    match content_type {
        Some(ct)
            if ct
                .trim_ascii()
                .to_ascii_lowercase()
                .starts_with(b"application/x-www-form-urlencoded") =>
        {
            BodyKind::Form
        }
        _ => BodyKind::Other,
    }
}

/// The bounded sample, JSON-unescaped when it looks like JSON and has escapes.
pub(crate) fn text_view(sample: &[u8]) -> Cow<'_, [u8]> {
    let sample = &sample[..sample.len().min(MAX_BODY_SCAN)];
    let first = sample.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) && sample.contains(&b'\\') {
        Cow::Owned(json_unescape(sample))
    } else {
        Cow::Borrowed(sample)
    }
}

/// Undoes JSON string escapes everywhere in `input` (structure is kept; invalid escapes are
/// copied as they are). Output is never longer than the input.
pub(crate) fn json_unescape(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != b'\\' || i + 1 >= input.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = input[i + 1];
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        if e == b'u' && i + 6 <= input.len() {
            let code = std::str::from_utf8(&input[i + 2..i + 6])
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32);
            if let Some(c) = code {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 6;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decompresses_within_bounds() {
        let body = br#"{"password":"Tr0ub4dor&3"}"#;
        let compressed = gzip(body);
        let (out, how) = decode(&compressed, Some(b"gzip"));
        assert_eq!(&*out, body);
        assert_eq!(how.unwrap().outcome, DecodeOutcome::Decoded);
        // Raw deflate under `deflate`, zlib too.
        for compressed in [
            {
                use std::io::Write as _;
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            },
            {
                use std::io::Write as _;
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
                e.write_all(body).unwrap();
                e.finish().unwrap()
            },
        ] {
            let (out, how) = decode(&compressed, Some(b" Deflate "));
            assert_eq!(&*out, body);
            assert_eq!(how.unwrap().outcome, DecodeOutcome::Decoded);
        }
        // A sample cut mid-stream: the part before the cut.
        let long: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let compressed = gzip(&long);
        let (out, how) = decode(&compressed[..compressed.len() / 2], Some(b"gzip"));
        assert!(!out.is_empty() && long.starts_with(&out));
        assert_eq!(how.unwrap().outcome, DecodeOutcome::Decoded);
        // A bomb: 10 MiB of zeros stops at the bound, counted as cut.
        let bomb = gzip(&vec![0u8; 10 << 20]);
        let (out, how) = decode(&bomb, Some(b"gzip"));
        assert_eq!(out.len(), MAX_DECODED.min(bomb.len() * MAX_RATIO));
        assert_eq!(how.unwrap().outcome, DecodeOutcome::Cut);
        // Not gzip at all, and an encoding we do not decode: scanned as they came.
        let (out, how) = decode(b"plain", Some(b"gzip"));
        assert_eq!(
            (&*out, how.unwrap().outcome),
            (&b"plain"[..], DecodeOutcome::Failed)
        );
        let (_, how) = decode(b"x", Some(b"br"));
        assert_eq!(how.unwrap().outcome, DecodeOutcome::Unsupported);
        assert_eq!(decode(b"x", Some(b"identity")).1, None);
    }

    #[test]
    fn unescapes_json() {
        assert_eq!(
            json_unescape(br#"{"a": "x=\"1\"\n\u0041\\"}"#),
            b"{\"a\": \"x=\"1\"\nA\\\"}"
        );
        assert_eq!(json_unescape(b"\\"), b"\\");
        assert_eq!(json_unescape(b"\\u12"), b"\\u12");
        assert!(matches!(text_view(b"plain \\n"), Cow::Borrowed(_)));
        assert!(matches!(text_view(b" {\"a\":\"\\n\"}"), Cow::Owned(_)));
        assert_eq!(
            kind_from_content_type(Some(b"application/x-www-form-urlencoded; charset=utf-8")),
            BodyKind::Form
        );
    }
}
