//! Function boundaries from a Go binary's `.gopclntab`, the table the Go runtime itself uses for
//! stack traces: it survives `-ldflags=-s -w` and `strip`, so it finds `crypto/tls` functions in
//! stripped binaries, which have no symbol table.
//!
//! Written by hand: the `object` crate does not read Go metadata, and the crates that do are
//! reverse-engineering toolkits (whole-binary recovery, their own ELF parsers) for what is here a
//! header and one sorted table. Every read is bounds-checked: the input is any file on the host.
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PclntabError {
    #[error("unknown .gopclntab magic {0:#x} (Go older than 1.16 or not Go)")]
    UnknownMagic(u32),
    #[error(".gopclntab is truncated or inconsistent ({0})")]
    Malformed(&'static str),
}

/// Layout generations of the table, by header magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Go 1.16 and 1.17: absolute entry addresses in the function table.
    Go116,
    /// Go 1.18 and 1.19: 32-bit entry offsets from `textStart`.
    Go118,
    /// Go 1.20 and later: as 1.18, new magic.
    Go120,
}

/// A function's code: `[entry, end)` in virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionRange {
    pub entry: u64,
    pub end: u64,
}

/// Bounds-checked little-endian reads.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u32(&self, at: usize) -> Result<u32, PclntabError> {
        self.0
            .get(at..at.checked_add(4).ok_or(PclntabError::Malformed("offset"))?)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or(PclntabError::Malformed("read past the end"))
    }

    fn word(&self, at: usize, ptr_size: usize) -> Result<u64, PclntabError> {
        match ptr_size {
            4 => self.u32(at).map(u64::from),
            _ => self
                .0
                .get(at..at.checked_add(8).ok_or(PclntabError::Malformed("offset"))?)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .ok_or(PclntabError::Malformed("read past the end")),
        }
    }

    /// A NUL-terminated name.
    fn name(&self, at: usize) -> Result<&[u8], PclntabError> {
        let rest = self
            .0
            .get(at..)
            .ok_or(PclntabError::Malformed("name offset"))?;
        let len = memchr::memchr(0, rest).ok_or(PclntabError::Malformed("unterminated name"))?;
        Ok(&rest[..len])
    }
}

fn to_index(value: u64) -> Result<usize, PclntabError> {
    usize::try_from(value).map_err(|_| PclntabError::Malformed("offset too large"))
}

