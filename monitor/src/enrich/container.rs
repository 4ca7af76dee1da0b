//! Container id of a process, from its cgroup path (`/proc/<pid>/cgroup`).
//!
//! Every common runtime puts the 64-hex container id in the last component of the cgroup path,
//! with a runtime-specific decoration:
//! - Docker (systemd driver): `/system.slice/docker-<id>.scope`; (cgroupfs driver): `/docker/<id>`
//! - containerd under Kubernetes: `.../kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`
//!   or `/kubepods/besteffort/pod<uid>/<id>`
//! - CRI-O: `.../crio-<id>.scope`; podman: `/machine.slice/libpod-<id>.scope`
use std::sync::LazyLock;

use regex::Regex;

static CONTAINER_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$").expect("a valid constant pattern")
});

/// The container id in the text of `/proc/<pid>/cgroup`, if the process runs in a container.
pub fn container_id_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        // `hierarchy-id:controllers:path`; the path may itself contain ':'.
        let path = line.splitn(3, ':').nth(2)?;
        let last = path.trim_end_matches('/').rsplit('/').next()?;
        CONTAINER_ID
            .captures(last)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829";

    #[test]
    fn recognises_the_common_runtimes() {
        for cgroup in [
            format!("0::/system.slice/docker-{ID}.scope"),
            format!("12:pids:/docker/{ID}"),
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice/cri-containerd-{ID}.scope"
            ),
            format!("0::/kubepods/besteffort/pod0a1b2c3d-1111-2222-3333-444455556666/{ID}"),
            format!("0::/kubepods.slice/kubepods-burstable.slice/crio-{ID}.scope"),
            format!("0::/machine.slice/libpod-{ID}.scope"),
        ] {
            assert_eq!(
                container_id_from_cgroup(&cgroup).as_deref(),
                Some(ID),
                "{cgroup}"
            );
        }
    }

    #[test]
    fn host_processes_have_none() {
        assert_eq!(
            container_id_from_cgroup("0::/user.slice/user-0.slice/session-1.scope"),
            None
        );
        assert_eq!(container_id_from_cgroup("0::/init.scope\n"), None);
        assert_eq!(container_id_from_cgroup(""), None);
        assert_eq!(container_id_from_cgroup("garbage without colons"), None);
    }
}
