//! Output sinks for events, behind one contract ([`Sink`]): JSON lines on stdout, alerts
//! appended to a file that rotates by size, alerts posted to Alertmanager and to webhooks.
mod alertmanager;
mod config;
mod http;
mod json_lines;
mod rotating_file;
mod sink;
#[cfg(test)]
mod test_receiver;
mod webhook;
mod worker;

pub use alertmanager::{AlertmanagerSettings, AlertmanagerSink, Labels};
pub use config::{
    AlertFileConfig, AlertmanagerConfig, BuildContext, ConfigError, ConfigFile, OutputsConfig,
    StdoutConfig, TlsConfig, WebhookConfig, parse_size,
};
pub use http::{HttpSettings, SetupError};
pub use json_lines::{JsonLinesSink, ToJsonLine, json_line};
pub use rotating_file::{RotateError, RotatingFile, Rotation};
pub use sink::{Interest, Sink, Sinks};
pub use webhook::{WebhookSettings, WebhookSink};

/// Where a sink's writer thread puts each line. A line is written whole or not at all as far as
/// the sink is concerned: an error stops the sink (counted), so an implementation that can
/// recover (a failed rotation) must do so itself and return `Ok`.
pub trait LineWriter: Send {
    /// Writes `line` and its newline (it may stay buffered until `flush`).
    fn write_line(&mut self, line: &str) -> std::io::Result<()>;

    /// Writes `lines`, each ending with a newline (a writer that cares about line boundaries,
    /// like a rotating file, sees them one by one).
    fn write_lines(&mut self, lines: &str) -> std::io::Result<()> {
        lines
            .split_terminator('\n')
            .try_for_each(|line| self.write_line(line))
    }

    /// Makes every line written so far visible to readers.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Any `Write` (stdout, a test buffer): buffered; the sink flushes whenever its queue runs
/// empty, so a tailing reader sees each event when it happens and a burst costs one write.
pub struct FlushedLines<W: std::io::Write>(std::io::BufWriter<W>);

impl<W: std::io::Write> FlushedLines<W> {
    pub fn new(out: W) -> Self {
        Self(std::io::BufWriter::new(out))
    }
}

impl<W: std::io::Write + Send> LineWriter for FlushedLines<W> {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        self.0.write_all(line.as_bytes())?;
        self.0.write_all(b"\n")
    }

    fn write_lines(&mut self, lines: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        self.0.write_all(lines.as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        self.0.flush()
    }
}
