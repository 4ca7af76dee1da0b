//! An append-only file of lines that rotates by size, as Tetragon's export file does: when the
//! next line would take `FILE` past its maximum size, `FILE.N-1` → `FILE.N`, …, `FILE` →
//! `FILE.1` (the oldest beyond `keep` is overwritten), a fresh `FILE` is opened, and the line
//! goes there.
//!
//! What a log shipper tailing the file relies on: every line lands entirely in one file (a line
//! is never split across a rotation), lines keep their order across files (`FILE.N` … `FILE.1`,
//! `FILE` concatenated is what was written, minus whole files rotated away), and a rotation that
//! fails never costs a line: the writer keeps appending to the file it has open and tries again
//! later.
use std::{
    fs::{File, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
    sync::Arc,
};

use thiserror::Error;
use tracing::{error, info};

use super::LineWriter;
use crate::metrics::Metrics;

/// When to rotate and how many rotated files to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// `FILE` never grows past this many bytes, unless one line alone is longer.
    pub max_bytes: u64,
    /// Rotated files kept (`FILE.1` … `FILE.keep`); 0 keeps none (a full file is deleted).
    pub keep: usize,
}

impl Default for Rotation {
    /// Tetragon's defaults: 10 MiB × 5.
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

#[derive(Debug, Error)]
pub enum RotateError {
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot delete {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    /// Bytes in the open file (its size when opened, plus what this writer appended).
    size: u64,
    /// After a failed rotation, the next attempt waits until the open file reaches this size, so
    /// a lasting failure (a read-only directory) costs one error per `max_bytes` written rather
    /// than one per line.
    retry_at: u64,
    /// Labels the counters (`alert_file`).
    sink: &'static str,
    metrics: Arc<Metrics>,
}

impl RotatingFile {
    /// Opens `path` for appending (created if missing). An existing file's size counts: a file
    /// already full rotates before the first line.
    pub fn open(
        path: &Path,
        rotation: Rotation,
        sink: &'static str,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RotateError> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|source| RotateError::Open {
                path: path.to_owned(),
                source,
            })?
            .len();
        Ok(Self {
            path: path.to_owned(),
            rotation,
            file,
            size,
            retry_at: 0,
            sink,
            metrics,
        })
    }

    /// `FILE.n`.
    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    /// Shifts the files up by one and opens a fresh `FILE`. Stops at the first failure, so a
    /// rename refused never leads to a later rename overwriting a file that was not moved.
    fn rotate(&mut self) -> Result<(), RotateError> {
        if self.rotation.keep == 0 {
            // Nothing is kept: the full file goes. Unlinking the open file is enough; the handle
            // is replaced just below.
            remove_if_present(&self.path)?;
        } else {
            for n in (1..self.rotation.keep).rev() {
                rename_if_present(&self.numbered(n), &self.numbered(n + 1))?;
            }
            // Missing only after an earlier rotation renamed it and then could not open a fresh
            // one: the handle still writes to what is now `FILE.1` (or further).
            rename_if_present(&self.path, &self.numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl LineWriter for RotatingFile {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let len = bytes.len() as u64;
        let oversize = len > self.rotation.max_bytes;
        // An empty file takes any line, even one longer than the maximum: it must be written
        // somewhere, and alone in its file is the least surprising place.
        if self.size > 0 && self.size + len > self.rotation.max_bytes && self.size >= self.retry_at
        {
            match self.rotate() {
                Ok(()) => {
                    self.retry_at = 0;
                    self.metrics.output_rotation(self.sink);
                    info!(sink = self.sink, file = %self.path.display(), "rotated");
                }
                Err(e) => {
                    self.retry_at = self.size.saturating_add(self.rotation.max_bytes);
                    self.metrics.output_rotation_failure(self.sink);
                    error!(
                        sink = self.sink,
                        error = %e,
                        cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(),
                        "cannot rotate; appending to the current file, retrying after another max-size of lines"
                    );
                }
            }
        }
        if oversize {
            self.metrics.output_oversize_line(self.sink);
        }
        // One write call per line (a File is unbuffered): a reader tailing the file sees whole
        // lines, and the line is on its way to disk before the next one is taken.
        self.file.write_all(&bytes)?;
        self.size += len;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, RotateError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| RotateError::Open {
            path: path.to_owned(),
            source,
        })
}

fn rename_if_present(from: &Path, to: &Path) -> Result<(), RotateError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RotateError::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
            source,
        }),
    }
}

