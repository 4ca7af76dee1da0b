//! One JSON object per line, written by a dedicated thread behind a bounded queue.
//!
//! A reader that stops reading stdout (a stuck log shipper) must not stall capture: when the queue
//! is full, events are dropped and counted (`monitor_output_dropped_total`).
use std::{io::Write, sync::Arc, thread};

use serde::Serialize;
use tracing::error;

use super::{
    FlushedLines, LineWriter, RotateError, RotatingFile, Rotation, Sink, worker::QueuedWorker,
};
use crate::{calls::write_api_call, metrics::Metrics, pipeline::Output};

/// Lines written between two flushes at most, so a reader waits for at most this many.
const MAX_LINES_PER_FLUSH: usize = 4096;
/// How long the writer lets a burst gather before writing it.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

pub struct JsonLinesSink {
    name: &'static str,
    writer: QueuedWorker<String>,
    metrics: Arc<Metrics>,
}

impl JsonLinesSink {
    /// `name` labels the sink's drop counter (`stdout`, `alert_file`).
    pub fn new<W: Write + Send + 'static>(
        name: &'static str,
        out: W,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self::with_writer(name, FlushedLines::new(out), capacity, metrics)
    }

    /// A sink whose writer thread hands each line to `out`.
    pub fn with_writer<L: LineWriter + 'static>(
        name: &'static str,
        mut out: L,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let writer_metrics = metrics.clone();
        let writer = QueuedWorker::spawn(name, capacity, move |lines| {
            let mut failed = false;
            let write = |out: &mut L, line: String, failed: &mut bool| {
                if *failed {
                    // Keep draining so senders never block, and count what is lost.
                    writer_metrics.output_dropped(name);
                    return;
                }
                if let Err(e) = out.write_line(&line) {
                    error!(sink = name, error = %e, "cannot write events; this sink stops");
                    writer_metrics.output_dropped(name);
                    *failed = true;
                }
            };
            // One wake-up and one flush per burst, not per line: under load, a write(2)
            // and a futex wake-up per event were a third of the monitor's CPU. After the
            // first line of a burst the thread sleeps `GATHER` (senders do not wake a
            // sleeping thread), then writes what came meanwhile with one flush: at most
            // ~1,000 wake-ups a second, and an event waits at most `GATHER` more.
            while let Ok(first) = lines.recv() {
                write(&mut out, first, &mut failed);
                thread::sleep(GATHER);
                for line in lines.try_iter().take(MAX_LINES_PER_FLUSH) {
                    write(&mut out, line, &mut failed);
                }
                if !failed && let Err(e) = out.flush() {
                    error!(sink = name, error = %e, "cannot write events; this sink stops");
                    writer_metrics.output_dropped(name);
                    failed = true;
                }
            }
        });
        Self {
            name,
            writer,
            metrics,
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

    pub fn send<T: ToJsonLine + ?Sized>(&self, event: &T) {
        if !self.writer.is_open() {
            return;
        }
        let line = match event.to_json_line() {
            Ok(line) => line,
            Err(e) => {
                error!(error = %e, "cannot serialise an event");
                self.metrics.output_dropped(self.name);
                return;
            }
        };
        if !self.writer.offer(line) {
            self.metrics.output_dropped(self.name);
        }
    }

    /// Like `send`, but waits for room instead of dropping (replays, where nothing is live).
    pub fn send_blocking<T: ToJsonLine + ?Sized>(&self, event: &T) {
        if !self.writer.is_open() {
            return;
        }
        match event.to_json_line() {
            Ok(line) => {
                if !self.writer.send_blocking(line) {
                    self.metrics.output_dropped(self.name);
                }
            }
            Err(e) => {
                error!(error = %e, "cannot serialise an event");
                self.metrics.output_dropped(self.name);
            }
        }
    }

    /// Writes what is queued and stops the writer.
    pub fn close(&mut self) {
        self.writer.close();
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
    fn to_json_line(&self) -> Result<String, serde_json::Error>;
}

/// API calls, the bulk of the output, through their own writer (`calls::write_api_call`: the
/// same text as serde_json's, at about half the cost); alerts through serde_json.
impl ToJsonLine for Output {
    fn to_json_line(&self) -> Result<String, serde_json::Error> {
        match self {
            Output::Call(call) => {
                let mut line = String::with_capacity(LINE_CAPACITY);
                write_api_call(call, &mut line)?;
                Ok(line)
            }
            Output::Alert(alert) => json_line(alert),
        }
    }
}

#[cfg(test)]
impl ToJsonLine for serde_json::Value {
    fn to_json_line(&self) -> Result<String, serde_json::Error> {
        json_line(self)
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &str {
        self.name
    }

    fn send(&mut self, output: &Output) {
        JsonLinesSink::send(self, output);
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
