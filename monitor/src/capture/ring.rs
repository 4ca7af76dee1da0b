//! Drains the ring buffer under tokio's `AsyncFd`, in the pipeline's own task: [`RingReader::ready`]
//! waits until records may be waiting, [`RingReader::drain`] decodes them and hands each event to
//! the caller, on the same thread.
//!
//! Why no channel and no reader task: a reader task on another thread cost, per batch, a channel
//! send per event, a cross-thread wake-up and the tokio machinery around both; at a few thousand
//! calls per second that was about a quarter of the monitor's CPU. When the pipeline falls behind,
//! the ring buffer fills and the kernel counts what it cannot deliver: loss is counted in one
//! place, the kernel, as before.
//!
//! Wake-ups: left to itself the kernel wakes the reader for every record that finds it caught
//! up, which at a few thousand calls per second means a wake-up, an epoll round trip and a task
//! switch per record. With [`Wakeups::Batched`] the reader polls on a short timer while records
//! flow, and the kernel programs wake it only when it has gone to sleep after a quiet spell (the
//! `READER_ASLEEP` flag) or when enough bytes wait that the ring must not be left to fill
//! (`WAKEUP_BYTES`, set at load).
use std::{sync::Arc, time::Duration};

use aya::maps::{Array, MapData, RingBuf};
use tokio::{
    io::{Interest, unix::AsyncFd},
    time::{Instant, MissedTickBehavior},
};
use tracing::{error, warn};

use super::{CaptureEvent, TieResolver, decode, filled};
use crate::{metrics::Metrics, recording::Recorder};

/// Empty polls in a row after which the reader stops its timer and sleeps until the kernel
/// wakes it: idle hosts cost no timer wake-ups.
const QUIET_POLLS_BEFORE_SLEEP: u32 = 20;

/// Records taken per [`RingReader::drain`] at most, so that a ring that never empties under load
/// still lets the caller's other work (signals, housekeeping, reloads) have its turn; the next
/// [`RingReader::ready`] then returns at once.
const DRAIN_BATCH: usize = 4096;

/// How long records held for a socket tie wait for more records (see `tie`). The tie is made by
/// the socket write that follows the call within microseconds, in the same thread's call chain;
/// this only covers the reader catching up between the two.
const TIE_WAIT: Duration = Duration::from_millis(1);

/// How the reader learns that records are waiting.
pub enum Wakeups {
    /// The kernel wakes the reader for each record that finds it caught up (kernel default).
    PerRecord,
    /// Poll every `interval` while records flow; sleep after a quiet spell, with
    /// `asleep_flag[0]` telling the kernel programs to wake the reader for the next record.
    Batched {
        interval: Duration,
        asleep_flag: Array<MapData, u32>,
    },
}

/// Why [`RingReader::ready`] returned; pass it to [`RingReader::drain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// The kernel signalled the ring buffer's file descriptor.
    Kernel,
    /// The polling timer ticked.
    Timer,
    /// The last drain stopped before the ring was empty (or this is the first drain).
    Backlog,
    /// Records held for a socket tie have waited long enough.
    TieWait,
}

/// The batched mode's state: whether the timer runs, and the flag the kernel reads.
struct Poller {
    interval: tokio::time::Interval,
    asleep_flag: Array<MapData, u32>,
    awake: bool,
    quiet_polls: u32,
}

impl Poller {
    fn new(period: Duration, asleep_flag: Array<MapData, u32>) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            interval,
            asleep_flag,
            awake: false,
            quiet_polls: 0,
        }
    }

    /// Tells the kernel programs whether the next record must wake us. Returns false if the
    /// flag could not be written (then the reader must keep polling to see records at all).
    fn set_asleep(&mut self, asleep: bool) -> bool {
        match self.asleep_flag.set(0, u32::from(asleep), 0) {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, asleep, "cannot write the reader's wake-up flag; polling instead");
                false
            }
        }
    }

    fn wake(&mut self) {
        if !self.awake {
            self.awake = true;
            self.set_asleep(false);
            self.interval
                .reset_at(Instant::now() + self.interval.period());
        }
        self.quiet_polls = 0;
    }
}

pub struct RingReader {
    fd: AsyncFd<RingBuf<MapData>>,
    poller: Option<Poller>,
    resolver: TieResolver,
    /// When the records held for a tie are released whatever comes (set by the drain that
    /// first found the resolver waiting).
    tie_deadline: Option<Instant>,
    /// The last drain stopped at `DRAIN_BATCH` (or nothing was drained yet).
    backlog: bool,
    metrics: Arc<Metrics>,
    recorder: Option<Recorder>,
}

