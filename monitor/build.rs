//! Builds the kernel programs (`monitor-ebpf`) for the BPF target and leaves the object in
//! `OUT_DIR`, where `capture::loader` embeds it with `include_bytes_aligned!`.
//!
//! Toolchain: on machines with rustup's nightly and `rust-src`, aya-build's default (nightly with
//! `-Z build-std=core`) works. Our build machines have neither; there Debian's `rustc-web` in
//! `/usr` ships a prebuilt BPF `core`, and `scripts/setup.sh` installs it. `MONITOR_BPF_TOOLCHAIN`
//! overrides the choice.
//!
//! `AYA_BUILD_SKIP=1` skips the eBPF build (userspace-only work, e.g. parser tests on a machine
//! without bpf-linker): an empty object is embedded and `monitor run` says so and exits.
use std::{env, fs, path::PathBuf};

use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=MONITOR_BPF_TOOLCHAIN");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out_dir.join("monitor");

    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if skip {
        fs::write(&object, [])?;
        return Ok(());
    }

    let common_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../monitor-common");
    println!("cargo:rerun-if-changed={}", common_dir.display());

    let toolchain_name = env::var("MONITOR_BPF_TOOLCHAIN").ok().or_else(|| {
        PathBuf::from("/usr/lib/rustlib/bpfel-unknown-none/lib")
            .is_dir()
            .then(|| "/usr".to_owned())
    });
    let toolchain = match toolchain_name.as_deref() {
        Some(name) => Toolchain::Custom(name),
        None => Toolchain::default(),
    };
    if toolchain_name.is_some() {
        // aya-ebpf and monitor-ebpf (whose crate is its binary, `monitor`) use one unstable
        // feature, BPF inline assembly; allow it for those crates only. (RUSTC_BOOTSTRAP=1 would
        // make aya-build ask for -Z build-std, which this toolchain cannot do.)
        // SAFETY: build scripts are single-threaded.
        unsafe { env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf,monitor") };
    }
    let package = Package {
        name: "monitor-ebpf",
        root_dir: "../monitor-ebpf",
        ..Default::default()
    };
    aya_build::build_ebpf([package], toolchain)
}
