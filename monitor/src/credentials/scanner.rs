//! The one-pass text scanner: a single Aho-Corasick keyword pass over the text decides which
//! precise regexes (from [`super::patterns`]) and which context checks (generic assignments,
//! `Authorization:` lines, `curl -u`, URL credentials) are worth running, so a text without any
//! keyword costs one automaton pass and nothing else.
//!
//! Works on bytes (invalid UTF-8 is fine) and on a bounded prefix of the text.
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::Regex;

use super::{
    candidate::{Candidate, Candidates, Rank, resolve_overlaps},
    entropy::{Context, is_template, looks_like_secret},
    error::DetectorError,
    finding::CredentialKind,
    generic::{self, GENERIC_KEYWORDS},
    headers, jwt,
    patterns::{
        Check, FORMAT_RULES, FormatRule, PEM_LABELS, claimed_prefixes, claims_telegram_shape,
        gitlab_length_ok,
    },
};

/// Longest text scanned in one call; the rest is ignored (bounded work per request).
pub(crate) const MAX_TEXT: usize = 64 * 1024;
/// Most candidates taken from one text.
const MAX_CANDIDATES: usize = 64;
/// Most generic keyword hits examined in one text.
const MAX_GENERIC_HITS: usize = 512;

/// What a prefilter keyword switches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Format(usize),
    Generic,
    Authorization,
    CurlUser,
    UrlCredentials,
}

pub(crate) struct TextScanner {
    prefilter: AhoCorasick,
    /// A text shorter than this holds no keyword: it is not worth starting the automaton.
    shortest_keyword: usize,
    /// For each prefilter pattern, what it switches on.
    targets: Vec<Vec<Target>>,
    formats: Vec<Regex>,
    curl_user: Regex,
    url_credentials: Regex,
    /// [`claimed_prefixes`], collected once.
    claimed: Vec<&'static str>,
}

