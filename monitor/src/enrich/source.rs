//! Where process facts that the kernel records do not carry (executable path, container id) come
//! from: `/proc` on a live host, or the answers a recording saved, so that a replay sees exactly
//! what the live run saw.
use std::{collections::HashMap, fs, path::PathBuf};

use super::container::container_id_from_cgroup;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcFacts {
    pub executable: Option<String>,
    pub container_id: Option<String>,
}

pub trait ProcessSource: Send {
    fn facts(&mut self, pid: u32) -> ProcFacts;
}

/// The live host's `/proc` (another root in tests).
pub struct ProcFs {
    root: PathBuf,
}

impl ProcFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

impl ProcessSource for ProcFs {
    fn facts(&mut self, pid: u32) -> ProcFacts {
        let dir = self.root.join(pid.to_string());
        ProcFacts {
            executable: fs::read_link(dir.join("exe"))
                .ok()
                .map(|p| p.display().to_string()),
            container_id: fs::read_to_string(dir.join("cgroup"))
                .ok()
                .and_then(|text| container_id_from_cgroup(&text)),
        }
    }
}

/// Answers saved in a recording; a pid the recording has nothing on gets no facts, as a process
/// that had already exited would.
#[derive(Default)]
pub struct RecordedFacts {
    facts: HashMap<u32, ProcFacts>,
}

impl RecordedFacts {
    pub fn insert(&mut self, pid: u32, facts: ProcFacts) {
        self.facts.insert(pid, facts);
    }
}

impl ProcessSource for RecordedFacts {
    fn facts(&mut self, pid: u32) -> ProcFacts {
        self.facts.get(&pid).cloned().unwrap_or_default()
    }
}
