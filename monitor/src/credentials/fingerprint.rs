//! Keyed fingerprints of secrets. Owns the only code that touches the per-install key.
//!
//! A fingerprint lets alerts about the same credential be correlated (same key, same value)
//! without making the credential recoverable: it is a truncated HMAC-SHA256 under a key that
//! never leaves the process, so an attacker who reads the alerts cannot brute-force short
//! secrets offline as they could with a plain hash.
//!
//! A client sends the same token on every call, and an HMAC-SHA256 was a tenth of the
//! daemon's instructions per call; so the fingerprinter also owns a small cache of recent
//! fingerprints (see [`Cache`]), which makes a repeated secret cost one SipHash instead.
use std::{
    fmt,
    hash::Hasher as _,
    io::Read as _,
    sync::{Mutex, TryLockError},
};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use siphasher::sip128::{Hasher128 as _, SipHasher13};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a fingerprint (16 hex characters).
const FINGERPRINT_BYTES: usize = 8;

/// Keyed HMAC-SHA256 fingerprinter. Cheap to clone (a clone starts with an empty cache); its
/// `Debug` never shows the key.
pub struct Fingerprinter {
    /// The HMAC state right after keying; cloned for each fingerprint.
    keyed: HmacSha256,
    cache: Cache,
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
        let cache = Cache::new(&keyed);
        Self { keyed, cache }
    }

    /// Hex of the first 8 bytes of HMAC-SHA256(key, secret): 16 lowercase hex characters.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        self.hex(secret).as_str().to_owned()
    }

    /// As [`Self::fingerprint`], on the stack: lets the detector compare a fingerprint with
    /// those it already holds before it pays for a `String`.
    pub(crate) fn hex(&self, secret: &[u8]) -> FingerprintHex {
        let tag = self.cache.tag(secret);
        if let Some(hex) = self.cache.get(tag) {
            return hex;
        }
        let hex = self.hmac_hex(secret);
        self.cache.put(tag, &hex);
        hex
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
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FingerprintHex([u8; FINGERPRINT_BYTES * 2]);

impl FingerprintHex {
    pub(crate) fn as_str(&self) -> &str {
        // Only digits from `HEX` are ever written: always ASCII.
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Sets of the cache; each holds [`WAYS`] fingerprints, so the cache holds at most 4096
/// (128 KiB, allocated on first use): more distinct secrets than one host's clients send in a
/// suppression window, and a fixed bound whatever the traffic.
const SETS: usize = 2048;
const WAYS: usize = 2;

/// Recent fingerprints, by a 128-bit keyed tag of the secret.
///
/// Why this does not weaken the fingerprint:
/// - It holds no secret. An entry is the secret's SipHash-1-3-128 tag under a cache key and
///   the fingerprint, which alerts export anyway. The cache key is drawn from the OS for each
///   fingerprinter and mixed with the HMAC key; it never leaves the process, so a tag is no
///   more use offline than the fingerprint (SipHash is a PRF: without the key, tags reveal
///   nothing about secrets, short ones included).
/// - A hit returns the HMAC's own output, computed on the miss: the exported value is the same
///   truncated HMAC-SHA256 under the per-install key as before.
/// - A wrong answer needs two secrets with the same 128-bit tag. Nobody without the cache key
///   can search for such a pair, and by chance it takes about 2^64 secrets.
/// - It is bounded (`SETS` × `WAYS` entries, a miss replaces the older of its set), so traffic
///   with ever-new secrets costs an HMAC per secret as before, and no memory.
///
/// Behind a mutex because the detector is shared (`Send + Sync`); a fingerprinter whose cache
/// is busy on another thread computes the HMAC rather than wait.
struct Cache {
    key: [u8; 16],
    /// `SETS` × `WAYS` entries once used; way 0 of each set is the newer.
    entries: Mutex<Vec<Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    tag: u128,
    /// All zero in an empty entry (hex digits never are).
    hex: [u8; FINGERPRINT_BYTES * 2],
}

const EMPTY: Entry = Entry {
    tag: 0,
    hex: [0; FINGERPRINT_BYTES * 2],
};

impl Cache {
    fn new(keyed: &HmacSha256) -> Self {
        let mut random = [0u8; 32];
        // Without the OS's randomness the key is still the HMAC key's secret; only its being
        // different on each run is lost.
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random));
        let mut mac = keyed.clone();
        mac.update(b"monitor fingerprint cache key\0");
        mac.update(&random);
        let derived = mac.finalize().into_bytes();
        let mut key = [0u8; 16];
        key.copy_from_slice(&derived[..16]);
        Self {
            key,
            entries: Mutex::new(Vec::new()),
        }
    }

    fn tag(&self, secret: &[u8]) -> u128 {
        let mut hasher = SipHasher13::new_with_key(&self.key);
        hasher.write(secret);
        u128::from(hasher.finish128())
    }

    fn set(tag: u128) -> std::ops::Range<usize> {
        // The tag's bits are uniform: its low ones pick the set.
        let first = (tag as usize % SETS) * WAYS;
        first..first + WAYS
    }

    fn get(&self, tag: u128) -> Option<FingerprintHex> {
        let entries = self.lock()?;
        let set = entries.get(Self::set(tag))?;
        set.iter()
            .find(|e| e.tag == tag && e.hex[0] != 0)
            .map(|e| FingerprintHex(e.hex))
    }

    fn put(&self, tag: u128, hex: &FingerprintHex) {
        let Some(mut entries) = self.lock() else {
            return;
        };
        if entries.is_empty() {
            *entries = vec![EMPTY; SETS * WAYS];
        }
        let set = &mut entries[Self::set(tag)];
        set.copy_within(..WAYS - 1, 1);
        set[0] = Entry { tag, hex: hex.0 };
    }

    /// The entries, unless another thread holds them. A panic elsewhere cannot leave them
    /// half-written (entries are written whole), so a poisoned lock is used as is.
    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Vec<Entry>>> {
        match self.entries.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock()
            .map_or(0, |e| e.iter().filter(|e| e.hex[0] != 0).count())
    }
}

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

    #[test]
    fn a_cache_hit_is_the_hmac() {
        let fp = Fingerprinter::new(b"Jefe");
        let secret = b"what do ya want for nothing?";
        let first = fp.hex(secret);
        assert_eq!(fp.cache.len(), 1);
        let tag = fp.cache.tag(secret);
        assert_eq!(fp.cache.get(tag), Some(first));
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
        assert!(fp.cache.len() <= SETS * WAYS);
        assert_eq!(fp.cache.entries.lock().unwrap().len(), SETS * WAYS);
        // The newest secrets are remembered: a hit, not an HMAC.
        let last = secrets.last().unwrap();
        assert!(fp.cache.get(fp.cache.tag(last)).is_some());
    }

    #[test]
    fn cache_keys_differ_between_fingerprinters() {
        let a = Fingerprinter::new(b"same");
        let b = Fingerprinter::new(b"same");
        assert_ne!(a.cache.key, b.cache.key);
        assert_eq!(a.hex(b"x"), b.hex(b"x"));
    }
}
