//! `cargo xtask bench syscalls` (root): what the monitor adds to a read or write of a process it
//! does not follow. Every `read`/`write` on the host runs the syscall tracepoints' programs, so
//! this is the price every other process on the machine pays.
//!
//! A forked child does exactly `calls` `read`s of 64 bytes from `/dev/zero` and as many `write`s
//! of them to `/dev/null`, timing the loop itself (no process start in the figure). Per round,
//! the child runs without the monitor, under `monitor run --empty-probes` (the same tracepoints,
//! programs that do nothing: the kernel's dispatch floor) and under `monitor run` (default
//! policy), in that order; rounds alternate the three so drifting machine load spreads evenly.
//! Reported: median ns per syscall of each, the ns added over no monitor, and the kernel
//! programs' time per run of the read/write tracepoints during the monitored runs (bpf_stats).
use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::bail;

use crate::{
    monitor_process::MonitorProcess,
    nginx,
    proc_stat::{ProgramRuns, kernel_stats, kernel_stats_since},
    stats::median,
};

pub struct Options {
    pub rounds: usize,
    /// Reads (and as many writes) per child run.
    pub calls: u64,
}

/// Runs of the child per configuration and round; the fastest counts (the least disturbed by
/// the other work on the machine).
const RUNS_PER_ROUND: usize = 5;

/// Forks a child that does the reads and writes, and returns its loop's nanoseconds per syscall.
fn child_loop(calls: u64) -> anyhow::Result<f64> {
    let mut pipe = [0i32; 2];
    // SAFETY: plain pipe(2) into a two-int array.
    if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the child only makes raw syscalls and `_exit`s (no allocation, no locks).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: raw syscalls on the child's own fds and stack buffer.
        unsafe {
            let zero = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            let mut buf = [0u8; 64];
            let mut start = std::mem::zeroed::<libc::timespec>();
            let mut end = std::mem::zeroed::<libc::timespec>();
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut start);
            for _ in 0..calls {
                libc::read(zero, buf.as_mut_ptr().cast(), 64);
                libc::write(null, buf.as_ptr().cast(), 64);
            }
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut end);
            let ns = (end.tv_sec - start.tv_sec) as i64 * 1_000_000_000
                + (end.tv_nsec - start.tv_nsec) as i64;
            libc::write(pipe[1], (&ns as *const i64).cast(), 8);
            libc::_exit(0);
        }
    }
    // SAFETY: our end of the pipe, then waiting for our child.
    let ns = unsafe {
        libc::close(pipe[1]);
        let mut ns = 0i64;
        let got = libc::read(pipe[0], (&mut ns as *mut i64).cast(), 8);
        libc::close(pipe[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        if got != 8 {
            bail!("the syscall child reported nothing");
        }
        ns
    };
    Ok(ns as f64 / (2 * calls) as f64)
}

fn best_of(calls: u64) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..RUNS_PER_ROUND {
        best = best.min(child_loop(calls)?);
    }
    Ok(best)
}

/// The child's figure under a monitor started with `args`, and the kernel programs' runs meanwhile.
fn under_monitor(
    binary: &Path,
    dir: &Path,
    args: &[String],
    calls: u64,
) -> anyhow::Result<(f64, BTreeMap<String, ProgramRuns>)> {
    let monitor = MonitorProcess::start(binary, dir, args, None)?;
    // Let the start-up survey of the host's processes settle first.
    std::thread::sleep(Duration::from_secs(2));
    let before = kernel_stats(monitor.pid());
    let ns = best_of(calls)?;
    let kernel = kernel_stats_since(&before, &kernel_stats(monitor.pid()));
    monitor.stop()?;
    Ok((ns, kernel))
}

pub fn run(binary: &Path, options: Options) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the syscall benchmark loads eBPF programs: run it as root");
    }
    let dir = nginx::scratch_dir("syscalls")?;
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");
    let empty = vec!["--no-api-calls".to_owned(), "--empty-probes".to_owned()];
    let full = vec!["--no-api-calls".to_owned()];
    let (mut none, mut floor, mut monitored) = (Vec::new(), Vec::new(), Vec::new());
    let mut programs: BTreeMap<String, ProgramRuns> = BTreeMap::new();
    let mut add = |kernel: BTreeMap<String, ProgramRuns>| {
        for (name, runs) in kernel {
            let total = programs.entry(name).or_default();
            total.run_time_ns += runs.run_time_ns;
            total.runs += runs.runs;
        }
    };
    for round in 1..=options.rounds {
        none.push(best_of(options.calls)?);
        let (ns, kernel) = under_monitor(binary, &dir, &empty, options.calls)?;
        floor.push(ns);
        add(kernel);
        let (ns, kernel) = under_monitor(binary, &dir, &full, options.calls)?;
        monitored.push(ns);
        add(kernel);
        eprintln!(
            "round {round}: {:.0} / {:.0} / {:.0} ns per syscall (none / empty probes / monitor)",
            none[round - 1],
            floor[round - 1],
            monitored[round - 1]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (none, floor, monitored) = (median(none), median(floor), median(monitored));
    println!(
        "\n### Untracked read/write syscalls: {} reads of 64 bytes from /dev/zero and {} writes \
         to /dev/null, best of {RUNS_PER_ROUND} runs per round, medians of {} rounds\n",
        options.calls, options.calls, options.rounds
    );
    println!("| configuration | ns per syscall | added over no monitor |");
    println!("|---|---|---|");
    println!("| no monitor | {none:.0} | |");
    println!(
        "| `monitor run --empty-probes` | {floor:.0} | {:+.0} |",
        floor - none
    );
    println!(
        "| `monitor run` (default policy) | {monitored:.0} | {:+.0} (of which above the floor: {:+.0}) |",
        monitored - none,
        monitored - floor
    );
    // bpf_stats times each run (two clock reads): the empty program's time per run is that
    // measurement's own floor, to read the others against.
    println!(
        "\nKernel programs during the runs under a monitor (all rounds, whole host; \
         `empty_tracepoint` is the --empty-probes stand-in):\n"
    );
    println!("| program | runs | ns per run |");
    println!("|---|---|---|");
    for (name, runs) in &programs {
        if runs.runs == 0 {
            continue;
        }
        if name.starts_with("empty_tracepoin")
            || name.starts_with("sys_enter_read")
            || name.starts_with("sys_exit_read")
            || name.starts_with("sys_enter_write")
            || name.starts_with("sys_exit_write")
        {
            println!(
                "| `{name}` | {} | {:.0} |",
                runs.runs,
                runs.run_time_ns as f64 / runs.runs.max(1) as f64
            );
        }
    }
    Ok(())
}
