//! The public entry point: [`Detector::scan`] walks a request (headers, target, body sample),
//! routes each part to the right detector, and merges what they find into deduplicated,
//! exportable [`Finding`]s. Owns the routing, the settings and the per-request dedup; knows
//! nothing about individual formats.
use super::{
    body::{self, BodyDecoding, BodyKind},
    candidate::{Candidate, Candidates, Rank},
    entropy::Context,
    error::DetectorError,
    finding::{CredentialKind, Finding, Location},
    fingerprint::Fingerprinter,
    generic,
    headers::{self, API_KEY_HEADERS, AUTHORIZATION_HEADERS},
    query::{self, SECRET_PARAMETERS},
    recent::{Held, Recent},
    scanner::{MAX_TEXT, TextScanner},
};
use smallvec::smallvec;
use std::borrow::Cow;

use crate::{
    ascii_case::str_eq_lowercase,
    protocols::{NameSet, RequestView},
};

/// Most headers examined per request.
const MAX_HEADERS: usize = 256;
/// Longest header value or target examined.
const MAX_FIELD: usize = 8 * 1024;
/// Most findings reported per request.
const MAX_FINDINGS: usize = 64;
/// Longest header or parameter name copied into a [`Location`].
const MAX_NAME: usize = 64;
/// Sets of the header memo (two entries each): more distinct header fields than a host's
/// clients repeat between two of their calls.
const HEADER_MEMO_SETS: usize = 1024;
/// Most findings one remembered field holds (nearly every field holds none or one), so that
/// the memo's 2,048 entries hold at most 8,192 findings (about 2 MiB with their names and
/// prefixes) whatever the traffic. A field with more is scanned every time.
const MAX_REMEMBERED_FINDINGS: usize = 4;

/// What the detector found in one header field, remembered: the findings and their ranks
/// (none for a clean field).
type HeaderOutcome = Box<[(Finding, Rank)]>;

/// Deployment-specific additions to the built-in name lists.
#[derive(Clone, Debug, Default)]
pub struct DetectorSettings {
    /// Extra header names (case-insensitive) whose value is an API key.
    pub extra_api_key_headers: Vec<String>,
    /// Extra query parameter names (case-insensitive) whose value is a secret.
    pub extra_query_parameters: Vec<String>,
}

/// Finds credentials in requests. Built once, shared between threads (`Send + Sync`).
pub struct Detector {
    scanner: TextScanner,
    fingerprinter: Fingerprinter,
    /// Recent header fields (name and value) and what was found in them. A client sends the
    /// same `Authorization`, `User-Agent` and `Accept` on every call, and both ends of a call
    /// between two traced processes carry the same fields; scanning a field costs more than
    /// its keyed tag. Findings that depend on the time (a JWT's expiry) are not remembered.
    header_memo: Recent<HeaderOutcome>,
    authorization_headers: NameSet,
    api_key_headers: NameSet,
    secret_parameters: Vec<String>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("api_key_headers", &self.api_key_headers)
            .field("secret_parameters", &self.secret_parameters)
            .finish_non_exhaustive()
    }
}

