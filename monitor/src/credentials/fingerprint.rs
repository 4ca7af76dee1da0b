//! Keyed fingerprints of secrets. Owns the only code that touches the per-install key.
//!
//! A fingerprint lets alerts about the same credential be correlated (same key, same value)
//! without making the credential recoverable: it is a truncated HMAC-SHA256 under a key that
//! never leaves the process, so an attacker who reads the alerts cannot brute-force short
//! secrets offline as they could with a plain hash.
//!
//! A client sends the same token on every call, and an HMAC-SHA256 was a tenth of the
//! daemon's instructions per call; so the fingerprinter also owns a small cache of recent
//! fingerprints (a [`Recent`] memory), which makes a repeated secret cost one SipHash instead.
//! A hit returns the HMAC's own output, computed on the miss: the exported value is the same
//! truncated HMAC-SHA256 under the per-install key either way.
use std::{fmt, io::Read as _};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::recent::Recent;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a fingerprint (16 hex characters).
const FINGERPRINT_BYTES: usize = 8;

/// Keyed HMAC-SHA256 fingerprinter. Cheap to clone (a clone starts with an empty cache); its
/// `Debug` never shows the key.
pub struct Fingerprinter {
    /// The HMAC state right after keying; cloned for each fingerprint.
    keyed: HmacSha256,
    cache: Recent<FingerprintHex>,
}

impl Clone for Fingerprinter {
    fn clone(&self) -> Self {
        Self::with_keyed(self.keyed.clone())
    }
}

impl Fingerprinter {
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
        let keyed = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC-SHA256 accepts keys of any length");
        Self::with_keyed(keyed)
    }

    fn with_keyed(keyed: HmacSha256) -> Self {
        let cache = Recent::new(
            derive_memory_key(&keyed, b"monitor fingerprint cache key"),
            SETS,
        );
        Self { keyed, cache }
    }

    /// Hex of the first 8 bytes of HMAC-SHA256(key, secret): 16 lowercase hex characters.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        self.hex(secret).as_str().to_owned()
    }

    /// As [`Self::fingerprint`], on the stack: lets the detector compare a fingerprint with
    /// those it already holds before it pays for a `String`.
    pub(crate) fn hex(&self, secret: &[u8]) -> FingerprintHex {
        let tag = self.cache.tag(&[secret]);
        let Some(mut cache) = self.cache.lock() else {
            return self.hmac_hex(secret);
        };
        if let Some(hex) = cache.get(tag) {
            return *hex;
        }
        let hex = self.hmac_hex(secret);
        cache.put(tag, hex);
        hex
    }

    /// A key for another memory of recent results about secrets, tied to this fingerprint key.
    pub(crate) fn memory_key(&self, purpose: &[u8]) -> [u8; 16] {
        derive_memory_key(&self.keyed, purpose)
    }

    /// The fingerprint itself, computed: what the cache must always agree with.
    fn hmac_hex(&self, secret: &[u8]) -> FingerprintHex {
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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct FingerprintHex([u8; FINGERPRINT_BYTES * 2]);

impl FingerprintHex {
    pub(crate) fn as_str(&self) -> &str {
        // Only digits from `HEX` are ever written: always ASCII.
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Sets of the cache; each holds [`WAYS`](super::recent::WAYS) fingerprints, so the cache
/// holds at most 4096 (128 KiB): more distinct secrets than one host's clients send in a
/// suppression window, and a fixed bound whatever the traffic.
const SETS: usize = 2048;

/// A key for one of the detector's memories of recent results ([`Recent`]): drawn from the OS
/// and mixed with the fingerprint key, so that without the OS's randomness it is still the
/// fingerprint key's secret (only its being different on each run is lost).
fn derive_memory_key(keyed: &HmacSha256, purpose: &[u8]) -> [u8; 16] {
    let mut random = [0u8; 32];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random));
    let mut mac = keyed.clone();
    mac.update(purpose);
    mac.update(&[0]);
    mac.update(&random);
    let derived = mac.finalize().into_bytes();
    let mut key = [0u8; 16];
    key.copy_from_slice(&derived[..16]);
    key
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter { key: <redacted> }")
    }
}

#[cfg(test)]
mod tests {
    use super::super::recent::WAYS;
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

    #[test]
    fn a_cache_hit_is_the_hmac() {
        let fp = Fingerprinter::new(b"Jefe");
        let secret = b"what do ya want for nothing?";
        let first = fp.hex(secret);
        assert_eq!(fp.cache.len(), 1);
        let tag = fp.cache.tag(&[secret]);
        assert_eq!(fp.cache.lock().unwrap().get(tag), Some(&first));
        assert_eq!(fp.hex(secret), fp.hmac_hex(secret));
        assert_eq!(fp.hex(secret).as_str(), "5bdcc146bf60754e");
        // A clone has its own (empty) cache, and agrees.
        let clone = fp.clone();
        assert_eq!(clone.cache.len(), 0);
        assert_eq!(clone.hex(secret), first);
    }

    #[test]
    fn the_cache_stays_bounded_and_right() {
        let fp = Fingerprinter::new(b"bounded");
        let secrets: Vec<Vec<u8>> = (0..3 * SETS * WAYS)
            .map(|i| format!("token-{i}").into_bytes())
            .collect();
        for round in 0..2 {
            for s in &secrets {
                assert_eq!(fp.hex(s), fp.hmac_hex(s), "round {round}");
            }
        }
        // Bounded, and nearly full (sets are picked at random: a few get fewer than two).
        assert!(fp.cache.len() <= SETS * WAYS);
        assert!(fp.cache.len() > SETS * WAYS * 9 / 10, "{}", fp.cache.len());
        // The newest secrets are remembered: a hit, not an HMAC.
        let last = secrets.last().unwrap();
        let tag = fp.cache.tag(&[last]);
        assert!(fp.cache.lock().unwrap().get(tag).is_some());
    }

    #[test]
    fn cache_keys_differ_between_fingerprinters() {
        let a = Fingerprinter::new(b"same");
        let b = Fingerprinter::new(b"same");
        assert_ne!(a.cache.tag(&[b"x"]), b.cache.tag(&[b"x"]));
        assert_eq!(a.hex(b"x"), b.hex(b"x"));
    }
}
