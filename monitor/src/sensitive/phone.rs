//! Phone numbers, conservatively: the E.164 `+` form (`+44 20 7946 0958`, `+1 (415) 555-2671`)
//! and the North American forms (`(415) 555-2671`, `415-555-2671`, `415.555.2671`) anywhere;
//! any other national form or a bare run of digits only where the context names a phone (a
//! field called `phone`, `mobile`...). Bare digit runs, timestamps, ids, versions, prices and
//! hex are otherwise never phones.

/// Digits in an E.164 number (country code included).
const E164_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;
/// Digits of a number written in a field named as a phone.
pub(crate) const CONTEXT_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// Words that name a phone in a field name or just before a value (lower-case).
pub(crate) const CONTEXT_WORDS: &[&[u8]] = &[
    b"phone",
    b"mobile",
    b"msisdn",
    b"tel",
    b"fax",
    b"cell",
    b"whatsapp",
    b"sms_to",
    b"call_to",
];

/// The number starting with the `+` at `text[plus]`: the byte just after it, or `None`. The
/// byte before `plus` must already be known not to glue it to a word.
pub(crate) fn e164(text: &[u8], plus: usize) -> Option<usize> {
    let first = *text.get(plus + 1)?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut digits = 0;
    let mut i = plus + 1;
    let mut last_digit_end = i;
    let mut previous_separator: Option<u8> = None;
    let mut open_paren = false;
    while let Some(&b) = text.get(i) {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if digits > 15 {
                    return None;
                }
                previous_separator = None;
                last_digit_end = i + 1;
            }
            b' ' | b'-' | b'.' => {
                // One separator between groups (`) ` is allowed after an area code).
                if previous_separator.is_some_and(|p| p != b')') {
                    break;
                }
                previous_separator = Some(b);
            }
            b'(' if !open_paren
                && i > plus + 1
                && matches!(previous_separator, None | Some(b' ')) =>
            {
                open_paren = true;
                previous_separator = Some(b);
            }
            b')' if open_paren => {
                open_paren = false;
                previous_separator = Some(b);
            }
            _ => break,
        }
        i += 1;
    }
    // A last group of one digit is a decimal or a version (`+4930123456.7`), not a number.
    let last_group = text[..last_digit_end]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if open_paren || !E164_DIGITS.contains(&digits) || last_group < 2 {
        return None;
    }
    let end = last_digit_end;
    (!glued_after(text, end)).then_some(end)
}

/// `(NXX) NXX-XXXX` (the space optional, `-` or `.` or space before the last four) starting at
/// the `(` at `text[open]`: the byte just after it.
pub(crate) fn parenthesized(text: &[u8], open: usize) -> Option<usize> {
    let t = text.get(open..)?;
    let d = |i: usize| t.get(i).is_some_and(u8::is_ascii_digit);
    let n = |i: usize| t.get(i).is_some_and(|b| (b'2'..=b'9').contains(b));
    if !(n(1) && d(2) && d(3) && t.get(4) == Some(&b')')) {
        return None;
    }
    let mut i = 5;
    if t.get(i) == Some(&b' ') {
        i += 1;
    }
    if !(n(i) && d(i + 1) && d(i + 2) && matches!(t.get(i + 3), Some(b'-' | b'.' | b' '))) {
        return None;
    }
    i += 4;
    if !(d(i) && d(i + 1) && d(i + 2) && d(i + 3)) {
        return None;
    }
    let end = open + i + 4;
    (!glued_after(text, end)).then_some(end)
}

/// North American `NXX-NXX-XXXX` (optionally `1-` first) as digit groups: area code and
/// exchange start with 2-9, and `555-01XX`-style fiction is still a number.
pub(crate) fn nanp(digits: &[u8], groups: &[u8]) -> bool {
    let d = match groups {
        [3, 3, 4] => digits,
        [1, 3, 3, 4] if digits.first() == Some(&1) => &digits[1..],
        _ => return false,
    };
    d.len() == 10 && d[0] >= 2 && d[3] >= 2 && !(d[1] == 1 && d[2] == 1)
}

/// A letter, digit, `_` or `@` right after, or a `.`/`,`/`:`/`-` followed by a digit: the number
/// goes on as something else (a decimal, a version, a time, an id).
pub(crate) fn glued_after(text: &[u8], end: usize) -> bool {
    match text.get(end) {
        Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@') => true,
        Some(b'.' | b':' | b'-' | b'/') => text.get(end + 1).is_some_and(u8::is_ascii_digit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plus(text: &str) -> Option<&str> {
        let at = text.find('+')?;
        e164(text.as_bytes(), at).map(|end| &text[at..end])
    }

    #[test]
    fn e164_forms() {
        assert_eq!(plus("call +44 20 7946 0958 now"), Some("+44 20 7946 0958"));
        assert_eq!(plus("\"+14155552671\""), Some("+14155552671"));
        assert_eq!(plus("+1 (415) 555-2671."), Some("+1 (415) 555-2671"));
        assert_eq!(plus("+33-1-23-45-67-89"), Some("+33-1-23-45-67-89"));
        assert_eq!(plus("2024-01-01T10:00:00+01:00"), None);
        assert_eq!(plus("+12.50 EUR"), None);
        assert_eq!(plus("+0123456789"), None);
        assert_eq!(plus("+1234567890123456789"), None);
        assert_eq!(plus("+4930123456.7"), None);
    }

    #[test]
    fn north_american_forms() {
        let t = b"(415) 555-2671";
        assert_eq!(parenthesized(t, 0), Some(t.len()));
        assert_eq!(parenthesized(b"(415)555-2671", 0), Some(13));
        assert_eq!(parenthesized(b"(015) 555-2671", 0), None);
        assert_eq!(parenthesized(b"(415) 555-26712", 0), None);
        assert!(nanp(&[4, 1, 5, 5, 5, 5, 2, 6, 7, 1], &[3, 3, 4]));
        assert!(!nanp(&[1, 1, 5, 5, 5, 5, 2, 6, 7, 1], &[3, 3, 4]));
        assert!(!nanp(&[4, 1, 5, 5, 5, 5, 2, 6, 7, 1], &[10]));
    }
}
