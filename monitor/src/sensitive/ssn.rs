//! US Social Security numbers: the number rules (area not 000, 666 or 900-999; group not 00;
//! serial not 0000) and the written forms. `123-45-6789` is taken anywhere; nine bare digits
//! (or space-separated groups) only where the context names an SSN, since nine digits alone are
//! as likely an id, a ZIP+4 or a phone number.

/// The SSN rules on nine digit values (0..=9).
pub(crate) fn valid(digits: &[u8]) -> bool {
    let [a1, a2, a3, g1, g2, s1, s2, s3, s4] = digits else {
        return false;
    };
    let area = u16::from(*a1) * 100 + u16::from(*a2) * 10 + u16::from(*a3);
    let group = u16::from(*g1) * 10 + u16::from(*g2);
    let serial = [s1, s2, s3, s4]
        .iter()
        .fold(0u16, |acc, &&d| acc * 10 + u16::from(d));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
        // The number the SSA itself voided after it was printed on a wallet insert.
        && !(area == 78 && group == 5 && serial == 1120)
        && !(area == 219 && group == 9 && serial == 9999)
}

/// Words that name an SSN in a field name or just before a value (lower-case).
pub(crate) const CONTEXT_WORDS: &[&[u8]] = &[
    b"ssn",
    b"social_security",
    b"socialsecurity",
    b"social security",
    b"social-security",
    b"tax_id",
    b"taxpayer",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    #[test]
    fn area_group_serial_rules() {
        assert!(valid(&d("123-45-6789")));
        assert!(valid(&d("899-99-9999")));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
        ] {
            assert!(!valid(&d(bad)), "{bad}");
        }
        assert!(!valid(&d("12345678")));
    }
}
