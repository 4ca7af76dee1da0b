//! Where to put a function's probes so that they are cheap, not just where it starts.
//!
//! A uprobe on an instruction the kernel cannot emulate is executed out of line, by a single-step
//! trap: about 16 µs per hit on our VMs, against 0.2–0.5 µs for instructions it emulates
//! (`push`, `jmp`/`jcc`/`call` with a relative target, `nop`; see ../shared/notes/toolchain.md).
//! Debian's `SSL_write`/`SSL_read` start with `sub $0x18,%rsp`, so both the entry probe and the
//! uretprobe (which must sit on the first instruction) pay the single-step on every call.
//!
//! When a function starts with such an instruction, this module looks for:
//! - an entry site: the first emulated instruction on the straight line from the start, before
//!   anything writes an argument register and with no jump landing in between (so it runs once
//!   per call, with the arguments intact);
//! - a return site for every `RET`: the last emulated conditional jump before it, with nothing
//!   after it writing RAX and no jump landing between it and the `RET` (so every path to the
//!   `RET` passes it with the return value already in RAX), whose taken branch goes to a call
//!   that does not come back there (the stack-protector failure).
//!
//! The plan is all or nothing: any `RET` without such a site, a jump or tail call out of the
//! function, or an indirect jump keeps the uretprobe at the start. The end-to-end tests drive
//! every probed OpenSSL build (Debian's libssl3, OpenSSL 1.1.1, node's static copy) through
//! whichever placement it gets.
use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, OpAccess, Register,
};

/// Probe sites in one function, as offsets from its start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub entry: u64,
    pub returns: Vec<u64>,
}

/// Instructions decoded at most: the sites we look for are near the ends of small wrappers.
const MAX_INSTRUCTIONS: usize = 512;

/// Whether the kernel's x86 uprobe code emulates this instruction (no single-step): the
/// branches with a relative target, `push` of a general register, one-byte `nop`. Checked on
/// the exact encodings it accepts, prefixes excluded.
fn is_emulated(bytes: &[u8]) -> bool {
    matches!(
        bytes,
        [0x70..=0x7f | 0xeb, _]
            | [0x0f, 0x80..=0x8f, _, _, _, _]
            | [0xe8 | 0xe9, _, _, _, _]
            | [0x50..=0x57]
            | [0x41, 0x50..=0x57]
            | [0x90]
    )
}

fn writes(
    factory: &mut InstructionInfoFactory,
    instruction: &Instruction,
    registers: &[Register],
) -> bool {
    factory
        .info(instruction)
        .used_registers()
        .iter()
        .any(|used| {
            matches!(
                used.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            ) && registers.contains(&used.register().full_register())
        })
}

/// The cheap placement for a function whose machine code is `code`, taking its arguments in
/// `arguments` (System V: RDI, RSI, RDX, RCX...); `None` when the start is already cheap or no
/// safe placement exists.
pub fn plan(code: &[u8], arguments: &[Register]) -> Option<Placement> {
    if code.is_empty() {
        return None;
    }
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let instructions: Vec<Instruction> = decoder.iter().take(MAX_INSTRUCTIONS).collect();
    let bytes_of = |i: &Instruction| &code[i.ip() as usize..i.next_ip() as usize];
    if is_emulated(bytes_of(instructions.first()?)) {
        return None;
    }
    let end = code.len() as u64;
    // Every jump target inside the function; a jump out of it (a tail call) or an indirect one
    // leaves by a path we would not see.
    let mut targets = Vec::new();
    for instruction in &instructions {
        match instruction.flow_control() {
            FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch => {
                let target = instruction.near_branch_target();
                if target >= end {
                    return None;
                }
                targets.push(target);
            }
            FlowControl::IndirectBranch
            | FlowControl::Interrupt
            | FlowControl::XbeginXabortXend => {
                return None;
            }
            _ => {}
        }
    }
    if instructions.iter().any(|i| i.is_invalid()) || targets.contains(&0) {
        return None;
    }
    let mut factory = InstructionInfoFactory::new();

    let entry = instructions
        .iter()
        .find_map(|instruction| Some(instruction).filter(|i| is_emulated(bytes_of(i))))?;
    for instruction in &instructions {
        if instruction.ip() == entry.ip() {
            break;
        }
        if writes(&mut factory, instruction, arguments)
            || targets.contains(&instruction.next_ip())
            || instruction.flow_control() != FlowControl::Next
        {
            return None;
        }
    }

    let mut returns = Vec::new();
    for (index, instruction) in instructions.iter().enumerate() {
        if instruction.flow_control() != FlowControl::Return {
            continue;
        }
        returns.push(return_site(
            &instructions,
            index,
            &targets,
            &mut factory,
            &bytes_of,
        )?);
    }
    if returns.is_empty() {
        return None;
    }
    Some(Placement {
        entry: entry.ip(),
        returns,
    })
}

