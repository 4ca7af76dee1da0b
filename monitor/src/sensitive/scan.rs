//! The single pass over one text (a path, a parameter value, a header value, a body sample):
//! walks the bytes once, and only where a byte can start a value (a digit, `@`, `+`, `(`, an
//! upper-case letter at a word start) asks the kind's own check. Digit runs are read as tokens
//! (digit groups joined by one consistent separator) onto the stack, and routed by their shape:
//! `3-2-4` to the SSN rules, 12-19 digits in card groupings to the card rules, `3-3-4` to the
//! North American phone rules. Nothing is allocated here.
//!
//! Context (is this a field named `ssn`, `phone`...?) comes from the field's name when there
//! is one, else from the few bytes before the value (a JSON key, a form name, "SSN:" in
//! text), matched by an Aho-Corasick automaton over the context words.
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{
    budget::Budget,
    card::{self, CardFacts},
    email,
    error::SensitiveError,
    iban,
    kind::{KindSet, SensitiveKind},
    phone, ssn,
};

/// Most digits and groups of one numeric token; longer runs are no kind we know.
const MAX_DIGITS: usize = 24;
const MAX_GROUPS: usize = 8;
/// Bytes before a value searched for a context word.
const LOOKBACK: usize = 40;

/// Bytes skipped at once when none of them can start a value.
const CHUNK: usize = 32;

/// A byte that can start a value: a digit, `@`, `+`, `(` or an upper-case letter. All lie in
/// `(`..=`Z` (0x28..=0x5A), which a vector compare tests (a superset: `,` `:` `.` also pass and
/// are sorted out by [`STARTS`]).
fn may_start(b: u8) -> bool {
    b.wrapping_sub(b'(') <= b'Z' - b'('
}

/// The bytes that can start a value, exactly.
static STARTS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, b'@' | b'+' | b'(');
        b += 1;
    }
    table
};

/// One value found: its kind, and for a card what a finding may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub kind: SensitiveKind,
    pub card: Option<CardFacts>,
}

/// What the name of a field (or the text just before a value) says it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Context {
    pub ssn: bool,
    pub phone: bool,
}

impl Context {
    fn or(self, other: Context) -> Context {
        Context {
            ssn: self.ssn || other.ssn,
            phone: self.phone || other.phone,
        }
    }
}

pub(crate) struct TextScanner {
    /// The context words; pattern `i` is an SSN word when `i < ssn_words`.
    context: AhoCorasick,
    ssn_words: usize,
}

/// A letter, digit, `_`, `@` or `+` just before, or a `.`/`-` glued to a word or number: the
/// digits belong to something else (an id, a decimal, a version, an address).
fn glued_before(text: &[u8], start: usize) -> bool {
    let Some(&prev) = start.checked_sub(1).and_then(|i| text.get(i)) else {
        return false;
    };
    match prev {
        b if b.is_ascii_alphanumeric() => true,
        b'_' | b'@' | b'+' | b'\\' => true,
        b'.' | b'-' => start
            .checked_sub(2)
            .and_then(|i| text.get(i))
            .is_some_and(u8::is_ascii_alphanumeric),
        _ => false,
    }
}

