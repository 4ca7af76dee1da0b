//! One JSON object per line, written by a dedicated thread behind a bounded queue.
//!
//! A reader that stops reading stdout (a stuck log shipper) must not stall capture: when the queue
//! is full, events are dropped and counted (`monitor_output_dropped_total`).
//!
//! Lines are gathered into one `String` per batch (the caller says where a batch ends:
//! [`Sink::end_batch`], once per turn of the daemon's loop) and the batch crosses to the writer
//! thread whole: one allocation, one queue hand-off and at most one wake-up per batch instead of
//! per line, and the writer writes a batch with one call. The queue's bound still counts lines.
use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde::Serialize;
use tracing::error;

use super::{
    FlushedLines, LineWriter, RotateError, RotatingFile, Rotation, Sink, worker::QueuedWorker,
};
use crate::{calls::write_api_call, metrics::Metrics, pipeline::Output};

/// Batches written between two flushes at most, so a reader waits for at most this many.
const MAX_BATCHES_PER_FLUSH: usize = 4096;
/// How long the writer lets a burst of batches gather before writing it.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);
/// A batch goes to the writer once it holds this many bytes, whatever the caller's batches.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Lines handed to the writer thread together, each ending with a newline.
struct Batch {
    text: String,
    lines: usize,
}

pub struct JsonLinesSink {
    name: &'static str,
    writer: QueuedWorker<Batch>,
    metrics: Arc<Metrics>,
    /// The batch being gathered.
    pending: Batch,
    /// A batch goes to the writer once it holds this many lines (a quarter of the queue, so
    /// one batch never takes the whole bound).
    batch_lines: usize,
    /// Lines queued or being written, against `capacity`.
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl JsonLinesSink {
    /// `name` labels the sink's drop counter (`stdout`, `alert_file`); at most `capacity` lines
    /// wait for the writer.
    pub fn new<W: Write + Send + 'static>(
        name: &'static str,
        out: W,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self::with_writer(name, FlushedLines::new(out), capacity, metrics)
    }

