//! Cutting text at ASCII delimiters (`/`, `?`, `#`, `&`, `=`) by byte search.
//!
//! `str::split(char)` and `str::split_once(char)` set up a char searcher each time, about a
//! hundred instructions, which showed in every call's profile: paths and targets are cut
//! several times per call. An ASCII delimiter never occurs inside a multi-byte character, so
//! every cut falls on a char boundary.

/// Where `delimiter` first occurs in `text`.
pub(crate) fn position(text: &str, delimiter: u8) -> Option<usize> {
    debug_assert!(delimiter.is_ascii());
    text.bytes().position(|b| b == delimiter)
}

/// Where `delimiter` last occurs in `text`.
pub(crate) fn last_position(text: &str, delimiter: u8) -> Option<usize> {
    debug_assert!(delimiter.is_ascii());
    text.bytes().rposition(|b| b == delimiter)
}

/// `text.split_once(delimiter)`.
pub(crate) fn split_once(text: &str, delimiter: u8) -> Option<(&str, &str)> {
    position(text, delimiter).map(|i| (&text[..i], &text[i + 1..]))
}

/// `text.rsplit_once(delimiter)`.
pub(crate) fn rsplit_once(text: &str, delimiter: u8) -> Option<(&str, &str)> {
    last_position(text, delimiter).map(|i| (&text[..i], &text[i + 1..]))
}

/// `text` up to the first `delimiter`, or all of it (`text.split(delimiter).next()`).
pub(crate) fn before(text: &str, delimiter: u8) -> &str {
    position(text, delimiter).map_or(text, |i| &text[..i])
}

/// `text.split(delimiter)`.
pub(crate) fn split(text: &str, delimiter: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match position(s, delimiter) {
            Some(i) => {
                rest = Some(&s[i + 1..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_the_standard_library() {
        let texts = [
            "",
            "/",
            "//",
            "a",
            "/a/b/",
            "/v1//users/ü/%2F/x",
            "a/b/c",
            "x=1&y&&=z",
            "[::1]:80",
        ];
        for text in texts {
            for delimiter in [b'/', b'&', b'=', b':', b']'] {
                let ours: Vec<&str> = split(text, delimiter).collect();
                let std: Vec<&str> = text.split(char::from(delimiter)).collect();
                assert_eq!(ours, std, "{text:?} on {delimiter}");
                assert_eq!(before(text, delimiter), std[0], "{text:?}");
                let c = char::from(delimiter);
                assert_eq!(position(text, delimiter), text.find(c));
                assert_eq!(last_position(text, delimiter), text.rfind(c));
                assert_eq!(split_once(text, delimiter), text.split_once(c));
                assert_eq!(rsplit_once(text, delimiter), text.rsplit_once(c));
            }
        }
    }
}
