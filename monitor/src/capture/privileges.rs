//! Why the kernel said no: turns an EPERM/EACCES from `bpf()` or `perf_event_open()` into the
//! privilege that is really missing, from the process's own `/proc/self/status`.
//!
//! Three different refusals look alike from userspace, and each has a different fix:
//! - a missing capability (`CAP_BPF` for maps and programs, `CAP_PERFMON` for tracing programs
//!   and tracepoints);
//! - a seccomp filter: podman's default profile (and others derived from Docker's older one)
//!   answers `bpf()` and `perf_event_open()` with EPERM unless the container has `CAP_SYS_ADMIN`,
//!   whatever other capabilities it holds;
//! - the uprobe PMU: since Linux 6.16 (commit ba677dbe, "perf: Revert to requiring
//!   CAP_SYS_ADMIN for uprobes", also taken into stable kernels) `perf_uprobe_event_init()` in
//!   `kernel/events/core.c` does `if (!capable(CAP_SYS_ADMIN)) return -EACCES;`. From 5.8 to that
//!   change `perfmon_capable()` (CAP_PERFMON) was enough. The kernel could not tell a uprobe in
//!   the middle of an instruction from one at its start, so uprobes are treated as able to
//!   corrupt any process and need full admin.
use std::{error::Error as StdError, fmt, io};

pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The kernel check that refuses uprobes without CAP_SYS_ADMIN, quoted in the error message.
pub const UPROBE_CHECK: &str = "the kernel's uprobe PMU requires CAP_SYS_ADMIN \
    (perf_uprobe_event_init() in kernel/events/core.c: `if (!capable(CAP_SYS_ADMIN)) return -EACCES`, \
    Linux 6.16+ and stable kernels with commit ba677dbe; CAP_PERFMON was enough on 5.8-6.15)";

/// What `/proc/self/status` says about this process's privileges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privileges {
    /// `CapEff`: the effective capability set.
    pub effective: u64,
    /// `Seccomp`: 0 none, 1 strict, 2 filter.
    pub seccomp: u8,
}

impl Privileges {
    /// Parses the text of a `/proc/<pid>/status` file; `None` without a `CapEff` line.
    pub fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let effective = u64::from_str_radix(field("CapEff")?, 16).ok()?;
        // Kernels without CONFIG_SECCOMP have no such line: nothing filters.
        let seccomp = field("Seccomp").and_then(|v| v.parse().ok()).unwrap_or(0);
        Some(Self { effective, seccomp })
    }

    /// This process's privileges now (`None` if `/proc` cannot be read).
    pub fn current() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/self/status").ok()?)
    }

    pub fn has(&self, capability: u32) -> bool {
        self.effective & (1 << capability) != 0
    }

    /// Whether a seccomp filter is installed (mode 2; mode 1, strict, would have killed us).
    pub fn seccomp_filter(&self) -> bool {
        self.seccomp != 0
    }
}

/// Why no process's TLS libraries were found, when that is for lack of a privilege: reading
/// other processes' `/proc/<pid>/maps` and entering `/proc/<pid>/root` needs ptrace read access,
/// which a process with fewer capabilities than its target (a container's root looking at the
/// host's) has only with CAP_SYS_PTRACE. Measured: without it the monitor finds no candidate.
pub fn explain_nothing_found(privileges: &Privileges) -> Option<&'static str> {
    (!privileges.has(CAP_SYS_PTRACE)).then_some(
        "missing CAP_SYS_PTRACE: other processes' /proc/<pid>/maps and /proc/<pid>/root cannot be \
         read without it (ptrace read access); add SYS_PTRACE to the container's capabilities",
    )
}

/// Which kernel operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `bpf()`: creating maps, loading programs, attaching them.
    LoadPrograms,
    /// `perf_event_open()` on a syscall or scheduler tracepoint.
    AttachTracepoint,
    /// `perf_event_open()` on the uprobe PMU.
    AttachUprobe,
}

