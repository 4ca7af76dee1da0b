//! Does one URL path segment hold card or personal data? For the path templater and the API
//! call's printed path, which must never carry a value: both ask here (stateless, cheap: a
//! segment with fewer than seven digits and no `@` is answered at once).
use super::{card, email, iban};

/// The segment (already percent-decoded) is, or holds, a card number, an IBAN, an e-mail
/// address or a number written with separators (`4539-5787-...`, `+1 415 555 2671`,
/// `123-45-6789`). Plain digit runs are answered only for cards (Luhn and issuer range): the
/// templater already calls them `{id}` and an id must stay printable.
pub(crate) fn holds_value(segment: &str) -> bool {
    let s = segment.as_bytes();
    if let Some(at) = memchr::memchr(b'@', s)
        && email::around(s, at).is_some()
    {
        return true;
    }
    let digits = s.iter().filter(|b| b.is_ascii_digit()).count();
    if digits < 7 {
        return false;
    }
    if iban::at(s, 0).is_some() {
        return true;
    }
    let written_number = s
        .iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'+' | b'(' | b')'));
    if !written_number {
        return false;
    }
    if digits == s.len() {
        if s.len() > 19 {
            return false;
        }
        let mut values = [0u8; 19];
        for (v, b) in values.iter_mut().zip(s) {
            *v = b - b'0';
        }
        let len = s.len() as u8; // at most 19
        return card::check(&values[..s.len()], &[len]).is_some();
    }
    // Separated digits: a `+` number of eight digits or more (E.164), else nine or more (an
    // SSN has nine): dates (`2024-05-01`, eight) and versions stay.
    if s.first() == Some(&b'+') {
        digits >= 8
    } else {
        digits >= 9
    }
}

#[cfg(test)]
mod tests {
    use super::holds_value;

    #[test]
    fn values_and_ids() {
        for yes in [
            "4539578763621486",
            "4539-5787-6362-1486",
            "+14155552671",
            "123-45-6789",
            "ada@example.com",
            "DE89370400440532013000",
        ] {
            assert!(holds_value(yes), "{yes}");
        }
        for no in [
            "12345",
            "1234567890",
            "v1.2.3",
            "orders",
            "2024-05-01",
            "a@b",
        ] {
            assert!(!holds_value(no), "{no}");
        }
    }
}
