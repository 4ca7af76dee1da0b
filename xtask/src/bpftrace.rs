//! bpftrace as the overhead benchmark's reference point: a naive sniffer that prints the
//! plaintext of every TLS call (`bpftrace/ssl.bt`, uprobes on SSL_read/SSL_write) or of every
//! socket read and write (`bpftrace/syscalls.bt`, syscall tracepoints) of the benchmark's nginx
//! worker and load generators (by pid and parent pid, so that other nginx or wrk on the host are
//! not printed), its output to /dev/null. Owns the scripts, starting bpftrace, knowing when its
//! probes are attached, and stopping it.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

const SSL: &str = include_str!("bpftrace/ssl.bt");
const SYSCALLS: &str = include_str!("bpftrace/syscalls.bt");

/// The most bytes bpftrace 0.17 copies of one call (its strings live on the 512-byte BPF stack).
const STRLEN: &str = "200";

const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
pub enum Script {
    /// SSL_read/SSL_write of this libssl.
    Ssl,
    /// read/write/recvfrom/sendto/readv/writev.
    Syscalls,
}

pub struct Bpftrace {
    child: Child,
}

/// The libssl file `pid` has mapped (as that process names it).
pub fn libssl_of(pid: u32) -> anyhow::Result<PathBuf> {
    fs::read_to_string(format!("/proc/{pid}/maps"))?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libssl.so"))
        })
        .map(PathBuf::from)
        .with_context(|| format!("process {pid} has no libssl mapped"))
}

/// Probes the script attaches: one program per attach point (`uprobe:...`, `tracepoint:...`).
fn attach_points(script: &str) -> usize {
    script
        .lines()
        .map(str::trim)
        .filter(|l| {
            ["uprobe:", "uretprobe:", "tracepoint:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .count()
}

/// (BPF program fds, perf event fds) `pid` holds.
fn bpf_fds(pid: u32) -> (usize, usize) {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .fold((0, 0), |(progs, perf), target| {
            match target.to_string_lossy().as_ref() {
                "anon_inode:bpf-prog" => (progs + 1, perf),
                "anon_inode:[perf_event]" => (progs, perf + 1),
                _ => (progs, perf),
            }
        })
}

impl Bpftrace {
    /// Starts bpftrace on `script` for the nginx worker `nginx_pid` and this process's children
    /// (the load generators), stdout to /dev/null, stderr to `dir/bpftrace.log`; returns once
    /// every probe is attached.
    pub fn start(
        dir: &Path,
        script: Script,
        libssl: &Path,
        nginx_pid: u32,
    ) -> anyhow::Result<Self> {
        let text = match script {
            Script::Ssl => SSL.replace("LIBSSL", &libssl.to_string_lossy()),
            Script::Syscalls => SYSCALLS.to_owned(),
        }
        .replace("NGINX_PID", &nginx_pid.to_string())
        .replace("CLIENTS_PARENT", &std::process::id().to_string());
        let path = dir.join("sniffer.bt");
        fs::write(&path, &text)?;
        let log_path = dir.join("bpftrace.log");
        let child = Command::new("bpftrace")
            .arg(&path)
            .env("BPFTRACE_STRLEN", STRLEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log_path)?)
            .spawn()
            .context("starting bpftrace (scripts/setup.sh --bench installs it)")?;
        let mut tool = Self { child };
        // bpftrace says "Attaching N probes..." on stdout, which is /dev/null here; its fds tell
        // instead. It opens its output perf buffers (one perf event fd per CPU) first, then
        // loads and attaches each probe (a program fd, then a perf event fd): once every program
        // is loaded and the fds stop changing, every probe is attached.
        let wanted = attach_points(&text);
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        let mut last = (0, 0);
        loop {
            let (progs, perf) = bpf_fds(tool.pid());
            if progs >= wanted && perf >= progs && (progs, perf) == last {
                return Ok(tool);
            }
            last = (progs, perf);
            if tool.child.try_wait()?.is_some() || Instant::now() > deadline {
                let _ = tool.child.kill();
                let _ = tool.child.wait();
                bail!(
                    "bpftrace did not attach its {wanted} probes ({progs} programs loaded):\n{}",
                    fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT (bpftrace's own way to stop: it detaches and prints its maps) and wait.
    pub fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: plain kill(2) on our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
