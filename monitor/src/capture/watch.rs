//! TLS libraries that appear after the start: a process started later, a library `dlopen`ed
//! later. A process is scanned right after its `exec` (its executable may carry OpenSSL) and
//! again shortly after (its dynamic loader and early `dlopen`s have mapped its libraries by
//! then); every process is rescanned periodically as a safety net.
//!
//! Scanning reads `/proc` (maps, and once per file its symbol table), so it runs on its own
//! thread, never on the event loop that handles capture; the loop only attaches the candidates it
//! is sent (the attacher skips files it already handled).
use std::{
    collections::VecDeque,
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
/// Every process is rescanned this often.
const FULL_RESCAN: Duration = Duration::from_secs(10);
/// Exec notifications queued at most; beyond (an exec storm), they are dropped and the periodic
/// rescan finds what they would have.
const MAX_QUEUED_EXECS: usize = 4096;
/// Scans waiting for their time, at most (same reasoning).
const MAX_PENDING: usize = 4 * MAX_QUEUED_EXECS;

/// Handle of the scanning thread. Dropping it stops the thread.
pub struct TlsWatcher {
    execs: std_mpsc::SyncSender<u32>,
}

impl TlsWatcher {
    /// Starts the scanning thread; candidates arrive on the returned receiver.
    pub fn spawn(discovery: Discovery) -> (Self, mpsc::Receiver<Vec<LibraryFile>>) {
        let (execs, exec_rx) = std_mpsc::sync_channel(MAX_QUEUED_EXECS);
        let (found_tx, found_rx) = mpsc::channel(64);
        thread::Builder::new()
            .name("tls-watch".into())
            .spawn(move || scan_loop(discovery, exec_rx, found_tx))
            .expect("spawning a thread only fails when the process is out of resources");
        (Self { execs }, found_rx)
    }

    /// A process called exec: scan it now and a few times shortly after.
    pub fn on_exec(&self, pid: u32) {
        if self.execs.try_send(pid).is_err() {
            debug!(
                pid,
                "exec notification dropped; the periodic rescan will cover it"
            );
        }
    }
}

fn scan_loop(
    mut discovery: Discovery,
    execs: std_mpsc::Receiver<u32>,
    found: mpsc::Sender<Vec<LibraryFile>>,
) {
    let mut pending: VecDeque<(Instant, u32)> = VecDeque::new();
    let mut next_full = Instant::now() + FULL_RESCAN;
    loop {
        let now = Instant::now();
        let next_due = pending
            .iter()
            .map(|(due, _)| *due)
            .min()
            .unwrap_or(next_full)
            .min(next_full);
        match execs.recv_timeout(next_due.saturating_duration_since(now)) {
            Ok(pid) => {
                let now = Instant::now();
                for delay in SCANS_AFTER_EXEC {
                    if pending.len() < MAX_PENDING {
                        pending.push_back((now + *delay, pid));
                    }
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
        if now >= next_full {
            next_full = now + FULL_RESCAN;
            candidates.extend(discovery.all_processes());
        }
        if !candidates.is_empty() && found.blocking_send(candidates).is_err() {
            return;
        }
    }
}
