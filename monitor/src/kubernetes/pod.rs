//! A Pod object from the API server, reduced to `PodMeta`.
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::{Owner, PodMeta};

/// The annotation a static pod's mirror carries: the UID the kubelet uses on the node.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// `None` for an object without a UID, name or namespace (not a real pod).
pub fn pod_meta(pod: &Pod) -> Option<PodMeta> {
    let metadata = &pod.metadata;
    let labels = metadata.labels.clone().unwrap_or_default();
    let owner = metadata.owner_references.as_ref().and_then(|owners| {
        // The controller reference is the owner; other references (garbage-collection links)
        // are not who runs the pod.
        let controller = owners.iter().find(|o| o.controller == Some(true))?;
        Some(Owner::of(
            &controller.kind,
            &controller.name,
            labels.get("pod-template-hash").map(String::as_str),
        ))
    });
    let status = pod.status.as_ref();
    let statuses = status
        .into_iter()
        .flat_map(|s| {
            [
                s.container_statuses.as_deref(),
                s.init_container_statuses.as_deref(),
                s.ephemeral_container_statuses.as_deref(),
            ]
        })
        .flatten()
        .flatten();
    let containers = statuses
        .filter_map(|status: &ContainerStatus| {
            // `containerd://<id>`, `cri-o://<id>`, `docker://<id>`: the id is what cgroup paths
            // carry.
            let id = status.container_id.as_deref()?.rsplit("://").next()?;
            (!id.is_empty()).then(|| (id.to_ascii_lowercase(), status.name.clone()))
        })
        .collect();
    Some(PodMeta {
        uid: metadata.uid.clone()?,
        namespace: metadata.namespace.clone()?,
        name: metadata.name.clone()?,
        labels,
        owner,
        service_account: pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone()),
        containers,
        mirror_of: metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MIRROR_ANNOTATION).cloned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_pod_from_real_api_json() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "checkout-6d4b9c7f5d-x2k8q",
                "namespace": "payments",
                "uid": "5f0c2a8e-9a51-4f8e-8f0e-3b2a1c9d7e6f",
                "labels": {"app": "checkout", "pod-template-hash": "6d4b9c7f5d"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-6d4b9c7f5d",
                    "uid": "1b2c3d4e-0000-1111-2222-333344445555", "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {"serviceAccountName": "checkout", "nodeName": "node-a",
                     "containers": [{"name": "app", "image": "checkout:1"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": 0, "image": "checkout:1",
                "imageID": "sha256:00", "containerID": "containerd://ABCDEF0123",
                "state": {"running": {"startedAt": "2026-11-27T10:00:00Z"}}
            }]}
        }))
        .unwrap();
        let meta = pod_meta(&pod).unwrap();
        assert_eq!(meta.namespace, "payments");
        assert_eq!(
            meta.owner,
            Some(Owner {
                kind: "Deployment".into(),
                name: "checkout".into()
            })
        );
        assert_eq!(meta.service_account.as_deref(), Some("checkout"));
        assert_eq!(
            meta.containers.get("abcdef0123").map(String::as_str),
            Some("app")
        );
        assert_eq!(meta.mirror_of, None);
    }

    #[test]
    fn an_object_without_identity_is_not_a_pod() {
        assert_eq!(pod_meta(&Pod::default()), None);
    }
}
