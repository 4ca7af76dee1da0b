//! The name people give the workload a process belongs to, shared by everything that groups by
//! workload for humans (metric labels, Alertmanager labels): `namespace/Kind/name` in Kubernetes
//! (the owner, so the pods of one Deployment are one workload), else the executable's file name
//! (or the command), with the short container id when in a container. Never a pod name when an
//! owner is known, never a pid: what a route or a dashboard groups by must outlive a rollout.
use std::borrow::Cow;

use crate::kubernetes::K8sIdentity;

pub fn workload_name<'a>(
    k8s: Option<&'a K8sIdentity>,
    executable: Option<&'a str>,
    command: &'a str,
    container_id: Option<&'a str>,
) -> Cow<'a, str> {
    if let Some(k8s) = k8s
        && let Some(namespace) = &k8s.namespace
    {
        return match (&k8s.owner, &k8s.pod) {
            (Some(owner), _) => format!("{namespace}/{}/{}", owner.kind, owner.name).into(),
            (None, Some(pod)) => format!("{namespace}/Pod/{pod}").into(),
            (None, None) => Cow::Borrowed(namespace),
        };
    }
    let program = executable
        .and_then(|e| e.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or(command);
    match container_id {
        Some(id) => format!("{program}@{}", id.get(..12).unwrap_or(id)).into(),
        None => Cow::Borrowed(program),
    }
}

impl super::ProcessOut {
    pub fn workload_name(&self) -> Cow<'_, str> {
        workload_name(
            self.k8s.as_deref(),
            self.executable.as_deref(),
            &self.command,
            self.container_id.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_process_is_its_executable_and_a_container_adds_its_short_id() {
        assert_eq!(
            workload_name(None, Some("/usr/bin/curl"), "curl", None),
            "curl"
        );
        assert_eq!(workload_name(None, None, "python3", None), "python3");
        assert_eq!(
            workload_name(
                None,
                Some("/app/server"),
                "server",
                Some("0123456789abcdef0123")
            ),
            "server@0123456789ab"
        );
    }
}
