//! Splits a request target into what may be reported: the path and the query's parameter names.
//!
//! Handles the four request-target forms of RFC 9112 §3.2: origin (`/p?q`), absolute
//! (`http://h/p?q`, sent to proxies), authority (`h:443`, CONNECT) and asterisk (`*`).

use compact_str::CompactString;
use smallvec::SmallVec;

use super::QueryNames;
use crate::ascii_split::{before, split, split_once};

/// Query parameter names reported at most, and their longest length: the names come from
/// traffic, so they are bounded.
const MAX_QUERY_NAMES: usize = 32;
const MAX_QUERY_NAME_LEN: usize = 64;

/// Borrows from the target: only the query names are copied (they are printed).
#[derive(Debug, PartialEq, Eq)]
pub struct SplitTarget<'a> {
    pub path: &'a str,
    /// The authority of an absolute-form or authority-form target.
    pub authority: Option<&'a str>,
    pub query_names: QueryNames,
}

pub fn split_target(target: &str) -> SplitTarget<'_> {
    let (authority, rest) = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(after_scheme) => {
            let end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
            let authority = &after_scheme[..end];
            // Drop any userinfo: it is a credential.
            let host = authority.rsplit('@').next().unwrap_or(authority);
            (Some(host), &after_scheme[end..])
        }
        None if !target.starts_with('/') && target != "*" => {
            // Authority form (CONNECT): the whole target is host:port.
            return SplitTarget {
                path: "",
                authority: Some(target),
                query_names: QueryNames::default(),
            };
        }
        None => (None, target),
    };
    // By byte search (see `ascii_split`).
    let without_fragment = before(rest, b'#');
    let (path, query) = match split_once(without_fragment, b'?') {
        Some((path, query)) => (path, Some(query)),
        None => (without_fragment, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    let query_names = query
        .map(|q| {
            split(q, b'&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| before(pair, b'='))
                .map(|name| CompactString::from(clip_chars(name, MAX_QUERY_NAME_LEN)))
                .take(MAX_QUERY_NAMES)
                .collect()
        })
        .unwrap_or_default();
    SplitTarget {
        path,
        authority,
        query_names,
    }
}

/// The first `max` characters of `text`: a slice, so that the name is copied once at its size.
fn clip_chars(text: &str, max: usize) -> &str {
    // No more characters than bytes: a short name needs no walk through its characters.
    if text.len() <= max {
        return text;
    }
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The path with every segment that looks like a token or secret (what the path templater calls
/// `{token}` or `{long}`), or holds personal or card data (`{email}`, `{redacted}`: a card
/// number, IBAN, phone or SSN), replaced by that placeholder. Ids, UUIDs and words stay as sent: they are
/// what makes a path useful and are not credentials, while a Slack webhook or a signed link carries
/// its secret in the path.
///
/// Returns that path and its template (`rates::path_template` of it: what the rate limits and
/// the inventory group calls by), from one classification of each segment: classifying a segment
/// is most of either's cost, and every call needs both.
pub fn redact_path_and_template(path: &str) -> (CompactString, CompactString) {
    // Gathered, then copied once (see `short_text`): inline up to 24 bytes.
    let mut redacted: SmallVec<[&str; 2 * crate::rates::MAX_SEGMENTS]> = SmallVec::new();
    let mut template: SmallVec<[&str; 2 * crate::rates::MAX_SEGMENTS]> = SmallVec::new();
    let segments = split(path, b'/').filter(|s| !s.is_empty());
    for (n, raw) in segments.enumerate() {
        if n == crate::rates::MAX_SEGMENTS {
            // Over the templater's segment bound: its output is the safe answer (segments past
            // the bound are not classified, so none of them is printed).
            let redacted = crate::rates::path_template(path);
            let template = crate::rates::path_template(&redacted);
            return (redacted, template);
        }
        // The templater sees the redacted segment: a replaced one is classified as the
        // placeholder it became (rare: only secrets and personal data are replaced).
        let classify = crate::rates::classify;
        let (shown, class) = match classify(raw) {
            Some(placeholder @ ("{token}" | "{long}" | "{email}" | "{redacted}")) => {
                (placeholder, classify(placeholder))
            }
            // An id, unless it is a card number.
            Some("{id}") if crate::sensitive::segment_holds_value(raw) => {
                ("{redacted}", classify("{redacted}"))
            }
            class => (raw, class),
        };
        redacted.push("/");
        redacted.push(shown);
        template.push("/");
        template.push(class.unwrap_or(shown));
    }
    if redacted.is_empty() {
        redacted.push("/");
        template.push("/");
    }
    (
        crate::short_text::concat(&redacted),
        crate::short_text::concat(&template),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_path(path: &str) -> CompactString {
        redact_path_and_template(path).0
    }

    #[test]
    fn secrets_in_paths_are_redacted_and_ids_kept() {
        let secret = "XyZ9aB7cD5eF3gH1iJ0kL2mN";
        let redacted = redact_path(&format!("/services/T0123ABCD/B0456EFGH/{secret}"));
        assert!(!redacted.contains(secret), "{redacted}");
        assert!(redacted.ends_with("/{token}"), "{redacted}");
        assert_eq!(
            redact_path("/v1/users/12345/orders"),
            "/v1/users/12345/orders"
        );
        assert_eq!(redact_path("/status/204"), "/status/204");
        assert_eq!(redact_path("/"), "/");
        // Past the templater's segment bound no segment is classified, so none is printed, not
        // even the one right after the bound.
        let seventeen = format!("{}/{secret}", "/a".repeat(16));
        let redacted = redact_path(&seventeen);
        assert!(!redacted.contains(secret), "{redacted}");
    }

    #[test]
    fn the_template_is_the_redacted_paths_template() {
        let secret = "XyZ9aB7cD5eF3gH1iJ0kL2mN";
        let long = format!("{}/{secret}", "/a".repeat(16));
        let sixteen = format!("{}/12345", "/a".repeat(15));
        let paths = [
            "",
            "/",
            "//",
            "/v1/users/12345/orders",
            "/v1/users/550e8400-e29b-41d4-a716-446655440000",
            "/cards/4111111111111111",
            "/users/ada@example.com/profile",
            "/services/T0123ABCD/B0456EFGH/XyZ9aB7cD5eF3gH1iJ0kL2mN",
            "/files/9f8e7d6c5b4a3f2e1d0c/2024-01-31",
            "/v1//ü/%2F/x/",
            "/{token}/{id}/literal-braces",
            &long,
            &sixteen,
        ];
        for path in paths {
            let (redacted, template) = redact_path_and_template(path);
            assert_eq!(template, crate::rates::path_template(&redacted), "{path:?}");
        }
    }

    #[test]
    fn origin_form_keeps_path_and_query_names_only() {
        let split = split_target("/v1/charges?api_key=sk_live_abc&limit=10&flag");
        assert_eq!(split.path, "/v1/charges");
        assert_eq!(split.query_names, vec!["api_key", "limit", "flag"]);
        assert_eq!(split.authority, None);
        let rendered = format!("{split:?}");
        assert!(!rendered.contains("sk_live_abc"), "{rendered}");
    }

    #[test]
    fn absolute_form_drops_userinfo() {
        let split = split_target("http://user:hunter2@api.example.com:8080/x?token=t#frag");
        assert_eq!(split.authority, Some("api.example.com:8080"));
        assert_eq!(split.path, "/x");
        assert_eq!(split.query_names, vec!["token"]);
        assert!(!format!("{split:?}").contains("hunter2"));
    }

    #[test]
    fn authority_and_asterisk_forms() {
        assert_eq!(
            split_target("api.example.com:443").authority,
            Some("api.example.com:443")
        );
        assert_eq!(split_target("*").path, "*");
        assert_eq!(split_target("http://h").path, "/");
    }

    #[test]
    fn hostile_queries_are_bounded() {
        let long = format!(
            "/?{}",
            (0..1000)
                .map(|i| format!("{}{i}=v", "n".repeat(200)))
                .collect::<Vec<_>>()
                .join("&")
        );
        let split = split_target(&long);
        assert_eq!(split.query_names.len(), MAX_QUERY_NAMES);
        assert!(
            split
                .query_names
                .iter()
                .all(|n| n.chars().count() <= MAX_QUERY_NAME_LEN)
        );
    }
}
