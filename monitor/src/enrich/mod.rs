//! Enrichment: who made a call. Only process identity so far (pid, command, executable);
//! containers and Kubernetes metadata come later.
mod process;

pub use process::{ProcessInfo, ProcessTable};
