//! Enrichment: who made a call. Process identity (pid, command, executable, user, container);
//! Kubernetes metadata comes later.
mod container;
mod process;
mod source;

pub use container::container_id_from_cgroup;
pub use process::{ProcessInfo, ProcessTable};
pub use source::{ProcFacts, ProcFs, ProcessSource, RecordedFacts};
