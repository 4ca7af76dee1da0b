//! Go's `crypto/tls`, compiled into each Go binary: where to probe `(*Conn).Write`,
//! `(*Conn).Read` and `(*Conn).Close`.
//!
//! Go needs its own attach plan because uretprobes are unsafe there: the return probe replaces
//! the return address on the goroutine stack, and Go copies stacks when they grow, so the
//! hijacked address can end up where the runtime does not expect it. Instead, each function's
//! `RET` instructions are found by disassembling it and probed as plain uprobes. Functions are
//! located through `.gopclntab`, which stripped binaries keep, and the symbol table when a binary
//! has no such section. Arguments come in registers (Go ≥ 1.17 `ABIInternal`); older binaries
//! pass them on the stack and are refused with that reason, as are non-x86-64 binaries.
mod buildinfo;
mod pclntab;

use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
use thiserror::Error;

use pclntab::FunctionRange;

const WRITE: &str = "crypto/tls.(*Conn).Write";
const READ: &str = "crypto/tls.(*Conn).Read";
const CLOSE: &str = "crypto/tls.(*Conn).Close";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GoTlsError {
    #[error("Go crypto/tls on {0}: only x86-64 binaries are probed")]
    Architecture(String),
    #[error(
        "Go crypto/tls built with {0}: before Go 1.17 arguments are passed on the stack, not probed"
    )]
    StackAbi(String),
    #[error(
        "Go crypto/tls from an unknown Go version of the 1.16/1.17 table layout: cannot tell its calling convention"
    )]
    UnknownAbi,
    #[error("Go function table: {0}")]
    Pclntab(#[from] pclntab::PclntabError),
    #[error("Go crypto/tls: {0} is not inside a code section of the file")]
    NotInCode(&'static str),
    #[error("Go crypto/tls: no return instruction found in {0}")]
    NoReturn(&'static str),
}

/// Where to attach in one function: file offsets, as uprobes take them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSites {
    pub entry: u64,
    pub returns: Vec<u64>,
}

/// The attach plan of one Go binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTlsProbes {
    /// `go1.22.4`, when the binary says.
    pub version: Option<String>,
    pub write: FunctionSites,
    pub read: FunctionSites,
    /// Entry of `(*Conn).Close`: ends the connection's stream (Go reuses freed addresses).
    pub close: Option<u64>,
}

/// Is this ELF a Go binary?
pub fn is_go(file: &object::File<'_>) -> bool {
    file.section_by_name(".go.buildinfo").is_some() || file.section_by_name(".gopclntab").is_some()
}

/// The attach plan, `Ok(None)` when the file is not Go or does not contain `crypto/tls`, and an
/// error saying why when it does but cannot be probed.
pub fn analyze(data: &[u8]) -> Result<Option<GoTlsProbes>, GoTlsError> {
    let Ok(file) = object::File::parse(data) else {
        return Ok(None);
    };
    if !is_go(&file) {
        return Ok(None);
    }
    let (layout, ranges) = locate(&file)?;
    let [Some(write), Some(read), close] = ranges[..] else {
        return Ok(None);
    };
    if file.architecture() != object::Architecture::X86_64 {
        return Err(GoTlsError::Architecture(format!(
            "{:?}",
            file.architecture()
        )));
    }
    let version = file
        .section_by_name(".go.buildinfo")
        .and_then(|s| s.data().ok())
        .and_then(|section| {
            buildinfo::go_version(section, |address, len| read_at(&file, address, len))
        });
    match version.as_deref().and_then(buildinfo::major_minor) {
        Some((1, minor)) if minor < 17 => {
            return Err(GoTlsError::StackAbi(version.unwrap_or_default()));
        }
        Some(_) => {}
        None if layout == Some(pclntab::Layout::Go116) => return Err(GoTlsError::UnknownAbi),
        None => {}
    }
    Ok(Some(GoTlsProbes {
        version,
        write: sites(&file, WRITE, write)?,
        read: sites(&file, READ, read)?,
        close: close
            .map(|range| file_offset(&file, CLOSE, range.entry))
            .transpose()?,
    }))
}

