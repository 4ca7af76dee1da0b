//! Fixed-rate HTTP/1.1 load that knows exactly which requests it sent and which were answered.
//!
//! h2load (nghttp2, on the system OpenSSL, so its side of every call is probed too) paces each
//! connection with `--rps`. The load is split into lanes: one h2load process per lane, each with
//! one connection and one request in flight, reading its URIs in order from its own file. Its
//! per-request log then lists the requests in URI order, so row `n` of lane `l` is request
//! `{prefix}/{l}/{n}`: every request has a sequence number in its path, and we know which got an
//! answer. (h2load with several connections would reuse the same URI list on each.)
//!
//! Not quite open loop: a lane whose answers come slower than its rate falls behind rather than
//! queueing requests; the achieved rate says so, and latency is measured from the real send time.
use std::{
    fs,
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

use crate::proc_stat;

/// Requests per second one lane is asked for at most: well inside what one connection does with
/// the monitor attached (about 2,000/s here), so lanes fall behind only when the machine does.
const LANE_RATE: u32 = 1000;
const MAX_LANES: u32 = 16;

pub struct FixedRate<'a> {
    /// `https://127.0.0.1:PORT`
    pub base_url: &'a str,
    /// Paths are `{prefix}/{lane}/{n}`.
    pub prefix: &'a str,
    pub rate: u32,
    pub seconds: u64,
}

pub struct Outcome {
    /// Requests per second over the run (answered requests / first send to last answer).
    pub achieved: f64,
    pub sent: u64,
    /// (lane, n) of every request answered with a 2xx.
    pub answered: Vec<(u32, u64)>,
    /// Microseconds from send to the end of the response, answered requests only.
    pub latencies_us: Vec<f64>,
    /// CPU time of the h2load processes (user + system, from wait4).
    pub client_cpu_seconds: f64,
}

fn lanes(rate: u32) -> u32 {
    rate.div_ceil(LANE_RATE).clamp(2, MAX_LANES)
}

/// `started` from h2load's `requests: N total, N started, N done, ...` line.
fn started(output: &str) -> anyhow::Result<u64> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .and_then(|l| {
            l.split(", ")
                .find_map(|part| part.strip_suffix(" started")?.parse().ok())
        })
        .with_context(|| format!("h2load printed no request counts:\n{output}"))
}

pub fn run(dir: &Path, load: &FixedRate) -> anyhow::Result<Outcome> {
    let lanes = lanes(load.rate);
    let per_lane = (u64::from(load.rate) * load.seconds).div_ceil(u64::from(lanes));
    let mut children = Vec::new();
    for lane in 0..lanes {
        let uris = dir.join(format!("uris-{lane}.txt"));
        let mut file = std::io::BufWriter::new(fs::File::create(&uris)?);
        for n in 0..per_lane {
            writeln!(file, "{}{}/{lane}/{n}", load.base_url, load.prefix)?;
        }
        file.flush()?;
        let log = dir.join(format!("requests-{lane}.tsv"));
        let _ = fs::remove_file(&log);
        let out = dir.join(format!("h2load-{lane}.txt"));
        let child = Command::new("h2load")
            .args(["--h1", "-t", "1", "-c", "1", "-m", "1"])
            .args(["-n", &per_lane.to_string()])
            .args([
                "--rps",
                &format!("{:.3}", f64::from(load.rate) / f64::from(lanes)),
            ])
            .arg("-i")
            .arg(&uris)
            .arg("--log-file")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out)?)
            .stderr(Stdio::null())
            .spawn()
            .context("starting h2load (scripts/setup.sh --bench installs it)")?;
        children.push((lane, child, log, out));
    }
    let mut outcome = Outcome {
        achieved: 0.0,
        sent: 0,
        answered: Vec::new(),
        latencies_us: Vec::new(),
        client_cpu_seconds: 0.0,
    };
    let (mut first_send, mut last_answer) = (f64::INFINITY, 0.0f64);
    for (lane, child, log, out) in children {
        // wait4 rather than Child::wait: it also returns the child's CPU time.
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value for wait4 to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child; status and usage are valid for writes.
        let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        if pid < 0 {
            bail!("waiting for h2load: {}", std::io::Error::last_os_error());
        }
        outcome.client_cpu_seconds += proc_stat::rusage_seconds(&usage);
        let text = fs::read_to_string(&out)?;
        outcome.sent += started(&text)?;
        // Rows are in request order: one connection, one request at a time.
        let rows = fs::read_to_string(&log).unwrap_or_default();
        for (n, row) in rows.lines().enumerate() {
            let mut cols = row.split('\t');
            let start_us: f64 = cols.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let status: i32 = cols.next().and_then(|v| v.parse().ok()).unwrap_or(-1);
            let took_us: f64 = cols.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            if (200..300).contains(&status) {
                outcome.answered.push((lane, n as u64));
                outcome.latencies_us.push(took_us);
                first_send = first_send.min(start_us);
                last_answer = last_answer.max(start_us + took_us);
            }
        }
    }
    if last_answer > first_send {
        outcome.achieved = outcome.answered.len() as f64 / ((last_answer - first_send) / 1e6);
    }
    Ok(outcome)
}
