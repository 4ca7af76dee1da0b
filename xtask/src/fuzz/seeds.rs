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
        "http2" => http2_seeds(corpora)?,
        // An empty script: both pools on one connection (see streams.rs).
        "streams" => http_cases(corpora)?
            .iter()
            .map(|(req, resp)| [&[0u8, 0][..], req, SECTION, resp].concat())
            .collect(),
        "policy" => policies(workspace)?,
        "credentials" => secrets(corpora)?,
        "sensitive" => sensitive_values(),
        other => anyhow::bail!("no seeds for `{other}`"),
    };
    fs::create_dir_all(corpus).with_context(|| format!("creating {}", corpus.display()))?;
    for (i, seed) in seeds.iter().enumerate() {
        let path = corpus.join(format!("seed-{i:04}"));
        fs::write(&path, seed).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(seeds.len())
}

/// An HTTP/2 frame: 9-byte header and payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    [
        &len.to_be_bytes()[1..],
        &[kind, flags],
        &stream.to_be_bytes(),
        payload,
    ]
    .concat()
}

/// HPACK literal (no Huffman): `prefix` is the representation (0x40 incremental indexing, 0x00
/// without, 0x10 never indexed) plus the index of the name, 0 for the literal `name` given.
fn hpack_literal(prefix: u8, name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![prefix];
    let strings = if name.is_empty() {
        &[value][..]
    } else {
        &[name, value][..]
    };
    for s in strings {
        b.push(s.len().min(126) as u8);
        b.extend_from_slice(&s.as_bytes()[..s.len().min(126)]);
    }
    b
}

/// Both directions of an h2 connection: preface and SETTINGS, three GETs whose later headers
/// come from the dynamic table, a POST with a body and trailers, and a gRPC call (DATA with one
/// length-prefixed message, trailers with `grpc-status`); the server answers each.
fn h2_connection() -> (Vec<u8>, Vec<u8>) {
    const END_STREAM: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    let headers = |stream, end: bool, block: &[u8]| {
        h2_frame(
            1,
            END_HEADERS | if end { END_STREAM } else { 0 },
            stream,
            block,
        )
    };
    let data = |stream, end: bool, payload: &[u8]| {
        h2_frame(0, if end { END_STREAM } else { 0 }, stream, payload)
    };
    let settings = h2_frame(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 1, 0, 0, 0x10, 0]);
    let mut client = monitor_preface();
    client.extend(&settings);
    // :method GET (2), :scheme https (7), then literals that later streams index.
    client.extend(headers(
        1,
        true,
        &[
            &[0x82, 0x87][..],
            &hpack_literal(0x44, "", "/v1/items?page=1"),
            &hpack_literal(0x41, "", "api.example.com"),
            &hpack_literal(0x40, "user-agent", "seed/1.0"),
        ]
        .concat(),
    ));
    // Same authority and user-agent, from the table (62 newest = user-agent).
    client.extend(headers(
        3,
        true,
        &[
            &[0x82, 0x87, 0xbf, 0xbe][..],
            &hpack_literal(0x40, ":path", "/v1/items?page=2"),
        ]
        .concat(),
    ));
    client.extend(headers(
        5,
        false,
        &[
            &[0x83, 0x87, 0xc0, 0xbf][..],
            &hpack_literal(0x04, "", "/v1/charges"),
            &hpack_literal(0x10, "authorization", "Bearer sk_test_seed"),
            &hpack_literal(0x00, "content-type", "application/json"),
        ]
        .concat(),
    ));
    client.extend(data(5, false, b"{\"amount\":100}"));
    client.extend(headers(5, true, &hpack_literal(0x00, "x-checksum", "abc")));
    client.extend(headers(
        7,
        false,
        &[
            &[0x83, 0x86][..],
            &hpack_literal(0x44, "", "/demo.Greeter/SayHello"),
            &hpack_literal(0x40, "content-type", "application/grpc"),
            &hpack_literal(0x40, "te", "trailers"),
        ]
        .concat(),
    ));
    client.extend(data(7, true, &[0, 0, 0, 0, 3, 0x0a, 0x01, 0x61]));
    client.extend(h2_frame(3, 0, 9, &8u32.to_be_bytes()));
    let mut server = settings;
    server.extend(h2_frame(4, 1, 0, &[]));
    for (stream, body) in [(1u32, &b"[]"[..]), (3, b"[1]"), (5, b"{}")] {
        server.extend(headers(
            stream,
            false,
            &[
                &[0x88][..],
                &hpack_literal(0x40, "content-type", "application/json"),
            ]
            .concat(),
        ));
        server.extend(data(stream, true, body));
    }
    server.extend(headers(
        7,
        false,
        &[
            &[0x88][..],
            &hpack_literal(0x00, "content-type", "application/grpc"),
        ]
        .concat(),
    ));
    server.extend(data(7, false, &[0, 0, 0, 0, 2, 0x0a, 0x00]));
    server.extend(headers(
        7,
        true,
        &[
            hpack_literal(0x00, "grpc-status", "0"),
            hpack_literal(0x00, "grpc-message", ""),
        ]
        .concat(),
    ));
    server.extend(h2_frame(7, 0, 0, &[0, 0, 0, 7, 0, 0, 0, 0]));
    (client, server)
}

