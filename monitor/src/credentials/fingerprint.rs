//! Keyed fingerprints of secrets. Owns the only code that touches the per-install key.
//!
//! A fingerprint lets alerts about the same credential be correlated (same key, same value)
//! without making the credential recoverable: it is a truncated HMAC-SHA256 under a key that
//! never leaves the process, so an attacker who reads the alerts cannot brute-force short
//! secrets offline as they could with a plain hash.
use std::fmt;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a fingerprint (16 hex characters).
const FINGERPRINT_BYTES: usize = 8;

/// Keyed HMAC-SHA256 fingerprinter. Cheap to clone; its `Debug` never shows the key.
#[derive(Clone)]
pub struct Fingerprinter {
    /// The HMAC state right after keying; cloned for each fingerprint.
    keyed: HmacSha256,
}

impl Fingerprinter {
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
        let keyed = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC-SHA256 accepts keys of any length");
        Self { keyed }
    }

    /// Hex of the first 8 bytes of HMAC-SHA256(key, secret): 16 lowercase hex characters.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        self.hex(secret).as_str().to_owned()
    }

    /// As [`Self::fingerprint`], on the stack: lets the detector compare a fingerprint with
    /// those it already holds before it pays for a `String`.
    pub(crate) fn hex(&self, secret: &[u8]) -> FingerprintHex {
        let mut mac = self.keyed.clone();
        mac.update(secret);
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; FINGERPRINT_BYTES * 2];
        for (pair, byte) in out.chunks_exact_mut(2).zip(&tag[..FINGERPRINT_BYTES]) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
        FingerprintHex(out)
    }
}

/// A fingerprint's hex digits, held inline.
pub(crate) struct FingerprintHex([u8; FINGERPRINT_BYTES * 2]);

impl FingerprintHex {
    pub(crate) fn as_str(&self) -> &str {
        // Only digits from `HEX` are ever written: always ASCII.
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter { key: <redacted> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_prefix() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let fp = Fingerprinter::new(b"Jefe");
        assert_eq!(
            fp.fingerprint(b"what do ya want for nothing?"),
            "5bdcc146bf60754e"
        );
    }

    #[test]
    fn keyed_and_stable() {
        let a = Fingerprinter::new(b"key-a");
        let b = Fingerprinter::new(b"key-b");
        assert_eq!(a.fingerprint(b"s3cr3t"), a.fingerprint(b"s3cr3t"));
        assert_ne!(a.fingerprint(b"s3cr3t"), b.fingerprint(b"s3cr3t"));
        assert_ne!(a.fingerprint(b"s3cr3t"), a.fingerprint(b"s3cr3u"));
        assert_eq!(a.fingerprint(b"").len(), 16);
        assert!(!format!("{a:?}").contains("key-a"));
    }
}
