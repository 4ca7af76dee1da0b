//! Replays a recording through the same pipeline a live run uses, without root: the recorded
//! clock offset, libraries and `/proc` answers stand in for the recording host, so the output
//! is the same API calls (and alerts) the live run printed.
use std::{path::Path, sync::Arc};

use thiserror::Error;

use crate::{
    capture::{LibraryInfo, LibraryRegistry, TieResolver, decode},
    enrich::{ProcFacts, ProcessTable, RecordedFacts, SocketAddrs},
    inspect::{InspectError, Inspector},
    kubernetes::RecordedPods,
    metrics::Metrics,
    pipeline::{Output, Pipeline},
    policy::Policy,
    recording::{Frame, ReadError, read_recording},
    streams::StreamLimits,
    time::WallClock,
};

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("cannot replay the recording")]
    Read(#[from] ReadError),
    #[error("the recording has no clock frame: it was not written by `monitor record`")]
    NoClock,
    #[error(transparent)]
    Inspect(#[from] InspectError),
}

/// The policy to check calls against, and the fingerprint key (the recording host's, for the
/// same fingerprints as the live run).
pub struct Checks {
    pub policy: Policy,
    pub fingerprint_key: Vec<u8>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub records: u64,
    pub undecodable: u64,
    pub ignored_trailing_bytes: usize,
}

/// Records a replayed call emitted before its socket tie waits for it at most (live, the wait
/// is 1 ms, far more than the microseconds the tie takes; see `capture::tie`).
const REPLAY_TIE_WINDOW: usize = 256;

pub fn replay(
    path: &Path,
    limits: StreamLimits,
    checks: Option<Checks>,
    metrics: Arc<Metrics>,
    emit: &mut impl FnMut(Output),
) -> Result<ReplaySummary, ReplayError> {
    let (frames, ignored_trailing_bytes) = read_recording(path)?;
    let mut facts = RecordedFacts::default();
    let mut pods = RecordedPods::default();
    let libraries = LibraryRegistry::default();
    let mut clock = None;
    for frame in &frames {
        match frame {
            Frame::Clock {
                monotonic_to_unix_offset_ns,
            } => clock = Some(WallClock::with_offset_ns(*monotonic_to_unix_offset_ns)),
            Frame::Library(library) => libraries.insert(
                library.cookie,
                LibraryInfo {
                    kind: library.kind,
                    path: library.path.clone(),
                },
            ),
            Frame::Process(process) => facts.insert(
                process.pid,
                ProcFacts {
                    executable: process.executable.clone(),
                    container_id: process.container_id.clone(),
                    pod_uid: process.pod_uid.clone(),
                },
            ),
            Frame::Socket(socket) => {
                let addrs = match (socket.local, socket.remote) {
                    (Some(local), Some(remote)) => Some(SocketAddrs { local, remote }),
                    _ => None,
                };
                facts.insert_socket(socket.pid, socket.fd, addrs);
            }
            Frame::Pod(answer) => pods.insert(answer.clone()),
            Frame::Record(_) => {}
        }
    }
    let clock = clock.ok_or(ReplayError::NoClock)?;
    let inspector = checks
        .map(|c| Inspector::new(c.policy, c.fingerprint_key, clock, metrics.clone()))
        .transpose()?;
    let mut pipeline = Pipeline::new(
        limits,
        ProcessTable::new(facts),
        libraries,
        clock,
        metrics.clone(),
        inspector,
    )
    .with_pods(Box::new(pods));
    let mut summary = ReplaySummary {
        ignored_trailing_bytes,
        ..ReplaySummary::default()
    };
    // Housekeeping runs on the recording's own time, once per recorded second, as live.
    let mut next_tick = None;
    let mut last_ts = 0;
    let mut handle = |raw: &[u8], summary: &mut ReplaySummary| match decode(raw) {
        Ok(event) => {
            last_ts = last_ts.max(event.timestamp_ns);
            let tick = *next_tick.get_or_insert(event.timestamp_ns + 1_000_000_000);
            if event.timestamp_ns >= tick {
                pipeline.tick(event.timestamp_ns, emit);
                next_tick = Some(event.timestamp_ns + 1_000_000_000);
            }
            pipeline.handle(event, emit);
        }
        Err(e) => {
            summary.undecodable += 1;
            metrics.decode_error(e.label());
        }
    };
    // Socket ties are applied as live (see `capture::tie`); a recording has no drain boundaries,
    // so a call waits for its tie during a bounded number of records instead.
    let mut resolver = TieResolver::default();
    for frame in frames {
        let Frame::Record(raw) = frame else { continue };
        summary.records += 1;
        metrics.capture_record(raw.len());
        if let Some(now) = resolver.offer(&raw, &metrics) {
            handle(now, &mut summary);
        }
        if resolver.held() > REPLAY_TIE_WINDOW {
            resolver.give_up(&metrics);
        }
        for released in resolver.take_ready() {
            handle(&released, &mut summary);
        }
    }
    resolver.give_up(&metrics);
    for released in resolver.take_ready() {
        handle(&released, &mut summary);
    }
    pipeline.flush(last_ts, emit);
    Ok(summary)
}
