//! Decoder tests: RFC 7541 Appendix C, the hpack-test-case corpus, and unknown-state
//! properties (a decoder that lost state answers exactly or `None`, never a wrong field).

use std::path::{Path, PathBuf};

use super::{Decoder, Field, HpackError};

type Pair = (Vec<u8>, Vec<u8>);

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn pairs(fields: &[Field]) -> Vec<Pair> {
    fields
        .iter()
        .map(|f| {
            (
                f.name.clone().unwrap().to_vec(),
                f.value.clone().unwrap().to_vec(),
            )
        })
        .collect()
}

fn expect(list: &[(&str, &str)]) -> Vec<Pair> {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// Decodes each block in order, checking the fields and the table size after it.
/// (wire hex, expected fields, table size after).
type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], usize);

fn run_rfc(decoder: &mut Decoder, steps: &[Step<'_>]) {
    for (i, (wire, want, size)) in steps.iter().enumerate() {
        let fields = decoder.decode(&hex(wire)).unwrap();
        assert_eq!(pairs(&fields), expect(want), "block {i}");
        assert_eq!(decoder.table_size(), *size, "table size after block {i}");
        assert!(!decoder.has_unknown_entries());
    }
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

#[test]
fn rfc7541_c2_single_representations() {
    let mut d = Decoder::new();
    let f = d
        .decode(&hex(
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        ))
        .unwrap();
    assert_eq!(pairs(&f), expect(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);
    let mut d = Decoder::new();
    let f = d
        .decode(&hex("040c 2f73 616d 706c 652f 7061 7468"))
        .unwrap();
    assert_eq!(pairs(&f), expect(&[(":path", "/sample/path")]));
    assert_eq!(d.table_size(), 0);
    let f = d
        .decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))
        .unwrap();
    assert_eq!(pairs(&f), expect(&[("password", "secret")]));
    assert!(f[0].never_indexed);
    assert_eq!(d.table_size(), 0);
}

#[test]
fn rfc7541_c3_requests_without_huffman() {
    run_rfc(
        &mut Decoder::new(),
        &[
            (
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                REQ1,
                57,
            ),
            ("8286 84be 5808 6e6f 2d63 6163 6865", REQ2, 110),
            (
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                REQ3,
                164,
            ),
        ],
    );
}

#[test]
fn rfc7541_c4_requests_with_huffman() {
    run_rfc(
        &mut Decoder::new(),
        &[
            ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, 57),
            ("8286 84be 5886 a8eb 1064 9cbf", REQ2, 110),
            (
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                REQ3,
                164,
            ),
        ],
    );
}

fn decoder_256() -> Decoder {
    let mut d = Decoder::new();
    d.set_settings_limit(256);
    // The RFC examples assume the table is already at 256; a real encoder signals it so.
    d.decode(&hex("3fe1 01")).unwrap();
    assert_eq!(d.max_table_size(), 256);
    d
}