impl RingReader {
    pub fn new(
        ring: RingBuf<MapData>,
        wakeups: Wakeups,
        metrics: Arc<Metrics>,
        recorder: Option<Recorder>,
    ) -> std::io::Result<Self> {
        // SAFETY: `RingBuf` owns its map's file descriptor and keeps it open, unchanged, until
        // it is dropped, which only happens when this `AsyncFd` is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let poller = match wakeups {
            Wakeups::PerRecord => None,
            Wakeups::Batched {
                interval,
                asleep_flag,
            } => {
                // The flag starts at 0 ("awake"): until it is set, records are written without
                // a wake-up, and the timer is not running yet.
                let mut poller = Poller::new(interval, asleep_flag);
                if !poller.set_asleep(true) {
                    poller.awake = true;
                }
                Some(poller)
            }
        };
        Ok(Self {
            fd,
            poller,
            resolver: TieResolver::default(),
            tie_deadline: None,
            // Records written before the flag was set woke nobody: the first drain takes them.
            backlog: true,
            metrics,
            recorder,
        })
    }

    /// Waits until records may be waiting. Cancel-safe: dropping the future loses nothing.
    pub async fn ready(&mut self) -> std::io::Result<Woken> {
        if self.backlog {
            return Ok(Woken::Backlog);
        }
        let polling = self.poller.as_ref().is_some_and(|p| p.awake);
        let tie_deadline = self.tie_deadline;
        tokio::select! {
            ready = self.fd.readable_mut() => {
                // Cleared before the drain: a record submitted during the drain signals again,
                // so no wake-up is lost (at worst the next drain finds nothing).
                ready?.clear_ready();
                Ok(Woken::Kernel)
            }
            _ = tick(&mut self.poller), if polling => Ok(Woken::Timer),
            _ = tie_wait(tie_deadline), if tie_deadline.is_some() => Ok(Woken::TieWait),
        }
    }

    /// Takes the waiting records (at most `DRAIN_BATCH`), passing each decoded event to
    /// `handle` in the kernel's order. Returns how many records were read.
    pub fn drain(&mut self, woken: Woken, handle: &mut impl FnMut(CaptureEvent)) -> usize {
        let read = self.take(handle);
        match woken {
            Woken::Kernel => self.metrics.reader_wakeup("kernel"),
            Woken::Timer => self.metrics.reader_wakeup("timer"),
            Woken::Backlog | Woken::TieWait => {}
        }
        if woken == Woken::TieWait || (self.resolver.is_waiting() && self.tie_expired()) {
            self.release_held(handle);
        } else if self.resolver.is_waiting() && self.tie_deadline.is_none() {
            self.tie_deadline = Some(Instant::now() + TIE_WAIT);
        }
        let Some(poller) = self.poller.as_mut() else {
            return read;
        };
        if read > 0 {
            poller.wake();
            return read;
        }
        if woken != Woken::Timer {
            return read;
        }
        poller.quiet_polls += 1;
        if poller.quiet_polls < QUIET_POLLS_BEFORE_SLEEP || !poller.set_asleep(true) {
            return read;
        }
        // A record submitted just before the flag was seen did not wake anyone.
        let late = self.take(handle);
        let Some(poller) = self.poller.as_mut() else {
            return read + late;
        };
        if late > 0 {
            poller.set_asleep(false);
            poller.quiet_polls = 0;
        } else {
            poller.awake = false;
        }
        read + late
    }

    /// Takes everything left (the probes are detached by now), releases what waits for a tie
    /// and flushes the recording.
    pub fn finish(&mut self, handle: &mut impl FnMut(CaptureEvent)) {
        while self.take(handle) > 0 {}
        self.release_held(handle);
        if let Some(recorder) = &self.recorder
            && let Err(e) = recorder.flush()
        {
            error!(error = %e, "cannot write the recording");
        }
    }

    fn tie_expired(&self) -> bool {
        self.tie_deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn release_held(&mut self, handle: &mut impl FnMut(CaptureEvent)) {
        self.resolver.give_up(&self.metrics);
        for raw in self.resolver.take_ready() {
            pass_on(decode(&raw), &self.metrics, handle);
        }
        self.tie_deadline = None;
    }

    /// Reads up to `DRAIN_BATCH` records. Returns how many.
    fn take(&mut self, handle: &mut impl FnMut(CaptureEvent)) -> usize {
        let ring = self.fd.get_mut();
        let mut read = 0;
        while read < DRAIN_BATCH {
            let Some(item) = ring.next() else {
                self.backlog = false;
                return read;
            };
            let item = filled(&item);
            self.metrics.capture_record(item.len());
            if let Some(recorder) = &self.recorder
                && let Err(e) = recorder.record(item)
            {
                error!(error = %e, "cannot write the recording");
            }
            read += 1;
            let now = self.resolver.offer(item, &self.metrics).map(decode);
            for raw in self.resolver.take_ready() {
                pass_on(decode(&raw), &self.metrics, handle);
            }
            if let Some(decoded) = now {
                pass_on(decoded, &self.metrics, handle);
            }
        }
        self.backlog = true;
        read
    }
}

async fn tick(poller: &mut Option<Poller>) {
    match poller {
        Some(poller) => {
            poller.interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn tie_wait(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Passes a decoded record on (a record that does not decode is counted).
fn pass_on(
    decoded: Result<CaptureEvent, super::DecodeError>,
    metrics: &Metrics,
    handle: &mut impl FnMut(CaptureEvent),
) {
    match decoded {
        Ok(event) => handle(event),
        Err(e) => metrics.decode_error(e.label()),
    }
}
