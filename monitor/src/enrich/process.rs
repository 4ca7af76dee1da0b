//! Process identity, cached per pid.
//!
//! The executable path comes from the kernel's exec event when the process started after the
//! monitor (short-lived clients are often gone before their records are read, taking
//! `/proc/<pid>/exe` with them), otherwise from `/proc/<pid>/exe` on first sight. The user id
//! comes with every kernel record; the container id from `/proc/<pid>/cgroup`. Entries are
//! refreshed on exec and freed on exit, so the table holds live processes only.
use std::{collections::HashMap, fs, path::PathBuf, sync::Arc};

use super::container::container_id_from_cgroup;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub command: String,
    pub executable: Option<String>,
    pub uid: u32,
    pub container_id: Option<String>,
}

pub struct ProcessTable {
    proc_root: PathBuf,
    processes: HashMap<u32, Arc<ProcessInfo>>,
}

impl ProcessTable {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            processes: HashMap::new(),
        }
    }

    fn read_exe(&self, pid: u32) -> Option<String> {
        fs::read_link(self.proc_root.join(pid.to_string()).join("exe"))
            .ok()
            .map(|p| p.display().to_string())
    }

    fn read_container_id(&self, pid: u32) -> Option<String> {
        fs::read_to_string(self.proc_root.join(pid.to_string()).join("cgroup"))
            .ok()
            .and_then(|text| container_id_from_cgroup(&text))
    }

    /// Seeds a process's identity (replay of a recording; tests).
    pub fn insert(&mut self, info: ProcessInfo) {
        self.processes.insert(info.pid, Arc::new(info));
    }

    /// The process ran `execve(filename)`: its identity changed.
    pub fn on_exec(
        &mut self,
        pid: u32,
        command: &str,
        uid: u32,
        filename: &str,
    ) -> Arc<ProcessInfo> {
        // /proc/<pid>/exe resolves symlinks and relative names; the exec argument is the fallback
        // when the process is already gone.
        let executable = self
            .read_exe(pid)
            .or_else(|| (!filename.is_empty()).then(|| filename.to_owned()));
        let info = Arc::new(ProcessInfo {
            pid,
            command: command.to_owned(),
            executable,
            uid,
            container_id: self.read_container_id(pid),
        });
        self.processes.insert(pid, info.clone());
        info
    }

    /// Identity of `pid` if known.
    pub fn lookup(&self, pid: u32) -> Option<Arc<ProcessInfo>> {
        self.processes.get(&pid).cloned()
    }

    /// Identity of `pid`, learnt now from `/proc` if it was not known. The boolean says whether
    /// it was learnt now (so that a recorder can save it).
    pub fn get(&mut self, pid: u32, command: &str, uid: u32) -> (Arc<ProcessInfo>, bool) {
        if let Some(info) = self.processes.get(&pid) {
            return (info.clone(), false);
        }
        let info = Arc::new(ProcessInfo {
            pid,
            command: command.to_owned(),
            executable: self.read_exe(pid),
            uid,
            container_id: self.read_container_id(pid),
        });
        self.processes.insert(pid, info.clone());
        (info, true)
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

    #[test]
    fn knows_its_own_executable() {
        let mut table = ProcessTable::new("/proc");
        let (me, learnt) = table.get(std::process::id(), "test", 0);
        assert!(learnt);
        let exe = std::env::current_exe().unwrap().display().to_string();
        assert_eq!(me.executable.as_deref(), Some(exe.as_str()));
    }

    #[test]
    fn exec_of_a_vanished_process_keeps_the_exec_name_and_exit_frees_it() {
        let mut table = ProcessTable::new("/nonexistent-proc");
        table.on_exec(4242, "curl", 1000, "/usr/bin/curl");
        let (info, learnt) = table.get(4242, "curl", 1000);
        assert!(!learnt);
        assert_eq!(info.executable.as_deref(), Some("/usr/bin/curl"));
        assert_eq!(info.uid, 1000);
        table.on_exit(4242);
        assert!(table.is_empty());
    }
}
