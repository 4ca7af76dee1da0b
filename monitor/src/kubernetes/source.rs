//! Where the pipeline gets a pod's metadata: the live store, or the answers a recording saved.
//!
//! A live answer changes over time (a pod unknown at its first call is known at the next), so a
//! recording saves each answer with the number of the lookup for that UID at which it first
//! appeared, and a replay, making the same lookups in the same order, gives each lookup the
//! answer the live run gave it.
use std::{
    collections::HashMap,
    sync::{Arc, Weak},
};

use super::{PodMeta, PodStore, store::PodEntry};

pub trait PodSource: Send {
    /// The pod with this UID (as a cgroup path shows it), if known.
    fn pod(&mut self, pod_uid: &str) -> Option<Arc<PodEntry>>;
}

impl PodSource for Arc<PodStore> {
    fn pod(&mut self, pod_uid: &str) -> Option<Arc<PodEntry>> {
        self.get(pod_uid)
    }
}

/// A changed answer for one pod UID: from its `lookup`-th lookup on (counting from 1).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodAnswer {
    pub pod_uid: String,
    pub lookup: u64,
    pub pod: Option<PodMeta>,
}

/// Counts lookups per UID and tells when an answer differs from the previous one for that UID.
/// The previous answer is held weakly: a deleted pod's metadata is freed, while its allocation
/// (kept by the `Weak`) cannot be reused for a new entry that would compare equal.
#[derive(Default)]
pub struct AnswerLog {
    last: HashMap<String, (u64, Option<Weak<PodEntry>>)>,
}

impl AnswerLog {
    /// The answer to save for this lookup, if it changed.
    pub fn observe(&mut self, pod_uid: &str, answer: Option<&Arc<PodEntry>>) -> Option<PodAnswer> {
        let (count, last) = self.last.entry(pod_uid.to_owned()).or_insert((0, None));
        *count += 1;
        let same = match (last.as_ref(), answer) {
            (None, None) => *count > 1,
            (Some(a), Some(b)) => std::ptr::eq(a.as_ptr(), Arc::as_ptr(b)),
            _ => false,
        };
        if same {
            return None;
        }
        *last = answer.map(Arc::downgrade);
        Some(PodAnswer {
            pod_uid: pod_uid.to_owned(),
            lookup: *count,
            pod: answer.map(|entry| entry.meta.clone()),
        })
    }
}

/// One UID's answers: from which lookup on, what.
type Answers = Vec<(u64, Option<Arc<PodEntry>>)>;

/// The recorded answers, replayed lookup by lookup.
#[derive(Default)]
pub struct RecordedPods {
    answers: HashMap<String, Answers>,
    lookups: HashMap<String, u64>,
}

impl RecordedPods {
    pub fn insert(&mut self, answer: PodAnswer) {
        let entry = answer.pod.map(|meta| Arc::new(PodEntry::new(meta)));
        // A recording writes each UID's answers in lookup order.
        self.answers
            .entry(answer.pod_uid)
            .or_default()
            .push((answer.lookup, entry));
    }
}

impl PodSource for RecordedPods {
    fn pod(&mut self, pod_uid: &str) -> Option<Arc<PodEntry>> {
        let count = self.lookups.entry(pod_uid.to_owned()).or_insert(0);
        *count += 1;
        self.answers
            .get(pod_uid)?
            .iter()
            .take_while(|(lookup, _)| *lookup <= *count)
            .last()
            .and_then(|(_, entry)| entry.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> PodMeta {
        PodMeta {
            uid: "u1".into(),
            namespace: "ns".into(),
            name: name.into(),
            labels: Default::default(),
            owner: None,
            service_account: None,
            containers: Default::default(),
            mirror_of: None,
        }
    }

    #[test]
    fn a_replay_answers_each_lookup_as_the_live_run_did() {
        let store = Arc::new(PodStore::default());
        let mut live: Arc<PodStore> = store.clone();
        let mut log = AnswerLog::default();
        let mut saved = Vec::new();
        let mut seen = Vec::new();
        let mut look = |live: &mut Arc<PodStore>, log: &mut AnswerLog, seen: &mut Vec<_>| {
            let answer = live.pod("u1");
            saved.extend(log.observe("u1", answer.as_ref()));
            seen.push(answer.map(|a| a.meta.name.clone()));
        };
        look(&mut live, &mut log, &mut seen); // unknown
        look(&mut live, &mut log, &mut seen); // still unknown: nothing saved
        store.apply(meta("web-1"));
        look(&mut live, &mut log, &mut seen);
        look(&mut live, &mut log, &mut seen); // same entry: nothing saved
        store.apply(meta("web-1-relabelled"));
        look(&mut live, &mut log, &mut seen);
        assert_eq!(saved.len(), 3, "{saved:?}");

        let mut replayed = RecordedPods::default();
        for answer in saved {
            replayed.insert(answer);
        }
        let again: Vec<_> = (0..5)
            .map(|_| replayed.pod("u1").map(|a| a.meta.name.clone()))
            .collect();
        assert_eq!(again, seen);
    }
}
