//! Is this value plausibly a secret? Owns Shannon entropy, the placeholder filter and the
//! thresholds used by every detector that has no fixed format to rely on (generic assignments,
//! `curl -u`, URL credentials).
//!
//! Kept apart so the thresholds live in one place and are tested on their own: too low and
//! every `password = "changeme"` in a config dump alerts, too high and short real passwords
//! are missed.

/// Shannon entropy of `bytes`, in bits per byte (0 for empty input).
pub(crate) fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// Number of character classes present: lower-case, upper-case, digits, other.
pub(crate) fn char_classes(bytes: &[u8]) -> u8 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for &b in bytes {
        match b {
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' => upper = true,
            b'0'..=b'9' => digit = true,
            _ => other = true,
        }
    }
    u8::from(lower) + u8::from(upper) + u8::from(digit) + u8::from(other)
}

/// Words that mark a value as an example or a placeholder rather than a real secret.
const PLACEHOLDER_WORDS: &[&str] = &[
    "xxxx",
    "****",
    "....",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "example",
    "redacted",
    "dummy",
    "your_",
    "your-",
    "yourapi",
    "yourtoken",
    "yoursecret",
    "yourpass",
    "_here",
    "-here",
    "insert",
    "replace",
    "notreal",
    "not_real",
    "fake",
    "sample",
    "secret_key_base",
];

/// Whole values that are obviously not secrets.
const PLACEHOLDER_VALUES: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "null",
    "none",
    "undefined",
    "true",
    "false",
    "empty",
    "string",
    "test",
    "admin",
    "root",
    "user",
    "username",
    "pwd",
    "private",
    "default",
];

/// True for templating syntax and masked values only: `${VAR}`, `$API_KEY`, `{{ secret }}`,
/// `<password>`, `{password}`, `********`, `xxxx`. Unlike [`is_placeholder`], a common word is
/// not excluded: where the syntax itself says "credential" (`user:password@` in a URL), a weak
/// password such as `admin` is still a credential in transit.
pub(crate) fn is_template(value: &[u8]) -> bool {
    let v = trim_ascii(value);
    is_template_syntax(v) || is_masked(v)
}

