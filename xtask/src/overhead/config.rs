//! The configurations the overhead benchmark compares, and the tool each one runs beside nginx:
//! nothing, the monitor's probes with empty programs (the floor), the monitor, or bpftrace as a
//! naive sniffer. Owns starting a configuration's tool, draining it, and stopping it.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::bail;

use crate::{
    bpftrace::{self, Bpftrace},
    monitor_process::MonitorProcess,
    proc_stat::cpu_seconds,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Config {
    /// No tool.
    None,
    /// `monitor run --empty-probes`: programs that do nothing at the monitor's attach points.
    Floor,
    /// `monitor run` (default policy, API calls to /dev/null unless `--no-api-calls`).
    Monitor,
    /// bpftrace printing what every probed call moved, to /dev/null.
    Bpftrace,
}

impl Config {
    pub const ALL: [Config; 4] = [
        Config::None,
        Config::Floor,
        Config::Monitor,
        Config::Bpftrace,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Config::None => "none",
            Config::Floor => "floor",
            Config::Monitor => "monitor",
            Config::Bpftrace => "bpftrace",
        }
    }

    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match Self::ALL.into_iter().find(|c| c.name() == name) {
            Some(c) => Ok(c),
            None => bail!("unknown configuration {name:?} (none, floor, monitor, bpftrace)"),
        }
    }
}

/// What a configuration runs beside nginx.
pub enum Tool {
    None,
    Monitor(MonitorProcess),
    Bpftrace(Bpftrace),
}

pub struct Setup<'a> {
    pub binary: &'a Path,
    pub dir: &'a Path,
    /// HTTPS: bpftrace probes SSL_read/SSL_write; plain HTTP: the syscall tracepoints.
    pub tls: bool,
    /// The libssl nginx has mapped.
    pub libssl: &'a Path,
    pub nginx_worker: u32,
    pub no_api_calls: bool,
    pub monitor_args: &'a [String],
}

impl Tool {
    pub fn start(config: Config, setup: &Setup) -> anyhow::Result<Self> {
        Ok(match config {
            Config::None => Tool::None,
            Config::Floor => {
                let mut args = vec!["--empty-probes".to_owned(), "--no-api-calls".to_owned()];
                args.extend(setup.monitor_args.iter().cloned());
                Tool::Monitor(MonitorProcess::start(setup.binary, setup.dir, &args, None)?)
            }
            Config::Monitor => {
                let mut args = Vec::new();
                if setup.no_api_calls {
                    args.push("--no-api-calls".to_owned());
                }
                args.extend(setup.monitor_args.iter().cloned());
                // stdout None: the API-call lines go to /dev/null, written all the same.
                Tool::Monitor(MonitorProcess::start(setup.binary, setup.dir, &args, None)?)
            }
            Config::Bpftrace => {
                let script = if setup.tls {
                    bpftrace::Script::Ssl
                } else {
                    bpftrace::Script::Syscalls
                };
                Tool::Bpftrace(Bpftrace::start(
                    setup.dir,
                    script,
                    setup.libssl,
                    setup.nginx_worker,
                )?)
            }
        })
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Tool::None => None,
            Tool::Monitor(m) => Some(m.pid()),
            Tool::Bpftrace(b) => Some(b.pid()),
        }
    }

    /// User + system CPU seconds of the tool so far (0 without one).
    pub fn cpu_seconds(&self) -> f64 {
        self.pid().map(cpu_seconds).unwrap_or(0.0)
    }

    /// API calls the monitor has reported so far (None for other tools).
    pub fn captured_calls(&self) -> anyhow::Result<Option<f64>> {
        match self {
            Tool::Monitor(m) => Ok(Some(m.scrape()?.sum("monitor_api_calls_total"))),
            _ => Ok(None),
        }
    }

    /// Waits until the tool has handled what the load left for it (the monitor: its ring buffer;
    /// bpftrace: its perf buffers), so that its CPU time covers the whole load.
    pub fn drain(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        match self {
            Tool::None => {}
            Tool::Monitor(monitor) => {
                // Its record count stops moving, up to background traffic.
                let mut last = monitor.scrape()?.sum("monitor_capture_records_total");
                while Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(500));
                    let now = monitor.scrape()?.sum("monitor_capture_records_total");
                    if now - last < 50.0 {
                        break;
                    }
                    last = now;
                }
            }
            Tool::Bpftrace(b) => {
                // No counter to read: its CPU time stops growing (under 5 ms per 250 ms).
                let mut last = cpu_seconds(b.pid());
                while Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(250));
                    let now = cpu_seconds(b.pid());
                    if now - last < 0.005 {
                        break;
                    }
                    last = now;
                }
            }
        }
        Ok(())
    }

    pub fn stop(self) -> anyhow::Result<()> {
        match self {
            Tool::None => Ok(()),
            Tool::Monitor(m) => m.stop(),
            Tool::Bpftrace(b) => b.stop(),
        }
    }
}