    /// A sink whose writer thread hands each batch of lines to `out`.
    pub fn with_writer<L: LineWriter + 'static>(
        name: &'static str,
        mut out: L,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let capacity = capacity.max(1);
        let queued = Arc::new(AtomicUsize::new(0));
        let writer_queued = queued.clone();
        let writer_metrics = metrics.clone();
        // Every queued batch holds at least one line, so the channel never holds more than
        // `capacity` batches: the line count is the bound that matters.
        let writer = QueuedWorker::spawn(name, capacity, move |batches| {
            let mut failed = false;
            // Returns the lines written (not yet flushed).
            let write = |out: &mut L, batch: Batch, failed: &mut bool| -> usize {
                if !*failed && let Err(e) = out.write_lines(&batch.text) {
                    error!(sink = name, error = %e, "cannot write events; this sink stops");
                    *failed = true;
                }
                writer_queued.fetch_sub(batch.lines, Ordering::Relaxed);
                if *failed {
                    // Keep draining so senders never block, and count what is lost (a batch
                    // that failed part-way counts whole: a failed write says not how much of
                    // it landed).
                    writer_metrics.output_dropped_many(name, batch.lines as u64);
                    return 0;
                }
                batch.lines
            };
            // One wake-up and one flush per burst: after the first batch the thread sleeps
            // `GATHER` (senders do not wake a sleeping thread), then writes every batch that
            // came meanwhile with one flush. The daemon's turns are often small (its loop
            // takes whatever the ring reader has handed over so far), so without the pause
            // the writer would wake for each of them.
            while let Ok(first) = batches.recv() {
                let mut unflushed = write(&mut out, first, &mut failed);
                std::thread::sleep(GATHER);
                for batch in batches.try_iter().take(MAX_BATCHES_PER_FLUSH) {
                    unflushed += write(&mut out, batch, &mut failed);
                }
                if !failed && let Err(e) = out.flush() {
                    error!(sink = name, error = %e, "cannot write events; this sink stops");
                    // What the failed flush held is lost as well (some of it may have landed).
                    writer_metrics.output_dropped_many(name, unflushed as u64);
                    failed = true;
                }
            }
        });
        Self {
            name,
            writer,
            metrics,
            pending: Batch {
                text: String::new(),
                lines: 0,
            },
            batch_lines: (capacity / 4).max(1),
            queued,
            capacity,
        }
    }

    pub fn stdout(capacity: usize, metrics: Arc<Metrics>) -> Self {
        Self::new("stdout", std::io::stdout(), capacity, metrics)
    }

    /// Appends to a file (created if missing) that rotates by size, e.g. an alert log a
    /// shipper tails. Rotation happens on the writer thread, between two lines: queued lines
    /// wait for it, none is dropped or split by it.
    pub fn rotating_file(
        name: &'static str,
        path: &std::path::Path,
        rotation: Rotation,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RotateError> {
        let file = RotatingFile::open(path, rotation, name, metrics.clone())?;
        Ok(Self::with_writer(name, file, capacity, metrics))
    }

    /// Adds `event`'s line to the batch; a full batch goes to the writer (dropped and counted
    /// if the queue has no room for it).
    pub fn send<T: ToJsonLine + ?Sized>(&mut self, event: &T) {
        if self.append(event) && self.batch_full() {
            self.hand_off(false);
        }
    }

    /// Like `send`, but waits for room instead of dropping (replays, where nothing is live).
    pub fn send_blocking<T: ToJsonLine + ?Sized>(&mut self, event: &T) {
        if self.append(event) && self.batch_full() {
            self.hand_off(true);
        }
    }

    /// Hands the gathered lines to the writer, or drops and counts them when the queue has no
    /// room.
    pub fn end_batch(&mut self) {
        self.hand_off(false);
    }

    /// Writes what is gathered and queued, and stops the writer.
    pub fn close(&mut self) {
        self.hand_off(true);
        self.writer.close();
    }

    /// Queues the pending batch: waiting for room when `wait`, else dropping and counting it
    /// when the queue has no room for its lines.
    fn hand_off(&mut self, wait: bool) {
        if self.pending.lines == 0 {
            return;
        }
        let batch = self.take_pending();
        let lines = batch.lines;
        let queued = self.queued.fetch_add(lines, Ordering::Relaxed);
        let taken = if wait {
            self.writer.send_blocking(batch)
        } else {
            queued + lines <= self.capacity && self.writer.offer(batch)
        };
        if !taken {
            self.queued.fetch_sub(lines, Ordering::Relaxed);
            self.metrics.output_dropped_many(self.name, lines as u64);
        }
    }

    /// Appends the event's line to the pending batch. False if nothing was added.
    fn append<T: ToJsonLine + ?Sized>(&mut self, event: &T) -> bool {
        if !self.writer.is_open() {
            return false;
        }
        if self.pending.text.capacity() == 0 {
            self.pending.text.reserve(LINE_CAPACITY);
        }
        let start = self.pending.text.len();
        match event.write_json_line(&mut self.pending.text) {
            Ok(()) => {
                self.pending.text.push('\n');
                self.pending.lines += 1;
                true
            }
            Err(e) => {
                self.pending.text.truncate(start);
                error!(error = %e, "cannot serialise an event");
                self.metrics.output_dropped(self.name);
                false
            }
        }
    }

    fn batch_full(&self) -> bool {
        self.pending.lines >= self.batch_lines || self.pending.text.len() >= MAX_BATCH_BYTES
    }

    fn take_pending(&mut self) -> Batch {
        // The next batch starts at about this one's size: one allocation per batch, not a
        // series of doublings.
        let room = self.pending.text.len();
        std::mem::replace(
            &mut self.pending,
            Batch {
                text: String::with_capacity(room),
                lines: 0,
            },
        )
    }
}

/// Room for a typical API-call line (600–900 bytes) from the start: growing a `String` from
/// empty took seven reallocations per line.
const LINE_CAPACITY: usize = 1024;