impl Detector {
    pub fn new(
        settings: &DetectorSettings,
        fingerprinter: Fingerprinter,
    ) -> Result<Self, DetectorError> {
        for name in &settings.extra_api_key_headers {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid {
                return Err(DetectorError::InvalidHeaderName { name: name.clone() });
            }
        }
        let api_key_headers = NameSet::new(
            API_KEY_HEADERS
                .iter()
                .copied()
                .chain(settings.extra_api_key_headers.iter().map(String::as_str)),
        );
        let mut secret_parameters: Vec<String> =
            SECRET_PARAMETERS.iter().map(|s| (*s).to_owned()).collect();
        for name in &settings.extra_query_parameters {
            if name.is_empty()
                || name
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b"&=#".contains(&b))
            {
                return Err(DetectorError::InvalidParameterName { name: name.clone() });
            }
            secret_parameters.push(name.to_ascii_lowercase());
        }
        let header_memo = Recent::new(
            fingerprinter.memory_key(b"monitor header memo key"),
            HEADER_MEMO_SETS,
        );
        Ok(Self {
            scanner: TextScanner::new()?,
            fingerprinter,
            header_memo,
            authorization_headers: NameSet::new(AUTHORIZATION_HEADERS.iter().copied()),
            api_key_headers,
            secret_parameters,
        })
    }

    /// Every credential in the request: headers (HTTP/2 pseudo-headers too), target (path and
    /// query), and the body sample (the first bytes of the body).
    pub fn scan(&self, request: RequestView<'_>, now_unix_secs: u64) -> Vec<Finding> {
        self.scan_request(request, now_unix_secs).0
    }

    /// As [`Self::scan`], and how the body was decoded (for the decoding counters).
    pub fn scan_request(
        &self,
        request: RequestView<'_>,
        now_unix_secs: u64,
    ) -> (Vec<Finding>, Option<BodyDecoding>) {
        let mut acc = Accumulator::new(&self.fingerprinter);
        let mut content_type = None;
        let mut content_encoding = None;
        let mut memo = self.header_memo.lock();
        for header in request.headers.iter().take(MAX_HEADERS) {
            if str_eq_lowercase(header.name, "content-type") {
                content_type = Some(header.value);
            } else if str_eq_lowercase(header.name, "content-encoding") {
                content_encoding = Some(header.value);
            }
            self.header(
                header.name,
                header.value,
                now_unix_secs,
                memo.as_mut(),
                &mut acc,
            );
        }
        drop(memo);
        self.target(
            request.target.as_bytes(),
            request.host,
            now_unix_secs,
            &mut acc,
        );
        let (body, decoding) = body::decode(request.body_sample, content_encoding);
        self.body(
            &body,
            body::kind_from_content_type(content_type),
            now_unix_secs,
            &mut acc,
        );
        (acc.finish(), decoding)
    }

    /// Same on a bare string, interpreted according to `location`: a header value (routed by
    /// header name), a decoded query value (routed by parameter name), a path, or a body.
    pub fn scan_text(&self, text: &[u8], location: Location, now_unix_secs: u64) -> Vec<Finding> {
        let mut acc = Accumulator::new(&self.fingerprinter);
        let text = &text[..text.len().min(MAX_TEXT)];
        match &location {
            Location::Header { name } => self.header(name, text, now_unix_secs, None, &mut acc),
            Location::Query { parameter } => {
                self.parameter(
                    parameter.as_bytes(),
                    text,
                    || location.clone(),
                    now_unix_secs,
                    &mut acc,
                );
            }
            Location::Path => {
                acc.extend(&mut self.scanner.scan(text, now_unix_secs), &Location::Path)
            }
            Location::Body => self.body(text, BodyKind::Other, now_unix_secs, &mut acc),
        }
        acc.finish()
    }

    /// One header field, through the header memo when there is one (`None`: the memo is
    /// busy on another thread, or the caller scans a bare value): a field seen recently is not
    /// scanned again, and what it held is added as it was found.
    fn header(
        &self,
        name: &str,
        value: &[u8],
        now: u64,
        memo: Option<&mut Held<'_, HeaderOutcome>>,
        acc: &mut Accumulator<'_>,
    ) {
        let value = &value[..value.len().min(MAX_FIELD)];
        let mut memo = memo.map(|memo| (memo, self.header_memo.tag(&[name.as_bytes(), value])));
        if let Some((memo, tag)) = memo.as_mut()
            && let Some(outcome) = memo.get(*tag)
        {
            for (finding, rank) in outcome.iter() {
                acc.add(&finding.fingerprint, *rank, || finding.clone());
            }
            return;
        }
        let mut found = self.header_candidates(name, value, now);
        if found.is_empty() {
            if let Some((memo, tag)) = memo {
                memo.put(tag, Box::default());
            }
            return;
        }
        let location = Location::Header {
            name: self.header_name(name, now),
        };
        let remember =
            found.len() <= MAX_REMEMBERED_FINDINGS && found.iter().all(|c| c.jwt.is_none());
        let Some((memo, tag)) = memo.filter(|_| remember) else {
            acc.extend(&mut found, &location);
            return;
        };
        // Every candidate's finding, not only those this request keeps: another request may
        // carry this field without the ones that outranked it here.
        let outcome: Vec<(Finding, Rank)> = found
            .drain(..)
            .filter(|c| !c.secret.is_empty())
            .map(|c| {
                let rank = c.rank;
                (acc.finding(c, &location), rank)
            })
            .collect();
        for (finding, rank) in &outcome {
            acc.add(&finding.fingerprint, *rank, || finding.clone());
        }
        memo.put(tag, outcome.into_boxed_slice());
    }

    /// Header fields in the memo, for tests that it is used.
    #[cfg(test)]
    pub(crate) fn remembered_header_fields(&self) -> usize {
        self.header_memo.len()
    }

    /// What one header field holds, routed by the header's name. The header memo relies on
    /// this depending on `now` only through a JWT's facts (its expiry): anything else that
    /// came to depend on the time would have to keep its findings out of the memo too.
    fn header_candidates<'a>(&self, name: &str, value: &'a [u8], now: u64) -> Candidates<'a> {
        // Sets bucketed by length, compared without a lower-cased copy: this runs for every
        // header of every request.
        if self.authorization_headers.contains(name) {
            headers::authorization(&self.scanner, value, false, now)
        } else if self.api_key_headers.contains(name) {
            headers::api_key(&self.scanner, value, now)
        } else if str_eq_lowercase(name, "cookie") {
            headers::cookies(&self.scanner, value, now)
        } else {
            self.scanner.scan(value, now)
        }
    }

    /// [`Self::safe_name`] of a header name, lower-cased. A name on the detector's own lists
    /// (lower-case, and what nearly every finding is under) is borrowed from the list: no copy
    /// per finding, and none per candidate when the location is cloned.
    fn header_name(&self, name: &str, now: u64) -> Cow<'static, str> {
        let lists: [&'static [&'static str]; 4] = [
            AUTHORIZATION_HEADERS,
            API_KEY_HEADERS,
            SECRET_PARAMETERS,
            &["cookie"],
        ];
        match lists
            .iter()
            .copied()
            .flatten()
            .find(|n| str_eq_lowercase(name, n))
        {
            Some(listed) => Cow::Borrowed(listed),
            None => Cow::Owned(self.safe_name(name.to_ascii_lowercase().as_bytes(), now)),
        }
    }

    fn target(&self, target: &[u8], host: Option<&str>, now: u64, acc: &mut Accumulator<'_>) {
        let target = &target[..target.len().min(MAX_FIELD)];
        let (path, query) = query::split_target(target);
        let mut path = query::percent_decode(path, false);
        // Requests *to* a Slack webhook carry the secret in the path.
        if host.is_some_and(|h| h.trim().eq_ignore_ascii_case("hooks.slack.com")) {
            let mut full = b"hooks.slack.com".to_vec();
            full.extend_from_slice(&path);
            path = full.into();
        }
        acc.extend(&mut self.scanner.scan(&path, now), &Location::Path);
        if let Some(query) = query {
            for (name, value) in query::pairs(query) {
                let location = || Location::Query {
                    parameter: self.safe_name(&name, now),
                };
                self.parameter(&name, &value, location, now, acc);
            }
        }
    }

    /// One decoded `name=value` pair of a query string or form body. `location` is made only
    /// when something is found (it copies the name).
    fn parameter(
        &self,
        name: &[u8],
        value: &[u8],
        location: impl Fn() -> Location,
        now: u64,
        acc: &mut Accumulator<'_>,
    ) {
        // Listed names, and names the generic vocabulary calls strong (`user[password]`,
        // `j_password`, `new_password`, `db_pwd`): a login form's fields.
        let named = self
            .secret_parameters
            .iter()
            .any(|p| p.as_bytes().eq_ignore_ascii_case(name))
            || (mentions_a_secret_word(name)
                && generic::classify_name(name) == Some(Context::Strong));
        if !named {
            // A neutral parameter: scan its name (a bare `?ghp_...`) and its value as text.
            let mut found = self.scanner.scan_formats(name, now);
            if !found.is_empty() {
                acc.extend(&mut found, &location());
            }
            let mut found = self.scanner.scan(value, now);
            if !found.is_empty() {
                acc.extend(&mut found, &location());
            }
            return;
        }
        let mut found: Candidates<'_> = self.scanner.scan(value, now);
        found.retain(|c| c.rank >= Rank::Scheme);
        if !found.is_empty() {
            acc.extend(&mut found, &location());
        } else if query::plausible_value(value) {
            let c = Candidate::new(
                CredentialKind::QueryParameterSecret,
                value.trim_ascii(),
                Rank::Named,
            );
            acc.extend(&mut smallvec![c], &location());
        }
    }

    fn body(&self, sample: &[u8], kind: BodyKind, now: u64, acc: &mut Accumulator<'_>) {
        let sample = &sample[..sample.len().min(body::MAX_BODY_SCAN)];
        match kind {
            BodyKind::Form => {
                for (name, value) in query::pairs(sample) {
                    self.parameter(&name, &value, || Location::Body, now, acc);
                }
            }
            BodyKind::Other => {
                let view = body::text_view(sample);
                acc.extend(&mut self.scanner.scan(&view, now), &Location::Body);
            }
        }
    }

    /// A header or parameter name fit for export: short, printable, and not itself a secret
    /// (`?ghp_...` with no value puts the token in the name).
    fn safe_name(&self, name: &[u8], now: u64) -> String {
        // The names the detector routes on are words, not secrets: no scan needed.
        let known = |list: &[&str]| list.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if known(AUTHORIZATION_HEADERS) || known(API_KEY_HEADERS) || known(SECRET_PARAMETERS) {
            return String::from_utf8_lossy(name).into_owned();
        }
        let printable = name.iter().all(|b| b.is_ascii_graphic());
        if name.len() > MAX_NAME
            || !printable
            || !self.scanner.scan(name, now).is_empty()
            || looks_random(name)
        {
            return "<redacted>".to_owned();
        }
        String::from_utf8_lossy(name).into_owned()
    }
}

