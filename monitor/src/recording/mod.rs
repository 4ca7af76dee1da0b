//! Recordings: the raw capture records of a live run, with what a replay needs to reproduce its
//! output without root and without the recorded host (clock offset, probed libraries, process
//! identities, pod metadata). Replay is how most policy tests run. The format is documented in
//! `docs/recording-format.md`.
mod format;
mod reader;
mod writer;

pub use format::{FORMAT_VERSION, Frame, LibraryFrame, MAGIC, PodFrame, ProcessFrame, SocketFrame};
pub use reader::{ReadError, read_recording};
pub use writer::{Recorder, RecordingPods, RecordingSource};