/// An event as one JSON line (without the newline).
pub fn json_line<T: Serialize + ?Sized>(event: &T) -> Result<String, serde_json::Error> {
    let mut line = Vec::with_capacity(LINE_CAPACITY);
    serde_json::to_writer(&mut line, event)?;
    // serde_json writes UTF-8 only; the check keeps this safe code.
    String::from_utf8(line).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// What a JSON-lines sink writes: an event that knows its line.
pub trait ToJsonLine {
    /// Appends the event's line (without the newline) to `out`; on an error, `out` may hold
    /// part of it.
    fn write_json_line(&self, out: &mut String) -> Result<(), serde_json::Error>;

    /// The line alone.
    fn to_json_line(&self) -> Result<String, serde_json::Error> {
        let mut line = String::with_capacity(LINE_CAPACITY);
        self.write_json_line(&mut line)?;
        Ok(line)
    }
}

/// API calls, the bulk of the output, through their own writer (`calls::write_api_call`: the
/// same text as serde_json's, at about half the cost); alerts through serde_json.
impl ToJsonLine for Output {
    fn write_json_line(&self, out: &mut String) -> Result<(), serde_json::Error> {
        match self {
            Output::Call(call) => write_api_call(call, out),
            Output::Alert(alert) => {
                out.push_str(&json_line(alert)?);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
impl ToJsonLine for serde_json::Value {
    fn write_json_line(&self, out: &mut String) -> Result<(), serde_json::Error> {
        out.push_str(&json_line(self)?);
        Ok(())
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &str {
        self.name
    }

    fn send(&mut self, output: &Output) {
        JsonLinesSink::send(self, output);
    }

    fn end_batch(&mut self) {
        JsonLinesSink::end_batch(self);
    }

    fn close(&mut self) {
        JsonLinesSink::close(self);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_one_object_per_line() {
        let buffer = Shared::default();
        let mut sink = JsonLinesSink::new("test", buffer.clone(), 16, Arc::new(Metrics::new()));
        sink.send(&serde_json::json!({"a": 1}));
        sink.send(&serde_json::json!({"b": "x\ny"}));
        sink.close();
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
    }

    /// A writer that never returns: the sink must drop and count, not block the caller.
    struct Stuck(Arc<(Mutex<bool>, std::sync::Condvar)>);
    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cvar) = &*self.0;
            let mut released = lock.lock().unwrap();
            while !*released {
                released = cvar.wait(released).unwrap();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_reader_costs_drops_not_a_stall() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let metrics = Arc::new(Metrics::new());
        let mut sink = JsonLinesSink::new("stuck", Stuck(gate.clone()), 4, metrics.clone());
        for i in 0..100 {
            sink.send(&serde_json::json!({ "i": i }));
        }
        let rendered = metrics.render();
        let dropped: u64 = rendered
            .lines()
            .find_map(|l| l.strip_prefix("monitor_output_dropped_total{sink=\"stuck\"} "))
            .and_then(|v| v.parse().ok())
            .expect("the drop counter is exported");
        // 4 queued, at most 1 held by the writer thread: the other 95+ were dropped.
        assert!(dropped >= 95, "dropped {dropped}");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        sink.close();
    }

    /// Lines wait in the batch until the caller ends it, then reach the writer together, in
    /// order.
    #[test]
    fn a_batch_reaches_the_writer_whole_when_it_ends() {
        let buffer = Shared::default();
        let mut sink = JsonLinesSink::new("test", buffer.clone(), 1024, Arc::new(Metrics::new()));
        for i in 0..10 {
            sink.send(&serde_json::json!({ "i": i }));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            buffer.0.lock().unwrap().is_empty(),
            "written before the batch ended"
        );
        sink.end_batch();
        let expected: String = (0..10).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while buffer.0.lock().unwrap().len() < expected.len()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap(),
            expected
        );
        sink.close();
    }

    /// A writer held up until released, keeping what it is given.
    struct Gated {
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
        kept: Shared,
    }
    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cvar) = &*self.gate;
            let mut released = lock.lock().unwrap();
            while !*released {
                released = cvar.wait(released).unwrap();
            }
            self.kept.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Batches dropped on a full queue count every line they held: written plus dropped is
    /// exactly what was sent.
    #[test]
    fn dropped_batches_count_every_line() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let kept = Shared::default();
        let metrics = Arc::new(Metrics::new());
        let writer = Gated {
            gate: gate.clone(),
            kept: kept.clone(),
        };
        // Unbuffered, so the first batch reaches the gated writer and holds the thread there.
        let mut sink = JsonLinesSink::with_writer("gated", Unbuffered(writer), 8, metrics.clone());
        for i in 0..100 {
            sink.send(&serde_json::json!({ "i": i }));
            if i % 3 == 2 {
                sink.end_batch();
            }
        }
        let dropped = |metrics: &Metrics| -> u64 {
            metrics
                .render()
                .lines()
                .find_map(|l| l.strip_prefix("monitor_output_dropped_total{sink=\"gated\"} "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        assert!(dropped(&metrics) >= 80, "dropped {}", dropped(&metrics));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        sink.close();
        let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        let written = text.lines().count() as u64;
        assert_eq!(written + dropped(&metrics), 100, "{text}");
        // What was written is whole lines, in the order sent.
        let numbers: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["i"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }

    /// Takes lines but cannot flush them (a full disk behind a buffer).
    struct FailsToFlush;
    impl LineWriter for FailsToFlush {
        fn write_line(&mut self, _line: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }

    /// Lines that a failed flush held count as dropped, as do all lines after it.
    #[test]
    fn a_failed_flush_counts_the_lines_it_held() {
        let metrics = Arc::new(Metrics::new());
        let mut sink = JsonLinesSink::with_writer("flush", FailsToFlush, 64, metrics.clone());
        for i in 0..5 {
            sink.send(&serde_json::json!({ "i": i }));
        }
        sink.end_batch();
        for i in 5..8 {
            sink.send(&serde_json::json!({ "i": i }));
        }
        sink.close();
        let dropped = metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("monitor_output_dropped_total{sink=\"flush\"} "))
            .and_then(|v| v.parse::<u64>().ok());
        assert_eq!(dropped, Some(8));
    }

    /// Writes each batch straight through (no buffer in between).
    struct Unbuffered<W>(W);
    impl<W: Write + Send> LineWriter for Unbuffered<W> {
        fn write_line(&mut self, line: &str) -> std::io::Result<()> {
            self.0.write_all(format!("{line}\n").as_bytes())
        }
        fn write_lines(&mut self, lines: &str) -> std::io::Result<()> {
            self.0.write_all(lines.as_bytes())
        }
    }

    /// Rotations happen on the writer thread while senders keep queueing: every line still
    /// lands, whole and in order, in exactly one file.
    #[test]
    fn a_rotating_file_sink_loses_no_queued_line() {
        let dir = std::env::temp_dir().join(format!("monitor-sink-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alerts.jsonl");
        let metrics = Arc::new(Metrics::new());
        let rotation = Rotation {
            max_bytes: 256,
            keep: 100,
        };
        let mut sink =
            JsonLinesSink::rotating_file("test", &path, rotation, 4, metrics.clone()).unwrap();
        for i in 0..300 {
            sink.send_blocking(&serde_json::json!({ "i": i }));
        }
        sink.close();
        let mut seen = Vec::new();
        for n in (1..=100).rev() {
            if let Ok(text) = std::fs::read_to_string(format!("{}.{n}", path.display())) {
                assert!(text.len() <= 256);
                seen.extend(text.lines().map(str::to_owned));
            }
        }
        seen.extend(
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
        let expected: Vec<String> = (0..300).map(|i| format!("{{\"i\":{i}}}")).collect();
        assert_eq!(seen, expected);
        assert!(
            metrics
                .render()
                .contains("monitor_output_rotations_total{sink=\"test\"} ")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
