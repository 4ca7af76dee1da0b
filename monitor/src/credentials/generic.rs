//! Generic `name = value` secrets: assignments whose name says "secret" (`password=`,
//! `client_secret:`, `"api_key": "..."`, `<authToken>...</authToken>`, `--token ...`,
//! `if (secret == "...")`) and whose value looks random enough. Owns the name vocabulary and
//! the assignment syntaxes; the randomness test is [`super::entropy::looks_like_secret`].
//!
//! Driven by the keyword prefilter: each keyword hit is expanded to the identifier around it,
//! so the work is proportional to the number of hits, not to the text.
use super::{
    candidate::{Candidate, Candidates, Rank},
    entropy::{Context, looks_like_passphrase, looks_like_secret},
    finding::CredentialKind,
};

/// Prefilter keywords that start a generic check (matched case-insensitively).
pub(crate) const GENERIC_KEYWORDS: &[&str] =
    &["token", "secret", "pass", "pw", "key", "auth", "cred"];

/// Names containing one of these (lower-cased, separators removed) are strong secret names.
const STRONG: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "credential",
    "creds",
    "passphrase",
    "privatekey",
    "accesskey",
    "authkey",
    "dbpass",
];

/// Names ending with one of these are weak secret names.
const WEAK_SUFFIXES: &[&str] = &["key", "pass", "pw", "pwd", "auth"];

/// `...key` names that are data-structure or UI vocabulary, not credentials.
const NOT_SECRET_KEYS: &[&str] = &[
    "primarykey",
    "foreignkey",
    "sortkey",
    "partitionkey",
    "rowkey",
    "hashkey",
    "cachekey",
    "sequencekey",
    "schemakey",
    "bucketkey",
    "objectkey",
    "idempotencykey",
    "routingkey",
    "lookupkey",
    "mapkey",
    "dictkey",
    "hotkey",
    "shortcutkey",
    "pubkey",
    "monkey",
    "turkey",
    "donkey",
    "whiskey",
    "hockey",
    "jockey",
];

/// Names containing one of these are never secrets (public keys, CSRF tokens, pagination).
const NEVER: &[&str] = &[
    "public",
    "csrf",
    "xsrf",
    "authenticity",
    "pagetoken",
    "nexttoken",
    "continuationtoken",
    "cursor",
];

/// A name whose last word is one of these describes a secret without being one
/// (`token_url`, `secret_name`, `credentialsId`, `max_tokens`, `key_length`).
const DESCRIPTORS: &[&str] = &[
    "id",
    "ids",
    "name",
    "names",
    "file",
    "filename",
    "path",
    "url",
    "uri",
    "type",
    "types",
    "length",
    "len",
    "size",
    "count",
    "version",
    "field",
    "fields",
    "label",
    "hint",
    "question",
    "policy",
    "enabled",
    "required",
    "expiry",
    "expires",
    "expiration",
    "expire",
    "ttl",
    "timeout",
    "format",
    "header",
    "headers",
    "param",
    "params",
    "regex",
    "pattern",
    "prefix",
    "suffix",
    "dir",
    "endpoint",
    "location",
    "provider",
    "method",
    "mode",
    "variable",
    "var",
    "env",
    "class",
    "store",
    "secrets",
    "tokens",
    "keys",
    "passwords",
    "vault",
    "algorithm",
    "alg",
    "lifetime",
    "duration",
    "status",
    "state",
    "error",
    "errors",
    "event",
    "source",
    "hash",
    "mask",
    "placeholder",
    "description",
    "desc",
    "message",
    "text",
    "title",
    "template",
    "config",
    "option",
    "options",
    "setting",
    "settings",
    "ref",
    "reference",
    "arn",
    "role",
    "scope",
    "scopes",
    "audience",
    "issuer",
    "manager",
    "service",
    "handler",
    "factory",
    "builder",
    "helper",
    "util",
    "utils",
    "spec",
    "schema",
    "table",
    "column",
    "index",
    "pair",
    "meshing",
    "selector",
    "pressed",
    "signatures",
    "storage",
    "input",
    "button",
    "link",
    "page",
    "callback",
    "host",
    "port",
    "user",
    "username",
    "login",
    "str",
    "string",
    "len",
    "bytes",
    "bits",
    "mgr",
    "exists",
    "set",
    "list",
    "map",
    "policy",
    "rotation",
    "reset",
    "forgot",
    "confirm",
    "confirmation",
    "changed",
    "strength",
    "valid",
    "invalid",
    "validation",
    "validator",
    "encoder",
    "hasher",
    "hashed",
    "digest",
    "checksum",
    "salt",
];

