//! [`NameSet`]: a fixed set of header (or parameter) names, matched without regard to ASCII
//! case. The detectors ask "is this one of our names?" for every header of every call, against
//! lists of up to fifty names; a linear `eq_ignore_ascii_case` scan over such a list was about
//! 1.5k instructions per call (issue 14). Bucketed by length, a name is compared only with the
//! set's names of the same length: usually none, at most a handful.
use crate::ascii_case::str_eq_lowercase;

/// Names longer than this are kept in the last bucket (compared like any other, just together).
const MAX_BUCKETED_LEN: usize = 32;

#[derive(Clone, Default)]
pub struct NameSet {
    /// `by_len[n]`: the set's names of `n` bytes, lower-cased; the last bucket holds the longer.
    by_len: Vec<Vec<Box<str>>>,
}

impl NameSet {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_len: Vec<Vec<Box<str>>> = vec![Vec::new(); MAX_BUCKETED_LEN + 2];
        for name in names {
            let bucket = &mut by_len[name.len().min(MAX_BUCKETED_LEN + 1)];
            let name = name.to_ascii_lowercase();
            if !bucket.iter().any(|n| **n == *name) {
                bucket.push(name.into());
            }
        }
        Self { by_len }
    }

    /// The set's own spelling (lower-case) of `name`, if it holds it.
    pub fn get(&self, name: &str) -> Option<&str> {
        // The first byte, folded, picks the names worth a whole comparison: a bucket holds up
        // to a handful of names of one length, and most share no first letter with `name`.
        let first = name.as_bytes().first().map(u8::to_ascii_lowercase);
        self.by_len
            .get(name.len().min(MAX_BUCKETED_LEN + 1))?
            .iter()
            .find(|n| n.as_bytes().first() == first.as_ref() && str_eq_lowercase(name, n))
            .map(|n| &**n)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.by_len.iter().flatten().map(|n| &**n)
    }
}

impl std::fmt::Debug for NameSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exactly_the_names_whatever_their_case() {
        let long = "x".repeat(MAX_BUCKETED_LEN + 5);
        let longer = "x".repeat(MAX_BUCKETED_LEN + 6);
        let set = NameSet::new(["Authorization", "x-api-key", "te", "", long.as_str()]);
        for name in [
            "authorization",
            "AUTHORIZATION",
            "X-Api-Key",
            "TE",
            "",
            &long,
        ] {
            assert!(set.contains(name), "{name}");
        }
        for name in [
            "authorizatio",
            "authorizationx",
            "x-api-ke",
            "t",
            "tee",
            &longer,
        ] {
            assert!(!set.contains(name), "{name}");
        }
        assert_eq!(set.get("X-API-KEY"), Some("x-api-key"));
        assert_eq!(set.iter().count(), 5);
    }

    #[test]
    fn agrees_with_a_linear_scan_on_every_prefix_of_its_names() {
        let names = [
            "accept",
            "accept-encoding",
            "content-type",
            "etag",
            "date",
            "host",
            "x-b3-spanid",
        ];
        let set = NameSet::new(names);
        for name in names {
            for end in 0..=name.len() {
                for probe in [&name[..end], &name[..end].to_ascii_uppercase()] {
                    let linear = names.iter().any(|n| n.eq_ignore_ascii_case(probe));
                    assert_eq!(set.contains(probe), linear, "{probe}");
                }
            }
        }
    }
}