/// Whether a name contains one of the generic vocabulary's keywords: the allocation-free test
/// that spares most parameters (`page`, `limit`) the full classification.
fn mentions_a_secret_word(name: &[u8]) -> bool {
    generic::GENERIC_KEYWORDS.iter().any(|k| {
        name.windows(k.len())
            .any(|w| w.eq_ignore_ascii_case(k.as_bytes()))
    })
}

/// Names are words; a long name with high entropy and digits is more likely a token.
fn looks_random(name: &[u8]) -> bool {
    name.len() >= 20
        && name.iter().any(u8::is_ascii_digit)
        && super::entropy::shannon_entropy(name) >= 3.8
}

/// Merges candidates into findings, one per distinct secret (by fingerprint), keeping the
/// highest-ranked description of each.
/// Findings are few (at most `MAX_FINDINGS`, nearly always 0 or 1), so a linear search by
/// fingerprint beats a hash map that would cost an allocation and a key copy per request.
/// The ranks sit beside the findings, not in them, so that `finish` hands the findings over
/// without collecting them into a second `Vec`.
struct Accumulator<'a> {
    fingerprinter: &'a Fingerprinter,
    findings: Vec<Finding>,
    ranks: [Rank; MAX_FINDINGS],
}

impl<'a> Accumulator<'a> {
    fn new(fingerprinter: &'a Fingerprinter) -> Self {
        Self {
            fingerprinter,
            findings: Vec::new(),
            ranks: [Rank::Generic; MAX_FINDINGS],
        }
    }

