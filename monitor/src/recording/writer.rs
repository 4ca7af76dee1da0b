//! Writes a recording while the daemon runs. Shared by the ring reader (raw records) and the
//! pipeline (identities it learns), hence the mutex; writes are buffered.
use std::{
    fs::File,
    io::{BufWriter, Write as _},
    path::Path,
    sync::{Arc, Mutex},
};

use super::format::{
    ClockJson, FORMAT_VERSION, KIND_CLOCK, KIND_LIBRARY, KIND_POD, KIND_PROCESS, KIND_RECORD,
    KIND_SOCKET, LibraryFrame, MAGIC, MAX_FRAME_LEN, PodFrame, ProcessFrame, SocketFrame,
};

#[derive(Clone)]
pub struct Recorder {
    out: Arc<Mutex<BufWriter<File>>>,
}

impl Recorder {
    /// Creates (truncates) the file and writes the preamble and the clock frame.
    pub fn create(path: &Path, monotonic_to_unix_offset_ns: i128) -> std::io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        let recorder = Self {
            out: Arc::new(Mutex::new(out)),
        };
        recorder.json(
            KIND_CLOCK,
            &ClockJson {
                monotonic_to_unix_offset_ns,
            },
        )?;
        Ok(recorder)
    }

    pub fn record(&self, raw: &[u8]) -> std::io::Result<()> {
        self.frame(KIND_RECORD, raw)
    }

    pub fn library(&self, library: &LibraryFrame) -> std::io::Result<()> {
        self.json(KIND_LIBRARY, library)
    }

    pub fn process(&self, process: &ProcessFrame) -> std::io::Result<()> {
        self.json(KIND_PROCESS, process)
    }

    pub fn socket(&self, socket: &SocketFrame) -> std::io::Result<()> {
        self.json(KIND_SOCKET, socket)
    }

    pub fn pod(&self, pod: &PodFrame) -> std::io::Result<()> {
        self.json(KIND_POD, pod)
    }

    pub fn flush(&self) -> std::io::Result<()> {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }

    fn json<T: serde::Serialize>(&self, kind: u8, value: &T) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        self.frame(kind, &bytes)
    }

    fn frame(&self, kind: u8, payload: &[u8]) -> std::io::Result<()> {
        // A frame the reader would refuse would make the whole recording unreadable (a pod can
        // carry any number of labels): leave it out, and say so.
        if payload.len() > MAX_FRAME_LEN as usize {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte frame exceeds the recording format's {MAX_FRAME_LEN}-byte limit; left out",
                    payload.len()
                ),
            ));
        }
        let len = u32::try_from(payload.len()).map_err(std::io::Error::other)?;
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(&[kind])?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(payload)
    }
}

/// A process source that saves every answer it gives into the recording.
pub struct RecordingSource<S> {
    inner: S,
    recorder: Recorder,
}

impl<S> RecordingSource<S> {
    pub fn new(inner: S, recorder: Recorder) -> Self {
        Self { inner, recorder }
    }
}

impl<S: crate::enrich::ProcessSource> crate::enrich::ProcessSource for RecordingSource<S> {
    fn facts(&mut self, pid: u32) -> crate::enrich::ProcFacts {
        let facts = self.inner.facts(pid);
        let frame = ProcessFrame {
            pid,
            executable: facts.executable.clone(),
            container_id: facts.container_id.clone(),
            pod_uid: facts.pod_uid.clone(),
        };
        if let Err(e) = self.recorder.process(&frame) {
            tracing::warn!(error = %e, "cannot write to the recording");
        }
        facts
    }

    fn socket_addrs(&mut self, pid: u32, fd: u32) -> Option<crate::enrich::SocketAddrs> {
        let addrs = self.inner.socket_addrs(pid, fd);
        let frame = SocketFrame {
            pid,
            fd,
            local: addrs.map(|a| a.local),
            remote: addrs.map(|a| a.remote),
        };
        if let Err(e) = self.recorder.socket(&frame) {
            tracing::warn!(error = %e, "cannot write to the recording");
        }
        addrs
    }
}

/// A pod source that saves each changed answer into the recording.
pub struct RecordingPods<S> {
    inner: S,
    answers: crate::kubernetes::AnswerLog,
    recorder: Recorder,
}

impl<S> RecordingPods<S> {
    pub fn new(inner: S, recorder: Recorder) -> Self {
        Self {
            inner,
            answers: crate::kubernetes::AnswerLog::default(),
            recorder,
        }
    }
}

impl<S: crate::kubernetes::PodSource> crate::kubernetes::PodSource for RecordingPods<S> {
    fn pod(&mut self, pod_uid: &str) -> Option<std::sync::Arc<crate::kubernetes::PodEntry>> {
        let answer = self.inner.pod(pod_uid);
        if let Some(changed) = self.answers.observe(pod_uid, answer.as_ref())
            && let Err(e) = self.recorder.pod(&changed)
        {
            tracing::warn!(error = %e, "cannot write to the recording");
        }
        answer
    }
}
