//! The `--inventory-file` writer: a task that writes the latest published snapshot every so
//! often when it changed, and once more when told to finish (after the pipeline's last publish),
//! so the file on disk ends with everything the run saw.
//!
//! Writing must never stop the monitor: a failure is logged, counted
//! (`monitor_inventory_file_writes_total{result="failure"}`) and retried at the next tick. The
//! write itself (serialise, fsync, rename) runs on the blocking pool, away from the event loop.
use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::{sync::oneshot, task::JoinHandle, time::MissedTickBehavior};

use super::{InventorySnapshot, PublishedInventory, write_atomically};
use crate::metrics::Metrics;

/// The running writer; [`FileWriter::finish`] writes one last time and stops it.
pub struct FileWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl FileWriter {
    /// Starts writing `inventory` to `path` now and every `interval` (at least a second).
    pub fn spawn(
        path: PathBuf,
        interval: Duration,
        inventory: PublishedInventory,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval.max(Duration::from_secs(1)));
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut state = WriterState {
                path,
                inventory,
                metrics,
                written: None,
            };
            loop {
                tokio::select! {
                    _ = ticker.tick() => state.write_if_changed().await,
                    // Sent, or the handle dropped: either way, last write and out.
                    _ = &mut stopped => break,
                }
            }
            state.write_if_changed().await;
        });
        Self { stop, task }
    }

    /// Writes the latest snapshot (if not written yet) and stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the inventory file writer failed");
        }
    }
}

struct WriterState {
    path: PathBuf,
    inventory: PublishedInventory,
    metrics: Arc<Metrics>,
    /// What the file holds now (`None` before the first successful write).
    written: Option<Arc<InventorySnapshot>>,
}

impl WriterState {
    async fn write_if_changed(&mut self) {
        let latest = self.inventory.latest();
        // The pipeline publishes about once a second whether or not anything changed: compare
        // contents, not just pointers, so an idle host does not rewrite (and fsync) the file.
        let unchanged = self
            .written
            .as_ref()
            .is_some_and(|w| Arc::ptr_eq(w, &latest) || w.same_content(&latest));
        if unchanged {
            return;
        }
        let path = self.path.clone();
        let snap = Arc::clone(&latest);
        let result = tokio::task::spawn_blocking(move || write_atomically(&path, &snap)).await;
        match result {
            Ok(Ok(())) => {
                self.metrics.inventory_file_write(true);
                self.written = Some(latest);
            }
            Ok(Err(e)) => {
                self.metrics.inventory_file_write(false);
                tracing::warn!(error = %error_chain(&e), "inventory file not written, retrying at the next tick");
            }
            Err(e) => {
                self.metrics.inventory_file_write(false);
                tracing::warn!(error = %e, "inventory file writer task failed");
            }
        }
    }
}

/// `error: cause: cause` on one line (the source chain matters: "permission denied").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::read_file;

    fn snap(evicted: u64, at: &str) -> InventorySnapshot {
        InventorySnapshot {
            generated_at: at.into(),
            entries: Vec::new(),
            evicted,
        }
    }

    fn writes(metrics: &Metrics, result: &str) -> u64 {
        metrics
            .render()
            .lines()
            .find(|l| {
                l.starts_with("monitor_inventory_file_writes_total")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn writes_at_start_on_change_and_at_finish() {
        let dir =
            std::env::temp_dir().join(format!("monitor-inventory-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inventory.json");
        let published = PublishedInventory::default();
        published.publish(snap(1, "2023-11-14T22:13:20Z"));
        let metrics = Arc::new(Metrics::new());
        // A long interval: only the first tick (at once) and the finish write.
        let writer = FileWriter::spawn(
            path.clone(),
            Duration::from_secs(3600),
            published.clone(),
            metrics.clone(),
        );
        tokio::time::timeout(Duration::from_secs(10), async {
            while writes(&metrics, "success") == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(read_file(&path).unwrap().evicted, 1);
        published.publish(snap(2, "2023-11-14T22:13:21Z"));
        writer.finish().await;
        assert_eq!(read_file(&path).unwrap().evicted, 2);
        assert_eq!(writes(&metrics, "success"), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_unchanged_inventory_is_not_rewritten_and_failures_are_counted() {
        let dir =
            std::env::temp_dir().join(format!("monitor-inventory-writer2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let published = PublishedInventory::default();
        let metrics = Arc::new(Metrics::new());
        let mut state = WriterState {
            path: dir.join("inventory.json"),
            inventory: published.clone(),
            metrics: metrics.clone(),
            written: None,
        };
        state.write_if_changed().await;
        // Published again with the same content, a second later: nothing to write.
        published.publish(InventorySnapshot {
            generated_at: "later".into(),
            ..(*published.latest()).clone()
        });
        state.write_if_changed().await;
        assert_eq!(writes(&metrics, "success"), 1);
        // A directory that does not exist: counted, not fatal, retried next time.
        state.path = dir.join("missing/inventory.json");
        published.publish(snap(3, "x"));
        state.write_if_changed().await;
        state.write_if_changed().await;
        assert_eq!(writes(&metrics, "failure"), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
