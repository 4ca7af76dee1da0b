//! The Go version a binary was built with, from its `.go.buildinfo` section: it decides the
//! calling convention (register-based from Go 1.17 on), so it decides whether we can read
//! arguments at all.
//!
//! Format (`debug/buildinfo` in Go's standard library): a 32-byte header starting with
//! `\xff Go buildinf:`, then pointer size and flags. From Go 1.18 (flag bit 1) the version
//! follows inline as a varint-prefixed string; before, the header holds the address of a Go
//! string header, resolved through `read_at` (virtual address → bytes).

const MAGIC: &[u8] = b"\xff Go buildinf:";
const FLAG_INLINE_STRINGS: u8 = 0x2;

/// The version string (`go1.22.4`), if the section can be read.
pub fn go_version(
    section: &[u8],
    read_at: impl Fn(u64, usize) -> Option<Vec<u8>>,
) -> Option<String> {
    if section.len() < 32 || !section.starts_with(MAGIC) {
        return None;
    }
    let ptr_size = usize::from(section[14]);
    let flags = section[15];
    let bytes = if flags & FLAG_INLINE_STRINGS != 0 {
        let (len, used) = uvarint(&section[32..])?;
        let start = 32 + used;
        section
            .get(start..start.checked_add(usize::try_from(len).ok()?)?)?
            .to_vec()
    } else {
        let word = |b: &[u8]| -> Option<u64> {
            match ptr_size {
                4 => Some(u64::from(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))),
                8 => Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?)),
                _ => None,
            }
        };
        let header_address = word(&section[16..])?;
        let header = read_at(header_address, 2 * ptr_size)?;
        let (data, len) = (word(&header)?, word(&header[ptr_size..])?);
        if len > 64 {
            return None;
        }
        read_at(data, usize::try_from(len).ok()?)?
    };
    String::from_utf8(bytes)
        .ok()
        .filter(|v| v.starts_with("go"))
}

/// Go's unsigned varint (`encoding/binary.Uvarint`).
fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte < 0x80 {
            return Some((value, index + 1));
        }
    }
    None
}

/// `(major, minor)` of `go1.21.3`, `go1.22rc1`, `go1.24-20240101...`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let rest = version.strip_prefix("go")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor_text = parts.next()?;
    let digits = minor_text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(minor_text.len());
    Some((major, minor_text[..digits].parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline_section(version: &str) -> Vec<u8> {
        let mut section = MAGIC.to_vec();
        section.extend_from_slice(&[8, FLAG_INLINE_STRINGS]);
        section.resize(32, 0);
        section.push(version.len() as u8);
        section.extend_from_slice(version.as_bytes());
        section
    }

    #[test]
    fn reads_the_inline_version_of_go_1_18_and_later() {
        let section = inline_section("go1.22.4");
        assert_eq!(
            go_version(&section, |_, _| None).as_deref(),
            Some("go1.22.4")
        );
    }

    #[test]
    fn follows_the_string_pointer_of_older_binaries() {
        let mut section = MAGIC.to_vec();
        section.extend_from_slice(&[8, 0]);
        section.extend_from_slice(&0x5000u64.to_le_bytes());
        section.resize(32, 0);
        let read_at = |address: u64, len: usize| -> Option<Vec<u8>> {
            match address {
                0x5000 => {
                    let mut header = 0x6000u64.to_le_bytes().to_vec();
                    header.extend_from_slice(&7u64.to_le_bytes());
                    Some(header[..len].to_vec())
                }
                0x6000 => Some(b"go1.16.5"[..len].to_vec()),
                _ => None,
            }
        };
        assert_eq!(go_version(&section, read_at).as_deref(), Some("go1.16."));
    }

    #[test]
    fn garbage_is_no_version() {
        assert_eq!(go_version(b"", |_, _| None), None);
        assert_eq!(go_version(&[0xff; 64], |_, _| None), None);
        let mut section = inline_section("go1.21.0");
        section[32] = 0xff; // an unterminated varint length
        section.truncate(34);
        assert_eq!(go_version(&section, |_, _| None), None);
    }

    #[test]
    fn parses_major_and_minor() {
        assert_eq!(major_minor("go1.17"), Some((1, 17)));
        assert_eq!(major_minor("go1.22.4"), Some((1, 22)));
        assert_eq!(major_minor("go1.23rc1"), Some((1, 23)));
        assert_eq!(major_minor("devel +abc"), None);
    }
}
