//! A pod as the monitor keeps it (`PodMeta`: what the API server said, reduced to what calls,
//! alerts and selectors use) and a process's identity in it (`K8sIdentity`: the `k8s` object of
//! calls and alerts).
use std::{collections::BTreeMap, sync::Arc};

use serde::{Deserialize, Serialize, Serializer, ser::SerializeMap as _};

/// Labels an event shows at most; a pod can carry many (Helm, Argo, Istio each add several) and
/// every call repeats them. Selectors still see all of them; the rest are counted in the
/// event's `labels_omitted` and in `monitor_k8s_labels_omitted_total`.
pub const MAX_LABELS_SHOWN: usize = 16;

/// The workload that owns a pod: a Deployment (through its ReplicaSet), StatefulSet, DaemonSet,
/// Job, or whatever other controller the owner reference names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

impl Owner {
    /// The owner of a pod from its controller reference: a ReplicaSet named
    /// `<deployment>-<pod-template-hash>` belongs to that Deployment (the ReplicaSet changes at
    /// every rollout; the Deployment is what people name and what keys must survive a rollout).
    pub fn of(kind: &str, name: &str, pod_template_hash: Option<&str>) -> Self {
        if kind == "ReplicaSet"
            && let Some(hash) = pod_template_hash
            && let Some(deployment) = name.strip_suffix(hash).and_then(|n| n.strip_suffix('-'))
            && !deployment.is_empty()
        {
            return Self {
                kind: "Deployment".to_owned(),
                name: deployment.to_owned(),
            };
        }
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// One pod of this node, as the API server described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMeta {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: Option<Owner>,
    #[serde(default)]
    pub service_account: Option<String>,
    /// Container id (hex, without the `containerd://` prefix) → container name, from the pod's
    /// container statuses (init and ephemeral containers included).
    #[serde(default)]
    pub containers: BTreeMap<String, String>,
    /// Static pods: the UID the kubelet uses on the node (and in cgroup paths), which differs
    /// from the mirror pod's own UID (`kubernetes.io/config.mirror`).
    #[serde(default)]
    pub mirror_of: Option<String>,
}

/// A pod's labels, shared by every identity of the pod. Serialised as at most
/// `MAX_LABELS_SHOWN` entries, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(pub Arc<BTreeMap<String, String>>);

impl Labels {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Labels left out of events.
    pub fn omitted(&self) -> usize {
        self.0.len().saturating_sub(MAX_LABELS_SHOWN)
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shown = self.0.len().min(MAX_LABELS_SHOWN);
        let mut map = serializer.serialize_map(Some(shown))?;
        for (key, value) in self.0.iter().take(shown) {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A process's Kubernetes identity: the `k8s` object of calls and alerts. When the pod is not
/// known yet (the watch has not delivered it), only `pod_uid` is set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct K8sIdentity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    pub pod_uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(skip_serializing_if = "is_zero")]
    pub labels_omitted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

impl K8sIdentity {
    /// A process of a pod the monitor has no metadata for (yet).
    pub fn unknown_pod(pod_uid: &str) -> Self {
        Self {
            namespace: None,
            pod: None,
            pod_uid: pod_uid.to_owned(),
            container: None,
            labels: Labels::default(),
            labels_omitted: 0,
            owner: None,
            service_account: None,
        }
    }

    /// A process in `pod`, in the container with this id if the pod lists it.
    pub fn in_pod(pod: &PodMeta, labels: &Labels, container_id: Option<&str>) -> Self {
        Self {
            namespace: Some(pod.namespace.clone()),
            pod: Some(pod.name.clone()),
            pod_uid: pod.uid.clone(),
            container: container_id.and_then(|id| pod.containers.get(id).cloned()),
            labels: labels.clone(),
            labels_omitted: labels.omitted(),
            owner: pod.owner.clone(),
            service_account: pod.service_account.clone(),
        }
    }

    /// What rates, inventories and credential owners group this process by: the owner workload
    /// and container, so that a rollout (new pods, new ReplicaSet, new container ids) keeps the
    /// same key. A pod without an owner is its own workload; an unknown pod is only its UID.
    pub fn workload_key(&self) -> String {
        let namespace = self.namespace.as_deref().unwrap_or("");
        let container = self.container.as_deref().unwrap_or("");
        match (&self.owner, &self.pod) {
            (Some(owner), _) => format!("{namespace}/{}/{}/{container}", owner.kind, owner.name),
            (None, Some(pod)) => format!("{namespace}/Pod/{pod}/{container}"),
            (None, None) => format!("pod/{}", self.pod_uid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(labels: usize) -> PodMeta {
        PodMeta {
            uid: "u-1".into(),
            namespace: "payments".into(),
            name: "checkout-7d9f8c-abcde".into(),
            labels: (0..labels)
                .map(|i| (format!("l{i:02}"), "v".into()))
                .collect(),
            owner: Some(Owner::of("ReplicaSet", "checkout-7d9f8c", Some("7d9f8c"))),
            service_account: Some("checkout".into()),
            containers: [("c1".to_owned(), "app".to_owned())].into(),
            mirror_of: None,
        }
    }

    #[test]
    fn a_replicaset_with_its_template_hash_belongs_to_a_deployment() {
        assert_eq!(
            Owner::of("ReplicaSet", "checkout-7d9f8c", Some("7d9f8c")),
            Owner {
                kind: "Deployment".into(),
                name: "checkout".into()
            }
        );
        // Without the hash (a bare ReplicaSet), or a name that does not end in it, it stays one.
        assert_eq!(
            Owner::of("ReplicaSet", "checkout-7d9f8c", None).kind,
            "ReplicaSet"
        );
        assert_eq!(
            Owner::of("ReplicaSet", "checkout", Some("7d9f8c")).kind,
            "ReplicaSet"
        );
        assert_eq!(
            Owner::of("StatefulSet", "db", Some("x")).kind,
            "StatefulSet"
        );
    }

    #[test]
    fn events_show_a_bounded_label_set_and_say_how_many_were_left_out() {
        let meta = pod(20);
        let labels = Labels(Arc::new(meta.labels.clone()));
        let identity = K8sIdentity::in_pod(&meta, &labels, Some("c1"));
        let json = serde_json::to_value(&identity).unwrap();
        assert_eq!(json["labels"].as_object().unwrap().len(), MAX_LABELS_SHOWN);
        assert_eq!(json["labels_omitted"], 4);
        assert_eq!(json["container"], "app");
        assert_eq!(json["owner"]["kind"], "Deployment");
        // Selectors see every label.
        assert_eq!(identity.labels.get("l19"), Some("v"));
    }

    #[test]
    fn keys_survive_a_rollout_but_not_a_change_of_container() {
        let a = pod(1);
        let mut b = pod(1);
        b.uid = "u-2".into();
        b.name = "checkout-5b6c7d-xyz12".into();
        b.containers = [("c2".to_owned(), "app".to_owned())].into();
        let labels = Labels::default();
        let key_a = K8sIdentity::in_pod(&a, &labels, Some("c1")).workload_key();
        let key_b = K8sIdentity::in_pod(&b, &labels, Some("c2")).workload_key();
        assert_eq!(key_a, "payments/Deployment/checkout/app");
        assert_eq!(key_a, key_b);
        assert_eq!(K8sIdentity::unknown_pod("u-9").workload_key(), "pod/u-9");
        let json = serde_json::to_value(K8sIdentity::unknown_pod("u-9")).unwrap();
        assert_eq!(json, serde_json::json!({"pod_uid": "u-9"}));
    }
}
