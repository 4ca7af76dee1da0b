//! Rebuild the kernel programs when the BPF linker changes: it is not a Cargo dependency, so Cargo
//! cannot see it otherwise.
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
