//! Drains the ring buffer under tokio's `AsyncFd` and hands decoded events to the pipeline through
//! a bounded channel.
//!
//! When the pipeline falls behind, the channel fills and this task waits: the ring buffer then
//! fills and the kernel counts what it cannot deliver. Loss is thereby always counted in one
//! place, the kernel, instead of silently here.
use std::sync::Arc;

use aya::maps::{MapData, RingBuf};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tracing::{debug, error};

use super::{CaptureEvent, decode};
use crate::{metrics::Metrics, recording::Recorder};

pub fn spawn_ring_reader(
    ring: RingBuf<MapData>,
    events: mpsc::Sender<CaptureEvent>,
    metrics: Arc<Metrics>,
    recorder: Option<Recorder>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    // SAFETY: `RingBuf` owns its map's file descriptor and keeps it open, unchanged, until it is
    // dropped, which only happens when this `AsyncFd` is dropped.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                ready = fd.readable_mut() => {
                    let mut guard = match ready {
                        Ok(guard) => guard,
                        Err(e) => {
                            error!(error = %e, "ring buffer poll failed; capture stops");
                            return;
                        }
                    };
                    if !drain(guard.get_inner_mut(), &events, &metrics, recorder.as_ref()).await {
                        return;
                    }
                    guard.clear_ready();
                }
                _ = stop.changed() => {
                    // Probes are detached by now: take what is left, then end.
                    drain(fd.get_mut(), &events, &metrics, recorder.as_ref()).await;
                    if let Some(recorder) = &recorder
                        && let Err(e) = recorder.flush()
                    {
                        error!(error = %e, "cannot write the recording");
                    }
                    debug!("ring buffer drained");
                    return;
                }
            }
        }
    }))
}

/// Reads every available record. Returns false when the pipeline is gone.
async fn drain(
    ring: &mut RingBuf<MapData>,
    events: &mpsc::Sender<CaptureEvent>,
    metrics: &Metrics,
    recorder: Option<&Recorder>,
) -> bool {
    loop {
        let decoded = match ring.next() {
            Some(item) => {
                metrics.capture_record(item.len());
                if let Some(recorder) = recorder
                    && let Err(e) = recorder.record(&item)
                {
                    error!(error = %e, "cannot write the recording");
                }
                decode(&item)
            }
            None => return true,
        };
        match decoded {
            Ok(event) => {
                if events.send(event).await.is_err() {
                    return false;
                }
            }
            Err(e) => metrics.decode_error(e.label()),
        }
    }
}
