//! Process identity, cached per pid.
//!
//! The executable path comes from the kernel's exec event when the process started after the
//! monitor (short-lived clients are often gone before their records are read, taking
//! `/proc/<pid>/exe` with them), otherwise from `/proc/<pid>/exe` on first sight. Entries are
//! refreshed on exec and freed on exit, so the table holds live processes only.
use std::{collections::HashMap, fs, path::PathBuf, sync::Arc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub command: String,
    pub executable: Option<String>,
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

    /// The process ran `execve(filename)`: its identity changed.
    pub fn on_exec(&mut self, pid: u32, command: &str, filename: &str) {
        // /proc/<pid>/exe resolves symlinks and relative names; the exec argument is the fallback
        // when the process is already gone.
        let executable = self
            .read_exe(pid)
            .or_else(|| (!filename.is_empty()).then(|| filename.to_owned()));
        self.processes.insert(
            pid,
            Arc::new(ProcessInfo {
                pid,
                command: command.to_owned(),
                executable,
            }),
        );
    }

    /// Identity of `pid`, learnt now if it was not known.
    pub fn get(&mut self, pid: u32, command: &str) -> Arc<ProcessInfo> {
        if let Some(info) = self.processes.get(&pid) {
            return info.clone();
        }
        let info = Arc::new(ProcessInfo {
            pid,
            command: command.to_owned(),
            executable: self.read_exe(pid),
        });
        self.processes.insert(pid, info.clone());
        info
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
        let me = table.get(std::process::id(), "test");
        let exe = std::env::current_exe().unwrap().display().to_string();
        assert_eq!(me.executable.as_deref(), Some(exe.as_str()));
    }

    #[test]
    fn exec_of_a_vanished_process_keeps_the_exec_name_and_exit_frees_it() {
        let mut table = ProcessTable::new("/nonexistent-proc");
        table.on_exec(4242, "curl", "/usr/bin/curl");
        assert_eq!(
            table.get(4242, "curl").executable.as_deref(),
            Some("/usr/bin/curl")
        );
        table.on_exit(4242);
        assert!(table.is_empty());
    }
}
