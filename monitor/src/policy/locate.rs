//! Finds the line and column of a key or value in the policy text, for semantic errors (an
//! undefined workload, a duplicate id...) that are found after parsing, when positions are gone.
//!
//! It re-reads the document with serde_yaml_ng, walking a path (`destinations[2].workloads[0]`)
//! with a seed that skips everything else and fails on purpose at the target node; serde_yaml_ng
//! attaches the node's position to that error. Using the real parser (not a text search) keeps
//! positions right with flow style, quoting, comments and anchors.
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Message of the deliberate failure, unlikely to appear in a real error.
const MARKER: &str = "\u{0}policy-locate-target\u{0}";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A mapping key, and which occurrence of it (0 = first; later ones are duplicates).
    Key(String, usize),
    Index(usize),
}

/// Where a semantic error is: a path of keys and indexes, ending at a value or at a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct YamlPath {
    segments: Vec<Segment>,
    at_key: bool,
}

impl YamlPath {
    pub(super) fn root() -> Self {
        Self::default()
    }

    /// The value under `key`.
    pub(super) fn key(&self, key: &str) -> Self {
        self.key_nth(key, 0)
    }

    /// The value under the `nth` occurrence of `key` (for duplicate keys).
    pub(super) fn key_nth(&self, key: &str, nth: usize) -> Self {
        let mut path = self.clone();
        path.segments.push(Segment::Key(key.to_owned(), nth));
        path.at_key = false;
        path
    }

    pub(super) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.segments.push(Segment::Index(index));
        path.at_key = false;
        path
    }

    /// Parses serde_yaml_ng's path notation (`destinations[0].workloads`, `.` for the root).
    pub(super) fn from_serde(text: &str) -> Option<Self> {
        let mut path = Self::root();
        if text == "." {
            return Some(path);
        }
        for part in text.split('.') {
            let (key, mut indexes) = match part.find('[') {
                Some(bracket) => (&part[..bracket], &part[bracket..]),
                None => (part, ""),
            };
            if key.is_empty() || key.ends_with('?') {
                return None;
            }
            path = path.key(key);
            while let Some(rest) = indexes.strip_prefix('[') {
                let (index, after) = rest.split_once(']')?;
                path = path.index(index.parse().ok()?);
                indexes = after;
            }
            if !indexes.is_empty() {
                return None;
            }
        }
        Some(path)
    }

    /// The key itself rather than its value (for "this field is not allowed here").
    pub(super) fn the_key(&self) -> Self {
        let mut path = self.clone();
        path.at_key = matches!(path.segments.last(), Some(Segment::Key(..)));
        path
    }
}

/// Line and column (from 1) of `path` in `text`; when the path is not found (which should not
/// happen), the nearest ancestor that is, and at worst the start of the document.
pub(super) fn locate(text: &str, path: &YamlPath) -> (usize, usize) {
    let mut path = path.clone();
    loop {
        if let Some(position) = probe(text, &path) {
            return position;
        }
        if path.at_key {
            path.at_key = false;
        }
        if path.segments.pop().is_none() {
            return (1, 1);
        }
    }
}

fn probe(text: &str, path: &YamlPath) -> Option<(usize, usize)> {
    if path.segments.is_empty() {
        return Some((1, 1));
    }
    let seed = Probe {
        segments: &path.segments,
        at_key: path.at_key,
    };
    let error = seed
        .deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .err()?;
    if !error.to_string().contains(MARKER) {
        return None;
    }
    let location = error.location()?;
    Some(within_text(text, location.line(), location.column()))
}

/// A position serde_yaml_ng reported, moved inside `text`. libyaml puts the end of a text
/// that lacks a final line break at column 1 of the line after it, a line the file does not
/// have (an editor jumping to `file:2:1` of a one-line file finds nothing): such positions, and
/// any other past the end of their line, become the end of the last line / of their line.
/// Lines are counted as YAML counts them (LF, CRLF, CR, NEL, LS, PS); columns in characters.
pub(super) fn within_text(text: &str, line: usize, column: usize) -> (usize, usize) {
    let mut widths = vec![0usize];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                widths.push(0);
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => widths.push(0),
            _ => *widths.last_mut().expect("never empty") += 1,
        }
    }
    let line = line.max(1);
    match widths.get(line - 1) {
        Some(&width) => (line, column.clamp(1, width + 1)),
        None => (widths.len(), widths[widths.len() - 1] + 1),
    }
}