    /// Takes the candidates out of `candidates`, which is borrowed rather than moved: a
    /// [`Candidates`] holds its first ones inline, and is usually empty.
    fn extend(&mut self, candidates: &mut Candidates<'_>, location: &Location) {
        for c in candidates.drain(..) {
            if c.secret.is_empty() {
                continue;
            }
            // Compared on the stack; a `String` is made only for a finding that is kept.
            let fingerprint = self.fingerprinter.hex(&c.secret);
            let rank = c.rank;
            self.add(fingerprint.as_str(), rank, || {
                Self::finding_with(c, location, fingerprint.as_str())
            });
        }
    }

    /// The finding a candidate makes at `location` (which the candidate does not outlive).
    fn finding(&self, c: Candidate<'_>, location: &Location) -> Finding {
        let fingerprint = self.fingerprinter.hex(&c.secret);
        Self::finding_with(c, location, fingerprint.as_str())
    }

    fn finding_with(c: Candidate<'_>, location: &Location, fingerprint: &str) -> Finding {
        Finding {
            kind: c.kind,
            location: location.clone(),
            length: c.secret.len(),
            prefix: c.prefix.map(str::to_owned),
            fingerprint: fingerprint.into(),
            jwt: c.jwt,
        }
    }

    /// Keeps a finding unless one with its fingerprint and an equal or higher rank is already
    /// kept; `finding` is made only when it is.
    fn add(&mut self, fingerprint: &str, rank: Rank, finding: impl FnOnce() -> Finding) {
        let seen = self
            .findings
            .iter()
            .position(|f| f.fingerprint == fingerprint);
        let slot = match seen {
            Some(i) if rank > self.ranks[i] => i,
            Some(_) => return,
            None if self.findings.len() < MAX_FINDINGS => self.findings.len(),
            None => return,
        };
        let finding = finding();
        if slot == self.findings.len() {
            self.findings.push(finding);
        } else {
            self.findings[slot] = finding;
        }
        self.ranks[slot] = rank;
    }

    fn finish(self) -> Vec<Finding> {
        self.findings
    }
}

#[cfg(test)]
mod listed_names {
    use super::*;

    #[test]
    fn listed_names_are_lower_case_as_header_locations_print_them() {
        // `header_name` prints a listed name as the list spells it, in place of the
        // lower-cased name it was found under.
        for name in [AUTHORIZATION_HEADERS, API_KEY_HEADERS, SECRET_PARAMETERS]
            .into_iter()
            .flatten()
        {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
    }
}
