//! The pods of this node, shared between the watch (writer) and the pipeline (reader).
//!
//! Each pod is kept with its identities already built (one per container, one for a process
//! whose container the pod does not list yet), so a call's lookup is a hash probe and an `Arc`
//! clone. A deleted pod stays for `DELETED_GRACE`: the last calls of its processes are often read
//! after the API server has announced the deletion.
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use super::identity::{K8sIdentity, Labels, PodMeta};

/// How long a deleted pod's metadata is still given to its processes' late calls.
pub const DELETED_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct PodEntry {
    pub meta: PodMeta,
    by_container: HashMap<String, Arc<K8sIdentity>>,
    no_container: Arc<K8sIdentity>,
}

impl PodEntry {
    pub fn new(meta: PodMeta) -> Self {
        let labels = Labels(Arc::new(meta.labels.clone()));
        let by_container = meta
            .containers
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    Arc::new(K8sIdentity::in_pod(&meta, &labels, Some(id))),
                )
            })
            .collect();
        let no_container = Arc::new(K8sIdentity::in_pod(&meta, &labels, None));
        Self {
            meta,
            by_container,
            no_container,
        }
    }

    /// The identity of a process of this pod in the container with this id.
    pub fn identity(&self, container_id: Option<&str>) -> Arc<K8sIdentity> {
        container_id
            .and_then(|id| self.by_container.get(id))
            .unwrap_or(&self.no_container)
            .clone()
    }

    /// Whether the pod lists this container (a new container, e.g. after a restart, appears in
    /// the pod's status a moment after its processes start).
    pub fn knows_container(&self, container_id: &str) -> bool {
        self.by_container.contains_key(container_id)
    }
}

#[derive(Default)]
struct Pods {
    /// By the UID a cgroup path shows: the pod's own, and a static pod's kubelet UID.
    by_uid: HashMap<String, Arc<PodEntry>>,
    deleted: VecDeque<(Instant, String)>,
}

/// Shared by the watch task and the pipeline.
#[derive(Default)]
pub struct PodStore {
    pods: RwLock<Pods>,
}

impl PodStore {
    pub fn get(&self, pod_uid: &str) -> Option<Arc<PodEntry>> {
        self.read().by_uid.get(pod_uid).cloned()
    }

    /// A pod was added or changed. Most updates change only what the monitor does not keep
    /// (status conditions, annotations): the entry then stays the same, so lookups (and a
    /// recording's answers) see no change.
    pub fn apply(&self, meta: PodMeta) {
        if self.get(&meta.uid).is_some_and(|entry| entry.meta == meta) {
            return;
        }
        let entry = Arc::new(PodEntry::new(meta));
        let mut pods = self.write();
        insert(&mut pods.by_uid, entry);
    }

    /// A pod was deleted: its metadata goes after `DELETED_GRACE`.
    pub fn delete(&self, uid: &str, now: Instant) {
        let mut pods = self.write();
        pods.deleted.push_back((now, uid.to_owned()));
        expire(&mut pods, now);
    }

    /// A complete list replaced everything (the watch started or restarted after `410 Gone`):
    /// pods missing from it were deleted meanwhile.
    pub fn replace_all(&self, metas: Vec<PodMeta>, now: Instant) {
        let mut fresh = HashMap::new();
        for meta in metas {
            insert(&mut fresh, Arc::new(PodEntry::new(meta)));
        }
        let mut pods = self.write();
        let vanished: Vec<String> = pods
            .by_uid
            .iter()
            .filter(|(uid, entry)| **uid == entry.meta.uid && !fresh.contains_key(*uid))
            .map(|(uid, _)| uid.clone())
            .collect();
        // Vanished pods stay for the grace period, as if their deletion had been seen; a fresh
        // pod keeps any key they shared (a static pod's new mirror owns its kubelet UID).
        for uid in vanished {
            if let Some(entry) = pods.by_uid.get(&uid).cloned() {
                if let Some(mirror) = &entry.meta.mirror_of {
                    fresh.entry(mirror.clone()).or_insert_with(|| entry.clone());
                }
                fresh.entry(uid.clone()).or_insert(entry);
                pods.deleted.push_back((now, uid));
            }
        }
        pods.by_uid = fresh;
        expire(&mut pods, now);
    }

    /// Forgets deleted pods whose grace period is over.
    pub fn expire(&self, now: Instant) {
        expire(&mut self.write(), now);
    }

