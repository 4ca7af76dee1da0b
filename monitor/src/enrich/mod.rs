//! Enrichment: who made a call. Process identity (pid, command, executable, user, container);
//! Kubernetes metadata comes later.
mod container;
mod process;

pub use container::container_id_from_cgroup;
pub use process::{ProcessInfo, ProcessTable};
