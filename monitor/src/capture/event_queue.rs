//! The queue between the ring-buffer reader and the pipeline: batches of events, bounded by the
//! number of *events* it holds, not of batches.
//!
//! The reader hands over one `Vec` per drain (see `ring`), and a drain may hold one event or
//! hundreds: a channel bounded by batches would hold anything from 64 to 16,384 events for the
//! same bound, and a stalled pipeline would stop the reader sooner at low rates than at high
//! ones. Here the room is a semaphore counting events: the reader takes a batch's worth of
//! permits before queueing it and waits while there is not enough room, and the pipeline
//! returns them as it takes the batch. When the queue is full the reader waits, the ring fills
//! and the kernel counts what it cannot deliver: loss stays counted in one place.
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::{Semaphore, mpsc};

use super::CaptureEvent;

/// Events decoded from the ring, in order, handed over together.
pub type EventBatch = Vec<CaptureEvent>;

/// The pipeline is gone.
#[derive(Debug, Error)]
#[error("the pipeline no longer takes events")]
pub struct QueueClosed;

/// A queue holding at most `max_events` events (at least one).
pub fn event_queue(max_events: usize) -> (EventSender, EventReceiver) {
    let max = u32::try_from(max_events.max(1))
        .unwrap_or(u32::MAX)
        .min(MAX_ROOM);
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(max as usize));
    (
        EventSender {
            tx,
            room: room.clone(),
            max,
        },
        EventReceiver { rx, room, max },
    )
}

/// Largest bound: within what a semaphore holds on every platform.
const MAX_ROOM: u32 = 1 << 28;

/// Permits a batch takes: its length, but never more than the whole room (or it would wait for
/// ever); both ends count it the same way.
fn permits(batch: &EventBatch, max: u32) -> u32 {
    u32::try_from(batch.len()).unwrap_or(u32::MAX).min(max)
}

/// The reader's end.
pub struct EventSender {
    tx: mpsc::UnboundedSender<EventBatch>,
    room: Arc<Semaphore>,
    max: u32,
}

impl EventSender {
    /// Queues `batch` once there is room for its events.
    pub async fn send(&self, batch: EventBatch) -> Result<(), QueueClosed> {
        let taken = self
            .room
            .acquire_many(permits(&batch, self.max))
            .await
            .map_err(|_| QueueClosed)?;
        // Returned by the receiver when it takes the batch.
        taken.forget();
        self.tx.send(batch).map_err(|_| QueueClosed)
    }
}

/// The pipeline's end. Dropping it fails the reader's waiting and later sends.
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<EventBatch>,
    room: Arc<Semaphore>,
    max: u32,
}

impl EventReceiver {
    /// The next batch, or `None` once the reader is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<EventBatch> {
        let batch = self.rx.recv().await?;
        self.room.add_permits(permits(&batch, self.max) as usize);
        Some(batch)
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::capture::{Comm, EventKind};

    fn events(n: usize) -> EventBatch {
        (0..n)
            .map(|i| CaptureEvent {
                timestamp_ns: i as u64,
                tgid: 1,
                tid: 1,
                uid: 0,
                comm: Comm::default(),
                kind: EventKind::ProcessExit,
            })
            .collect()
    }

    async fn sends_within(tx: &EventSender, batch: EventBatch) -> bool {
        tokio::time::timeout(Duration::from_millis(50), tx.send(batch))
            .await
            .is_ok_and(|sent| sent.is_ok())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn holds_at_most_its_events_whatever_the_batches() {
        let (tx, mut rx) = event_queue(4);
        assert!(sends_within(&tx, events(1)).await);
        assert!(sends_within(&tx, events(3)).await);
        // Full: a one-event batch waits as a big one would.
        assert!(!sends_within(&tx, events(1)).await);
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(1));
        assert!(sends_within(&tx, events(1)).await);
        assert!(!sends_within(&tx, events(1)).await);
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(3));
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(1));
        // A batch larger than the queue still goes, alone.
        assert!(sends_within(&tx, events(9)).await);
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(9));
        drop(tx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_gone_pipeline_fails_the_waiting_reader() {
        let (tx, rx) = event_queue(2);
        assert!(sends_within(&tx, events(2)).await);
        let waiting = tokio::spawn(async move { tx.send(events(1)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        let sent = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting send ends")
            .expect("no panic");
        assert!(sent.is_err());
    }
}
