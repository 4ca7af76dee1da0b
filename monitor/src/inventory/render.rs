//! `monitor inventory`'s table: one line per endpoint, columns sized to their contents.
//!
//! Fields come from traffic (hosts, paths, workload names), so control characters are replaced
//! before printing: a crafted `Host` header must not be able to drive the reader's terminal.
use std::fmt::Write as _;

use super::{InventoryEntry, InventorySnapshot};

const HEADINGS: [&str; 13] = [
    "DIRECTION",
    "WORKLOAD",
    "HOST",
    "METHOD",
    "PATH",
    "CALLS",
    "RESPONSES",
    "AUTH",
    "CREDENTIALS",
    "TLS",
    "PEERS",
    "LAST SEEN",
    "NOTE",
];

/// Columns aligned to the right (numbers).
const NUMERIC: [usize; 2] = [5, 10];

/// The table, a summary line last.
pub fn render_table(snap: &InventorySnapshot) -> String {
    let rows: Vec<[String; 13]> = snap.entries.iter().map(row).collect();
    let mut widths = HEADINGS.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_line(&mut out, &HEADINGS.map(String::from), &widths);
    for row in &rows {
        push_line(&mut out, row, &widths);
    }
    let _ = writeln!(
        out,
        "{} endpoint{}, {} forgotten because the inventory was full; generated at {}",
        snap.entries.len(),
        if snap.entries.len() == 1 { "" } else { "s" },
        snap.evicted,
        printable(&snap.generated_at),
    );
    out
}

fn push_line(out: &mut String, cells: &[String; 13], widths: &[usize; 13]) {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = width.saturating_sub(cell.chars().count());
        if NUMERIC.contains(&i) {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        } else {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn row(e: &InventoryEntry) -> [String; 13] {
    let or_dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
    let responses: Vec<String> = e
        .responses
        .nonzero()
        .map(|(class, n)| format!("{class}:{n}"))
        .collect();
    let auth: Vec<&str> = e.auth_schemes.iter().map(|s| s.as_str()).collect();
    let tls = match (e.tls_calls, e.plaintext_calls) {
        (_, 0) => "yes".to_owned(),
        (0, _) => "no".to_owned(),
        (t, p) => format!("{t}/{}", t + p),
    };
    [
        e.direction.as_str().to_owned(),
        or_dash(printable(&e.workload)),
        or_dash(printable(&e.host)),
        or_dash(printable(&e.method)),
        or_dash(printable(&e.path_template)),
        e.calls.to_string(),
        or_dash(responses.join(" ")),
        or_dash(auth.join(",")),
        or_dash(printable(&e.credential_kinds.join(","))),
        tls,
        format!("{}{}", e.peers, if e.peers_capped { "+" } else { "" }),
        printable(&e.last_seen),
        if e.unauthenticated_external {
            "unauthenticated external clients".to_owned()
        } else {
            String::new()
        },
    ]
}

/// `s` with control characters replaced by `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        inventory::{AuthScheme, ResponseCounts},
        protocols::CallDirection,
    };

    fn entry() -> InventoryEntry {
        InventoryEntry {
            direction: CallDirection::Outbound,
            workload: "/usr/bin/curl@host".into(),
            host: "api.stripe.com".into(),
            method: "POST".into(),
            path_template: "/v1/charges".into(),
            first_seen: "2023-11-14T22:13:20Z".into(),
            last_seen: "2023-11-14T22:13:25Z".into(),
            calls: 12,
            responses: ResponseCounts {
                success: 11,
                client_error: 1,
                ..ResponseCounts::default()
            },
            auth_schemes: vec![AuthScheme::Bearer],
            credential_kinds: vec!["stripe_key".into()],
            tls_calls: 12,
            plaintext_calls: 0,
            peers: 1,
            peers_capped: false,
            unauthenticated_external: false,
        }
    }

    #[test]
    fn prints_a_small_snapshot() {
        let snap = InventorySnapshot {
            generated_at: "2023-11-14T22:13:30Z".into(),
            entries: vec![
                entry(),
                InventoryEntry {
                    direction: CallDirection::Inbound,
                    workload: "/srv/api@3f2a".into(),
                    host: String::new(),
                    method: "GET".into(),
                    path_template: "/health".into(),
                    calls: 3,
                    responses: ResponseCounts {
                        success: 2,
                        none: 1,
                        ..ResponseCounts::default()
                    },
                    auth_schemes: vec![AuthScheme::None],
                    credential_kinds: Vec::new(),
                    tls_calls: 1,
                    plaintext_calls: 2,
                    peers: 256,
                    peers_capped: true,
                    unauthenticated_external: true,
                    ..entry()
                },
            ],
            evicted: 4,
        };
        let expected = "\
DIRECTION  WORKLOAD            HOST            METHOD  PATH         CALLS  RESPONSES     AUTH    CREDENTIALS  TLS  PEERS  LAST SEEN             NOTE
outbound   /usr/bin/curl@host  api.stripe.com  POST    /v1/charges     12  2xx:11 4xx:1  bearer  stripe_key   yes      1  2023-11-14T22:13:25Z
inbound    /srv/api@3f2a       -               GET     /health          3  2xx:2 none:1  none    -            1/3   256+  2023-11-14T22:13:25Z  unauthenticated external clients
2 endpoints, 4 forgotten because the inventory was full; generated at 2023-11-14T22:13:30Z
";
        assert_eq!(render_table(&snap), expected);
    }

    #[test]
    fn control_characters_are_not_printed() {
        let snap = InventorySnapshot {
            entries: vec![InventoryEntry {
                host: "evil\u{1b}[2Jhost".into(),
                ..entry()
            }],
            ..InventorySnapshot::default()
        };
        let table = render_table(&snap);
        assert!(!table.contains('\u{1b}'));
        assert!(table.contains("evil?[2Jhost"));
        assert!(table.contains("1 endpoint, 0 forgotten"));
    }
}