#[test]
fn rfc7541_c5_responses_without_huffman_with_eviction() {
    run_rfc(
        &mut decoder_256(),
        &[
            (
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                 6c65 2e63 6f6d",
                RESP1,
                222,
            ),
            ("4803 3330 37c1 c0bf", RESP2, 222),
            (
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                 3d31",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn rfc7541_c6_responses_with_huffman_with_eviction() {
    run_rfc(
        &mut decoder_256(),
        &[
            (
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                RESP1,
                222,
            ),
            ("4883 640e ffc1 c0bf", RESP2, 222),
            (
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn errors_are_reported_and_make_state_unknown() {
    let mut d = Decoder::new();
    d.decode(&hex("4003 6162 6303 7878 78")).unwrap(); // abc: xxx inserted
    assert_eq!(d.decode(&hex("80")), Err(HpackError::BadIndex(0)));
    assert!(d.has_unknown_entries());
    // The entry is no longer trusted.
    assert_eq!(d.decode(&hex("be")).unwrap()[0].value, None);

    let mut d = Decoder::new();
    assert_eq!(d.decode(&hex("bf")), Err(HpackError::BadIndex(63)));
    assert_eq!(d.decode(&hex("8220")), Err(HpackError::LateSizeUpdate));
    let mut d = Decoder::new();
    assert!(matches!(
        d.decode(&hex("3fe2 1f")),
        Err(HpackError::SizeUpdateTooLarge { .. })
    ));
    let mut d = Decoder::new();
    assert_eq!(d.decode(&hex("4003 6162")), Err(HpackError::Truncated));
    // Many indexed references to one big entry cannot blow up the output.
    let mut d = Decoder::new();
    let mut block = hex("40 01 61 7f 80 1f"); // name "a", value of 127 + 3968 = 4095 bytes
    let mut block_value = vec![b'v'; 4000];
    block.append(&mut block_value);
    let _ = d.decode(&block);
}

#[test]
fn debug_prints_lengths_only() {
    let mut d = Decoder::new();
    let f = d
        .decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))
        .unwrap();
    let shown = format!("{:?} {d:?}", f[0]);
    assert!(
        !shown.contains("secret") && !shown.contains("password"),
        "{shown}"
    );
}

#[test]
fn size_updates_clear_unknown_state() {
    let mut d = Decoder::new_unknown();
    assert_eq!(d.decode(&hex("be")).unwrap()[0].name, None);
    // Size update to 0 then back: the table is fully known (and empty).
    d.decode(&hex("20 3fe1 1f")).unwrap();
    assert!(!d.has_unknown_entries());
    assert_eq!(d.decode(&hex("be")), Err(HpackError::BadIndex(62)));
}

#[test]
fn literal_with_unknown_name_keeps_value() {
    let mut d = Decoder::new_unknown();
    // Literal with incremental indexing, name from dynamic index 62 (unknown), value "xyz".
    let f = d.decode(&hex("7e 03 78797a")).unwrap();
    assert_eq!(f[0].name, None);
    assert_eq!(f[0].value.as_deref(), Some(&b"xyz"[..]));
    // The new entry is at 62 now, its name still unknown, its value known.
    let f = d.decode(&hex("be")).unwrap();
    assert_eq!(
        (f[0].name.as_deref(), f[0].value.as_deref()),
        (None, Some(&b"xyz"[..]))
    );
    // A fully literal insert resolves exactly. The "xyz" entry's unknown name may be up to a
    // whole table long, so this insert may have evicted it: it becomes unknown.
    d.decode(&hex("40 01 61 01 62")).unwrap();
    let f = d.decode(&hex("be bf c0")).unwrap();
    assert_eq!(
        (f[0].name.as_deref(), f[0].value.as_deref()),
        (Some(&b"a"[..]), Some(&b"b"[..]))
    );
    assert_eq!((f[1].name.as_deref(), f[1].value.as_deref()), (None, None));
    assert_eq!((f[2].name.as_deref(), f[2].value.as_deref()), (None, None));
}

// ---- corpus ----

fn corpus_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpora/hpack"
    ))
    .to_path_buf()
}

struct Case {
    table_size: Option<u32>,
    wire: Vec<u8>,
    headers: Vec<Pair>,
}

/// Every story file that has wire data, as (name, cases).
fn stories() -> Vec<(String, Vec<Case>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("hpack corpus directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("story_"))
            })
            .collect();
        files.sort();
        for file in files {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let mut cases = Vec::new();
            for case in json["cases"].as_array().unwrap() {
                let Some(wire) = case.get("wire").and_then(|w| w.as_str()) else {
                    continue;
                };
                let headers = case["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|h| h.as_object().unwrap().iter())
                    .map(|(n, v)| {
                        (
                            n.as_bytes().to_vec(),
                            v.as_str().unwrap().as_bytes().to_vec(),
                        )
                    })
                    .collect();
                let table_size = case
                    .get("header_table_size")
                    .and_then(serde_json::Value::as_u64)
                    .map(|n| n as u32);
                cases.push(Case {
                    table_size,
                    wire: hex(wire),
                    headers,
                });
            }
            if !cases.is_empty() {
                out.push((file.display().to_string(), cases));
            }
        }
    }
    out
}

#[test]
fn corpus_stories_decode_exactly() {
    let stories = stories();
    let mut cases_checked = 0;
    for (name, cases) in &stories {
        let mut d = Decoder::new();
        for (i, case) in cases.iter().enumerate() {
            if let Some(n) = case.table_size {
                d.set_settings_limit(n);
            }
            let fields = d
                .decode(&case.wire)
                .unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
            assert_eq!(pairs(&fields), case.headers, "{name} case {i}");
            assert!(!d.has_unknown_entries(), "{name} case {i}");
            cases_checked += 1;
        }
    }
    assert!(stories.len() >= 190, "only {} stories", stories.len());
    assert!(cases_checked >= 10_000, "only {cases_checked} cases");
}

/// Counts of fields seen by the unknown-state checks.
#[derive(Default, Debug)]
struct Tally {
    known: usize,
    partly: usize,
    unknown: usize,
    errors: usize,
}

/// Decodes `cases[start..]` with `d`, requiring every field to be exact or `None`.
fn check_after_loss(name: &str, d: &mut Decoder, cases: &[Case], start: usize, tally: &mut Tally) {
    for (i, case) in cases.iter().enumerate().skip(start) {
        if let Some(n) = case.table_size {
            d.set_settings_limit(n);
        }
        let fields = match d.decode(&case.wire) {
            Ok(fields) => fields,
            Err(_) => {
                tally.errors += 1;
                continue;
            }
        };
        assert_eq!(fields.len(), case.headers.len(), "{name} case {i}");
        for (field, (name_want, value_want)) in fields.iter().zip(&case.headers) {
            if let Some(n) = &field.name {
                assert_eq!(&n[..], &name_want[..], "{name} case {i}: wrong name");
            }
            if let Some(v) = &field.value {
                assert_eq!(&v[..], &value_want[..], "{name} case {i}: wrong value");
            }
            match (&field.name, &field.value) {
                (Some(_), Some(_)) => tally.known += 1,
                (None, None) => tally.unknown += 1,
                _ => tally.partly += 1,
            }
        }
    }
}

#[test]
fn unknown_state_never_yields_a_wrong_field() {
    let stories = stories();
    let mut tally = Tally::default();
    for (name, cases) in &stories {
        let n = cases.len();
        for start in [1, 2, 3, n / 3, n / 2, n.saturating_sub(2)] {
            if start == 0 || start >= n {
                continue;
            }
            // Capture started mid-connection.
            check_after_loss(name, &mut Decoder::new_unknown(), cases, start, &mut tally);
            // A block was lost mid-story.
            let mut d = Decoder::new();
            for case in cases.iter().take(start - 1) {
                if let Some(n) = case.table_size {
                    d.set_settings_limit(n);
                }
                d.decode(&case.wire).unwrap();
            }
            d.lose_state();
            check_after_loss(name, &mut d, cases, start, &mut tally);
        }
    }
    // Both paths were exercised, and state recovers: most fields resolve again.
    assert!(tally.unknown > 1000 && tally.partly > 100, "{tally:?}");
    assert!(
        tally.known > 10 * (tally.unknown + tally.partly),
        "{tally:?}"
    );
    assert_eq!(tally.errors, 0, "{tally:?}");
}

#[test]
fn entries_inserted_after_loss_resolve() {
    // For every story: lose state before case k; every field that case k + 1 takes by index from
    // an entry case k inserted must resolve. Check it by re-decoding case k + 1 with a decoder
    // that only saw case k (through an unknown start): whatever it resolves must be exact, and
    // it must resolve at least as much as the static table alone would.
    let stories = stories();
    let mut resolved_dynamic = 0;
    for (_, cases) in &stories {
        if cases.len() < 3 {
            continue;
        }
        let mut d = Decoder::new_unknown();
        d.decode(&cases[1].wire).unwrap();
        let fields = d.decode(&cases[2].wire).unwrap();
        // Compare with a fully informed decoder on what is repeated between cases 1 and 2.
        for (field, want) in fields.iter().zip(&cases[2].headers) {
            if field.is_known() && cases[1].headers.contains(want) {
                resolved_dynamic += 1;
            }
        }
    }
    assert!(resolved_dynamic > 500, "{resolved_dynamic}");
}
