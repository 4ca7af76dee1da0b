//! Request bodies: bounds the sample that is scanned and picks the view to scan. A JSON body
//! is scanned with its string escapes undone (`\"`, `\n`, `\u0041`), so that a credential
//! inside a JSON string looks as it would anywhere else; a form body is split into fields.
use std::borrow::Cow;

/// Bytes of a body sample that are scanned (the rest of the sample is ignored).
pub(crate) const MAX_BODY_SCAN: usize = 8 * 1024;

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
