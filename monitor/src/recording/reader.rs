//! Reads a recording back, validating as it goes: a truncated or corrupt file is an error that
//! says where, never a panic. A recording cut short by a crash (a partial last frame) still
//! replays up to its last whole frame, and the reader says how many bytes it ignored.
use std::path::Path;

use thiserror::Error;

use super::format::{
    ClockJson, FORMAT_VERSION, Frame, KIND_CLOCK, KIND_LIBRARY, KIND_POD, KIND_PROCESS,
    KIND_RECORD, KIND_SOCKET, MAGIC, MAX_FRAME_LEN,
};

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a monitor recording (bad magic bytes)")]
    BadMagic,
    #[error(
        "recording format version {found} is not supported (this build reads {FORMAT_VERSION})"
    )]
    Version { found: u32 },
    #[error("frame at byte {offset}: length {len} is larger than any valid frame")]
    FrameTooLarge { offset: usize, len: u32 },
    #[error("frame at byte {offset}: unknown kind {kind}")]
    UnknownKind { offset: usize, kind: u8 },
    #[error("frame at byte {offset}: invalid metadata")]
    Metadata {
        offset: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// All frames of a recording, and the number of trailing bytes that did not form a whole frame.
pub fn read_recording(path: &Path) -> Result<(Vec<Frame>, usize), ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Result<(Vec<Frame>, usize), ReadError> {
    let preamble = MAGIC.len() + 4;
    if bytes.len() < preamble || &bytes[..MAGIC.len()] != MAGIC {
        return Err(ReadError::BadMagic);
    }
    let version = u32::from_le_bytes(bytes[MAGIC.len()..preamble].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(ReadError::Version { found: version });
    }
    let mut frames = Vec::new();
    let mut offset = preamble;
    while bytes.len() - offset >= 5 {
        let kind = bytes[offset];
        let len = u32::from_le_bytes(bytes[offset + 1..offset + 5].try_into().expect("4 bytes"));
        if len > MAX_FRAME_LEN {
            return Err(ReadError::FrameTooLarge { offset, len });
        }
        let start = offset + 5;
        let Some(payload) = bytes.get(start..start + len as usize) else {
            break;
        };
        let metadata = |source| ReadError::Metadata { offset, source };
        frames.push(match kind {
            KIND_RECORD => Frame::Record(payload.to_vec()),
            KIND_CLOCK => {
                let clock: ClockJson = serde_json::from_slice(payload).map_err(metadata)?;
                Frame::Clock {
                    monotonic_to_unix_offset_ns: clock.monotonic_to_unix_offset_ns,
                }
            }
            KIND_LIBRARY => Frame::Library(serde_json::from_slice(payload).map_err(metadata)?),
            KIND_PROCESS => Frame::Process(serde_json::from_slice(payload).map_err(metadata)?),
            KIND_SOCKET => Frame::Socket(serde_json::from_slice(payload).map_err(metadata)?),
            KIND_POD => Frame::Pod(serde_json::from_slice(payload).map_err(metadata)?),
            other => {
                return Err(ReadError::UnknownKind {
                    offset,
                    kind: other,
                });
            }
        });
        offset = start + len as usize;
    }
    Ok((frames, bytes.len() - offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        capture::TlsLibraryKind,
        recording::{LibraryFrame, ProcessFrame, Recorder},
    };

    fn sample(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("sample.rec");
        let recorder = Recorder::create(&path, 1234).unwrap();
        recorder
            .library(&LibraryFrame {
                cookie: 1,
                kind: TlsLibraryKind::Openssl,
                path: "/usr/lib/libssl.so.3".into(),
            })
            .unwrap();
        recorder.record(b"raw record bytes").unwrap();
        recorder
            .process(&ProcessFrame {
                pid: 7,
                executable: Some("/usr/bin/curl".into()),
                container_id: None,
                pod_uid: None,
            })
            .unwrap();
        recorder.flush().unwrap();
        path
    }

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("monitor-recording-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trips_every_frame_kind() {
        let path = sample(&scratch());
        let (frames, ignored) = read_recording(&path).unwrap();
        assert_eq!(ignored, 0);
        assert_eq!(frames.len(), 4);
        assert_eq!(
            frames[0],
            Frame::Clock {
                monotonic_to_unix_offset_ns: 1234
            }
        );
        assert!(matches!(&frames[1], Frame::Library(l) if l.cookie == 1));
        assert_eq!(frames[2], Frame::Record(b"raw record bytes".to_vec()));
        assert!(matches!(&frames[3], Frame::Process(p) if p.pid == 7));
    }

    #[test]
    fn a_cut_recording_replays_its_whole_frames() {
        let path = sample(&scratch());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        let (frames, ignored) = parse(&bytes).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(ignored > 0);
    }

    #[test]
    fn corrupt_recordings_are_errors_not_panics() {
        assert!(matches!(parse(b"nonsense"), Err(ReadError::BadMagic)));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&99u32.to_le_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(ReadError::Version { found: 99 })
        ));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.push(9);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.push(0);
        assert!(matches!(
            parse(&bytes),
            Err(ReadError::UnknownKind { kind: 9, .. })
        ));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.push(KIND_RECORD);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(ReadError::FrameTooLarge { .. })
        ));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.push(KIND_PROCESS);
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(b"{]");
        assert!(matches!(parse(&bytes), Err(ReadError::Metadata { .. })));
    }
}
