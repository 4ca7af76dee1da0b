//! The pod UID in a process's cgroup path, as the kubelet lays it out with either cgroup driver:
//! - systemd: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/...`
//!   (`-` in the UID written as `_`; Guaranteed pods sit directly in `kubepods-pod<uid>.slice`);
//! - cgroupfs: `/kubepods/burstable/pod<uid>/<container id>` (`/kubepods/pod<uid>/...`).
//!
//! Static pods (manifests on the node) have a 32-hex UID, the hash of their manifest, instead of
//! a UUID; their mirror pod in the API carries it as an annotation (see `PodMeta::mirror_of`).
use std::sync::LazyLock;

use regex::Regex;

static POD_COMPONENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:kubepods(?:-[a-z]+)*-)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?$",
    )
    .expect("a valid constant pattern")
});

/// The pod UID (with `-`, as the API writes it) in the text of `/proc/<pid>/cgroup`, if the
/// process runs in a pod.
pub fn pod_uid_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        // `hierarchy-id:controllers:path`; the path may itself contain ':'.
        let path = line.splitn(3, ':').nth(2)?;
        // Only below a `kubepods` component: a `pod…` directory elsewhere is someone else's.
        // In a private cgroup namespace (a container's default on cgroup v2, hostPID or not)
        // paths are relative to the monitor's own pod cgroup (`/../../besteffort/pod<uid>/…`)
        // and may no longer show `kubepods`: there, a path that climbs out of the namespace is
        // taken as the kubelet's.
        let relative = path.starts_with("/..");
        let mut components = path
            .split('/')
            .skip_while(|c| !relative && !c.starts_with("kubepods"));
        components.find_map(|component| {
            POD_COMPONENT
                .captures(component)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().replace('_', "-"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0a1b2c3d-1111-2222-3333-444455556666";
    const CID: &str = "4f1b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829";

    #[test]
    fn systemd_driver_paths_every_qos_class() {
        let underscored = UID.replace('-', "_");
        for cgroup in [
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/cri-containerd-{CID}.scope"
            ),
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/crio-{CID}.scope"
            ),
            format!(
                "0::/kubepods.slice/kubepods-pod{underscored}.slice/cri-containerd-{CID}.scope"
            ),
            // cgroup v1: the path is on every hierarchy's line.
            format!(
                "12:pids:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/docker-{CID}.scope\n11:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/docker-{CID}.scope"
            ),
        ] {
            assert_eq!(
                pod_uid_from_cgroup(&cgroup).as_deref(),
                Some(UID),
                "{cgroup}"
            );
        }
    }

    #[test]
    fn cgroupfs_driver_paths() {
        for cgroup in [
            format!("0::/kubepods/besteffort/pod{UID}/{CID}"),
            format!("0::/kubepods/pod{UID}/{CID}"),
            format!("4:memory:/kubepods/burstable/pod{UID}/{CID}"),
            // A nested runtime (kind, k3s in docker) puts the kubelet's tree below its own.
            format!("0::/docker/{CID}/kubepods/burstable/pod{UID}/{CID}"),
        ] {
            assert_eq!(
                pod_uid_from_cgroup(&cgroup).as_deref(),
                Some(UID),
                "{cgroup}"
            );
        }
    }

    #[test]
    fn paths_seen_from_a_private_cgroup_namespace() {
        let underscored = UID.replace('-', "_");
        for cgroup in [
            format!("0::/../../../besteffort/pod{UID}/{CID}"),
            format!("0::/../../pod{UID}/{CID}"),
            format!(
                "0::/../../../kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/cri-containerd-{CID}.scope"
            ),
        ] {
            assert_eq!(
                pod_uid_from_cgroup(&cgroup).as_deref(),
                Some(UID),
                "{cgroup}"
            );
        }
        // The monitor's own cgroup, seen from inside its namespace: not a pod path.
        assert_eq!(pod_uid_from_cgroup("0::/"), None);
    }

    #[test]
    fn static_pods_have_a_hash_uid() {
        let hash = "6b1d3f0a9c8e7d6b5a4f3e2d1c0b9a88";
        assert_eq!(
            pod_uid_from_cgroup(&format!("0::/kubepods/burstable/pod{hash}/{CID}")).as_deref(),
            Some(hash)
        );
    }

    #[test]
    fn outside_kubernetes_there_is_none() {
        for cgroup in [
            format!("0::/system.slice/docker-{CID}.scope"),
            "0::/user.slice/user-0.slice/session-1.scope".to_owned(),
            format!("0::/machine.slice/libpod-{CID}.scope"),
            // A `pod…` directory that is not under kubepods.
            format!("0::/podman/pod{UID}/{CID}"),
            String::new(),
            "garbage".to_owned(),
        ] {
            assert_eq!(pod_uid_from_cgroup(&cgroup), None, "{cgroup}");
        }
    }
}
