//! Kernel programs of the monitor.
//!
//! Each hook family has its own module under `probes/`; they all hand payloads to `emit`, which
//! owns the record format on the wire (chunking, truncation, loss accounting). Maps and load-time
//! settings live in `maps`.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
// Inline assembly for the atomics Rust does not offer on BPF (`maps::slot_add`,
// `thread_slots`).
#![cfg_attr(target_arch = "bpf", feature(asm_experimental_arch))]

#[cfg(target_arch = "bpf")]
mod emit;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod pending_calls;
#[cfg(target_arch = "bpf")]
mod pending_io;
#[cfg(target_arch = "bpf")]
mod probes;
#[cfg(target_arch = "bpf")]
mod ssl_sockets;
#[cfg(target_arch = "bpf")]
mod thread_slots;
#[cfg(target_arch = "bpf")]
mod thread_ties;
#[cfg(target_arch = "bpf")]
mod tls_call_fds;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic, so this is never executed.
    unsafe { core::hint::unreachable_unchecked() }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