/// How the name classifies, if it is a secret name at all.
pub(crate) fn classify_name(name: &[u8]) -> Option<Context> {
    let norm: Vec<u8> = name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    if norm.is_empty() || norm.len() > 100 {
        return None;
    }
    if NEVER.iter().any(|w| contains(&norm, w.as_bytes())) {
        return None;
    }
    let last = last_word(name).to_ascii_lowercase();
    if DESCRIPTORS.iter().any(|d| last == d.as_bytes()) {
        return None;
    }
    // `pwd`, `db_pass`, `userPw`: the abbreviations of "password" as a whole word are as strong
    // as the word (a login form's `pwd` field holds a password, however weak it looks).
    if STRONG.iter().any(|w| contains(&norm, w.as_bytes()))
        || [&b"pwd"[..], b"pass", b"pw"].contains(&last.as_slice())
    {
        return Some(Context::Strong);
    }
    if NOT_SECRET_KEYS.iter().any(|w| norm.ends_with(w.as_bytes())) {
        return None;
    }
    if WEAK_SUFFIXES.iter().any(|w| norm.ends_with(w.as_bytes())) {
        return Some(Context::Weak);
    }
    None
}

/// The last word of an identifier: after the last separator, or the last camel-case hump
/// (`credentialsId` -> `Id`, `SECRET_NAME` -> `NAME`, `APIToken` -> `Token`).
fn last_word(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .map_or(0, |i| i + 1);
    let name = &name[..end];
    let start = name
        .iter()
        .rposition(|b| !b.is_ascii_alphanumeric())
        .map_or(0, |i| i + 1);
    let word = &name[start..];
    if word.iter().any(u8::is_ascii_lowercase) && word.iter().any(u8::is_ascii_uppercase) {
        // camelCase: the last upper-case letter that starts a lower-case run.
        if let Some(i) = word.iter().rposition(u8::is_ascii_uppercase)
            && (word[i + 1..].iter().any(u8::is_ascii_lowercase) || i + 1 == word.len())
        {
            return &word[i..];
        }
    }
    word
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'`')
}

/// Longest value we consider (longer runs are not assignments of a credential).
const MAX_VALUE: usize = 1024;

/// Assignment operators, longest first.
const OPERATORS: &[&[u8]] = &[
    b":::=", b"::=", b"!==", b"===", b":=", b"?=", b".=", b"+=", b"=>", b"==", b"!=", b"=", b":",
];

/// Checks every identifier that contains a keyword hit (`hits` are start offsets, ascending).
pub(crate) fn scan<'a>(text: &'a [u8], hits: &[usize], out: &mut Candidates<'a>) {
    let mut last_ident: Option<(usize, usize)> = None;
    for &hit in hits {
        if last_ident.is_some_and(|(s, e)| hit >= s && hit < e) {
            continue;
        }
        let mut start = hit;
        while start > 0 && is_ident(text[start - 1]) && hit - start < 128 {
            start -= 1;
        }
        let mut end = hit;
        while end < text.len() && is_ident(text[end]) && end - hit < 128 {
            end += 1;
        }
        last_ident = Some((start, end));
        // `--token value` flags; trailing `.`/`-` are punctuation, not part of the name.
        let mut dash_flag = false;
        while start < end && text[start] == b'-' {
            start += 1;
            dash_flag = true;
        }
        while end > start && matches!(text[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start >= end {
            continue;
        }
        let Some(context) = classify_name(&text[start..end]) else {
            continue;
        };
        for (value_start, value_end) in values_for(text, start, end, dash_flag) {
            let value = &text[value_start..value_end];
            let quoted = value_start > 0
                && is_quote(text[value_start - 1])
                && text.get(value_end) == Some(&text[value_start - 1]);
            if looks_like_secret(value, context)
                || (quoted && looks_like_passphrase(value, context))
            {
                out.push(
                    Candidate::new(CredentialKind::GenericSecret, value, Rank::Generic)
                        .with_span(value_start..value_end),
                );
            }
        }
    }
}

/// The value(s) assigned to the identifier at `start..end`, as spans of `text`.
fn values_for(text: &[u8], start: usize, end: usize, dash_flag: bool) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    if let Some(v) = forward_value(text, start, end, dash_flag) {
        found.push(v);
    }
    if let Some(v) = reverse_comparison(text, start) {
        found.push(v);
    }
    found
}

