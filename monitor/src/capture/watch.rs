//! TLS libraries that appear after the start: a process started later, a library `dlopen`ed
//! later. A process is scanned right after its `exec` (its executable may carry OpenSSL) and
//! again shortly after (its dynamic loader and early `dlopen`s have mapped its libraries by
//! then); every process is rescanned periodically as a safety net. New files are attached at once;
//! known ones cost a hash lookup.
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use super::{AttachReport, Attacher, Discovery, LibraryRegistry, LoadedPrograms};

/// When a new process is scanned, after its exec.
const SCANS_AFTER_EXEC: &[Duration] = &[
    Duration::from_millis(0),
    Duration::from_millis(50),
    Duration::from_millis(300),
    Duration::from_secs(2),
];
/// Every process is rescanned this often.
const FULL_RESCAN: Duration = Duration::from_secs(10);
/// Pending per-process scans kept at most (an exec storm must not grow memory without bound;
/// the periodic rescan catches what is dropped).
const MAX_PENDING: usize = 4096;

pub struct TlsWatcher {
    discovery: Discovery,
    attacher: Attacher,
    pending: VecDeque<(Instant, u32)>,
    next_full: Instant,
}

impl TlsWatcher {
    pub fn new(discovery: Discovery, attacher: Attacher) -> Self {
        Self {
            discovery,
            attacher,
            pending: VecDeque::new(),
            next_full: Instant::now() + FULL_RESCAN,
        }
    }

    /// A process called exec: scan it now and a few times shortly after.
    pub fn on_exec(&mut self, pid: u32) {
        let now = Instant::now();
        for delay in SCANS_AFTER_EXEC {
            if self.pending.len() >= MAX_PENDING {
                return;
            }
            self.pending.push_back((now + *delay, pid));
        }
    }

    /// Runs the scans that are due and attaches what they find.
    pub fn poll(
        &mut self,
        programs: &mut LoadedPrograms,
        registry: &LibraryRegistry,
    ) -> AttachReport {
        let now = Instant::now();
        let mut found = Vec::new();
        // Scans were queued in time order per exec, but execs interleave: take every due one.
        let mut remaining = VecDeque::with_capacity(self.pending.len());
        while let Some((due, pid)) = self.pending.pop_front() {
            if due <= now {
                found.extend(self.discovery.process(pid));
            } else {
                remaining.push_back((due, pid));
            }
        }
        self.pending = remaining;
        if now >= self.next_full {
            self.next_full = now + FULL_RESCAN;
            found.extend(self.discovery.all_processes());
        }
        self.attacher.attach(programs, &found, registry)
    }
}
