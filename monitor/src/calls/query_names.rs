//! [`QueryNames`]: the names (never the values) of a request's query parameters, as a call
//! reports them.
//!
//! Most API calls carry none or a couple, so the list is inline up to [`INLINE`] names: a `Vec`
//! was one heap allocation per call more, and each name is inline up to 24 bytes (a
//! `CompactString`): a `String` was one more per name. It serialises exactly as a `Vec<String>`
//! did.

use std::fmt;

use compact_str::CompactString;
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

/// Names held without an allocation of the list.
const INLINE: usize = 2;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct QueryNames(SmallVec<[CompactString; INLINE]>);

impl std::ops::Deref for QueryNames {
    type Target = [CompactString];
    fn deref(&self) -> &[CompactString] {
        &self.0
    }
}

impl std::ops::DerefMut for QueryNames {
    fn deref_mut(&mut self) -> &mut [CompactString] {
        &mut self.0
    }
}

impl<'a> IntoIterator for &'a QueryNames {
    type Item = &'a CompactString;
    type IntoIter = std::slice::Iter<'a, CompactString>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut QueryNames {
    type Item = &'a mut CompactString;
    type IntoIter = std::slice::IterMut<'a, CompactString>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl FromIterator<CompactString> for QueryNames {
    fn from_iter<I: IntoIterator<Item = CompactString>>(names: I) -> Self {
        Self(names.into_iter().collect())
    }
}

impl FromIterator<String> for QueryNames {
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> Self {
        Self(names.into_iter().map(CompactString::from).collect())
    }
}

/// Compared with a plain list of names (as tests write them).
impl PartialEq<Vec<&str>> for QueryNames {
    fn eq(&self, other: &Vec<&str>) -> bool {
        self.0
            .iter()
            .map(CompactString::as_str)
            .eq(other.iter().copied())
    }
}

/// Printed as a list, as the `Vec` was.
impl fmt::Debug for QueryNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl Serialize for QueryNames {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(CompactString::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_and_compares_as_a_list_of_names() {
        let names: QueryNames = ["a", "b", "c"].map(String::from).into_iter().collect();
        assert_eq!(serde_json::to_string(&names).unwrap(), r#"["a","b","c"]"#);
        assert_eq!(serde_json::to_string(&QueryNames::default()).unwrap(), "[]");
        assert_eq!(names, vec!["a", "b", "c"]);
        assert_eq!(format!("{names:?}"), r#"["a", "b", "c"]"#);
    }
}