impl TextScanner {
    pub(crate) fn new() -> Result<Self, DetectorError> {
        let mut keywords: Vec<String> = Vec::new();
        let mut targets: Vec<Vec<Target>> = Vec::new();
        let mut add = |keyword: &str, target: Target| {
            let lower = keyword.to_ascii_lowercase();
            match keywords.iter().position(|k| *k == lower) {
                Some(i) => {
                    if !targets[i].contains(&target) {
                        targets[i].push(target);
                    }
                }
                None => {
                    keywords.push(lower);
                    targets.push(vec![target]);
                }
            }
        };
        for (i, rule) in FORMAT_RULES.iter().enumerate() {
            for k in rule.keywords {
                add(k, Target::Format(i));
            }
        }
        for k in GENERIC_KEYWORDS {
            add(k, Target::Generic);
        }
        add("authorization", Target::Authorization);
        add("-u", Target::CurlUser);
        add("--user", Target::CurlUser);
        add("://", Target::UrlCredentials);
        // A DFA, asked for: with more than 100 keywords the crate would pick a contiguous NFA,
        // whose per-byte cost was a quarter of all credential detection (callgrind, issue 14).
        // Built once per detector; `the_keyword_dfa_stays_small` bounds its memory.
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&keywords)?;
        let shortest_keyword = keywords.iter().map(String::len).min().unwrap_or(0);
        let formats = FORMAT_RULES
            .iter()
            .map(|rule| compile(rule.id, rule.pattern))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            prefilter,
            shortest_keyword,
            targets,
            formats,
            curl_user: compile(
                "curl-user",
                r#"(?:^|[\s'"])(?:-u|--user)(?:[ \t]+|=)((?:"[^"\r\n]{0,256}"|'[^'\r\n]{0,256}'|[^\s"'])+)"#,
            )?,
            url_credentials: compile(
                "url-credentials",
                r#"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://([^\s:/?#@"'<>\[\]{}]{1,128}):([^\s/?#@"'<>]{1,256})@[A-Za-z0-9_.\[-]"#,
            )?,
            claimed: claimed_prefixes().collect(),
        })
    }

    /// Every credential in `text`: documented formats, generic assignments and credentials
    /// written in command lines or URLs.
    pub(crate) fn scan<'a>(&self, text: &'a [u8], now_unix_secs: u64) -> Candidates<'a> {
        self.run(text, now_unix_secs, true)
    }

    /// Only documented formats (used to tell whether a header or parameter value is one).
    pub(crate) fn scan_formats<'a>(&self, text: &'a [u8], now_unix_secs: u64) -> Candidates<'a> {
        self.run(text, now_unix_secs, false)
    }

    fn run<'a>(&self, text: &'a [u8], now: u64, contextual: bool) -> Candidates<'a> {
        let text = &text[..text.len().min(MAX_TEXT)];
        if text.len() < self.shortest_keyword {
            return Candidates::new();
        }
        // On the stack: this runs for every header value of every request.
        let mut fired = [false; FORMAT_RULES.len()];
        let mut any = false;
        let mut generic_hits = Vec::new();
        let mut auth_hits = Vec::new();
        let (mut curl, mut urls) = (false, false);
        for m in self.prefilter.find_overlapping_iter(text) {
            any = true;
            for target in &self.targets[m.pattern().as_usize()] {
                match *target {
                    Target::Format(i) => fired[i] = true,
                    Target::Generic if contextual && generic_hits.len() < MAX_GENERIC_HITS => {
                        generic_hits.push(m.start());
                    }
                    Target::Authorization if contextual => auth_hits.push(m.end()),
                    Target::CurlUser => curl = contextual,
                    Target::UrlCredentials => urls = contextual,
                    _ => {}
                }
            }
        }
        // Most texts (nearly every header value, path and parameter) hold no keyword at all:
        // nothing below could find anything in them.
        if !any {
            return Candidates::new();
        }
        let mut out = Candidates::new();
        for (i, rule) in FORMAT_RULES.iter().enumerate() {
            if fired[i] {
                self.run_format(rule, &self.formats[i], text, now, &mut out);
            }
        }
        if contextual {
            generic_hits.sort_unstable();
            let mut generic_found = Candidates::new();
            generic::scan(text, &generic_hits, &mut generic_found);
            // A value that claims a documented format it does not pass is not a generic secret.
            generic_found.retain(|c| {
                !self
                    .claimed
                    .iter()
                    .any(|p| c.secret.starts_with(p.as_bytes()))
                    && !claims_telegram_shape(&c.secret)
            });
            out.extend(generic_found);
            for end in auth_hits {
                self.authorization_line(text, end, now, &mut out);
            }
            if curl {
                self.curl_user(text, &mut out);
            }
            if urls {
                self.url_credentials(text, &mut out);
            }
        }
        resolve_overlaps(&mut out);
        out.truncate(MAX_CANDIDATES);
        out
    }

    fn run_format<'a>(
        &self,
        rule: &FormatRule,
        re: &Regex,
        text: &'a [u8],
        now: u64,
        out: &mut Candidates<'a>,
    ) {
        for caps in re.captures_iter(text) {
            if out.len() >= MAX_CANDIDATES {
                return;
            }
            let Some(m) = caps.get(1) else { continue };
            let span = m.range();
            let secret = m.as_bytes();
            let prefix = rule
                .prefixes
                .iter()
                .copied()
                .find(|p| secret.starts_with(p.as_bytes()));
            let candidate = match rule.check {
                Check::None => Some(Candidate::new(rule.kind, secret, Rank::Format)),
                Check::Body => {
                    let body = &secret[prefix.map_or(0, str::len)..];
                    (!format_body_is_placeholder(body))
                        .then(|| Candidate::new(rule.kind, secret, Rank::Format))
                }
                Check::LastSegment => {
                    let last = secret.iter().rposition(|&b| b == b'-').map_or(0, |i| i + 1);
                    (!format_body_is_placeholder(&secret[last..]))
                        .then(|| Candidate::new(rule.kind, secret, Rank::Format))
                }
                Check::Gitlab => {
                    let body = &secret[prefix.map_or(0, str::len)..];
                    (gitlab_length_ok(secret) && !format_body_is_placeholder(body))
                        .then(|| Candidate::new(rule.kind, secret, Rank::Format))
                }
                Check::Jwt => jwt::parse(secret, now).map(|facts| {
                    Candidate::new(rule.kind, secret, Rank::Format).with_jwt(Some(facts))
                }),
                Check::JwtBase64 => jwt::parse_base64_wrapped(secret, now).map(|(token, facts)| {
                    Candidate::new(rule.kind, token, Rank::Format).with_jwt(Some(facts))
                }),
                Check::PrivateKey => private_key_block(text, span.clone()).map(|block| {
                    let label = secret
                        .strip_prefix(b"-----BEGIN ")
                        .and_then(|s| s.strip_suffix(b"-----"));
                    let label = PEM_LABELS
                        .iter()
                        .copied()
                        .find(|l| Some(l.as_bytes()) == label);
                    Candidate::new(rule.kind, &text[block.clone()], Rank::Format)
                        .with_span(block)
                        .with_prefix(label)
                }),
            };
            if let Some(c) = candidate {
                let c = if c.span.is_none() {
                    c.with_span(span)
                } else {
                    c
                };
                let c = if c.prefix.is_none() {
                    c.with_prefix(prefix)
                } else {
                    c
                };
                out.push(c);
            }
        }
    }

    /// `Authorization: Basic ...` / `"authorization": "Bearer ..."` written in free text (a
    /// `curl -H` line in a body, a config dump in a header): parsed like the real header, but
    /// placeholders and undecodable values are rejected.
    fn authorization_line<'a>(
        &self,
        text: &'a [u8],
        name_end: usize,
        now: u64,
        out: &mut Candidates<'a>,
    ) {
        let mut p = name_end;
        if text.get(p).is_some_and(|b| matches!(b, b'"' | b'\'')) {
            p += 1;
        }
        while text.get(p).is_some_and(|b| matches!(b, b' ' | b'\t')) {
            p += 1;
        }
        if !text.get(p).is_some_and(|b| matches!(b, b':' | b'=')) {
            return;
        }
        p += 1;
        while text
            .get(p)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'"' | b'\''))
        {
            p += 1;
        }
        let limit = (p + 8192).min(text.len());
        let end = text[p..limit]
            .iter()
            .position(|b| matches!(b, b'"' | b'\'' | b'\n' | b'\r' | b'\\'))
            .map_or(limit, |i| p + i);
        for mut c in headers::authorization(self, &text[p..end], true, now) {
            c.span = c.span.map(|s| s.start + p..s.end + p);
            out.push(c);
        }
    }

    /// `curl -u user:password` / `--user 'user:password'`.
    fn curl_user(&self, text: &[u8], out: &mut Candidates<'_>) {
        for caps in self.curl_user.captures_iter(text) {
            let Some(m) = caps.get(1) else { continue };
            let creds: Vec<u8> = m
                .as_bytes()
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'"' | b'\''))
                .collect();
            let Some(colon) = creds.iter().position(|&b| b == b':') else {
                continue;
            };
            let (user, password) = (&creds[..colon], &creds[colon + 1..]);
            let secret_part = if password.is_empty() { user } else { password };
            if looks_like_secret(secret_part, Context::Strong) {
                out.push(
                    Candidate::new(CredentialKind::BasicAuth, creds, Rank::Scheme)
                        .with_span(m.range()),
                );
            }
        }
    }

    /// `scheme://user:password@host`.
    fn url_credentials<'a>(&self, text: &'a [u8], out: &mut Candidates<'a>) {
        for caps in self.url_credentials.captures_iter(text) {
            let (Some(user), Some(password)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            let pw = password.as_bytes();
            let port_like = pw.len() <= 5 && pw.iter().all(u8::is_ascii_digit);
            if pw.len() < 3 || port_like || pw == user.as_bytes() || is_template(pw) {
                continue;
            }
            let span: Range<usize> = user.start()..password.end();
            out.push(
                Candidate::new(CredentialKind::BasicAuth, &text[span.clone()], Rank::Scheme)
                    .with_span(span),
            );
        }
    }
}

