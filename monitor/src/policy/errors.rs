//! Errors of a broken policy document, as `monitor policy check` prints them: one per line,
//! `line L, column C: message (hint: ...)`. Also turns serde_yaml_ng errors into that shape
//! (dropping its own "at line X column Y" text, adding "did you mean" hints) and holds the
//! edit-distance helper used for every suggestion.
use std::fmt;

/// One problem in a policy document. Lines and columns start at 1.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in a policy document, sorted by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyErrors {
    pub errors: Vec<PolicyError>,
}

impl PolicyErrors {
    pub(super) fn new(mut errors: Vec<PolicyError>) -> Self {
        errors.sort();
        errors.dedup();
        Self { errors }
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// Separates a message from its hint inside a serde custom error (see `values.rs`): serde only
/// carries a string, and the hint must survive the trip through serde_yaml_ng.
pub(super) const HINT_SEPARATOR: char = '\u{1f}';

/// A serde custom-error message carrying a hint.
pub(super) fn with_hint(message: impl fmt::Display, hint: impl fmt::Display) -> String {
    format!("{message}{HINT_SEPARATOR}{hint}")
}

/// Turns a serde_yaml_ng error (syntax, type, unknown field, or a newtype's validation) into a
/// [`PolicyError`] with a hint where one helps.
pub(super) fn from_yaml_error(error: &serde_yaml_ng::Error) -> PolicyError {
    let (line, column) = error
        .location()
        .map_or((1, 1), |at| (at.line().max(1), at.column().max(1)));
    let text = strip_positions(&error.to_string());
    let (message, hint) = match text.split_once(HINT_SEPARATOR) {
        Some((message, hint)) => (message.to_owned(), Some(hint.to_owned())),
        None => {
            let hint = hint_for(&text);
            (text, hint)
        }
    };
    PolicyError {
        line,
        column,
        message,
        hint,
    }
}

/// For serde's "duplicate field" error, which points at the start of the mapping: the path of
/// that mapping (serde_yaml_ng's notation) and the field, to point at the second key instead.
pub(super) fn duplicate_field(error: &PolicyError) -> Option<(&str, &str)> {
    let start = error.message.find("duplicate field `")?;
    let field = error.message[start..].split('`').nth(1)?;
    let path = match error.message[..start].strip_suffix(": ") {
        Some(path) => path,
        None if start == 0 => ".",
        None => return None,
    };
    Some((path, field))
}

/// Removes serde_yaml_ng's " at line X column Y" / " at position N" fragments: the position is
/// printed in front instead.
fn strip_positions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" at ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        match position_len(after) {
            Some(len) => rest = &after[len..],
            None => {
                out.push_str(" at ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Length of a leading `line N column M` or `position N`, if `text` starts with one.
fn position_len(text: &str) -> Option<usize> {
    fn number(text: &str) -> usize {
        text.bytes().take_while(u8::is_ascii_digit).count()
    }
    if let Some(rest) = text.strip_prefix("line ") {
        let n = number(rest);
        let rest = rest[n..].strip_prefix(" column ")?;
        let m = number(rest);
        (n > 0 && m > 0).then_some(5 + n + 8 + m)
    } else if let Some(rest) = text.strip_prefix("position ") {
        let n = number(rest);
        (n > 0).then_some(9 + n)
    } else {
        None
    }
}

/// Fields that moved or that people expect from other tools, with where to look instead.
const MOVED_FIELDS: &[(&str, &str)] = &[
    (
        "in_plaintext",
        "the severity of a credential sent in plaintext is `transport.with_credential_severity`",
    ),
    (
        "apiVersion",
        "this document is the ConfigMap's data, not a Kubernetes object; start it with `version: 1`",
    ),
    (
        "kind",
        "this document is the ConfigMap's data, not a Kubernetes object; start it with `version: 1`",
    ),
    (
        "namespace",
        "select pods by namespace under `k8s`: `k8s: {namespace: [payments]}`",
    ),
    (
        "labels",
        "select pods by labels under `k8s`: `k8s: {labels: {matchLabels: {app: web}}}`",
    ),
    (
        "<<",
        "YAML merge keys are not supported; repeat the fields (anchors and aliases of whole values work)",
    ),
    (
        "rules",
        "rules are grouped by kind: `destinations`, `transport`, `credentials`, `rate_limits`",
    ),
];

/// A hint for a serde message: "did you mean" for unknown fields and variants, and a few
/// explanations for common type mistakes.
fn hint_for(message: &str) -> Option<String> {
    for marker in ["unknown field `", "unknown variant `"] {
        if let Some(start) = message.find(marker) {
            let quoted: Vec<&str> = message[start..].split('`').skip(1).step_by(2).collect();
            let (word, candidates) = quoted.split_first()?;
            if let Some((_, hint)) = MOVED_FIELDS.iter().find(|(field, _)| field == word) {
                return Some((*hint).to_owned());
            }
            // Without a close match the message already lists the candidates.
            return did_you_mean(word, candidates.iter().copied())
                .map(|best| format!("did you mean `{best}`?"));
        }
    }
    if message.contains("expected a sequence") {
        return Some("write a YAML list, e.g. `[a, b]` or one `- item` per line".to_owned());
    }
    if message.contains("invalid type: unit value") {
        return Some("the value is empty; give one or remove the key".to_owned());
    }
    if message.contains("missing field `version`") {
        return Some("start the document with `version: 1`".to_owned());
    }
    if message.contains("more than one document") {
        return Some("a policy is one YAML document; remove the `---` separators".to_owned());
    }
    if message.contains("expected u16") {
        return Some("ports are 1 to 65535".to_owned());
    }
    if message.contains("expected u32") {
        return Some("a whole number from 0 to 4294967295".to_owned());
    }
    if message.contains("found character that cannot start any token") {
        return Some("YAML indentation uses spaces, not tabs; quote values that start with `@` or a backquote".to_owned());
    }
    if let Some(start) = message.find("duplicate field `") {
        let field = message[start..].split('`').nth(1).unwrap_or_default();
        return Some(format!("remove or merge one of the two `{field}` keys"));
    }
    if message.contains("did not find expected key") {
        return Some("check the indentation: the keys of one mapping must line up".to_owned());
    }
    if message.contains("mapping values are not allowed") {
        return Some(
            "a value contains `: `; quote it, or check the indentation of the line".to_owned(),
        );
    }
    None
}

/// The candidate closest to `word` if it is close enough to be a typo.
pub(super) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&word, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= limit)
        // Ties go to the first name in order, not in the caller's order: candidates often come
        // from a hash map, and the same policy must always give the same hint (found by the
        // `policy` fuzz target, which loads every input twice).
        .min_by_key(|&(distance, candidate)| (distance, candidate))
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance (with adjacent transpositions counted as one edit).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = (0..=b.len()).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("comand", "command"), 1);
        assert_eq!(edit_distance("hsots", "hosts"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            did_you_mean("exectuable", ["command", "executable"]),
            Some("executable")
        );
        assert_eq!(did_you_mean("zzz", ["command", "executable"]), None);
        // Equally close names: the same answer whatever order they come in.
        assert_eq!(did_you_mean("f", ["b", "a"]), Some("a"));
        assert_eq!(did_you_mean("f", ["a", "b"]), Some("a"));
    }

    #[test]
    fn positions_are_stripped() {
        assert_eq!(
            strip_positions("a: bad at line 3 column 7, while parsing at line 1 column 1"),
            "a: bad, while parsing"
        );
        assert_eq!(strip_positions("look at this"), "look at this");
        assert_eq!(strip_positions("x at position 12"), "x");
    }
}
