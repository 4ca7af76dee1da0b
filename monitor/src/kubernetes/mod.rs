//! Kubernetes identity of the processes the monitor sees: which pod, namespace, container and
//! owning workload a call or alert belongs to, and what policy selectors match on.
//!
//! Two halves meet here. The pod UID comes from the process's cgroup path (`cgroup`), known the
//! moment the process starts, so nothing races. The pod's metadata (name, namespace, labels,
//! owner, service account, container names) comes from a list+watch of the pods scheduled on
//! this node (`watch`, the `kubernetes` cargo feature) into a shared `PodStore`. The pipeline
//! joins the two per call through a `PodSource`: the live store, a recording of its answers, or
//! a replay of them, so a replay sees the same identities the live run did.
mod cgroup;
mod identity;
#[cfg(feature = "kubernetes")]
mod pod;
mod source;
mod store;
#[cfg(feature = "kubernetes")]
mod watch;

pub use cgroup::pod_uid_from_cgroup;
pub use identity::{K8sIdentity, Labels, MAX_LABELS_SHOWN, Owner, PodMeta};
pub use source::{AnswerLog, PodAnswer, PodSource, RecordedPods};
pub use store::{PodEntry, PodStore};
#[cfg(feature = "kubernetes")]
pub use watch::{WatchError, spawn_pod_watch};
