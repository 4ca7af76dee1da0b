//! The internal, not-yet-exported form of a finding. Owns the only type that holds raw secret
//! bytes, and keeps them out of `Debug`.
//!
//! Detectors produce [`Candidate`]s; the detector turns them into [`super::Finding`]s (length,
//! prefix, fingerprint) and drops the bytes. A candidate never leaves this module tree.
//!
//! A candidate borrows its secret from the scanned text where it can (only decoded secrets,
//! such as `Basic` credentials, own theirs), and a text's candidates are kept inline: the usual
//! request yields none or one, and then costs no allocation before its finding is made.
use std::{borrow::Cow, fmt, ops::Range};

use smallvec::SmallVec;

use super::finding::{CredentialKind, JwtFacts};

/// The candidates found in one text. Two inline: a token and the generic assignment around it
/// are resolved to one without spilling to the heap.
pub(crate) type Candidates<'a> = SmallVec<[Candidate<'a>; 2]>;

/// How much a detection can be trusted to name the right kind. When two detections cover the
/// same secret, the higher rank wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// A `secret = value` assignment judged by entropy.
    Generic,
    /// The name of a header, cookie or parameter says it is a secret.
    Named,
    /// An authentication scheme (`Basic`, `Bearer`, `Digest`, SigV4, URL credentials).
    Scheme,
    /// A documented token format (`AKIA...`, `ghp_...`, a JWT, a PEM key).
    Format,
}

pub(crate) struct Candidate<'a> {
    pub kind: CredentialKind,
    /// The secret itself (decoded where the wire form is an encoding, as for `Basic`).
    pub secret: Cow<'a, [u8]>,
    /// Where the secret's text lies in the scanned text, when it is a slice of it.
    pub span: Option<Range<usize>>,
    /// A public format marker; always a static string so it cannot carry secret bytes.
    pub prefix: Option<&'static str>,
    pub jwt: Option<JwtFacts>,
    pub rank: Rank,
}

impl<'a> Candidate<'a> {
    /// `secret` is a slice of the scanned text (borrowed) or a decoded copy (owned).
    pub(crate) fn new(kind: CredentialKind, secret: impl Into<Cow<'a, [u8]>>, rank: Rank) -> Self {
        Self {
            kind,
            secret: secret.into(),
            span: None,
            prefix: None,
            jwt: None,
            rank,
        }
    }

    pub(crate) fn with_span(mut self, span: Range<usize>) -> Self {
        self.span = Some(span);
        self
    }

    pub(crate) fn with_prefix(mut self, prefix: Option<&'static str>) -> Self {
        self.prefix = prefix;
        self
    }

    pub(crate) fn with_jwt(mut self, jwt: Option<JwtFacts>) -> Self {
        self.jwt = jwt;
        self
    }
}

impl fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("kind", &self.kind)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .field("span", &self.span)
            .field("prefix", &self.prefix)
            .field("rank", &self.rank)
            .finish()
    }
}

/// Drops candidates that overlap a higher-ranked one in the same text (a generic
/// `api_key = sk_live_...` assignment under a Stripe key), and exact duplicates. In place: no
/// second list.
pub(crate) fn resolve_overlaps(found: &mut Candidates<'_>) {
    // Highest rank first, then longest, then leftmost: keep a candidate only if it does not
    // overlap one already kept. The kept ones gather at the front, in that order.
    found.sort_by(|a, b| {
        b.rank
            .cmp(&a.rank)
            .then_with(|| span_len(b).cmp(&span_len(a)))
            .then_with(|| span_start(a).cmp(&span_start(b)))
    });
    let mut kept = 0;
    for i in 0..found.len() {
        let c = &found[i];
        let clash = found[..kept].iter().any(|k| match (&k.span, &c.span) {
            (Some(a), Some(b)) => a.start < b.end && b.start < a.end,
            _ => k.secret == c.secret,
        });
        if !clash {
            found.swap(kept, i);
            kept += 1;
        }
    }
    found.truncate(kept);
    found.sort_by_key(span_start);
}

fn span_len(c: &Candidate) -> usize {
    c.span.as_ref().map_or(c.secret.len(), |s| s.len())
}

fn span_start(c: &Candidate) -> usize {
    c.span.as_ref().map_or(usize::MAX, |s| s.start)
}