/// Walks to the target node, ignoring everything else.
struct Probe<'p> {
    segments: &'p [Segment],
    at_key: bool,
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Probe<'_> {
    fn hit<E: de::Error>(&self) -> Result<(), E> {
        if self.segments.is_empty() {
            Err(E::custom(MARKER))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.hit()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.hit()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.hit()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.hit()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.hit()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.hit()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.hit()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.hit()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.hit()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!tag value`): the target is the node itself or nothing inside.
        self.hit()?;
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant::<IgnoredAny>(variant).map(|_| ())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.hit()?;
        let Some((Segment::Index(target), rest)) = self.segments.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut index = 0;
        loop {
            let found = if index == *target {
                seq.next_element_seed(Probe {
                    segments: rest,
                    at_key: self.at_key,
                })?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if found.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.hit()?;
        let Some((Segment::Key(target, nth), rest)) = self.segments.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut seen = 0;
        let fail_on_key = rest.is_empty() && self.at_key;
        loop {
            let key = KeySeed {
                target,
                fail: fail_on_key && seen == *nth,
            };
            let Some(is_target) = map.next_key_seed(key)? else {
                return Ok(());
            };
            if is_target && seen == *nth {
                map.next_value_seed(Probe {
                    segments: rest,
                    at_key: self.at_key,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            if is_target {
                seen += 1;
            }
        }
    }
}

/// Reads a mapping key: tells whether it is the target, and fails on it when asked to.
struct KeySeed<'p> {
    target: &'p str,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        let is_target = key == self.target;
        if is_target && self.fail {
            return Err(E::custom(MARKER));
        }
        Ok(is_target)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.visit_str(if v { "true" } else { "false" })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant::<IgnoredAny>(variant).map(|_| false)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    const TEXT: &str = "\
version: 1
workloads:
  a: {command: [x]}
  a:
    uid: [1]
destinations:
  - id: one
    workloads: [a, missing]
  - {id: two, action: deny}
";

    #[test]
    fn finds_values_keys_and_duplicates() {
        let root = YamlPath::root();
        assert_eq!(locate(TEXT, &root.key("version")), (1, 10));
        assert_eq!(
            locate(TEXT, &root.key("workloads").key("a").the_key()),
            (3, 3)
        );
        assert_eq!(
            locate(TEXT, &root.key("workloads").key_nth("a", 1).the_key()),
            (4, 3)
        );
        let dest = root.key("destinations");
        assert_eq!(
            locate(TEXT, &dest.index(0).key("workloads").index(1)),
            (8, 20)
        );
        assert_eq!(locate(TEXT, &dest.index(1).key("action")), (9, 23));
        assert_eq!(locate(TEXT, &dest.index(1)), (9, 5));
        // Not there: the nearest ancestor.
        assert_eq!(locate(TEXT, &dest.index(7).key("id")), (7, 3));
        assert_eq!(locate("", &root.key("x")), (1, 1));
    }

    #[test]
    fn parses_serde_paths() {
        let root = YamlPath::root();
        assert_eq!(YamlPath::from_serde("."), Some(root.clone()));
        assert_eq!(
            YamlPath::from_serde("destinations[0].workloads[2]"),
            Some(root.key("destinations").index(0).key("workloads").index(2))
        );
        assert_eq!(
            YamlPath::from_serde("a[1][2]"),
            Some(root.key("a").index(1).index(2))
        );
        assert_eq!(YamlPath::from_serde("a?"), None);
        assert_eq!(YamlPath::from_serde("a[x]"), None);
    }

    #[test]
    fn positions_past_the_end_move_inside() {
        // Found by `cargo xtask fuzz` (policy): `---` without a final newline was reported at
        // line 2, column 1 of a one-line document.
        let errors = crate::policy::Policy::from_yaml("---").unwrap_err().errors;
        assert_eq!((errors[0].line, errors[0].column), (1, 4));
        assert_eq!(within_text("a: 1", 2, 1), (1, 5));
        assert_eq!(within_text("a: 1\n", 2, 1), (2, 1));
        assert_eq!(within_text("a\r\nbc\rd\u{2028}é", 4, 9), (4, 2));
        assert_eq!(within_text("ab", 1, 7), (1, 3));
        assert_eq!(within_text("", 0, 0), (1, 1));
    }
}
