//! What every sink with its own thread shares: a bounded queue in front of a named thread that
//! does the slow part (writing, posting). Offering to a full queue fails at once (the caller
//! counts the drop), so a slow or stuck receiver never holds up the pipeline; closing ends the
//! queue and waits for the thread to deliver what it holds.
use std::{sync::mpsc, thread};

pub struct QueuedWorker<T> {
    queue: Option<mpsc::SyncSender<T>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<T: Send + 'static> QueuedWorker<T> {
    /// Starts `run` on a thread named `sink-<name>`, fed by a queue of `capacity` items; `run`
    /// returns once the queue is closed and drained.
    pub fn spawn(
        name: &str,
        capacity: usize,
        run: impl FnOnce(mpsc::Receiver<T>) + Send + 'static,
    ) -> Self {
        let (queue, items) = mpsc::sync_channel(capacity.max(1));
        let thread = thread::Builder::new()
            .name(format!("sink-{name}"))
            .spawn(move || run(items))
            .expect("spawning a thread only fails when the process is out of resources");
        Self {
            queue: Some(queue),
            thread: Some(thread),
        }
    }

    /// Queues `item` unless the queue is full or closed; false means it was not taken.
    pub fn offer(&self, item: T) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|queue| queue.try_send(item).is_ok())
    }

    /// Queues `item`, waiting for room (replays, where nothing is live); false once closed.
    pub fn send_blocking(&self, item: T) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|queue| queue.send(item).is_ok())
    }

    pub fn is_open(&self) -> bool {
        self.queue.is_some()
    }

    /// Closes the queue and waits for the thread to finish what it holds.
    pub fn close(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<T> Drop for QueuedWorker<T> {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