fn is_template_syntax(v: &[u8]) -> bool {
    if v.is_empty() {
        return true;
    }
    let first = v[0];
    let last = v[v.len() - 1];
    // Template and shell expansions, masked or elided values.
    if v.starts_with(b"${")
        || v.starts_with(b"$(")
        || v.starts_with(b"{{")
        || v.starts_with(b"%(")
        || v.starts_with(b"<%")
        || v.starts_with(b"#{")
        || first == b'<'
        || (first == b'$'
            && v.get(1)
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_'))
        || (first == b'%' && v.len() <= 3)
        || (first == b'[' && last == b']')
        || (first == b'%' && last == b'%')
    {
        return true;
    }
    // `{name}`: a format-string slot, unless the inside itself looks random (mixed case and
    // digits), as in `--user "{acd3c08b-...}":"{ZqL5kVrX1n8tA2}"`.
    if first == b'{' && last == b'}' {
        let inner = &v[1..v.len() - 1];
        let mixed = inner.iter().any(u8::is_ascii_lowercase)
            && inner.iter().any(u8::is_ascii_uppercase)
            && inner.iter().any(u8::is_ascii_digit);
        if !mixed {
            return true;
        }
    }
    false
}

/// One byte repeated over most of the value: `xxxxxxxx`, `********`, `00000000`.
fn is_masked(v: &[u8]) -> bool {
    let mut counts = [0u32; 256];
    for &b in v {
        counts[usize::from(b)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0) as usize;
    v.len() >= 4 && max * 10 >= v.len() * 6
}

/// True for templating syntax, masked values and example values: `${VAR}`, `$API_KEY`,
/// `{{ .Values.x }}`, `<token>`, `[PASSWORD]`, `%s`, `xxxxxxxx`, `changeme`...
pub(crate) fn is_placeholder(value: &[u8]) -> bool {
    let v = trim_ascii(value);
    if is_template_syntax(v) || is_masked(v) {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDER_VALUES.iter().any(|w| lower == w.as_bytes()) {
        return true;
    }
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| contains(&lower, w.as_bytes()))
    {
        return true;
    }
    // A run of the alphabet or of the digits in order: `abcdefgh`, `ABCDEFGHIJ...`.
    has_sequential_run(&lower, 8) || has_repeated_chunk(&lower)
}

/// A short chunk (of at least three distinct bytes) repeated back to back at least three
/// times: `abcd1234abcd1234abcd1234`.
fn has_repeated_chunk(v: &[u8]) -> bool {
    (4..=8).any(|unit| {
        v.len() >= unit * 3
            && (0..=v.len() - unit * 3).any(|i| {
                let chunk = &v[i..i + unit];
                let distinct = chunk
                    .iter()
                    .enumerate()
                    .filter(|(j, b)| !chunk[..*j].contains(b))
                    .count();
                distinct >= 3
                    && v[i + unit..i + 2 * unit] == *chunk
                    && v[i + 2 * unit..i + 3 * unit] == *chunk
            })
    })
}

/// How strongly the surrounding context says "this is a secret".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// The name is a strong secret word (`password`, `secret`, `token`, `api_key`) or the value
    /// came from a credential-only syntax (`curl -u`).
    Strong,
    /// A weak name (`...key`, `pass`, `auth`): demand more randomness.
    Weak,
}

/// A quoted value with spaces under a strong secret name: a passphrase
/// (`password = "correct horse battery staple"`), which [`looks_like_secret`] refuses for its
/// spaces. Three words or more, of a password's length, and not a placeholder or a sentence
/// that names a secret (`"Enter your password"`).
pub(crate) fn looks_like_passphrase(value: &[u8], context: Context) -> bool {
    let v = trim_ascii(value);
    if context != Context::Strong || !(12..=128).contains(&v.len()) {
        return false;
    }
    let words = v.split(|b| *b == b' ').filter(|w| !w.is_empty()).count();
    if words < 3 || v.iter().any(|b| b.is_ascii_control()) || is_placeholder(v) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    ![
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "key",
        "enter",
        "your",
    ]
    .iter()
    .any(|w| contains(&lower, w.as_bytes()))
}

/// A relative path ending in a file name (`builds/<uuid>/app-1a2b3c4d.tar.gz`, an S3 object
/// key): random-looking parts, but a name, not a secret. Base64 also has `/`, so it takes a
/// file extension after the last `/` and no `+` or `=` anywhere.
pub(crate) fn looks_like_object_key(v: &[u8]) -> bool {
    let Some(slash) = v.iter().rposition(|&b| b == b'/') else {
        return false;
    };
    let file = &v[slash + 1..];
    let extension = file
        .iter()
        .rposition(|&b| b == b'.')
        .map(|dot| &file[dot + 1..]);
    let extension_ok = extension.is_some_and(|e| {
        (1..=5).contains(&e.len())
            && e.iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    extension_ok && !v.iter().any(|b| matches!(b, b'+' | b'='))
}

/// `8-4-4-4-12` hex: an identifier, unless its name says otherwise.
fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Minimum length of a value accepted without a known format.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// Does `value` look like a real secret rather than a word, an identifier or a placeholder?
pub(crate) fn looks_like_secret(value: &[u8], context: Context) -> bool {
    let v = trim_ascii(value);
    if v.len() < MIN_SECRET_LEN || v.len() > 4096 {
        return false;
    }
    if v.iter()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return false;
    }
    if is_placeholder(v) || looks_like_code_or_version(v) {
        return false;
    }
    // A UUID is an identifier under a weak name (`idempotency_key`, `bucketKey`); under a strong
    // one (`api_token`, `X-Octopus-ApiKey`) it is how many services issue keys.
    if context == Context::Weak && is_uuid(v) {
        return false;
    }
    if !v.iter().any(u8::is_ascii_alphanumeric) {
        return false;
    }
    // A value naming a secret is a reference to one: `token=ACCESS_TOKEN`, `key=YOUR_API_KEY`.
    let lower = v.to_ascii_lowercase();
    if [
        "token", "secret", "password", "passwd", "apikey", "api_key", "api-key",
    ]
    .iter()
    .any(|w| contains(&lower, w.as_bytes()))
    {
        return false;
    }
    // `name=` / `a.b.url=` on the right of an operator: the next assignment, not a value.
    if v.ends_with(b"=")
        && v.iter().any(|b| matches!(b, b'.' | b'_'))
        && !v
            .iter()
            .any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/'))
    {
        return false;
    }
    // `K8S_CRED`, `DB_PASSWORD_V2`: the name of a constant or variable, not its value.
    if v.iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && v.contains(&b'_')
    {
        return false;
    }
    let entropy = shannon_entropy(v);
    let classes = char_classes(v);
    // Hex strings (digests, keys) have at most 4 bits per byte; accept them at a lower bar.
    let hex = v.iter().all(u8::is_ascii_hexdigit)
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_alphabetic);
    if hex && v.len() >= 16 && entropy >= 2.7 {
        return context == Context::Strong || entropy >= 3.2;
    }
    let digits_only = v.iter().all(u8::is_ascii_digit);
    match context {
        Context::Strong => {
            if digits_only {
                v.len() >= 14 && entropy >= 2.8
            } else {
                (classes >= 2 && entropy >= 3.0) || (v.len() >= 12 && entropy >= 3.4)
            }
        }
        Context::Weak => {
            !digits_only && ((classes >= 2 && entropy >= 3.3) || (v.len() >= 16 && entropy >= 3.7))
        }
    }
}

/// Dotted identifiers (`XSalsa20.key_length`), versions (`1.7.8`), paths and URLs: values that
/// appear on the right of `key =` in code but are not secrets.
fn looks_like_code_or_version(v: &[u8]) -> bool {
    if contains(v, b"://") || v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"~/") {
        return true;
    }
    if looks_like_object_key(v) {
        return true;
    }
    // A version number: digits '.' digits '.' digits.
    let mut run = 0u8;
    let mut prev_digit = false;
    for &b in v {
        if b.is_ascii_digit() {
            if !prev_digit && run < 3 {
                run += 1;
            }
            prev_digit = true;
        } else if b == b'.' && prev_digit {
            prev_digit = false;
        } else {
            if run >= 3 {
                return true;
            }
            run = 0;
            prev_digit = false;
        }
        if run >= 3 && prev_digit {
            return true;
        }
    }
    // `a.b.c` made of word-like identifiers (`XSalsa20.key_length`, `Foo.KeyPair`): a code
    // reference. Random tokens with dots (`pk.<random>.<random>`) switch between lower case,
    // upper case and digits far more often than identifiers do.
    if v.contains(&b'.') {
        let parts_ok = v.split(|&b| b == b'.').all(|part| {
            !part.is_empty()
                && (part[0].is_ascii_alphabetic() || part[0] == b'_')
                && part.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                && class_switch_ratio(part) < 0.3
        });
        if parts_ok {
            return true;
        }
    }
    // Function calls and member accesses: `foo(`, `obj->x`.
    contains(v, b"->") || (v.ends_with(b")") && v.contains(&b'('))
}

