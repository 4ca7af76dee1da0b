//! `monitor replay FILE`: the pipeline on a recording, output on stdout like a live run.
use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use monitor::{
    inspect::load_or_create_key,
    metrics::Metrics,
    output::JsonLinesSink,
    replay::{Checks, replay},
    streams::StreamLimits,
};
use tracing::info;

use crate::{cli::ChecksArgs, policy_file::PolicyFile};

pub fn run(file: &Path, checks: &ChecksArgs) -> anyhow::Result<()> {
    let policy = PolicyFile::new(checks.policy.clone())
        .load()
        .map_err(anyhow::Error::msg)?;
    let fingerprint_key = load_or_create_key(&checks.fingerprint_key)?;
    let metrics = Arc::new(Metrics::new());
    // A replay must not drop output: it waits for the writer (`send_blocking`) instead.
    let mut sink = JsonLinesSink::stdout(4096, metrics.clone());
    let checks = Checks {
        policy,
        fingerprint_key,
    };
    let summary = replay(
        file,
        StreamLimits::default(),
        Some(checks),
        metrics.clone(),
        &mut |output| sink.send_blocking(&output),
    )
    .with_context(|| format!("replaying {}", file.display()))?;
    sink.close();
    info!(
        records = summary.records,
        undecodable = summary.undecodable,
        ignored_trailing_bytes = summary.ignored_trailing_bytes,
        summary = %crate::daemon::summary(&metrics),
        "replay finished"
    );
    Ok(())
}