fn compile(id: &'static str, pattern: &str) -> Result<Regex, DetectorError> {
    regex::bytes::RegexBuilder::new(&format!("(?-u){pattern}"))
        .size_limit(8 << 20)
        .build()
        .map_err(|e| DetectorError::Pattern {
            rule: id,
            source: Box::new(e),
        })
}

/// The body of a documented token made of one repeated byte (`ghp_xxxx...`), containing
/// `EXAMPLE`, or an alphabet run (`AIzaSyabcdefghijklmnop...`): documentation, not a secret.
fn format_body_is_placeholder(body: &[u8]) -> bool {
    let mut counts = [0u32; 256];
    for &b in body {
        counts[usize::from(b)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0) as usize;
    if body.is_empty() || max * 10 >= body.len() * 6 {
        return true;
    }
    // Real tokens are random; `12312312312312312312` is not.
    let entropy = super::entropy::shannon_entropy(body);
    if (body.len() >= 12 && entropy < 2.2) || (body.len() >= 20 && entropy < 3.0) {
        return true;
    }
    // Case-insensitive in place, without a lower-cased copy: every documented token seen
    // comes here.
    let has = |needle: &[u8]| {
        body.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if has(b"example") || has(b"xxxxx") {
        return true;
    }
    body.windows(10).any(|w| {
        w.windows(2)
            .all(|p| p[1].to_ascii_lowercase() == p[0].to_ascii_lowercase().wrapping_add(1))
    })
}

/// Extends a `-----BEGIN ... PRIVATE KEY-----` line to its END line (or to the end of the
/// base64 that follows, for truncated samples); `None` if there is no key material.
fn private_key_block(text: &[u8], begin: Range<usize>) -> Option<Range<usize>> {
    const MAX_BLOCK: usize = 16 * 1024;
    let limit = (begin.end + MAX_BLOCK).min(text.len());
    let rest = &text[begin.end..limit];
    let end_marker = rest.windows(8).position(|w| w == b"-----END");
    let body_end = end_marker.map_or(rest.len(), |i| i);
    let body = &rest[..body_end];
    let material = body
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .count();
    if material < 16 {
        return None;
    }
    let end = match end_marker {
        Some(i) => {
            let after = begin.end + i + 8;
            // Past `-----END <label>-----`.
            let close = text[after..limit].windows(5).position(|w| w == b"-----");
            close.map_or(limit, |c| after + c + 5)
        }
        None => {
            // Truncated: stop at the first byte that cannot be part of a PEM body.
            let stop = body
                .iter()
                .position(|b| {
                    !(b.is_ascii_alphanumeric()
                        || b.is_ascii_whitespace()
                        || matches!(b, b'+' | b'/' | b'=' | b':' | b'-' | b',' | b'\\'))
                })
                .unwrap_or(body.len());
            begin.end + stop
        }
    };
    Some(begin.start..end)
}

#[cfg(test)]
mod prefilter_size {
    use super::*;

    #[test]
    fn the_keyword_dfa_stays_small() {
        // The DFA buys per-byte speed with memory; built once per detector, it must stay small.
        let scanner = TextScanner::new().unwrap();
        let bytes = scanner.prefilter.memory_usage();
        eprintln!("keyword DFA: {bytes} bytes");
        assert!(bytes < 1 << 20, "keyword DFA: {bytes} bytes");
    }
}