fn monitor_preface() -> Vec<u8> {
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()
}

/// http2 seeds (layout in http2.rs): the connection whole, cut in pieces with small limits, from
/// the server's side, without its preface (mid-connection) and with a hole; an `Upgrade: h2c`;
/// and in HPACK mode every story of `../shared/corpora/hpack` (one decoder per story).
fn http2_seeds(corpora: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let (client, server) = h2_connection();
    let preface_len = monitor_preface().len();
    let mut seeds = vec![
        [&[0u8, 0][..], &client, SECTION, &server].concat(),
        [
            &[2u8, SPLIT_SCHEDULE.len() as u8][..],
            SPLIT_SCHEDULE,
            &client,
            SECTION,
            &server,
        ]
        .concat(),
        [&[1u8, 0][..], &server, SECTION, &client].concat(),
        [
            &[0u8, 0][..],
            &client[preface_len + 21..],
            SECTION,
            &server[21..],
        ]
        .concat(),
        // A 20-byte hole in the first HEADERS block, then the rest.
        [&[0u8, 2, 0x3f, 0x53][..], &client, SECTION, &server].concat(),
    ];
    let upgrade = b"GET /up HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
    let switching =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    seeds.push([&[0u8, 0][..], upgrade, &client, SECTION, switching, &server].concat());
    for story in hpack_stories(corpora)? {
        let blocks = story.join(SECTION);
        // Full vs a decoder missing block 1; full vs one that started at block 2.
        seeds.push([&[0x10u8, 1, 0][..], &blocks].concat());
        seeds.push([&[0x11u8, 2, 0][..], &blocks].concat());
    }
    Ok(seeds)
}

/// The header blocks (`"wire"` hex strings, in order) of every story in the HPACK corpus, at
/// most 40 blocks each so seeds stay small; a missing corpus gives none.
fn hpack_stories(corpora: &Path) -> anyhow::Result<Vec<Vec<Vec<u8>>>> {
    let root = corpora.join("hpack");
    let Ok(encoders) = fs::read_dir(&root) else {
        eprintln!("xtask: {} not found: no HPACK seeds", root.display());
        return Ok(Vec::new());
    };
    let mut files: Vec<_> = encoders
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .flat_map(|dir| {
            fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
        })
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut stories = Vec::new();
    for file in files {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let blocks: Vec<Vec<u8>> = text
            .lines()
            .filter_map(|l| string_field(l, "wire"))
            .filter_map(|hex| hex_decode(&hex))
            .take(40)
            .collect();
        if !blocks.is_empty() {
            stories.push(blocks);
        }
    }
    Ok(stories)
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
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

/// `sensitive`: made-up values of each kind in every position (header, query, JSON bodies).
fn sensitive_values() -> Vec<Vec<u8>> {
    let values: [&[u8]; 7] = [
        b"4539 5787 6362 1486",
        b"DE89 3704 0044 0532 0130 00",
        b"219-09-9991",
        b"ada@example.com",
        b"+44 20 7946 0958",
        b"(415) 555-2671",
        b"978-3-16-148410-0",
    ];
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let target = [&b"/v1/users?email="[..], value].concat();
        let json = [&br#"{"ssn":""#[..], value, br#"","note":"x"}"#].concat();
        let control = [i as u8, 0b1010, 0];
        out.push(
            [
                &control[..],
                value,
                SECTION,
                &target,
                SECTION,
                &json,
                SECTION,
                &json,
            ]
            .concat(),
        );
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
