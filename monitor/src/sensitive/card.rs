//! Payment card numbers (PANs): the issuer ranges (IIN) and lengths per brand, the accepted
//! digit groupings, Luhn, and the rejection of test-looking runs. Input is the digits the
//! scanner extracted (values 0..=9) and the group lengths it saw; output is the brand and the
//! last four digits, the most a finding may keep.
use super::{checksum::luhn_valid, kind::CardBrand};

/// What a finding may keep of a card: brand and last four digits (PCI DSS allows at most the
/// first six and last four; we keep only the last four).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CardFacts {
    pub brand: CardBrand,
    pub last4: [u8; 4],
}

/// The leading `n` digits as a number (n <= 6).
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
}

/// Brand from the IIN and length (ranges as published by the networks; co-branded ranges go
/// to the network that routes them: 622126-622925 is Discover's).
pub(crate) fn brand(digits: &[u8]) -> Option<CardBrand> {
    let len = digits.len();
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    let brand = if p1 == 4 {
        matches!(len, 13 | 16 | 19).then_some(CardBrand::Visa)?
    } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        (len == 16).then_some(CardBrand::Mastercard)?
    } else if p2 == 34 || p2 == 37 {
        (len == 15).then_some(CardBrand::Amex)?
    } else if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6)
    {
        (16..=19).contains(&len).then_some(CardBrand::Discover)?
    } else if (3528..=3589).contains(&p4) {
        (16..=19).contains(&len).then_some(CardBrand::Jcb)?
    } else if (300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39) {
        (14..=19).contains(&len).then_some(CardBrand::Diners)?
    } else if p2 == 62 || p2 == 81 {
        (16..=19).contains(&len).then_some(CardBrand::Unionpay)?
    } else if matches!(
        p4,
        5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
    ) {
        (12..=19).contains(&len).then_some(CardBrand::Maestro)?
    } else {
        return None;
    };
    Some(brand)
}

/// Test-looking runs no real card has: one digit repeated, or a counting sequence
/// (`1234567890123456`, either direction).
fn looks_fake(digits: &[u8]) -> bool {
    let Some((&first, rest)) = digits.split_first() else {
        return true;
    };
    let all_same = rest.iter().all(|&d| d == first);
    let up = digits.windows(2).all(|w| w[1] == (w[0] + 1) % 10);
    let down = digits.windows(2).all(|w| w[0] == (w[1] + 1) % 10);
    // A body of one repeated digit after the IIN (4000 0000 0000 0002-style) is a test number
    // too: more than 10 of the same digit in a row.
    let longest_repeat = digits
        .chunk_by(|a, b| a == b)
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    all_same || up || down || longest_repeat > 10
}

/// The groupings people and forms write cards in: one run; 4-4-4-4(-3) and its shorter last
/// group (13-19 digits); Amex 4-6-5; Diners 4-6-4.
pub(crate) fn grouping_ok(groups: &[u8]) -> bool {
    match groups {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [first @ .., last] if first.len() >= 3 => {
            first.iter().all(|&g| g == 4) && (1..=4).contains(last)
        }
        _ => false,
    }
}

/// A card, if `digits` (12 to 19 of them, written in `groups`) is one.
pub(crate) fn check(digits: &[u8], groups: &[u8]) -> Option<CardFacts> {
    if !(12..=19).contains(&digits.len()) || !grouping_ok(groups) || looks_fake(digits) {
        return None;
    }
    let brand = brand(digits)?;
    if !luhn_valid(digits) {
        return None;
    }
    let n = digits.len();
    let mut last4 = [0u8; 4];
    for (slot, d) in last4.iter_mut().zip(&digits[n - 4..]) {
        *slot = b'0' + d;
    }
    Some(CardFacts { brand, last4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    #[test]
    fn brands_and_lengths() {
        let cases = [
            ("4539578763621486", Some(CardBrand::Visa)),
            ("5555555555554444", Some(CardBrand::Mastercard)),
            ("2223003122003222", Some(CardBrand::Mastercard)),
            ("378282246310005", Some(CardBrand::Amex)),
            ("6011111111111117", Some(CardBrand::Discover)),
            ("3530111333300000", Some(CardBrand::Jcb)),
            ("36227206271667", Some(CardBrand::Diners)),
            ("6200000000000005", Some(CardBrand::Unionpay)),
            ("6759649826438453", Some(CardBrand::Maestro)),
            ("1234567812345670", None),
            ("45395787636214", None), // Visa with 14 digits
        ];
        for (number, expected) in cases {
            assert_eq!(brand(&digits(number)), expected, "{number}");
        }
    }

    #[test]
    fn luhn_grouping_and_fakes() {
        let d = digits("4539578763621486");
        let facts = check(&d, &[16]).expect("a valid Visa");
        assert_eq!(facts.last4, *b"1486");
        assert!(check(&d, &[4, 4, 4, 4]).is_some());
        assert!(check(&d, &[4, 4, 8]).is_none());
        assert!(check(&digits("4539578763621487"), &[16]).is_none());
        assert!(check(&digits("4444444444444448"), &[16]).is_none());
        assert!(check(&digits("4000000000000002"), &[16]).is_none());
        assert!(check(&digits("378282246310005"), &[4, 6, 5]).is_some());
    }
}
