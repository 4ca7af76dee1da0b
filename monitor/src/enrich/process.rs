//! Process identity, cached per pid.
//!
//! The executable path comes from the kernel's exec event when the process started after the
//! monitor (short-lived clients are often gone before their records are read, taking
//! `/proc/<pid>/exe` with them), otherwise from the process source (`/proc`) on first sight. The
//! user id comes with every kernel record; the container id from the cgroup path. Entries are
//! refreshed on exec and freed on exit, so the table holds live processes only.
use std::sync::Arc;

use super::source::{ProcFacts, ProcessSource, SocketAddrs};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// Shared strings: every API call of the process carries them (a clone is a count bump).
    pub command: Arc<str>,
    pub executable: Option<Arc<str>>,
    pub uid: u32,
    pub container_id: Option<Arc<str>>,
    /// The pod UID from the cgroup path (Kubernetes); its metadata is looked up per call.
    pub pod_uid: Option<String>,
}

pub struct ProcessTable {
    source: Box<dyn ProcessSource>,
    processes: crate::IdMap<u32, Arc<ProcessInfo>>,
}

impl ProcessTable {
    pub fn new(source: impl ProcessSource + 'static) -> Self {
        Self {
            source: Box::new(source),
            processes: Default::default(),
        }
    }

    /// The process ran `execve(filename)`: its identity changed.
    pub fn on_exec(&mut self, pid: u32, command: &str, uid: u32, filename: &str) {
        let ProcFacts {
            executable,
            container_id,
            pod_uid,
        } = self.source.facts(pid);
        // /proc/<pid>/exe resolves symlinks and relative names; the exec argument is the fallback
        // when the process is already gone.
        let executable = executable.or_else(|| (!filename.is_empty()).then(|| filename.to_owned()));
        self.processes.insert(
            pid,
            Arc::new(ProcessInfo {
                pid,
                command: command.into(),
                executable: executable.map(Into::into),
                uid,
                container_id: container_id.map(Into::into),
                pod_uid,
            }),
        );
    }

    /// Learns `pid`'s identity if it is not known yet: [`Self::get`] without taking a reference
    /// (two atomic operations per captured record, for a result nobody reads).
    pub fn learn(&mut self, pid: u32, command: &str, uid: u32) {
        if !self.processes.contains_key(&pid) {
            self.get(pid, command, uid);
        }
    }

    /// Identity of `pid`, learnt now if it was not known.
    pub fn get(&mut self, pid: u32, command: &str, uid: u32) -> Arc<ProcessInfo> {
        if let Some(info) = self.processes.get(&pid) {
            return info.clone();
        }
        let ProcFacts {
            executable,
            container_id,
            pod_uid,
        } = self.source.facts(pid);
        let info = Arc::new(ProcessInfo {
            pid,
            command: command.into(),
            executable: executable.map(Into::into),
            uid,
            container_id: container_id.map(Into::into),
            pod_uid,
        });
        self.processes.insert(pid, info.clone());
        info
    }

    /// Identity of `pid` if the monitor has seen it, without learning it now: for a peer
    /// process, whose command and user only its own events carry.
    pub fn known(&self, pid: u32) -> Option<Arc<ProcessInfo>> {
        self.processes.get(&pid).cloned()
    }

    /// Addresses of a process's TCP socket (from the process source: `/proc`, or a recording).
    pub fn socket_addrs(&mut self, pid: u32, fd: u32) -> Option<SocketAddrs> {
        self.source.socket_addrs(pid, fd)
    }

    pub fn on_exit(&mut self, pid: u32) {
        self.processes.remove(&pid);
    }

    pub fn len(&self) -> usize {
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{ProcFs, RecordedFacts};

    #[test]
    fn knows_its_own_executable() {
        let mut table = ProcessTable::new(ProcFs::new("/proc"));
        let me = table.get(std::process::id(), "test", 0);
        let exe = std::env::current_exe().unwrap().display().to_string();
        assert_eq!(me.executable.as_deref(), Some(exe.as_str()));
    }

    #[test]
    fn exec_of_a_vanished_process_keeps_the_exec_name_and_exit_frees_it() {
        let mut table = ProcessTable::new(RecordedFacts::default());
        table.on_exec(4242, "curl", 1000, "/usr/bin/curl");
        let info = table.get(4242, "curl", 1000);
        assert_eq!(info.executable.as_deref(), Some("/usr/bin/curl"));
        assert_eq!(info.uid, 1000);
        table.on_exit(4242);
        assert!(table.is_empty());
    }

    #[test]
    fn recorded_facts_answer_like_proc_did() {
        let mut facts = RecordedFacts::default();
        facts.insert(
            7,
            ProcFacts {
                executable: Some("/usr/bin/python3.11".into()),
                container_id: Some("c".repeat(64)),
                pod_uid: None,
            },
        );
        let mut table = ProcessTable::new(facts);
        table.on_exec(7, "python3", 0, "/usr/bin/python3");
        let info = table.get(7, "python3", 0);
        assert_eq!(info.executable.as_deref(), Some("/usr/bin/python3.11"));
        assert_eq!(info.container_id.as_deref(), Some("c".repeat(64).as_str()));
    }
}