    /// Pods known (a static pod counts once).
    pub fn len(&self) -> usize {
        let pods = self.read();
        pods.by_uid
            .iter()
            .filter(|(uid, entry)| **uid == entry.meta.uid)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A poisoned lock only means a writer panicked mid-update of plain maps; the data is still
    // usable, and capture must not stop over it.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Pods> {
        self.pods.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Pods> {
        self.pods.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn insert(by_uid: &mut HashMap<String, Arc<PodEntry>>, entry: Arc<PodEntry>) {
    if let Some(mirror) = &entry.meta.mirror_of {
        by_uid.insert(mirror.clone(), entry.clone());
    }
    by_uid.insert(entry.meta.uid.clone(), entry);
}

fn expire(pods: &mut Pods, now: Instant) {
    while let Some((at, uid)) = pods.deleted.front() {
        if now.duration_since(*at) < DELETED_GRACE {
            break;
        }
        let uid = uid.clone();
        pods.deleted.pop_front();
        // UIDs are never reused, so a deleted UID does not come back. A static pod's kubelet
        // UID goes with it only if no newer mirror pod has taken it over.
        if let Some(entry) = pods.by_uid.remove(&uid)
            && let Some(mirror) = &entry.meta.mirror_of
            && pods
                .by_uid
                .get(mirror)
                .is_some_and(|current| Arc::ptr_eq(current, &entry))
        {
            pods.by_uid.remove(mirror);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::Owner;

    fn meta(uid: &str, name: &str) -> PodMeta {
        PodMeta {
            uid: uid.into(),
            namespace: "ns".into(),
            name: name.into(),
            labels: [("app".to_owned(), name.to_owned())].into(),
            owner: Some(Owner {
                kind: "StatefulSet".into(),
                name: "db".into(),
            }),
            service_account: None,
            containers: [("cid".to_owned(), "main".to_owned())].into(),
            mirror_of: None,
        }
    }

    #[test]
    fn identities_are_built_once_per_container() {
        let store = PodStore::default();
        store.apply(meta("u1", "db-0"));
        let entry = store.get("u1").unwrap();
        let a = entry.identity(Some("cid"));
        let b = entry.identity(Some("cid"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.container.as_deref(), Some("main"));
        assert_eq!(entry.identity(Some("other")).container, None);
        assert!(!entry.knows_container("other"));
    }

    #[test]
    fn a_deleted_pod_stays_for_its_late_calls_then_goes() {
        let store = PodStore::default();
        let t0 = Instant::now();
        store.apply(meta("u1", "db-0"));
        store.delete("u1", t0);
        assert!(store.get("u1").is_some());
        store.expire(t0 + DELETED_GRACE);
        assert!(store.get("u1").is_none());
    }

    #[test]
    fn a_relist_replaces_everything_and_keeps_vanished_pods_for_the_grace_period() {
        let store = PodStore::default();
        let t0 = Instant::now();
        store.apply(meta("u1", "db-0"));
        store.apply(meta("u2", "db-1"));
        store.replace_all(vec![meta("u2", "db-1"), meta("u3", "db-2")], t0);
        assert_eq!(store.len(), 3);
        store.expire(t0 + DELETED_GRACE);
        assert!(store.get("u1").is_none());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn a_static_pod_is_found_by_its_kubelet_uid() {
        let store = PodStore::default();
        let mut mirror = meta("api-uid", "kube-apiserver-node1");
        mirror.mirror_of = Some("6b1d3f0a9c8e7d6b5a4f3e2d1c0b9a88".into());
        store.apply(mirror);
        assert_eq!(
            store
                .get("6b1d3f0a9c8e7d6b5a4f3e2d1c0b9a88")
                .unwrap()
                .meta
                .name,
            "kube-apiserver-node1"
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_recreated_mirror_pod_keeps_the_static_pod_found() {
        let store = PodStore::default();
        let hash = "6b1d3f0a9c8e7d6b5a4f3e2d1c0b9a88";
        let t0 = Instant::now();
        let mut old = meta("mirror-1", "etcd-node1");
        old.mirror_of = Some(hash.into());
        store.apply(old);
        store.delete("mirror-1", t0);
        let mut new = meta("mirror-2", "etcd-node1");
        new.mirror_of = Some(hash.into());
        store.apply(new);
        store.expire(t0 + DELETED_GRACE);
        assert_eq!(store.get(hash).unwrap().meta.uid, "mirror-2");
        // The same through a relist that no longer lists the old mirror.
        store.replace_all(vec![], t0);
        let mut newer = meta("mirror-3", "etcd-node1");
        newer.mirror_of = Some(hash.into());
        store.replace_all(vec![newer], t0);
        assert_eq!(store.get(hash).unwrap().meta.uid, "mirror-3");
    }

    #[test]
    fn an_unchanged_update_keeps_the_entry() {
        let store = PodStore::default();
        store.apply(meta("u1", "db-0"));
        let before = store.get("u1").unwrap();
        store.apply(meta("u1", "db-0"));
        assert!(Arc::ptr_eq(&before, &store.get("u1").unwrap()));
        store.apply(meta("u1", "db-0-renamed"));
        assert!(!Arc::ptr_eq(&before, &store.get("u1").unwrap()));
    }
}
