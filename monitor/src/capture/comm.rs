//! A thread's command name as the kernel reports it with every record (`TASK_COMM_LEN`, 16 bytes
//! with the NUL), kept inline: a `String` per record was one of the allocations of every call.
use std::{fmt, ops::Deref};

use monitor_common::COMM_LEN;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Comm {
    bytes: [u8; COMM_LEN],
    len: u8,
}

impl Comm {
    /// From the kernel's NUL-padded bytes. A byte that is not part of valid UTF-8 becomes `?`
    /// (a name is chosen by the process; it still prints as text).
    pub fn from_kernel(raw: &[u8]) -> Self {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let raw = &raw[..end.min(COMM_LEN - 1)];
        let mut comm = Comm {
            bytes: [0; COMM_LEN],
            len: raw.len() as u8,
        };
        comm.bytes[..raw.len()].copy_from_slice(raw);
        if raw.is_ascii() {
            return comm;
        }
        let mut at = 0;
        while at < raw.len() {
            match std::str::from_utf8(&comm.bytes[at..raw.len()]) {
                Ok(_) => break,
                Err(e) => {
                    let bad = at + e.valid_up_to();
                    let width = e.error_len().unwrap_or(raw.len() - bad);
                    comm.bytes[bad..bad + width].fill(b'?');
                    at = bad + width;
                }
            }
        }
        comm
    }

    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len)];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: the fields are private, and the only constructors (`from_kernel`,
        // `From<&str>`, `Default`) store UTF-8 only, cut at a character boundary. Validating
        // again was a few hundred instructions per record: the name is read three times each.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl Deref for Comm {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Comm {
    /// Cut to what the kernel would keep, at a character boundary.
    fn from(name: &str) -> Self {
        let mut end = name.len().min(COMM_LEN - 1);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut comm = Comm {
            bytes: [0; COMM_LEN],
            len: end as u8,
        };
        comm.bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        comm
    }
}

impl PartialEq<&str> for Comm {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Comm {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_stay_text_and_bounded() {
        assert_eq!(Comm::from_kernel(b"curl\0\0\0\0\0\0\0\0\0\0\0\0"), "curl");
        assert_eq!(Comm::from_kernel(b"0123456789abcdef"), "0123456789abcde");
        assert_eq!(Comm::from_kernel(b"a\xffb\0"), "a?b");
        assert_eq!(Comm::from_kernel(b"ab\xe2\x82\0"), "ab??");
        assert_eq!(Comm::from("node"), "node");
        assert_eq!(Comm::from("ééééééééé"), "ééééééé");
        assert_eq!(Comm::default(), "");
    }

    /// `as_str` trusts the constructors to store UTF-8 only: every pair of bytes, anywhere a
    /// cut or a multi-byte sequence can fall, comes out valid.
    #[test]
    fn any_kernel_bytes_make_valid_text() {
        for at in [0, 7, 13, 14] {
            for pair in 0..=u16::MAX {
                let mut raw = *b"abcdefghijklmnop";
                raw[at..at + 2].copy_from_slice(&pair.to_le_bytes());
                let comm = Comm::from_kernel(&raw);
                assert!(
                    std::str::from_utf8(comm.as_str().as_bytes()).is_ok(),
                    "{raw:?}"
                );
                assert!(comm.len() < COMM_LEN);
            }
        }
    }
}