fn forward_value(text: &[u8], start: usize, end: usize, dash_flag: bool) -> Option<(usize, usize)> {
    let before = start.checked_sub(1).map(|i| text[i]);
    let mut p = end;
    let mut quoted_name = false;
    if let Some(q) = before.filter(|b| is_quote(*b))
        && text.get(p) == Some(&q)
    {
        quoted_name = true;
        p += 1;
    }
    // XML element: `<name>value</name>`.
    if before == Some(b'<') && text.get(p) == Some(&b'>') {
        let v_start = p + 1;
        let limit = (v_start + MAX_VALUE).min(text.len());
        let v_end = text[v_start..limit]
            .iter()
            .position(|&b| b == b'<')
            .map_or(limit, |i| v_start + i);
        return trim_span(text, v_start, v_end);
    }
    // C arrays: `char secret[25] = "..."`.
    if text.get(p) == Some(&b'[') {
        let close = text[p..(p + 8).min(text.len())]
            .iter()
            .position(|&b| b == b']')?;
        p += close + 1;
    }
    let after_name = p;
    p = skip_blanks(text, p);
    let mut op = OPERATORS.iter().find(|op| text[p..].starts_with(op));
    // A type between name and operator: `var token string = "..."`.
    if op.is_none() && p > after_name {
        let word = text[p..]
            .iter()
            .take(25)
            .position(|b| {
                !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'*' | b'[' | b']'))
            })
            .unwrap_or(0);
        if word > 0 && text[p].is_ascii_alphabetic() {
            let q = skip_blanks(text, p + word);
            if q > p + word {
                let typed = OPERATORS
                    .iter()
                    .find(|o| (***o == *b":=" || ***o == *b"=") && text[q..].starts_with(o));
                if let Some(o) = typed {
                    op = Some(o);
                    p = q;
                }
            }
        }
    }
    let mut comparison = false;
    match op {
        Some(op) => {
            if **op == *b":" {
                // `name:value` without a space is usually a namespace (`io.jsonwebtoken:jjwt`).
                let next = text.get(p + 1).copied();
                if !(quoted_name || next.is_some_and(|b| b == b' ' || b == b'\t' || is_quote(b))) {
                    return None;
                }
            }
            comparison = matches!(
                **op,
                [b'=', b'='] | [b'!', b'='] | [b'=', b'=', b'='] | [b'!', b'=', b'=']
            );
            p += op.len();
        }
        None if quoted_name && text.get(p) == Some(&b',') => p += 1,
        None if dash_flag && p > after_name => {}
        None => return None,
    }
    p = skip_blanks(text, p);
    if text.get(p) == Some(&b'@') && text.get(p + 1).is_some_and(|b| is_quote(*b)) {
        p += 1;
    }
    let first = *text.get(p)?;
    if is_quote(first) {
        let v_start = p + 1;
        let limit = (v_start + MAX_VALUE).min(text.len());
        let close = text[v_start..limit]
            .iter()
            .position(|&b| b == first || b == b'\n' || b == b'\r')?;
        if text[v_start + close] != first {
            return None;
        }
        // `"DB_PASSWORD", "valueFrom": {...}`: a quoted string followed by `:` is the next JSON
        // key, not the value of the name before it.
        let after = skip_blanks(text, v_start + close + 1);
        if text.get(after) == Some(&b':') {
            return None;
        }
        return Some((v_start, v_start + close));
    }
    if comparison {
        return None;
    }
    let limit = (p + MAX_VALUE).min(text.len());
    let v_end = text[p..limit]
        .iter()
        .position(|&b| {
            b.is_ascii_whitespace()
                || matches!(b, b'"' | b'\'' | b'`' | b',' | b';' | b'&' | b'\\' | b'<')
        })
        .map_or(limit, |i| p + i);
    (v_end > p).then_some((p, v_end))
}