/// Share of adjacent byte pairs that switch between lower case, upper case and digits.
pub(crate) fn class_switch_ratio(v: &[u8]) -> f64 {
    fn class(b: u8) -> u8 {
        match b {
            b'a'..=b'z' => 0,
            b'A'..=b'Z' => 1,
            b'0'..=b'9' => 2,
            _ => 3,
        }
    }
    if v.len() < 2 {
        return 0.0;
    }
    let switches = v.windows(2).filter(|w| class(w[0]) != class(w[1])).count();
    switches as f64 / (v.len() - 1) as f64
}

fn has_sequential_run(v: &[u8], min: usize) -> bool {
    let mut run = 1usize;
    for w in v.windows(2) {
        if w[1] == w[0].wrapping_add(1) && (w[1].is_ascii_alphanumeric()) {
            run += 1;
            if run >= min {
                return true;
            }
        } else {
            run = 1;
        }
    }
    false
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn trim_ascii(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_values() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn placeholders() {
        for p in [
            "changeme",
            "xxxxxxxx",
            "XXXXXXXXXXXXXXXX",
            "${VAR}",
            "$API_KEY",
            "<token>",
            "{{ .Values.password }}",
            "[PASSWORD]",
            "{password}",
            "********",
            "your_api_key_here",
            "ABCDEFGHIJKLMNOP",
            "%s",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p} should be a placeholder");
        }
        for s in [
            "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
            "{ZqL5kVrX1n8tA2}",
            "P@ssw0rd$1",
        ] {
            assert!(!is_placeholder(s.as_bytes()), "{s} is not a placeholder");
        }
    }

    #[test]
    fn secret_thresholds() {
        for s in [
            "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
            "P@ssw0rd$1",
            "3fea6af1349166ea",
        ] {
            assert!(looks_like_secret(s.as_bytes(), Context::Strong), "{s}");
        }
        for s in [
            "changeme",
            "real_secret",
            "somefakekey",
            "short",
            "XSalsa20.key_length",
            "jjwt-jackson-0.11.2",
            "value with spaces",
            "https://example.com/a",
            "K8S_CRED",
        ] {
            assert!(!looks_like_secret(s.as_bytes(), Context::Strong), "{s}");
        }
    }
}