/// The site for one `RET`, walking back from it.
fn return_site<'a>(
    all: &[Instruction],
    ret_index: usize,
    targets: &[u64],
    factory: &mut InstructionInfoFactory,
    bytes_of: &impl Fn(&Instruction) -> &'a [u8],
) -> Option<u64> {
    let ret = &all[ret_index];
    if targets.contains(&ret.ip()) {
        return None;
    }
    for candidate in all[..ret_index].iter().rev() {
        if candidate.flow_control() == FlowControl::ConditionalBranch
            && is_emulated(bytes_of(candidate))
        {
            // Its taken side must not rejoin a return: it must go forward, past this `RET`, to
            // a call (the stack-protector's failure handler, which does not return).
            let taken = candidate.near_branch_target();
            let lands_on_call = all
                .iter()
                .find(|i| i.ip() == taken)
                .is_some_and(|i| i.flow_control() == FlowControl::Call);
            return (taken > ret.ip() && lands_on_call).then_some(candidate.ip());
        }
        if candidate.flow_control() != FlowControl::Next
            || writes(factory, candidate, &[Register::RAX])
            || targets.contains(&candidate.ip())
        {
            return None;
        }
    }
    None
}

/// A defined function's machine code in an ELF file and the file offset where it starts.
pub fn function_code<'a>(file: &object::File<'a>, name: &str) -> Option<(&'a [u8], u64)> {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
    let symbol = file
        .dynamic_symbols()
        .chain(file.symbols())
        .find(|s| s.is_definition() && s.size() > 0 && s.name() == Ok(name))?;
    let section = file.section_by_index(symbol.section_index()?).ok()?;
    let code = section.data_range(symbol.address(), symbol.size()).ok()??;
    let (section_offset, _) = section.file_range()?;
    Some((
        code,
        section_offset + (symbol.address() - section.address()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSV: &[Register] = &[Register::RDI, Register::RSI, Register::RDX];

    /// Debian OpenSSL 3.0's `SSL_write` (libssl.so.3), byte for byte.
    const DEBIAN_SSL_WRITE: &[u8] = &[
        0x48, 0x83, 0xec, 0x18, // sub $0x18,%rsp
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00, // mov %fs:0x28,%rax
        0x48, 0x89, 0x44, 0x24, 0x08, // mov %rax,0x8(%rsp)
        0x31, 0xc0, // xor %eax,%eax
        0x85, 0xd2, // test %edx,%edx
        0x78, 0x2f, // js +0x2f (error path)
        0x48, 0x89, 0xe1, // mov %rsp,%rcx
        0x48, 0x63, 0xd2, // movslq %edx,%rdx
        0xe8, 0x00, 0x00, 0x00, 0x00, // call ssl_write_internal
        0x85, 0xc0, // test %eax,%eax
        0x7e, 0x03, // jle +3
        0x8b, 0x04, 0x24, // mov (%rsp),%eax
        0x48, 0x8b, 0x54, 0x24, 0x08, // mov 0x8(%rsp),%rdx
        0x64, 0x48, 0x2b, 0x14, 0x25, 0x28, 0x00, 0x00, 0x00, // sub %fs:0x28,%rdx
        0x75, 0x44, // jne +0x44 (stack-protector failure)
        0x48, 0x83, 0xc4, 0x18, // add $0x18,%rsp
        0x31, 0xd2, 0x31, 0xc9, 0x31, 0xf6, 0x31, 0xff, // xor edx, ecx, esi, edi
        0xc3, // ret
        // error path (+0x47): ERR_new(); ...; mov $-1,%eax; jmp back to +0x2a
        0xe8, 0x00, 0x00, 0x00, 0x00, // call ERR_new
        0xb8, 0xff, 0xff, 0xff, 0xff, // mov $-1,%eax
        0xeb,
        0xd7, // jmp +0x2a
              // +0x53 ... padding up to the stack-protector call at +0x7e
    ];

    fn ssl_write_with_tail() -> Vec<u8> {
        let mut code = DEBIAN_SSL_WRITE.to_vec();
        code.resize(0x7e, 0x90);
        code.extend_from_slice(&[0xe8, 0, 0, 0, 0]); // call __stack_chk_fail
        code.extend_from_slice(&[0x66, 0x90]); // padding
        code
    }

    #[test]
    fn debian_ssl_write_moves_to_emulated_sites() {
        let plan = plan(&ssl_write_with_tail(), SYSV).expect("a cheap placement");
        // The `js` at +0x16: arguments untouched so far. The `jne` at +0x38: RAX final.
        assert_eq!(
            plan,
            Placement {
                entry: 0x16,
                returns: vec![0x38]
            }
        );
    }

    #[test]
    fn a_cheap_start_or_an_unsafe_function_keeps_the_start() {
        // Starts with `push %rbx`: already emulated.
        assert_eq!(plan(&[0x53, 0x5b, 0xc3], SYSV), None);
        // An argument register written before the first emulated instruction.
        assert_eq!(plan(&[0x48, 0x89, 0xf7, 0x74, 0x00, 0xc3], SYSV), None);
        // A tail call: jmp out of the function.
        assert_eq!(
            plan(
                &[
                    0x48, 0x83, 0xec, 0x08, 0x74, 0x00, 0xe9, 0x00, 0x01, 0x00, 0x00
                ],
                SYSV
            ),
            None
        );
        // RAX written after the last emulated jump (`cmovs`, as in SSL_write_ex).
        let ex = [
            0x48, 0x83, 0xec, 0x08, // sub $8,%rsp
            0xe8, 0x00, 0x00, 0x00, 0x00, // call
            0x31, 0xd2, // xor %edx,%edx
            0x85, 0xc0, // test
            0x0f, 0x48, 0xc2, // cmovs %edx,%eax
            0x48, 0x83, 0xc4, 0x08, // add
            0xc3,
        ];
        assert_eq!(plan(&ex, SYSV), None);
        assert_eq!(plan(&[], SYSV), None);
        assert_eq!(plan(&[0x0f, 0x0b], SYSV), None);
    }
}