/// The privilege a refusal points at, in words that say what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// These capabilities are missing from the effective set.
    MissingCapabilities(Vec<&'static str>),
    /// Every capability the kernel checks is present, but a seccomp filter is installed: it
    /// answers the syscall with EPERM before the kernel checks anything.
    Seccomp { syscall: &'static str },
    /// The uprobe PMU's own check (see [`UPROBE_CHECK`]).
    UprobeNeedsSysAdmin,
    /// The capabilities are there and nothing filters: an LSM (AppArmor, SELinux, lockdown) or a
    /// sysctl refused.
    Other,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingCapabilities(caps) => write!(
                f,
                "missing {} (run as root, or add {} to the container's capabilities)",
                caps.join(" and "),
                caps.iter()
                    .map(|c| c.trim_start_matches("CAP_"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Self::Seccomp { syscall } => write!(
                f,
                "a seccomp filter refuses {syscall}() although the capabilities are present \
                 (podman's default seccomp profile, and others like it, allow bpf() and \
                 perf_event_open() only with CAP_SYS_ADMIN): run with a profile that allows \
                 bpf and perf_event_open (deploy/image/seccomp.json), or add CAP_SYS_ADMIN"
            ),
            Self::UprobeNeedsSysAdmin => write!(
                f,
                "missing CAP_SYS_ADMIN: {UPROBE_CHECK}; add SYS_ADMIN to the container's capabilities"
            ),
            Self::Other => write!(
                f,
                "the capabilities are present and no seccomp filter is installed: a Linux \
                 security module (AppArmor, SELinux, lockdown) refused; with podman or Docker \
                 try --security-opt apparmor=unconfined"
            ),
        }
    }
}

/// Explains a refusal with `errno` (EPERM or EACCES) of `operation` by a process with
/// `privileges`. `None` when the errno is not a refusal.
pub fn explain(operation: Operation, errno: i32, privileges: &Privileges) -> Option<Refusal> {
    if errno != libc::EPERM && errno != libc::EACCES {
        return None;
    }
    let admin = privileges.has(CAP_SYS_ADMIN);
    // CAP_SYS_ADMIN stands in for both in the kernel's bpf_capable() and perfmon_capable().
    let bpf = admin || privileges.has(CAP_BPF);
    let perfmon = admin || privileges.has(CAP_PERFMON);
    let mut missing = Vec::new();
    match operation {
        Operation::LoadPrograms => {
            if !bpf {
                missing.push("CAP_BPF");
            }
            // Tracing programs (uprobes, tracepoints) also need perfmon_capable().
            if !perfmon {
                missing.push("CAP_PERFMON");
            }
        }
        Operation::AttachTracepoint => {
            if !perfmon {
                missing.push("CAP_PERFMON");
            }
        }
        // Without CAP_SYS_ADMIN either the kernel's check refuses (EACCES) or, first, a
        // runtime's default seccomp profile (EPERM); adding CAP_SYS_ADMIN satisfies both, and
        // is what every kernel accepts (older ones also took CAP_PERFMON).
        Operation::AttachUprobe if !admin => return Some(Refusal::UprobeNeedsSysAdmin),
        Operation::AttachUprobe => {}
    }
    if !missing.is_empty() {
        return Some(Refusal::MissingCapabilities(missing));
    }
    // Seccomp's refusal in container runtimes' profiles is EPERM (errnoRet 1).
    if errno == libc::EPERM && privileges.seccomp_filter() {
        let syscall = match operation {
            Operation::LoadPrograms => "bpf",
            Operation::AttachTracepoint | Operation::AttachUprobe => "perf_event_open",
        };
        return Some(Refusal::Seccomp { syscall });
    }
    Some(Refusal::Other)
}

/// The errno of the first `io::Error` in an error's chain of sources.
pub fn errno_in(error: &(dyn StdError + 'static)) -> Option<i32> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return io.raw_os_error();
        }
        current = e.source();
    }
    None
}

/// The explanation of `error` if it is a refusal, for this process as it runs now.
pub fn explain_error(operation: Operation, error: &(dyn StdError + 'static)) -> Option<Refusal> {
    let errno = errno_in(error)?;
    explain(operation, errno, &Privileges::current()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/proc/self/status` excerpt with these capabilities and seccomp mode.
    fn status(caps: &[u32], seccomp: u8) -> Privileges {
        let effective = caps.iter().fold(0u64, |set, cap| set | 1 << cap);
        let text = format!(
            "Name:\tmonitor\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\n\
             CapPrm:\t{effective:016x}\nCapEff:\t{effective:016x}\nCapBnd:\t{effective:016x}\n\
             NoNewPrivs:\t0\nSeccomp:\t{seccomp}\nSeccomp_filters:\t{seccomp}\n"
        );
        Privileges::parse(&text).expect("a status with CapEff")
    }

    const LEAST: &[u32] = &[CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE];

    #[test]
    fn parses_the_fields_of_a_real_status_file() {
        // As podman with --cap-add=bpf,perfmon,sys_ptrace shows it (measured).
        let text = "CapEff:\t000000c000080000\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        let privileges = Privileges::parse(text).unwrap();
        assert!(privileges.has(CAP_BPF) && privileges.has(CAP_PERFMON));
        assert!(privileges.has(CAP_SYS_PTRACE) && !privileges.has(CAP_SYS_ADMIN));
        assert!(privileges.seccomp_filter());
        // `Seccomp_filters` must not be read as `Seccomp`.
        let unfiltered = Privileges::parse("Seccomp_filters:\t0\nCapEff:\t0\n").unwrap();
        assert!(!unfiltered.seccomp_filter());
        assert_eq!(Privileges::parse("Name:\tx\n"), None);
        assert_eq!(Privileges::parse("CapEff:\tnot hex\n"), None);
    }

    #[test]
    fn map_creation_refused_with_the_capabilities_present_is_seccomp() {
        let refusal = explain(Operation::LoadPrograms, libc::EPERM, &status(LEAST, 2)).unwrap();
        assert_eq!(refusal, Refusal::Seccomp { syscall: "bpf" });
        let text = refusal.to_string();
        assert!(text.contains("seccomp") && text.contains("bpf()"), "{text}");
        assert!(!text.contains("missing CAP_BPF"), "{text}");
    }

    #[test]
    fn map_creation_refused_without_cap_bpf_names_the_missing_capabilities() {
        let refusal = explain(
            Operation::LoadPrograms,
            libc::EPERM,
            &status(&[CAP_SYS_PTRACE], 0),
        )
        .unwrap();
        assert_eq!(
            refusal,
            Refusal::MissingCapabilities(vec!["CAP_BPF", "CAP_PERFMON"])
        );
        assert!(refusal.to_string().contains("add BPF,PERFMON"), "{refusal}");
        // A missing capability comes first even under a seccomp filter: adding it is needed
        // anyway, and the next run names the filter if that still refuses.
        let filtered = explain(
            Operation::LoadPrograms,
            libc::EPERM,
            &status(&[CAP_PERFMON], 2),
        );
        assert_eq!(
            filtered,
            Some(Refusal::MissingCapabilities(vec!["CAP_BPF"]))
        );
    }

    #[test]
    fn sys_admin_stands_in_for_bpf_and_perfmon() {
        let refusal = explain(
            Operation::LoadPrograms,
            libc::EPERM,
            &status(&[CAP_SYS_ADMIN], 0),
        );
        assert_eq!(refusal, Some(Refusal::Other));
    }

    #[test]
    fn uprobe_refused_with_eacces_is_the_sys_admin_check() {
        let refusal = explain(Operation::AttachUprobe, libc::EACCES, &status(LEAST, 0)).unwrap();
        assert_eq!(refusal, Refusal::UprobeNeedsSysAdmin);
        let text = refusal.to_string();
        assert!(text.contains("CAP_SYS_ADMIN"), "{text}");
        assert!(text.contains("perf_uprobe_event_init"), "{text}");
        // The same check applies under a seccomp filter that let the call through.
        let filtered = explain(Operation::AttachUprobe, libc::EACCES, &status(LEAST, 2));
        assert_eq!(filtered, Some(Refusal::UprobeNeedsSysAdmin));
    }

    #[test]
    fn uprobe_refused_by_a_runtime_profile_still_names_sys_admin() {
        // podman's default profile answers perf_event_open() with EPERM without CAP_SYS_ADMIN;
        // adding it passes both the profile and the kernel's check.
        let refusal = explain(Operation::AttachUprobe, libc::EPERM, &status(LEAST, 2));
        assert_eq!(refusal, Some(Refusal::UprobeNeedsSysAdmin));
    }

    #[test]
    fn uprobe_refused_with_eperm_under_a_filter_is_seccomp() {
        let with_admin = [CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_SYS_ADMIN];
        let refusal = explain(
            Operation::AttachUprobe,
            libc::EPERM,
            &status(&with_admin, 2),
        );
        assert_eq!(
            refusal,
            Some(Refusal::Seccomp {
                syscall: "perf_event_open"
            })
        );
    }

    #[test]
    fn tracepoint_refused_without_perfmon_names_it() {
        let refusal = explain(
            Operation::AttachTracepoint,
            libc::EACCES,
            &status(&[CAP_BPF], 0),
        );
        assert_eq!(
            refusal,
            Some(Refusal::MissingCapabilities(vec!["CAP_PERFMON"]))
        );
    }

    #[test]
    fn nothing_found_without_sys_ptrace_names_it() {
        let text = explain_nothing_found(&status(&[CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN], 2));
        assert!(text.is_some_and(|t| t.contains("missing CAP_SYS_PTRACE")));
        assert_eq!(explain_nothing_found(&status(LEAST, 2)), None);
    }

    #[test]
    fn other_errors_are_not_refusals() {
        assert_eq!(
            explain(Operation::LoadPrograms, libc::EINVAL, &status(LEAST, 2)),
            None
        );
    }

    #[test]
    fn the_errno_is_found_anywhere_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] io::Error);
        let error = Outer(io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(errno_in(&error), Some(libc::EACCES));
        let plain = io::Error::other("no errno");
        assert_eq!(errno_in(&plain), None);
    }
}
