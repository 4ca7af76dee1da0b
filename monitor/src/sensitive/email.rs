//! E-mail addresses, found from their `@`: a dot-atom local part and a domain of at least two
//! labels ending in an alphabetic top-level domain. Conservative where an `@` is common in
//! other things: credentials in URLs (`https://user:pass@host`), image sizes (`icon@2x.png`),
//! package versions (`lib@1.2.3`), scoped packages and handles (`@scope/pkg`, `@user`).

/// Longest local part (RFC 5321) and domain looked at.
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

/// File extensions that follow `name@2x.` in asset names, not top-level domains of addresses.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"js", b"css", b"json", b"html",
    b"txt", b"pdf", b"zip", b"gz", b"map", b"ts", b"mp4", b"woff", b"woff2",
];

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// The address around the `@` at `text[at]`: its byte range, or `None`.
pub(crate) fn around(text: &[u8], at: usize) -> Option<(usize, usize)> {
    // Local part, backwards.
    let mut start = at;
    while start > 0 && at - start < MAX_LOCAL && local_char(text[start - 1]) {
        start -= 1;
    }
    if start > 0 && local_char(text[start - 1]) {
        return None; // longer than any address's local part
    }
    let local = &text[start..at];
    if local.is_empty()
        || local.starts_with(b".")
        || local.ends_with(b".")
        || local.windows(2).any(|w| w == b"..")
        || !local.iter().any(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    // `scheme://user:password@host`: a URL's credentials, not an address.
    if start > 0 && text[start - 1] == b':' {
        let before = &text[start.saturating_sub(MAX_LOCAL + 8)..start];
        if before.windows(3).any(|w| w == b"://") {
            return None;
        }
    }
    // Domain, forwards.
    let mut end = at + 1;
    while end < text.len() && end - at <= MAX_DOMAIN && domain_char(text[end]) {
        end += 1;
    }
    // A trailing dot ends a sentence, it is not part of the domain.
    while end > at + 1 && text[end - 1] == b'.' {
        end -= 1;
    }
    let domain = &text[at + 1..end];
    let mut labels = 0;
    let mut tld: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        if label.is_empty() || label.starts_with(b"-") || label.ends_with(b"-") || label.len() > 63
        {
            return None;
        }
        labels += 1;
        tld = label;
    }
    if labels < 2 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    if FILE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(tld)) {
        return None;
    }
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<&str> {
        let at = text.find('@')?;
        around(text.as_bytes(), at).map(|(s, e)| &text[s..e])
    }

    #[test]
    fn addresses_and_look_alikes() {
        assert_eq!(
            find("mail jane.doe+tag@example.co.uk."),
            Some("jane.doe+tag@example.co.uk")
        );
        assert_eq!(find("\"email\":\"a@b.io\""), Some("a@b.io"));
        assert_eq!(find("https://user:pass@api.example.com/"), None);
        assert_eq!(find("icon@2x.png"), None);
        assert_eq!(find("lodash@4.17.21"), None);
        assert_eq!(find("@scope/pkg"), None);
        assert_eq!(find("x@localhost"), None);
        assert_eq!(find("a..b@example.com"), None);
        assert_eq!(find("a@-x.com"), None);
    }
}
