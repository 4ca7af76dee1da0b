//! The inventory's key, direction × workload × host × method × path template, owned (stored once
//! per endpoint) or borrowed (every lookup).
//!
//! Lookups happen for every call, so they must not allocate: the table is probed with borrowed
//! strings through the [`KeyParts`] trait object, which hashes and compares exactly like the
//! owned [`EndpointKey`] (the `Borrow` contract), as `rates/inventory.rs` does for its pairs.
//! Every text part is cut to [`MAX_FIELD_BYTES`] before both, so that traffic (a huge `Host`
//! header) cannot make one entry large; paths are templates already and stay well under it.
use std::{
    borrow::Borrow,
    hash::{Hash, Hasher},
    sync::Arc,
};

use crate::protocols::CallDirection;

/// Longest workload, host, method or path template kept, in bytes (cut at a char boundary).
pub(crate) const MAX_FIELD_BYTES: usize = 1024;

/// `s` cut to at most `max` bytes, at a char boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The parts of a key, already clipped.
pub(crate) type Parts<'a> = (CallDirection, &'a str, &'a str, &'a str, &'a str);

/// An owned key, stored once per endpoint.
#[derive(Debug)]
pub(crate) struct EndpointKey {
    pub(crate) direction: CallDirection,
    pub(crate) workload: Box<str>,
    pub(crate) host: Box<str>,
    pub(crate) method: Box<str>,
    pub(crate) path_template: Box<str>,
}

impl EndpointKey {
    pub(crate) fn new(parts: Parts<'_>) -> Self {
        let (direction, workload, host, method, path_template) = parts;
        Self {
            direction,
            workload: workload.into(),
            host: host.into(),
            method: method.into(),
            path_template: path_template.into(),
        }
    }
}

/// A key, owned or borrowed; hashing and equality go through `parts`.
pub(crate) trait KeyParts {
    fn parts(&self) -> Parts<'_>;
}

impl KeyParts for EndpointKey {
    fn parts(&self) -> Parts<'_> {
        (
            self.direction,
            &self.workload,
            &self.host,
            &self.method,
            &self.path_template,
        )
    }
}

impl KeyParts for Parts<'_> {
    fn parts(&self) -> Parts<'_> {
        *self
    }
}

impl Hash for dyn KeyParts + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyParts + '_ {}

impl Hash for EndpointKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyParts).hash(state);
    }
}

impl PartialEq for EndpointKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for EndpointKey {}

impl<'a> Borrow<dyn KeyParts + 'a> for Arc<EndpointKey> {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        &**self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_a_char_boundary() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 3), "abc");
        // "é" is two bytes: cutting inside it backs off to before it.
        assert_eq!(clip("aé", 2), "a");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn owned_and_borrowed_keys_agree() {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher as _;
        let parts: Parts<'_> = (CallDirection::Inbound, "w", "h", "GET", "/x");
        let owned = Arc::new(EndpointKey::new(parts));
        let state = RandomState::new();
        let borrowed: &dyn KeyParts = Borrow::borrow(&owned);
        assert_eq!(
            state.hash_one(borrowed),
            state.hash_one(&parts as &dyn KeyParts)
        );
        assert!(borrowed == &parts as &dyn KeyParts);
        let other: Parts<'_> = (CallDirection::Outbound, "w", "h", "GET", "/x");
        assert!(borrowed != &other as &dyn KeyParts);
    }
}