/// Write, Read, Close ranges: from `.gopclntab`, else from the symbol table.
fn locate(
    file: &object::File<'_>,
) -> Result<(Option<pclntab::Layout>, Vec<Option<FunctionRange>>), GoTlsError> {
    let wanted = [WRITE, READ, CLOSE];
    if let Some(table) = file.section_by_name(".gopclntab")
        && let Ok(data) = table.data()
    {
        let text = file.section_by_name(".text").map_or(0, |s| s.address());
        let (layout, found) = pclntab::find_functions(data, text, &wanted)?;
        return Ok((Some(layout), found));
    }
    let mut found = vec![None; wanted.len()];
    for symbol in file.symbols() {
        if let Ok(name) = symbol.name()
            && let Some(slot) = wanted.iter().position(|w| *w == name)
            && symbol.size() > 0
        {
            found[slot] = Some(FunctionRange {
                entry: symbol.address(),
                end: symbol.address() + symbol.size(),
            });
        }
    }
    Ok((None, found))
}

/// The bytes of `len` at a virtual address, from whichever section holds them.
fn read_at(file: &object::File<'_>, address: u64, len: usize) -> Option<Vec<u8>> {
    file.sections().find_map(|section| {
        let data = section.data_range(address, len as u64).ok()??;
        Some(data.to_vec())
    })
}

fn code_of<'a>(
    file: &'a object::File<'_>,
    function: &'static str,
    range: FunctionRange,
) -> Result<(&'a [u8], u64), GoTlsError> {
    for section in file.sections() {
        if section.kind() != object::SectionKind::Text {
            continue;
        }
        let start = section.address();
        if range.entry < start || range.end > start.saturating_add(section.size()) {
            continue;
        }
        let (section_offset, _) = section
            .file_range()
            .ok_or(GoTlsError::NotInCode(function))?;
        let data = section
            .data_range(range.entry, range.end - range.entry)
            .ok()
            .flatten()
            .ok_or(GoTlsError::NotInCode(function))?;
        return Ok((data, section_offset + (range.entry - start)));
    }
    Err(GoTlsError::NotInCode(function))
}

fn file_offset(
    file: &object::File<'_>,
    function: &'static str,
    address: u64,
) -> Result<u64, GoTlsError> {
    code_of(
        file,
        function,
        FunctionRange {
            entry: address,
            end: address + 1,
        },
    )
    .map(|(_, offset)| offset)
}

fn sites(
    file: &object::File<'_>,
    function: &'static str,
    range: FunctionRange,
) -> Result<FunctionSites, GoTlsError> {
    let (code, entry) = code_of(file, function, range)?;
    let returns = return_offsets(code)
        .into_iter()
        .map(|at| entry + at)
        .collect::<Vec<_>>();
    if returns.is_empty() {
        return Err(GoTlsError::NoReturn(function));
    }
    Ok(FunctionSites { entry, returns })
}

/// Offsets of the near `RET` instructions in a function's machine code.
fn return_offsets(code: &[u8]) -> Vec<u64> {
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut returns = Vec::new();
    for instruction in &mut decoder {
        if instruction.mnemonic() == Mnemonic::Ret {
            returns.push(instruction.ip());
        }
    }
    returns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_return_and_ignores_ret_bytes_inside_other_instructions() {
        let code = [
            0x49, 0x3b, 0x66, 0x10, // cmp rsp, [r14+0x10]
            0x76, 0x10, // jbe +0x10
            0xb8, 0xc3, 0x00, 0x00, 0x00, // mov eax, 0xc3: a 0xc3 byte that is not a RET
            0xc3, // ret
            0x48, 0x83, 0xc4, 0x18, // add rsp, 0x18
            0xc2, 0x08, 0x00, // ret 8
            0xcc, 0xcc, // padding
        ];
        assert_eq!(return_offsets(&code), vec![11, 16]);
    }

    #[test]
    fn files_that_are_not_go_have_no_plan() {
        assert_eq!(analyze(b"not an elf"), Ok(None));
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(analyze(&me), Ok(None));
    }
}
