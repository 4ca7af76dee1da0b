//! The kinds of sensitive data the detectors know, the card brands, and where in an exchange a
//! value was found. Owns the names these have in the policy, alerts, metrics and API calls, so
//! that every place spells them the same way (and label values stay a fixed set).
use serde::Serialize;

/// One kind of sensitive data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveKind {
    /// A payment card number (PAN): Luhn-valid, in a known issuer range and length.
    Card,
    /// An IBAN with a valid country length and mod-97 check digits.
    Iban,
    /// A US Social Security number with valid area, group and serial.
    UsSsn,
    Email,
    Phone,
}

impl SensitiveKind {
    pub const ALL: [SensitiveKind; 5] = [
        SensitiveKind::Card,
        SensitiveKind::Iban,
        SensitiveKind::UsSsn,
        SensitiveKind::Email,
        SensitiveKind::Phone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Iban => "iban",
            Self::UsSsn => "us_ssn",
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Bit of this kind in a [`KindSet`].
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of kinds (which kinds the policy cares about), as a bit set: copied freely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KindSet(u8);

impl KindSet {
    pub const EMPTY: KindSet = KindSet(0);

    pub fn all() -> Self {
        Self::ALL_KINDS
    }

    const ALL_KINDS: KindSet = KindSet(0b1_1111);

    pub fn with(self, kind: SensitiveKind) -> Self {
        Self(self.0 | kind.bit())
    }

    pub fn contains(self, kind: SensitiveKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = SensitiveKind> {
        SensitiveKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

impl FromIterator<SensitiveKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = SensitiveKind>>(kinds: I) -> Self {
        kinds.into_iter().fold(KindSet::EMPTY, KindSet::with)
    }
}

/// Card networks, from the issuer identification number (IIN) ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    Unionpay,
    Maestro,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Discover => "discover",
            Self::Jcb => "jcb",
            Self::Diners => "diners",
            Self::Unionpay => "unionpay",
            Self::Maestro => "maestro",
        }
    }
}

/// Which message of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Request,
    Response,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
        }
    }
}
