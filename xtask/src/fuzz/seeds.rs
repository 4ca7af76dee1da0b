//! Seed corpora for the fuzz targets, written into `fuzz/corpus/<target>/seed-*` at run time
//! from material that stays where it is: the llhttp conformance cases and labeled secrets in
//! `../shared/corpora` (see its README), and the policy documents of this repository (the
//! built-in default, the `docs/policy.md` examples, the policy unit tests).
//!
//! Each seed is written in its target's input layout, documented at the top of
//! `fuzz/fuzz_targets/<target>.rs`; `SECTION` is `monitor_fuzz::SECTION`. The corpora are JSON
//! lines whose few fields we need are plain strings, so a small string-field reader does here
//! what a JSON dependency would. Nothing read is printed: the secrets corpus holds credentials.
use std::{fs, path::Path};

use anyhow::Context as _;

/// `monitor_fuzz::SECTION` (fuzz/src/lib.rs): separates the sections of an input.
const SECTION: &[u8] = b"\xff\xfe\xfd\xfc";

/// The other direction of a conformance case that has only one.
const CANNED_REQUEST: &[u8] = b"GET /v1/items?page=2 HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
const CANNED_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// An http1 schedule that cuts both directions into small, uneven pieces (see http1.rs).
const SPLIT_SCHEDULE: &[u8] = &[0x00, 0x80, 0x02, 0x83, 0x0f, 0x8f, 0x3f, 0xbf, 0x05, 0x85];

/// Writes the seeds of `target` into `corpus` (created if needed); returns how many.
pub fn write(
    target: &str,
    workspace: &Path,
    corpora: &Path,
    corpus: &Path,
) -> anyhow::Result<usize> {
    let seeds = match target {
        "http1" => http_cases(corpora)?
            .iter()
            .flat_map(|(req, resp)| {
                [
                    [&[0u8, 0][..], req, SECTION, resp].concat(),
                    // Small limits, server role (the requests arrive on ingress), cut in pieces.
                    [
                        &[3u8, SPLIT_SCHEDULE.len() as u8][..],
                        SPLIT_SCHEDULE,
                        req,
                        SECTION,
                        resp,
                    ]
                    .concat(),
                ]
            })
            .collect(),
        // An empty script: both pools on one connection (see streams.rs).
        "streams" => http_cases(corpora)?
            .iter()
            .map(|(req, resp)| [&[0u8, 0][..], req, SECTION, resp].concat())
            .collect(),
        "policy" => policies(workspace)?,
        "credentials" => secrets(corpora)?,
        other => anyhow::bail!("no seeds for `{other}`"),
    };
    fs::create_dir_all(corpus).with_context(|| format!("creating {}", corpus.display()))?;
    for (i, seed) in seeds.iter().enumerate() {
        let path = corpus.join(format!("seed-{i:04}"));
        fs::write(&path, seed).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(seeds.len())
}

/// (requests, responses) of every llhttp case; the missing direction is a canned message.
fn http_cases(corpora: &Path) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut cases = Vec::new();
    for line in jsonl(&corpora.join("llhttp-dev.jsonl"))?.lines() {
        let (Some(kind), Some(raw)) = (string_field(line, "kind"), string_field(line, "raw_b64"))
        else {
            continue;
        };
        let Some(raw) = base64_decode(&raw) else {
            continue;
        };
        cases.push(if kind == "response" {
            (CANNED_REQUEST.to_vec(), raw)
        } else {
            (raw, CANNED_RESPONSE.to_vec())
        });
    }
    Ok(cases)
}

/// One positive and one negative string per credential kind, each in a header, a query and a
/// JSON body (layout in credentials.rs).
fn secrets(corpora: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut seeds = Vec::new();
    for line in jsonl(&corpora.join("secrets-dev.jsonl"))?.lines() {
        let (Some(text), Some(kind)) = (string_field(line, "text"), string_field(line, "kind"))
        else {
            continue;
        };
        let positive = line.contains("\"is_secret\": true");
        if !seen.insert((kind, positive)) {
            continue;
        }
        let text = text.as_bytes();
        // Header names: 0 Authorization, 2 X-Api-Key, 6 User-Agent (neutral: only formats).
        let header = [0u8, 2, 6][seeds.len() / 3 % 3];
        seeds.push([&[header, 0, 0][..], text, SECTION, b"/", SECTION].concat());
        seeds.push(
            [
                &[6u8, 0, 1][..],
                SECTION,
                b"/v1/search?token=",
                text,
                SECTION,
            ]
            .concat(),
        );
        let mut body = b"{\"config\": \"".to_vec();
        for &b in text {
            match b {
                b'"' | b'\\' => body.extend_from_slice(&[b'\\', b]),
                b'\n' => body.extend_from_slice(b"\\n"),
                _ => body.push(b),
            }
        }
        body.extend_from_slice(b"\"}");
        seeds.push([&[6u8, 2, 0][..], SECTION, b"/upload", SECTION, &body].concat());
    }
    Ok(seeds)
}