/// Looks the wanted functions up by exact name. `text_section` is the `.text` address, used when
/// the header's `textStart` is left to a relocation (position-independent builds).
pub fn find_functions(
    table: &[u8],
    text_section: u64,
    wanted: &[&str],
) -> Result<(Layout, Vec<Option<FunctionRange>>), PclntabError> {
    let bytes = Bytes(table);
    let layout = match bytes.u32(0)? {
        0xffff_fffa => Layout::Go116,
        0xffff_fff0 => Layout::Go118,
        0xffff_fff1 => Layout::Go120,
        other => return Err(PclntabError::UnknownMagic(other)),
    };
    let ptr_size = usize::from(*table.get(7).ok_or(PclntabError::Malformed("header"))?);
    if ptr_size != 4 && ptr_size != 8 {
        return Err(PclntabError::Malformed("pointer size"));
    }
    let header_word = |index: usize| bytes.word(8 + index * ptr_size, ptr_size);
    let nfunc = to_index(header_word(0)?)?;
    // Header words after nfunc and nfiles; 1.18 inserted textStart before the offsets.
    let (text_start, first_offset) = match layout {
        Layout::Go116 => (0, 2),
        Layout::Go118 | Layout::Go120 => (header_word(2)?, 3),
    };
    let text_start = if text_start == 0 {
        text_section
    } else {
        text_start
    };
    let funcname_offset = to_index(header_word(first_offset)?)?;
    let functab_offset = to_index(header_word(first_offset + 4)?)?;
    let functab = Bytes(
        table
            .get(functab_offset..)
            .ok_or(PclntabError::Malformed("function table offset"))?,
    );
    // One (entry, func data offset) pair per function plus the end of the last function.
    let (pair_size, field_size) = match layout {
        Layout::Go116 => (2 * ptr_size, ptr_size),
        Layout::Go118 | Layout::Go120 => (8, 4),
    };
    if nfunc
        .checked_add(1)
        .and_then(|n| n.checked_mul(pair_size))
        .is_none_or(|size| size > functab.0.len())
    {
        return Err(PclntabError::Malformed("function count"));
    }
    let entry_at = |index: usize| -> Result<u64, PclntabError> {
        let raw = functab.word(index * pair_size, field_size)?;
        Ok(match layout {
            Layout::Go116 => raw,
            Layout::Go118 | Layout::Go120 => text_start.wrapping_add(raw),
        })
    };
    let mut found = vec![None; wanted.len()];
    for index in 0..nfunc {
        let func_data = to_index(functab.word(index * pair_size + field_size, field_size)?)?;
        // `_func` starts with the entry (a word in 1.16, 32 bits after) and then `nameOff`.
        let name_field = functab_offset
            .checked_add(func_data)
            .and_then(|at| at.checked_add(field_size))
            .ok_or(PclntabError::Malformed("function data offset"))?;
        let name_offset = bytes.u32(name_field)? as i32;
        let Ok(name_offset) = usize::try_from(name_offset) else {
            continue;
        };
        let Some(name_at) = funcname_offset.checked_add(name_offset) else {
            continue;
        };
        let name = bytes.name(name_at)?;
        if let Some(slot) = wanted.iter().position(|w| w.as_bytes() == name) {
            let range = FunctionRange {
                entry: entry_at(index)?,
                end: entry_at(index + 1)?,
            };
            if range.end <= range.entry {
                return Err(PclntabError::Malformed("function table not sorted"));
            }
            found[slot] = Some(range);
            if found.iter().all(Option::is_some) {
                break;
            }
        }
    }
    Ok((layout, found))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Go 1.20-layout table with the given (name, entry offset from text) functions, sorted,
    /// and an end offset.
    pub(crate) fn synthetic_table(functions: &[(&str, u32)], end: u32, text_start: u64) -> Vec<u8> {
        let ptr = 8usize;
        let header_len = 8 + 8 * ptr;
        let mut names = Vec::new();
        let mut name_offsets = Vec::new();
        for (name, _) in functions {
            name_offsets.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let funcname_offset = header_len;
        let functab_offset = funcname_offset + names.len();
        let pairs_len = (functions.len() + 1) * 8;
        let mut table = Vec::new();
        table.extend_from_slice(&0xffff_fff1u32.to_le_bytes());
        table.extend_from_slice(&[0, 0, 1, ptr as u8]);
        for word in [
            functions.len() as u64,
            0,
            text_start,
            funcname_offset as u64,
            0,
            0,
            0,
            functab_offset as u64,
        ] {
            table.extend_from_slice(&word.to_le_bytes());
        }
        table.extend_from_slice(&names);
        for (index, (_, entry)) in functions.iter().enumerate() {
            table.extend_from_slice(&entry.to_le_bytes());
            // Each `_func` (entryOff, nameOff) sits after the pairs.
            let func_data = (pairs_len + index * 8) as u32;
            table.extend_from_slice(&func_data.to_le_bytes());
        }
        table.extend_from_slice(&end.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        for ((_, entry), name_offset) in functions.iter().zip(&name_offsets) {
            table.extend_from_slice(&entry.to_le_bytes());
            table.extend_from_slice(&name_offset.to_le_bytes());
        }
        table
    }

    #[test]
    fn finds_functions_and_their_ends_by_exact_name() {
        let table = synthetic_table(
            &[
                ("main.main", 0x0),
                ("crypto/tls.(*Conn).Write", 0x100),
                ("crypto/tls.(*Conn).Writer", 0x180),
                ("crypto/tls.(*Conn).Read", 0x200),
            ],
            0x280,
            0x40_1000,
        );
        let (layout, found) = find_functions(
            &table,
            0,
            &[
                "crypto/tls.(*Conn).Read",
                "crypto/tls.(*Conn).Write",
                "crypto/tls.(*Conn).Close",
            ],
        )
        .unwrap();
        assert_eq!(layout, Layout::Go120);
        assert_eq!(
            found,
            vec![
                Some(FunctionRange {
                    entry: 0x40_1200,
                    end: 0x40_1280
                }),
                Some(FunctionRange {
                    entry: 0x40_1100,
                    end: 0x40_1180
                }),
                None,
            ]
        );
    }

    #[test]
    fn a_relocated_text_start_falls_back_to_the_text_section() {
        let table = synthetic_table(&[("crypto/tls.(*Conn).Read", 0x20)], 0x40, 0);
        let (_, found) = find_functions(&table, 0x1000, &["crypto/tls.(*Conn).Read"]).unwrap();
        assert_eq!(found[0].unwrap().entry, 0x1020);
    }

    #[test]
    fn hostile_tables_are_errors_not_panics() {
        let good = synthetic_table(&[("a", 0), ("b", 0x10)], 0x20, 0x1000);
        assert_eq!(
            find_functions(&[0xfb, 0xff, 0xff, 0xff, 0, 0, 1, 8], 0, &["a"]).unwrap_err(),
            PclntabError::UnknownMagic(0xffff_fffb)
        );
        // Every truncation of a good table, and every single-byte corruption of its header.
        for len in 0..good.len() {
            let _ = find_functions(&good[..len], 0, &["b"]);
        }
        for at in 0..72 {
            let mut bad = good.clone();
            bad[at] ^= 0xff;
            let _ = find_functions(&bad, 0, &["b"]);
        }
        // A huge function count must not be trusted.
        let mut bad = good.clone();
        bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(find_functions(&bad, 0, &["b"]).is_err());
    }
}
