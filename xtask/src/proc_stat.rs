//! What a process has cost so far, read from /proc: CPU time, resident memory, and the time its
//! eBPF programs have run. Readings are cumulative; the benchmarks subtract two of them.
use std::{
    collections::{BTreeMap, HashMap},
    fs,
};

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

/// Run time and run count of one BPF program so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgramRuns {
    pub run_time_ns: u64,
    pub runs: u64,
}

/// run_time_ns and run_cnt of each BPF program `pid` holds, by program name (needs
/// `kernel.bpf_stats_enabled`). The monitor's fds give the program ids; the names come from the
/// kernel's program list.
pub fn kernel_stats(pid: u32) -> BTreeMap<String, ProgramRuns> {
    let names: HashMap<u32, String> = aya::programs::loaded_programs()
        .flatten()
        .map(|p| (p.id(), p.name_as_str().unwrap_or("?").to_owned()))
        .collect();
    let mut by_name = BTreeMap::new();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return by_name;
    };
    for fd in fds.flatten() {
        let text = fs::read_to_string(fd.path()).unwrap_or_default();
        if !text.contains("prog_type:") {
            continue;
        }
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let id = field("prog_id:") as u32;
        let name = names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("id {id}"));
        let entry: &mut ProgramRuns = by_name.entry(name).or_default();
        entry.run_time_ns += field("run_time_ns:");
        entry.runs += field("run_cnt:");
    }
    by_name
}

/// The runs between two readings of `kernel_stats`, by program.
pub fn kernel_stats_since(
    before: &BTreeMap<String, ProgramRuns>,
    after: &BTreeMap<String, ProgramRuns>,
) -> BTreeMap<String, ProgramRuns> {
    after
        .iter()
        .map(|(name, a)| {
            let b = before.get(name).copied().unwrap_or_default();
            let delta = ProgramRuns {
                run_time_ns: a.run_time_ns.saturating_sub(b.run_time_ns),
                runs: a.runs.saturating_sub(b.runs),
            };
            (name.clone(), delta)
        })
        .collect()
}