fn remove_if_present(path: &Path) -> Result<(), RotateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RotateError::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "monitor-rotate-{}-{}-{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn counter(metrics: &Metrics, name: &str) -> u64 {
        let prefix = format!("{name}{{sink=\"test\"}} ");
        metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
            .unwrap_or(0)
    }

    /// Files of the set, oldest first: `FILE.N` … `FILE.1`, `FILE`.
    fn files_oldest_first(path: &Path, keep: usize) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = (1..=keep + 3)
            .rev()
            .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
            .filter(|p| p.exists())
            .collect();
        files.push(path.to_owned());
        files
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    /// A line of exactly `len` bytes, newline included, numbered so order can be checked.
    fn line(i: usize, len: usize) -> String {
        let head = format!("{i:04}");
        format!("{head}{}", "x".repeat(len - 1 - head.len()))
    }

    #[test]
    fn rotates_exactly_when_the_next_line_would_not_fit() {
        let dir = scratch("boundary");
        let path = dir.join("alerts.jsonl");
        let metrics = Arc::new(Metrics::new());
        let rotation = Rotation {
            max_bytes: 100,
            keep: 3,
        };
        let mut file = RotatingFile::open(&path, rotation, "test", metrics.clone()).unwrap();
        // 4 × 25 bytes fill the file exactly: no rotation yet.
        for i in 0..4 {
            file.write_line(&line(i, 25)).unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
        assert!(!dir.join("alerts.jsonl.1").exists());
        assert_eq!(counter(&metrics, "monitor_output_rotations_total"), 0);
        // One byte more would not fit: rotate first, then write to the fresh file.
        file.write_line(&line(4, 25)).unwrap();
        assert_eq!(counter(&metrics, "monitor_output_rotations_total"), 1);
        assert_eq!(read(&dir.join("alerts.jsonl.1")).lines().count(), 4);
        assert_eq!(read(&path), format!("{}\n", line(4, 25)));
    }

    #[test]
    fn keeps_n_files_and_the_lines_in_order() {
        let dir = scratch("keep");
        let path = dir.join("alerts.jsonl");
        let metrics = Arc::new(Metrics::new());
        let rotation = Rotation {
            max_bytes: 100,
            keep: 2,
        };
        let mut file = RotatingFile::open(&path, rotation, "test", metrics.clone()).unwrap();
        // Lines of varied lengths, so boundaries fall at different places in each file.
        let written: Vec<String> = (0..60).map(|i| line(i, 10 + (i * 7) % 40)).collect();
        for l in &written {
            file.write_line(l).unwrap();
        }
        drop(file);
        let files = files_oldest_first(&path, 2);
        assert_eq!(files.len(), 3, "FILE.2, FILE.1, FILE: {files:?}");
        assert!(!dir.join("alerts.jsonl.3").exists());
        let mut kept = Vec::new();
        for f in &files {
            let text = read(f);
            assert!(
                text.len() <= 100,
                "{} has {} bytes",
                f.display(),
                text.len()
            );
            assert!(text.ends_with('\n'), "{} ends mid-line", f.display());
            kept.extend(text.lines().map(str::to_owned));
        }
        // What survives is exactly the newest lines, in order, none split or repeated.
        let start = written.len() - kept.len();
        assert_eq!(kept, written[start..]);
        assert!(start > 0, "some files were rotated away");
        assert_eq!(
            counter(&metrics, "monitor_output_rotation_failures_total"),
            0
        );
        assert!(counter(&metrics, "monitor_output_rotations_total") >= 3);
    }

    #[test]
    fn a_line_longer_than_the_maximum_gets_a_file_of_its_own() {
        let dir = scratch("oversize");
        let path = dir.join("alerts.jsonl");
        let metrics = Arc::new(Metrics::new());
        let rotation = Rotation {
            max_bytes: 50,
            keep: 5,
        };
        let mut file = RotatingFile::open(&path, rotation, "test", metrics.clone()).unwrap();
        let big = line(1, 200);
        file.write_line(&line(0, 20)).unwrap();
        file.write_line(&big).unwrap();
        file.write_line(&line(2, 20)).unwrap();
        assert_eq!(
            read(&dir.join("alerts.jsonl.2")),
            format!("{}\n", line(0, 20))
        );
        assert_eq!(read(&dir.join("alerts.jsonl.1")), format!("{big}\n"));
        assert_eq!(read(&path), format!("{}\n", line(2, 20)));
        assert_eq!(counter(&metrics, "monitor_output_oversize_lines_total"), 1);
        assert_eq!(counter(&metrics, "monitor_output_rotations_total"), 2);
    }

    #[test]
    fn an_existing_file_counts_towards_the_maximum() {
        let dir = scratch("existing");
        let path = dir.join("alerts.jsonl");
        std::fs::write(&path, "x".repeat(90) + "\n").unwrap();
        let rotation = Rotation {
            max_bytes: 100,
            keep: 1,
        };
        let mut file =
            RotatingFile::open(&path, rotation, "test", Arc::new(Metrics::new())).unwrap();
        file.write_line(&line(0, 20)).unwrap();
        assert_eq!(read(&dir.join("alerts.jsonl.1")).len(), 91);
        assert_eq!(read(&path), format!("{}\n", line(0, 20)));
    }

    #[test]
    fn keep_zero_deletes_the_full_file() {
        let dir = scratch("keep0");
        let path = dir.join("alerts.jsonl");
        let rotation = Rotation {
            max_bytes: 30,
            keep: 0,
        };
        let mut file =
            RotatingFile::open(&path, rotation, "test", Arc::new(Metrics::new())).unwrap();
        for i in 0..3 {
            file.write_line(&line(i, 20)).unwrap();
        }
        assert_eq!(read(&path), format!("{}\n", line(2, 20)));
        assert!(!dir.join("alerts.jsonl.1").exists());
    }

    /// A rename refused (here `FILE.1` is a non-empty directory, since root may write anywhere):
    /// counted, logged, and every line still lands, in order, in the file that is open; once
    /// the obstacle is gone, the next attempt rotates.
    #[test]
    fn a_failed_rotation_loses_nothing_and_is_retried() {
        let dir = scratch("failure");
        let path = dir.join("alerts.jsonl");
        let blocker = dir.join("alerts.jsonl.1");
        std::fs::create_dir(&blocker).unwrap();
        std::fs::write(blocker.join("occupied"), "").unwrap();
        let metrics = Arc::new(Metrics::new());
        let rotation = Rotation {
            max_bytes: 100,
            keep: 1,
        };
        let mut file = RotatingFile::open(&path, rotation, "test", metrics.clone()).unwrap();
        let written: Vec<String> = (0..10).map(|i| line(i, 25)).collect();
        for l in &written {
            file.write_line(l).unwrap();
        }
        // 250 bytes: one failure at 100, the retry waits until 200 and fails again.
        assert_eq!(
            counter(&metrics, "monitor_output_rotation_failures_total"),
            2
        );
        assert_eq!(counter(&metrics, "monitor_output_rotations_total"), 0);
        let text = read(&path);
        assert_eq!(text.lines().collect::<Vec<_>>(), written);

        std::fs::remove_dir_all(&blocker).unwrap();
        for i in 10..14 {
            file.write_line(&line(i, 25)).unwrap();
        }
        // The retry at 300 bytes succeeded: the old file moved whole to FILE.1.
        assert_eq!(counter(&metrics, "monitor_output_rotations_total"), 1);
        let mut all: Vec<String> = read(&blocker).lines().map(str::to_owned).collect();
        all.extend(read(&path).lines().map(str::to_owned));
        let expected: Vec<String> = (0..14).map(|i| line(i, 25)).collect();
        assert_eq!(all, expected);
    }
}
