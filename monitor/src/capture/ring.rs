//! Drains the ring buffer under tokio's `AsyncFd` and hands decoded events to the pipeline through
//! a queue bounded by events (`event_queue`), in batches of up to [`EVENT_BATCH`] events: one
//! send per batch instead of per event. Per event, the send (a semaphore permit, a slot in the
//! channel's block list, and the event moved through the send's future into the slot) was a
//! fifth of the reader's time at 5,000 requests/s; a batch is decoded in place and moved as one
//! `Vec`.
//!
//! When the pipeline falls behind, the queue fills and this task waits: the ring buffer then
//! fills and the kernel counts what it cannot deliver. Loss is thereby always counted in one
//! place, the kernel, instead of silently here.
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
    sync::watch,
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};
use tracing::{debug, error, warn};

use super::{
    CaptureEvent, PayloadArena, TieResolver, decode_into,
    event_queue::{EventBatch, EventSender},
    filled,
};
use crate::{metrics::Metrics, recording::Recorder};

/// Most events handed to the pipeline at once.
pub const EVENT_BATCH: usize = 256;

/// How long without records after which the reader stops its timer and sleeps until the kernel
/// wakes it: idle hosts cost no timer wake-ups. A time rather than a count of polls, so that a
/// longer poll interval does not keep the timer running for longer after the traffic stops.
const QUIET_SPELL: Duration = Duration::from_millis(100);

/// Empty polls in a row that make [`QUIET_SPELL`] (at least two: one empty poll may only mean
/// the records came just after it).
fn quiet_polls_before_sleep(period: Duration) -> u32 {
    let polls = QUIET_SPELL.as_micros() / period.as_micros().max(1);
    u32::try_from(polls).unwrap_or(u32::MAX).max(2)
}

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

pub fn spawn_ring_reader(
    ring: RingBuf<MapData>,
    wakeups: Wakeups,
    events: EventSender,
    metrics: Arc<Metrics>,
    recorder: Option<Recorder>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    // SAFETY: `RingBuf` owns its map's file descriptor and keeps it open, unchanged, until it is
    // dropped, which only happens when this `AsyncFd` is dropped.
    let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let reader = Reader {
        fd,
        events,
        metrics,
        recorder,
        arena: PayloadArena::default(),
    };
    Ok(tokio::spawn(reader.run(wakeups, stop)))
}

struct Reader {
    fd: AsyncFd<RingBuf<MapData>>,
    events: EventSender,
    metrics: Arc<Metrics>,
    recorder: Option<Recorder>,
    /// Where the records' payloads are copied to, kept across drains.
    arena: PayloadArena,
}