/// The default policy, every YAML block of docs/policy.md, and the string literals of the policy
/// unit tests that look like documents.
fn policies(workspace: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let read =
        |p: &str| fs::read_to_string(workspace.join(p)).with_context(|| format!("reading {p}"));
    let mut seeds = vec![read("monitor/src/policy/default_policy.yaml")?.into_bytes()];
    let doc = read("docs/policy.md")?;
    let mut block: Option<String> = None;
    for line in doc.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => block = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => {
                seeds.extend(block.take().map(String::into_bytes))
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    let tests = workspace.join("monitor/src/policy/tests");
    let mut files: Vec<_> = fs::read_dir(&tests)
        .with_context(|| format!("reading {}", tests.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let source = fs::read_to_string(&file)?;
        seeds.extend(
            rust_strings(&source)
                .into_iter()
                .filter(|s| s.contains("version") || s.contains(':'))
                .map(String::into_bytes),
        );
    }
    Ok(seeds)
}

/// A corpus file; missing corpora cost seeds, not the run (libFuzzer starts from nothing).
fn jsonl(path: &Path) -> anyhow::Result<String> {
    match fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("xtask: {} not found: no seeds from it", path.display());
            Ok(String::new())
        }
        other => other.with_context(|| format!("reading {}", path.display())),
    }
}

/// The value of `"field": "..."` in one JSON object on one line, unescaped.
fn string_field(line: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":");
    let start = line.find(&key)? + key.len();
    let rest = line[start..].trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    let code = if (0xd800..0xdc00).contains(&unit) {
                        // A surrogate pair: `\uD83D\uDE00`.
                        let low: String = chars.by_ref().skip(2).take(4).collect();
                        let low = u32::from_str_radix(&low, 16).ok()?;
                        0x10000 + ((unit - 0xd800) << 10) + (low.checked_sub(0xdc00)?)
                    } else {
                        unit
                    };
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in group.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    Some(out)
}

/// The contents of the string literals (`"..."` and `r#"..."#`) in Rust source, unescaped.
fn rust_strings(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(quote) = rest.find('"') {
        if rest[..quote].ends_with("r#") {
            let body = &rest[quote + 1..];
            let Some(end) = body.find("\"#") else { break };
            out.push(body[..end].to_owned());
            rest = &body[end + 2..];
            continue;
        }
        let mut text = String::new();
        let mut chars = rest[quote + 1..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(quote + 1 + i + 1);
                    break;
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('0') => text.push('\0'),
                    // A line continuation: the newline and the next line's indentation go.
                    Some('\n') => {
                        let skip = chars.clone().take_while(|(_, c)| c.is_whitespace()).count();
                        chars.by_ref().take(skip).for_each(drop);
                    }
                    Some(c) => text.push(c),
                    None => {}
                },
                c => text.push(c),
            }
        }
        let Some(end) = end else { break };
        out.push(text);
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_string_fields() {
        let line = r#"{"text": "a\"b\\c\n\u00e9\ud83d\ude00", "kind": "jwt", "n": 1}"#;
        assert_eq!(string_field(line, "text").as_deref(), Some("a\"b\\c\né😀"));
        assert_eq!(string_field(line, "kind").as_deref(), Some("jwt"));
        assert_eq!(string_field(line, "missing"), None);
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("R0VUIC8=").as_deref(), Some(&b"GET /"[..]));
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("aGVsbG8h").as_deref(), Some(&b"hello!"[..]));
        assert_eq!(base64_decode("a*b="), None);
    }

    #[test]
    fn finds_rust_string_literals() {
        let source =
            "let a = \"x: 1\\ny: \\\"q\\\"\"; let b = r#\"raw \"yes\"\"#; let c = \"a\\\n    b\";";
        assert_eq!(
            rust_strings(source),
            ["x: 1\ny: \"q\"", "raw \"yes\"", "ab"]
        );
    }
}