/// `"value" == name` / `"value" !== name`: the literal on the left of a comparison.
fn reverse_comparison(text: &[u8], start: usize) -> Option<(usize, usize)> {
    let mut p = start;
    while p > 0 && matches!(text[p - 1], b' ' | b'\t') {
        p -= 1;
    }
    let head = &text[..p];
    let op_len = [&b"!=="[..], b"===", b"==", b"!="]
        .iter()
        .find(|op| head.ends_with(op))?
        .len();
    p -= op_len;
    while p > 0 && matches!(text[p - 1], b' ' | b'\t') {
        p -= 1;
    }
    let q = *text.get(p.checked_sub(1)?)?;
    if !is_quote(q) {
        return None;
    }
    let v_end = p - 1;
    let floor = v_end.saturating_sub(MAX_VALUE);
    let open = text[floor..v_end]
        .iter()
        .rposition(|&b| b == q || b == b'\n')
        .map(|i| floor + i)?;
    if text[open] != q {
        return None;
    }
    Some((open + 1, v_end))
}

fn skip_blanks(text: &[u8], mut p: usize) -> usize {
    while p < text.len() && matches!(text[p], b' ' | b'\t') {
        p += 1;
    }
    p
}

fn trim_span(text: &[u8], mut s: usize, mut e: usize) -> Option<(usize, usize)> {
    while s < e && text[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && text[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (e > s).then_some((s, e))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    super::entropy::contains(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in [
            "password",
            "db_pass",
            "AWS_SECRET_ACCESS_KEY",
            "githubToken",
            "api-key",
            "user_auth",
            "SLAPIKEY",
        ] {
            assert!(classify_name(n.as_bytes()).is_some(), "{n}");
        }
        for n in [
            "credentialsId",
            "LLM_SECRET_NAME",
            "access_token_url",
            "publicToken",
            "primaryKey",
            "keyPressed",
            "key_length",
            "max_tokens",
            "csrf_token",
            "nextPageToken",
            "Authorization",
        ] {
            assert!(classify_name(n.as_bytes()).is_none(), "{n}");
        }
    }

    fn values(text: &str) -> Vec<String> {
        let hits: Vec<usize> = GENERIC_KEYWORDS
            .iter()
            .flat_map(|k| {
                let lower = text.to_ascii_lowercase();
                lower.match_indices(k).map(|(i, _)| i).collect::<Vec<_>>()
            })
            .collect();
        let mut hits = hits;
        hits.sort_unstable();
        let mut out = Candidates::new();
        scan(text.as_bytes(), &hits, &mut out);
        out.into_iter()
            .map(|c| String::from_utf8(c.secret.into_owned()).unwrap())
            .collect()
    }

    #[test]
    fn syntaxes() {
        let v = "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB";
        for text in [
            format!("generic_token: \"{v}\""),
            format!("genericToken := `{v}`"),
            format!("$genericToken .= \"{v}\""),
            format!("  \"genericToken\" => \"{v}\""),
            format!("<genericToken>\n    {v}\n</genericToken>"),
            format!("System.setProperty(\"GENERIC_TOKEN\", \"{v}\")"),
            format!("secret={v}&x=1"),
            format!("if (\"{v}\" != secret) {{"),
            format!("if (password === \"{v}\") {{"),
            format!("char secret[25] = \"{v}\";"),
            format!("login --token {v}"),
            format!("{{\"password\": \"{v}\"}}"),
        ] {
            assert_eq!(values(&text), vec![v.to_string()], "{text}");
        }
    }

    #[test]
    fn non_secrets() {
        for text in [
            "password = \"changeme\"",
            "secret: ''",
            "password: ${link}",
            "api_key = \"<your key>\"",
            "notes = \"Maven - io.jsonwebtoken:jjwt-jackson-0.11.2\"",
            "credentialsId: 'ff083f76-7804-4ef1-80e4-fe975bb9141b'",
            "key_length = XSalsa20.key_length",
            "token = xxxxxxxxxxxxxxxxxxxx",
            "GITHUB_API_KEY=\nDYNATRACE_API_KEY=",
            "publicToken = \"9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit\"",
        ] {
            assert!(values(text).is_empty(), "{text}");
        }
    }
}
