//! TLS libraries that appear after the start: a process started later, a library `dlopen`ed
//! later. A process is scanned right after its `exec` (its executable may carry OpenSSL) and
//! again shortly after (its dynamic loader and early `dlopen`s have mapped its libraries by
//! then), and at once whenever it maps a file's code (a `dlopen` at any time); every process is rescanned periodically as a safety net. That periodic scan is
//! complete (every process and the installed system libraries), so it also tells which probed
//! files nothing uses any more.
//!
//! Scanning reads `/proc` (maps, and once per file its symbol table), so it runs on its own
//! thread, never on the event loop that handles capture; the loop only attaches the candidates it
//! is sent (the attacher skips files it already handled).
use std::{
    collections::{HashSet, VecDeque},
    sync::mpsc as std_mpsc,
    thread,
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use tracing::debug;

use super::{Discovery, LibraryFile};

/// When a new process is scanned, after its exec.
const SCANS_AFTER_EXEC: &[Duration] = &[
    Duration::from_millis(0),
    Duration::from_millis(50),
    Duration::from_millis(300),
    Duration::from_secs(2),
];
/// Exec notifications queued at most; beyond (an exec storm), they are dropped and the periodic
/// rescan finds what they would have.
const MAX_QUEUED_EXECS: usize = 4096;
/// Scans waiting for their time, at most (same reasoning).
const MAX_PENDING: usize = 4 * MAX_QUEUED_EXECS;

/// What one round of scanning found.
#[derive(Debug)]
pub struct ScanResult {
    /// Files to probe (the attacher skips those it already handled).
    pub candidates: Vec<LibraryFile>,
    /// After a complete rescan: every candidate file in use now, by (device, inode). Probed
    /// files outside it are no longer used by anything.
    pub in_use: Option<HashSet<(u64, u64)>>,
}

/// Why a process is to be scanned.
enum Trigger {
    Exec(u32),
    CodeMapped(u32),
}

/// A process mapping several objects in a row (its loader at start, a `dlopen` with
/// dependencies) is scanned once for all of them.
const CODE_MAPPED_COALESCE: Duration = Duration::from_millis(5);

/// Handle of the scanning thread. Dropping it stops the thread.
pub struct TlsWatcher {
    triggers: std_mpsc::SyncSender<Trigger>,
}

impl TlsWatcher {
    /// Starts the scanning thread, rescanning every process every `full_rescan`; results arrive
    /// on the returned receiver.
    pub fn spawn(
        discovery: Discovery,
        full_rescan: Duration,
    ) -> (Self, mpsc::Receiver<ScanResult>) {
        let (triggers, trigger_rx) = std_mpsc::sync_channel(MAX_QUEUED_EXECS);
        let (found_tx, found_rx) = mpsc::channel(64);
        thread::Builder::new()
            .name("tls-watch".into())
            .spawn(move || scan_loop(discovery, full_rescan, trigger_rx, found_tx))
            .expect("spawning a thread only fails when the process is out of resources");
        (Self { triggers }, found_rx)
    }

    /// A process called exec: scan it now and a few times shortly after.
    pub fn on_exec(&self, pid: u32) {
        if self.triggers.try_send(Trigger::Exec(pid)).is_err() {
            debug!(
                pid,
                "exec notification dropped; the periodic rescan will cover it"
            );
        }
    }

    /// A process mapped a file's code: scan it now.
    pub fn on_code_mapped(&self, pid: u32) {
        if self.triggers.try_send(Trigger::CodeMapped(pid)).is_err() {
            debug!(
                pid,
                "mmap notification dropped; the periodic rescan will cover it"
            );
        }
    }
}

fn scan_loop(
    mut discovery: Discovery,
    full_rescan: Duration,
    triggers: std_mpsc::Receiver<Trigger>,
    found: mpsc::Sender<ScanResult>,
) {
    let mut pending: VecDeque<(Instant, u32)> = VecDeque::new();
    let mut next_full = Instant::now() + full_rescan;
    loop {
        let now = Instant::now();
        let next_due = pending
            .iter()
            .map(|(due, _)| *due)
            .min()
            .unwrap_or(next_full)
            .min(next_full);
        match triggers.recv_timeout(next_due.saturating_duration_since(now)) {
            Ok(Trigger::Exec(pid)) => {
                let now = Instant::now();
                for delay in SCANS_AFTER_EXEC {
                    if pending.len() < MAX_PENDING {
                        pending.push_back((now + *delay, pid));
                    }
                }
            }
            Ok(Trigger::CodeMapped(pid)) => {
                let due = Instant::now() + CODE_MAPPED_COALESCE;
                let already = pending.iter().any(|(at, p)| *p == pid && *at <= due);
                if !already && pending.len() < MAX_PENDING {
                    pending.push_back((due, pid));
                }
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let mut candidates = Vec::new();
        pending.retain(|(due, pid)| {
            if *due <= now {
                candidates.extend(discovery.process(*pid));
                false
            } else {
                true
            }
        });
        let mut in_use = None;
        if now >= next_full {
            next_full = now + full_rescan;
            let everything: Vec<LibraryFile> = discovery
                .system_libraries()
                .into_iter()
                .chain(discovery.all_processes())
                .collect();
            in_use = Some(everything.iter().map(|f| (f.dev, f.ino)).collect());
            candidates.extend(everything);
        }
        if (candidates.is_empty() && in_use.is_none())
            || found
                .blocking_send(ScanResult { candidates, in_use })
                .is_ok()
        {
            continue;
        }
        return;
    }
}
