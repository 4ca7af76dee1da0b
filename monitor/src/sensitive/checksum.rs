//! The two checksums the detectors rely on: Luhn (payment cards) and ISO 7064 mod-97-10
//! (IBANs).
//!
//! Hand-written on purpose: each is a few lines over a stack buffer of digits that the scanner
//! already extracted, with no allocation and no parsing; the crates that offer them (`luhn`,
//! `iban_validate`) parse strings and allocate, do their own (different) format checks, and
//! would add dependencies for ten lines of arithmetic.

/// Luhn (mod 10) over ASCII digit values `0..=9` (not characters).
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let d = u32::from(d);
        sum += if i % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            d
        };
    }
    sum.is_multiple_of(10)
}

/// ISO 7064 mod 97-10 over an IBAN's characters (upper-case ASCII letters and digits), already
/// stripped of spaces: moves the first four characters to the end, maps letters to 10..=35 and
/// checks that the number is 1 mod 97. Computed piecewise, never as a big number.
pub(crate) fn iban_mod97_valid(chars: &[u8]) -> bool {
    if chars.len() < 5 {
        return false;
    }
    let mut rem = 0u32;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + u32::from(c - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    rem == 1
}

/// A Luhn check digit for `partial` (all digits but the last), for the generated test sets.
#[cfg(test)]
pub(crate) fn luhn_check_digit(partial: &[u8]) -> u8 {
    for d in 0..10 {
        let mut all = partial.to_vec();
        all.push(d);
        if luhn_valid(&all) {
            return d;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid(&digits("79927398713")));
        assert!(!luhn_valid(&digits("79927398710")));
        assert!(luhn_valid(&digits("4539578763621486")));
        assert!(!luhn_valid(&[]));
        assert_eq!(luhn_check_digit(&digits("7992739871")), 3);
    }

    #[test]
    fn mod97_known_values() {
        assert!(iban_mod97_valid(b"GB82WEST12345698765432"));
        assert!(iban_mod97_valid(b"DE89370400440532013000"));
        assert!(!iban_mod97_valid(b"GB82WEST12345698765433"));
        assert!(!iban_mod97_valid(b"GB82"));
        assert!(!iban_mod97_valid(b"GB82west12345698765432"));
    }
}
