//! What a process has cost so far, read from /proc: CPU time, resident memory, and the time its
//! eBPF programs have run. Readings are cumulative; the benchmarks subtract two of them.
use std::fs;

/// User + system CPU seconds of `pid` so far (0 if it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may contain spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// User + system CPU seconds in a `rusage` (as `wait4` returns for a child).
pub fn rusage_seconds(usage: &libc::rusage) -> f64 {
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A `VmXXX:` line of /proc/<pid>/status, in KiB (0 if missing).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sum of run_time_ns and run_cnt over the BPF programs `pid` holds (needs
/// `kernel.bpf_stats_enabled`).
pub fn kernel_stats(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return total;
    };
    for fd in fds.flatten() {
        let text = fs::read_to_string(fd.path()).unwrap_or_default();
        if !text.contains("prog_type:") {
            continue;
        }
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("run_time_ns:") {
                total.0 += v.trim().parse::<u64>().unwrap_or(0);
            }
            if let Some(v) = line.strip_prefix("run_cnt:") {
                total.1 += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}
