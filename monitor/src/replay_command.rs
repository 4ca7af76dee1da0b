//! `monitor replay FILE`: the pipeline on a recording, output on stdout like a live run.
use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use monitor::{metrics::Metrics, output::JsonLinesSink, replay::replay, streams::StreamLimits};
use tracing::info;

pub fn run(file: &Path) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    // A replay must not drop output: it waits for the writer (`send_blocking`) instead.
    let mut sink = JsonLinesSink::stdout(4096, metrics.clone());
    let summary = replay(
        file,
        StreamLimits::default(),
        metrics.clone(),
        &mut |call| sink.send_blocking(&call),
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
