//! The survey: one row per process that has TCP sockets.
use std::{collections::HashSet, fs, path::Path};

use object::Object as _;
use serde::Serialize;

use crate::{
    capture::{BinaryVerdict, Discovery},
    enrich::{parse_tcp_table, socket_inode},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageState {
    /// Its TLS library is one the monitor probes.
    Readable,
    /// It has a TLS stack the monitor cannot read.
    NotReadable,
    /// No TLS stack found: its plaintext HTTP is read from the sockets.
    PlaintextOnly,
}

impl CoverageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Readable => "readable",
            Self::NotReadable => "not_readable",
            Self::PlaintextOnly => "plaintext_only",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProcessCoverage {
    pub pid: u32,
    pub command: String,
    pub executable: Option<String>,
    /// `openssl`, `gnutls`, `nss` (several joined by `+`), `java`, `go`, `rustls`, or `none`.
    pub stack: String,
    pub state: CoverageState,
    pub reason: String,
    pub tcp_sockets: usize,
}

const JAVA: &str =
    "Java JSSE: TLS is implemented in Java bytecode, there is no native TLS library to probe";
const RUSTLS: &str = "rustls: statically linked without symbols to probe";

/// Surveys every process under `proc_root` that has TCP sockets.
pub fn survey(proc_root: &Path, discovery: &mut Discovery) -> Vec<ProcessCoverage> {
    let mut rows = Vec::new();
    let Ok(entries) = fs::read_dir(proc_root) else {
        return rows;
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let dir = proc_root.join(pid.to_string());
        let tcp_sockets = tcp_socket_count(&dir);
        if tcp_sockets == 0 {
            continue;
        }
        let command = fs::read_to_string(dir.join("comm"))
            .map(|c| c.trim().to_owned())
            .unwrap_or_default();
        let executable = fs::read_link(dir.join("exe"))
            .ok()
            .map(|p| p.display().to_string());
        let libraries = discovery.process(pid);
        let (stack, state, reason) = if !libraries.is_empty() {
            let mut kinds: Vec<&str> = libraries.iter().map(|l| l.kind.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let paths: Vec<&str> = libraries.iter().map(|l| l.display_path.as_str()).collect();
            (
                kinds.join("+"),
                CoverageState::Readable,
                format!("probed: {}", paths.join(", ")),
            )
        } else {
            classify_unprobed(&dir, discovery)
        };
        rows.push(ProcessCoverage {
            pid,
            command,
            executable,
            stack,
            state,
            reason,
            tcp_sockets,
        });
    }
    rows
}

/// Why a process without a probed TLS library is not readable, if it has TLS at all.
fn classify_unprobed(dir: &Path, discovery: &mut Discovery) -> (String, CoverageState, String) {
    let maps = fs::read_to_string(dir.join("maps")).unwrap_or_default();
    if maps.lines().any(|l| l.ends_with("/libjvm.so")) {
        return ("java".into(), CoverageState::NotReadable, JAVA.into());
    }
    let exe = dir.join("exe");
    if let Ok(file) = fs::File::open(&exe)
        // SAFETY: read-only mapping of an executable in use (which cannot be written: ETXTBSY),
        // dropped before returning.
        && let Ok(data) = unsafe { memmap2::Mmap::map(&file) }
    {
        if let Ok(elf) = object::File::parse(&*data)
            && (elf.section_by_name(".go.buildinfo").is_some()
                || elf.section_by_name(".gopclntab").is_some())
        {
            // A probed Go binary is listed by `discovery.process`; here it either cannot be
            // probed (the verdict says why) or has no crypto/tls at all.
            return match discovery.verdict(&exe) {
                BinaryVerdict::GoRefused(reason) => {
                    ("go".into(), CoverageState::NotReadable, reason)
                }
                _ => (
                    "go".into(),
                    CoverageState::PlaintextOnly,
                    "Go binary without crypto/tls: plaintext HTTP is read from its sockets".into(),
                ),
            };
        }
        // Release builds keep panic locations, so a rustls build carries its crate's source path
        // (`.../rustls-0.23.x/src/...`). The needle is stored shifted by one byte: as a literal
        // (even split in two, which the compiler lays out side by side) it would sit in this
        // binary's own data and match the monitor itself.
        let needle: Vec<u8> = b"0svtumt.".iter().map(|b| b - 1).collect();
        if memchr::memmem::find(&data, &needle).is_some() {
            return ("rustls".into(), CoverageState::NotReadable, RUSTLS.into());
        }
    }
    (
        "none".into(),
        CoverageState::PlaintextOnly,
        "no TLS library found: plaintext HTTP is read from its sockets".into(),
    )
}

/// TCP sockets among a process's file descriptors (in its own network namespace's tables).
fn tcp_socket_count(dir: &Path) -> usize {
    let Ok(fds) = fs::read_dir(dir.join("fd")) else {
        return 0;
    };
    let inodes: HashSet<u64> = fds
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|link| link.to_str().and_then(socket_inode))
        .collect();
    if inodes.is_empty() {
        return 0;
    }
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|t| fs::read_to_string(dir.join("net").join(t)).ok())
        .flat_map(|text| parse_tcp_table(&text))
        .filter(|entry| inodes.contains(&entry.inode))
        .count()
}

/// The survey as a table for people.
pub fn render_table(rows: &[ProcessCoverage]) -> String {
    let mut out = format!(
        "{:<8} {:<16} {:<14} {:<15} {:>4}  {}\n",
        "PID", "COMMAND", "TLS STACK", "STATE", "TCP", "DETAIL"
    );
    for row in rows {
        out.push_str(&format!(
            "{:<8} {:<16} {:<14} {:<15} {:>4}  {}\n",
            row.pid,
            row.command,
            row.stack,
            row.state.as_str(),
            row.tcp_sockets,
            row.reason
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_without_tls_is_plaintext_only_and_the_table_renders() {
        // A Python process that listens on TCP without importing `ssl` (this test binary links
        // rustls through the Kubernetes client, so it is not TLS-free itself).
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket,sys,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\nprint(flush=True)\ntime.sleep(60)",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        let rows = survey(Path::new("/proc"), &mut Discovery::new("/proc"));
        let _ = child.kill();
        let _ = child.wait();
        let row = rows
            .iter()
            .find(|r| r.pid == child.id())
            .expect("the listener has a TCP socket");
        assert_eq!(row.state, CoverageState::PlaintextOnly);
        assert_eq!(row.stack, "none");
        assert!(row.tcp_sockets >= 1);
        let table = render_table(&rows);
        assert!(table.starts_with("PID"));
        assert!(table.contains(&child.id().to_string()));
    }
}
