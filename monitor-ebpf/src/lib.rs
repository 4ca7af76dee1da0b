//! Host-side stub: the kernel programs live in the `monitor` binary target and are only built for
//! `bpfel-unknown-none` (by `monitor`'s build script). This library exists so that host tools
//! (`cargo clippy --workspace`, `cargo test --workspace`) can walk the workspace.
#![no_std]