/// The batched mode's state: whether the timer runs, and the flag the kernel reads.
struct Poller {
    interval: tokio::time::Interval,
    asleep_flag: Array<MapData, u32>,
    awake: bool,
    quiet_polls: u32,
    /// See [`quiet_polls_before_sleep`].
    quiet_limit: u32,
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
            quiet_limit: quiet_polls_before_sleep(period),
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

impl Reader {
    async fn run(mut self, wakeups: Wakeups, mut stop: watch::Receiver<bool>) {
        let mut poller = match wakeups {
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
        // Records written before the flag was set woke nobody: take them now.
        let Some(read) = self.drain_now().await else {
            return;
        };
        if let Some(poller) = poller.as_mut()
            && read > 0
        {
            poller.wake();
        }
        loop {
            let polling = poller.as_ref().is_some_and(|p| p.awake);
            tokio::select! {
                ready = self.fd.readable_mut() => {
                    let mut guard = match ready {
                        Ok(guard) => guard,
                        Err(e) => {
                            error!(error = %e, "ring buffer poll failed; capture stops");
                            return;
                        }
                    };
                    let Some(read) = drain(guard.get_inner_mut(), &self.events, &self.metrics, self.recorder.as_ref(), &mut self.arena).await else {
                        return;
                    };
                    guard.clear_ready();
                    self.metrics.reader_wakeup("kernel");
                    if let Some(poller) = poller.as_mut()
                        && read > 0
                    {
                        poller.wake();
                    }
                }
                _ = tick(&mut poller), if polling => {
                    self.metrics.reader_wakeup("timer");
                    let Some(read) = self.drain_now().await else { return };
                    let Some(poller) = poller.as_mut() else { continue };
                    if read > 0 {
                        poller.quiet_polls = 0;
                        continue;
                    }
                    poller.quiet_polls += 1;
                    if poller.quiet_polls < poller.quiet_limit || !poller.set_asleep(true) {
                        continue;
                    }
                    // A record submitted just before the flag was seen did not wake anyone.
                    let Some(read) = self.drain_now().await else { return };
                    if read > 0 {
                        poller.set_asleep(false);
                        poller.quiet_polls = 0;
                    } else {
                        poller.awake = false;
                    }
                }
                _ = stop.changed() => {
                    // Probes are detached by now: take what is left, then end.
                    self.drain_now().await;
                    if let Some(recorder) = &self.recorder
                        && let Err(e) = recorder.flush()
                    {
                        error!(error = %e, "cannot write the recording");
                    }
                    debug!("ring buffer drained");
                    return;
                }
            }
        }
    }

    async fn drain_now(&mut self) -> Option<usize> {
        drain(
            self.fd.get_mut(),
            &self.events,
            &self.metrics,
            self.recorder.as_ref(),
            &mut self.arena,
        )
        .await
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

/// How long a drain that ends with records held for a socket tie waits for more records (see
/// `tie`). The tie is made by the socket write that follows the call within microseconds, in
/// the same thread's call chain; this only covers the reader catching up between the two.
const TIE_WAIT: Duration = Duration::from_millis(1);

/// Reads every available record. Returns how many, or `None` when the pipeline is gone.
async fn drain(
    ring: &mut RingBuf<MapData>,
    events: &EventSender,
    metrics: &Metrics,
    recorder: Option<&Recorder>,
    arena: &mut PayloadArena,
) -> Option<usize> {
    let mut read = 0;
    let mut resolver = TieResolver::default();
    let mut waited = false;
    let mut batch = Batch::new(events, metrics);
    loop {
        let (now, released) = match ring.next() {
            Some(item) => {
                let item = filled(&item);
                metrics.capture_record(item.len());
                if let Some(recorder) = recorder
                    && let Err(e) = recorder.record(item)
                {
                    error!(error = %e, "cannot write the recording");
                }
                read += 1;
                let now = resolver
                    .offer(item, metrics)
                    .map(|raw| decode_into(raw, arena));
                (now, resolver.take_ready())
            }
            None if resolver.is_waiting() && !waited => {
                // What is decoded goes on now: the wait is for the held records alone.
                batch.flush().await?;
                waited = true;
                tokio::time::sleep(TIE_WAIT).await;
                continue;
            }
            None => {
                resolver.give_up(metrics);
                for raw in resolver.take_ready() {
                    batch.push(decode_into(&raw, arena)).await?;
                }
                batch.flush().await?;
                return Some(read);
            }
        };
        for raw in released {
            batch.push(decode_into(&raw, arena)).await?;
        }
        if let Some(decoded) = now {
            batch.push(decoded).await?;
        }
    }
}

/// The batch being filled for the pipeline.
struct Batch<'a> {
    events: &'a EventSender,
    metrics: &'a Metrics,
    pending: EventBatch,
}

impl<'a> Batch<'a> {
    fn new(events: &'a EventSender, metrics: &'a Metrics) -> Self {
        Self {
            events,
            metrics,
            pending: Vec::new(),
        }
    }

    /// Adds a decoded record (one that does not decode is counted), and hands the batch over
    /// once it is full. `None` when the pipeline is gone.
    async fn push(&mut self, decoded: Result<CaptureEvent, super::DecodeError>) -> Option<()> {
        match decoded {
            Ok(event) => {
                if self.pending.capacity() == 0 {
                    self.pending.reserve_exact(EVENT_BATCH);
                }
                self.pending.push(event);
                if self.pending.len() >= EVENT_BATCH {
                    self.flush().await?;
                }
            }
            Err(e) => self.metrics.decode_error(e.label()),
        }
        Some(())
    }

    /// Hands over what is pending, if anything. `None` when the pipeline is gone.
    async fn flush(&mut self) -> Option<()> {
        if self.pending.is_empty() {
            return Some(());
        }
        self.events
            .send(std::mem::take(&mut self.pending))
            .await
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_sleeps_after_the_same_quiet_time_whatever_its_poll_interval() {
        assert_eq!(quiet_polls_before_sleep(Duration::from_millis(5)), 20);
        assert_eq!(quiet_polls_before_sleep(Duration::from_millis(20)), 5);
        // Never after a single empty poll, and a zero or huge interval does not break it.
        assert_eq!(quiet_polls_before_sleep(Duration::from_millis(100)), 2);
        assert_eq!(quiet_polls_before_sleep(Duration::from_secs(3600)), 2);
        assert_eq!(quiet_polls_before_sleep(Duration::ZERO), 100_000);
    }
}
