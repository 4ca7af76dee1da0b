//! IBANs (ISO 13616): the country length table and the check. A candidate is a two-letter
//! country code, two check digits and the BBAN, upper-case, written in one run or in groups of
//! four separated by single spaces; it is an IBAN when its length is the country's and the
//! mod-97 check holds.
use super::checksum::iban_mod97_valid;

/// IBAN lengths by country (SWIFT IBAN registry), sorted by code for a binary search.
const LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// Longest IBAN of any country.
pub(crate) const MAX_LEN: usize = 34;

pub(crate) fn country_length(code: [u8; 2]) -> Option<usize> {
    LENGTHS
        .binary_search_by(|(c, _)| c.as_slice().cmp(code.as_slice()))
        .ok()
        .map(|i| usize::from(LENGTHS[i].1))
}

/// An IBAN starting at `text[start]` (its country code): returns the bytes it spans, or `None`.
/// The character before `start` must already be known not to be alphanumeric.
pub(crate) fn at(text: &[u8], start: usize) -> Option<usize> {
    let head = text.get(start..start + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let len = country_length([head[0], head[1]])?;
    let mut chars = [0u8; MAX_LEN];
    let mut n = 0;
    let mut i = start;
    // `None` until the fifth character tells whether groups of four are spaced.
    let mut grouped: Option<bool> = None;
    while n < len {
        if n > 0 && n % 4 == 0 {
            let spaced = text.get(i) == Some(&b' ');
            match grouped {
                None => grouped = Some(spaced),
                Some(g) if g != spaced => return None,
                Some(_) => {}
            }
            if spaced {
                i += 1;
            }
        }
        let b = *text.get(i)?;
        if !(b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        chars[n] = b;
        n += 1;
        i += 1;
    }
    // The IBAN must end here: no letter or digit glued to it.
    if text.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    iban_mod97_valid(&chars[..n]).then_some(i - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(LENGTHS.iter().all(|(_, l)| usize::from(*l) <= MAX_LEN));
    }

    #[test]
    fn finds_ibans_in_both_forms() {
        assert_eq!(at(b"DE89370400440532013000", 0), Some(22));
        assert_eq!(at(b"x GB82 WEST 1234 5698 7654 32.", 2), Some(27));
        assert_eq!(at(b"DE89370400440532013001", 0), None);
        assert_eq!(at(b"DE893704004405320130001", 0), None);
        assert_eq!(at(b"DE8937040044053201300", 0), None);
        assert_eq!(at(b"GB82 WEST12345698765432", 0), None);
        assert_eq!(at(b"ZZ89370400440532013000", 0), None);
        assert_eq!(at(b"DE", 0), None);
    }
}