impl TextScanner {
    pub(crate) fn new() -> Result<Self, SensitiveError> {
        let words: Vec<&[u8]> = ssn::CONTEXT_WORDS
            .iter()
            .chain(phone::CONTEXT_WORDS)
            .copied()
            .collect();
        let context = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&words)
            .map_err(|source| SensitiveError::Pattern {
                name: "context words",
                source: Box::new(source),
            })?;
        Ok(Self {
            context,
            ssn_words: ssn::CONTEXT_WORDS.len(),
        })
    }

    /// What a field name says (a query parameter, a form field, a header).
    pub(crate) fn context_of(&self, name: &[u8]) -> Context {
        let mut context = Context::default();
        for m in self.context.find_iter(name) {
            if m.pattern().as_usize() < self.ssn_words {
                context.ssn = true;
            } else {
                context.phone = true;
            }
        }
        context
    }

    /// The context from the name just before `start`: the last word before the value, past
    /// quotes, `:` and `=` (`"ssn": "`, `phone=`, `SSN: `). Only that word counts: a
    /// `Phone:` earlier in a sentence says nothing about a date further on.
    fn lookback(&self, text: &[u8], start: usize) -> Context {
        let window = &text[start.saturating_sub(LOOKBACK)..start];
        let trimmed = window.len()
            - window
                .iter()
                .rev()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'"' | b'\'' | b':' | b'=' | b'#'))
                .count();
        let window = &window[..trimmed];
        let word_start = window
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
            .map_or(0, |i| i + 1);
        if word_start == window.len() {
            return Context::default();
        }
        self.context_of(&window[word_start..])
    }

    /// Every value of the `kinds` in `text`, reported to `hit`. `field` is what the field's name
    /// says. Stops when the budget's candidates run out (the budget records the cut).
    pub(crate) fn scan(
        &self,
        text: &[u8],
        field: &[u8],
        kinds: KindSet,
        budget: &mut Budget,
        hit: &mut impl FnMut(Hit),
    ) {
        let n = text.len();
        let mut i = 0;
        // Bytes before `dense_until` are read one by one (the last chunk test found a
        // candidate byte among them); past it, the next chunk is tested first.
        let mut dense_until = 0;
        while i < n {
            if i >= dense_until {
                // Skip whole chunks holding no byte that can start a value: text, spaces,
                // quotes and braces, most of a JSON body, cost a few vector compares per 32
                // bytes.
                while let Some(chunk) = text
                    .get(i..i + CHUNK)
                    .and_then(|c| <&[u8; CHUNK]>::try_from(c).ok())
                    && !chunk.iter().fold(false, |any, &b| any | may_start(b))
                {
                    i += CHUNK;
                }
                dense_until = i + CHUNK;
            }
            let Some(&b) = text.get(i) else {
                break;
            };
            if !STARTS[usize::from(b)] {
                i += 1;
                continue;
            }
            if b.is_ascii_digit() {
                match self.number(text, i, field, kinds, budget, hit) {
                    Some(end) => {
                        i = end;
                        continue;
                    }
                    None => return,
                }
            }
            let found = match b {
                b'@' if kinds.contains(SensitiveKind::Email) => {
                    if !budget.take_candidate() {
                        return;
                    }
                    email::around(text, i).map(|(_, end)| (SensitiveKind::Email, end))
                }
                b'+' if kinds.contains(SensitiveKind::Phone)
                    && text.get(i + 1).is_some_and(u8::is_ascii_digit)
                    && !glued_before(text, i) =>
                {
                    if !budget.take_candidate() {
                        return;
                    }
                    phone::e164(text, i).map(|end| (SensitiveKind::Phone, end))
                }
                b'(' if kinds.contains(SensitiveKind::Phone)
                    && text.get(i + 1).is_some_and(u8::is_ascii_digit)
                    && !glued_before(text, i) =>
                {
                    if !budget.take_candidate() {
                        return;
                    }
                    phone::parenthesized(text, i).map(|end| (SensitiveKind::Phone, end))
                }
                b'A'..=b'Z'
                    if kinds.contains(SensitiveKind::Iban)
                        && text.get(i + 1).is_some_and(u8::is_ascii_uppercase)
                        && text.get(i + 2).is_some_and(u8::is_ascii_digit)
                        && text.get(i + 3).is_some_and(u8::is_ascii_digit)
                        && (i == 0 || !text[i - 1].is_ascii_alphanumeric()) =>
                {
                    if !budget.take_candidate() {
                        return;
                    }
                    iban::at(text, i).map(|len| (SensitiveKind::Iban, i + len))
                }
                _ => None,
            };
            match found {
                Some((kind, end)) => {
                    hit(Hit { kind, card: None });
                    i = end.max(i + 1);
                }
                None => i += 1,
            }
        }
    }

    /// The numeric token starting at `text[start]`: reports what it is, returns where it ends
    /// (`None`: the candidate budget ran out).
    fn number(
        &self,
        text: &[u8],
        start: usize,
        field: &[u8],
        kinds: KindSet,
        budget: &mut Budget,
        hit: &mut impl FnMut(Hit),
    ) -> Option<usize> {
        let n = text.len();
        // Most digit runs are short numbers standing alone (a quantity, a year, an id part):
        // out before anything is copied.
        let run_end = text[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(n, |k| start + k);
        let continues_grouped = matches!(text.get(run_end), Some(b' ' | b'-' | b'.'))
            && text.get(run_end + 1).is_some_and(u8::is_ascii_digit);
        if run_end - start < 7 && !continues_grouped {
            return Some(run_end);
        }
        let mut digits = [0u8; MAX_DIGITS];
        let mut groups = [0u8; MAX_GROUPS];
        let (mut nd, mut ng) = (0usize, 0usize);
        let mut separator: Option<u8> = None;
        let mut i = start;
        loop {
            let group_start = i;
            while i < n && text[i].is_ascii_digit() {
                if nd < MAX_DIGITS {
                    digits[nd] = text[i] - b'0';
                }
                nd += 1;
                i += 1;
            }
            if ng < MAX_GROUPS {
                groups[ng] = u8::try_from(i - group_start).unwrap_or(u8::MAX);
            }
            ng += 1;
            let next = text.get(i).copied();
            let continues = matches!(next, Some(b' ' | b'-' | b'.'))
                && text.get(i + 1).is_some_and(u8::is_ascii_digit)
                && separator.is_none_or(|s| Some(s) == next);
            if !continues {
                break;
            }
            separator = next;
            i += 1;
        }
        let end = i;
        // Too short for any kind, too long, or part of a longer word or number.
        if !(7..=MAX_DIGITS).contains(&nd) || ng > MAX_GROUPS {
            return Some(end);
        }
        if glued_before(text, start) || phone::glued_after(text, end) {
            return Some(end);
        }
        if !budget.take_candidate() {
            return None;
        }
        let (d, g) = (&digits[..nd], &groups[..ng]);
        let mut context = None;
        let mut context = || {
            *context.get_or_insert_with(|| self.context_of(field).or(self.lookback(text, start)))
        };
        let kind =
            if kinds.contains(SensitiveKind::UsSsn) && g == [3, 2, 4] && separator == Some(b'-') {
                // The SSN shape: an SSN or nothing.
                ssn::valid(d).then_some((SensitiveKind::UsSsn, None))
            } else if kinds.contains(SensitiveKind::UsSsn)
                && (g == [9] || (g == [3, 2, 4] && separator == Some(b' ')))
                && context().ssn
                && ssn::valid(d)
            {
                Some((SensitiveKind::UsSsn, None))
            } else if let Some(facts) = (kinds.contains(SensitiveKind::Card)
                && separator != Some(b'.'))
            .then(|| card::check(d, g))
            .flatten()
            {
                Some((SensitiveKind::Card, Some(facts)))
            } else if kinds.contains(SensitiveKind::Phone)
                && ((matches!(separator, Some(b'-' | b'.')) && phone::nanp(d, g))
                    || (phone::CONTEXT_DIGITS.contains(&nd) && context().phone))
            {
                Some((SensitiveKind::Phone, None))
            } else {
                None
            };
        if let Some((kind, card)) = kind {
            hit(Hit { kind, card });
        }
        Some(end)
    }
}
