//! `cargo xtask image [--tag T]`: the container image (`deploy/image/Containerfile`), `FROM
//! scratch` with the monitor built here as a static-pie glibc binary.
//!
//! Static linking is asked of the userspace build only: `-C target-feature=+crt-static` goes in
//! `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS` with an explicit `--target`, so it applies to
//! the `monitor` binary and its dependencies but not to build scripts and proc-macros (host
//! artifacts, which must stay dynamic), and not to aya-build's nested eBPF build (its own
//! `--target bpfel-unknown-none` and `CARGO_ENCODED_RUSTFLAGS`).
use std::{
    fs,
    os::fd::AsFd as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

pub const DEFAULT_TAG: &str = "localhost/monitor:dev";
const TARGET: &str = "x86_64-unknown-linux-gnu";
const STATIC_RUSTFLAGS_VAR: &str = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS";
const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";

/// Builds the static monitor (`release`, else the dev profile) and the image `tag` from it.
pub fn build(workspace: &Path, tag: &str, release: bool) -> anyhow::Result<()> {
    // Either would override the target's flags and the binary would come out dynamic.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            bail!(
                "{var} is set: it would replace {STATIC_RUSTFLAGS_VAR}; unset it to build the image"
            );
        }
    }
    let mut args = vec!["build", "--package", "monitor", "--target", TARGET];
    if release {
        args.push("--release");
    }
    eprintln!(
        "xtask: {STATIC_RUSTFLAGS_VAR}=\"{STATIC_RUSTFLAGS}\" cargo {}",
        args.join(" ")
    );
    let status = Command::new(env!("CARGO"))
        .args(&args)
        .env(STATIC_RUSTFLAGS_VAR, STATIC_RUSTFLAGS)
        .current_dir(workspace)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the static monitor failed ({status})");
    }
    let binary = target_dir(workspace)
        .join(TARGET)
        .join(if release { "release" } else { "debug" })
        .join("monitor");
    let elf = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    if has_interpreter(&elf).context("reading the ELF program headers")? {
        bail!(
            "{} is dynamically linked (it has a PT_INTERP header): FROM scratch has no loader",
            binary.display()
        );
    }

    // The build context holds only the binary: podman does not send the workspace and its
    // target directory (gigabytes) to the build.
    let context = target_dir(workspace).join("image-context");
    if context.exists() {
        fs::remove_dir_all(&context).with_context(|| format!("clearing {}", context.display()))?;
    }
    fs::create_dir_all(&context)?;
    fs::copy(&binary, context.join("monitor"))
        .with_context(|| format!("copying {} into the build context", binary.display()))?;
    let containerfile = workspace.join("deploy/image/Containerfile");
    let podman_args: Vec<String> = vec![
        "build".into(),
        "--file".into(),
        containerfile.display().to_string(),
        "--tag".into(),
        tag.into(),
        context.display().to_string(),
    ];
    eprintln!("xtask: podman {}", podman_args.join(" "));
    // podman prints the image id on stdout: send it to stderr, so that stdout is only the tag
    // (`IMAGE=$(cargo xtask image)`).
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stderr")?;
    let status = Command::new("podman")
        .args(&podman_args)
        .stdout(stderr)
        .status()
        .context("running podman (scripts/setup.sh --test installs it)")?;
    if !status.success() {
        bail!("podman build failed ({status})");
    }
    println!("{tag}");
    Ok(())
}

/// Where cargo builds to: `CARGO_TARGET_DIR` (relative to the workspace) or `target/`.
fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| workspace.join(d))
        .unwrap_or_else(|| workspace.join("target"))
}

/// Whether a little-endian ELF64 file asks for a dynamic loader (a `PT_INTERP` header). A
/// static-pie binary has none.
fn has_interpreter(elf: &[u8]) -> anyhow::Result<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        bail!("not an ELF64 file");
    }
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        bail!("truncated ELF header");
    };
    for index in 0..usize::from(phnum) {
        let at = usize::try_from(phoff)? + index * usize::from(phentsize);
        let Some(kind) = elf.get(at..at + 4) else {
            bail!("truncated program headers");
        };
        if u32::from_le_bytes(kind.try_into().expect("4 bytes")) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 header followed by one program header of type `kind`.
    fn elf_with_program_header(kind: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..5].copy_from_slice(b"\x7fELF\x02");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&kind.to_le_bytes());
        elf
    }

    #[test]
    fn only_a_pt_interp_header_makes_a_binary_dynamic() {
        const PT_LOAD: u32 = 1;
        const PT_INTERP: u32 = 3;
        assert!(has_interpreter(&elf_with_program_header(PT_INTERP)).unwrap());
        assert!(!has_interpreter(&elf_with_program_header(PT_LOAD)).unwrap());
        // A real dynamically linked program: /bin/sh on Debian.
        if let Ok(sh) = fs::read("/bin/sh") {
            assert!(has_interpreter(&sh).unwrap());
        }
        assert!(has_interpreter(b"not an elf").is_err());
        assert!(has_interpreter(&elf_with_program_header(PT_LOAD)[..66]).is_err());
    }
}
