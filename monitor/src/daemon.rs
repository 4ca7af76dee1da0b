//! `monitor run` / `monitor record`: wires capture to the pipeline and the outputs, and owns the
//! daemon's lifetime (readiness, periodic housekeeping, clean shutdown on SIGINT/SIGTERM).
use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use monitor::{
    capture::{
        self, AttachReport, Attacher, CaptureSettings, Discovery, EventKind, LibraryRegistry,
        LoadedPrograms, TlsWatcher,
    },
    enrich::{ProcFs, ProcessTable},
    inspect::{Inspector, load_or_create_key},
    inventory::{FileWriter, PublishedInventory},
    kubernetes::PodStore,
    metrics::{self, Metrics, Readiness},
    output::{
        AlertFileConfig, AlertmanagerConfig, BuildContext, ConfigFile, OutputsConfig, Sinks,
        StdoutConfig, TlsConfig, WebhookConfig,
    },
    pipeline::Pipeline,
    policy::Severity,
    recording::{LibraryFrame, Recorder, RecordingPods, RecordingSource},
    streams::StreamLimits,
    time::WallClock,
};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};
use tracing::{debug, error, info, warn};

use crate::{
    cli::{KubernetesArgs, KubernetesMode, RunArgs},
    policy_file::PolicyFile,
};

/// Events queued between the ring-buffer reader and the pipeline (in batches of up to
/// `capture::EVENT_BATCH`; the bound counts events, see `capture::event_queue`).
const EVENT_QUEUE: usize = 16_384;

pub fn run(args: RunArgs, record: Option<&Path>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run_async(args, record))
}

pub fn stream_limits(args: &RunArgs) -> StreamLimits {
    let mut limits = StreamLimits {
        max_connections: args.max_connections,
        idle_timeout_ns: args.idle_timeout.saturating_mul(1_000_000_000),
        ..StreamLimits::default()
    };
    let body = args.body_scan_bytes as usize;
    limits.protocols.http1.body_sample_bytes = body;
    limits.protocols.http2.body_sample_bytes = body;
    limits
}

/// How often the policy file is checked for changes (SIGHUP reloads at once).
const POLICY_POLL: Duration = Duration::from_secs(2);

async fn run_async(args: RunArgs, record: Option<&Path>) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    // A broken policy at start is an error: there is no last good one to fall back on.
    let mut policy_file = PolicyFile::new(args.checks.policy.clone());
    let policy = policy_file.load().map_err(anyhow::Error::msg)?;
    metrics.policy_reload(true);
    info!(policy = %policy_file.describe(), "policy loaded");
    let fingerprint_key = load_or_create_key(&args.checks.fingerprint_key)?;
    let mut sinks = build_sinks(&args, &metrics)?;
    sinks.set_suppression_window(policy.settings().suppression_window);
    info!(sinks = ?sinks.names(), "outputs");
    let readiness = Readiness::default();
    // The API inventory's latest snapshot: published by the pipeline, read by `/inventory` and
    // the file writer. It lives here, not in the policy, so a reload keeps it.
    let api_inventory = PublishedInventory::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (metrics_addr, metrics_server) = metrics::serve(
        args.metrics_addr,
        metrics.clone(),
        readiness.clone(),
        api_inventory.clone(),
        stop_rx.clone(),
    )
    .await
    .with_context(|| format!("serving metrics on {}", args.metrics_addr))?;
    info!(addr = %metrics_addr, "metrics endpoint listening");

    let clock = WallClock::now();
    let recorder = record
        .map(|path| {
            Recorder::create(path, clock.offset_ns())
                .with_context(|| format!("creating the recording {}", path.display()))
        })
        .transpose()?;

    let mut programs = LoadedPrograms::load(CaptureSettings {
        ring_buffer_bytes: args.ring_buffer_size,
        call_cap: args.call_cap,
        http2_call_cap: args
            .http2_call_cap
            .clamp(args.call_cap, monitor_common::MAX_CALL_CAP),
        wakeup_bytes: if args.ring_poll_interval == 0 {
            0
        } else {
            args.ring_buffer_size / 8
        },
        empty_probes: args.empty_probes,
    })?;
    let libraries = LibraryRegistry::default();
    let mut discovery = Discovery::new("/proc");
    let mut found = discovery.system_libraries();
    found.extend(discovery.all_processes());
    let mut attacher = Attacher::new(args.probes_at_function_start);
    let report = attacher.attach(&mut programs, &found, &libraries);
    if report.libraries == 0 {
        // Found nothing at all: say so as an error when a missing privilege explains it (a
        // refused attach has already been logged by the attacher).
        match capture::Privileges::current()
            .filter(|_| found.is_empty())
            .as_ref()
            .and_then(capture::explain_nothing_found)
        {
            Some(reason) => error!(
                "cannot read other processes' libraries, TLS calls will not be seen: {reason}"
            ),
            None => warn!(
                candidates = found.len(),
                "no TLS library could be probed: TLS calls will not be seen"
            ),
        }
    }
    record_libraries(recorder.as_ref(), &report)?;
    let (tls_watcher, mut library_scans) =
        TlsWatcher::spawn(discovery, Duration::from_secs(args.rescan_interval.max(1)));
    metrics.set_probed_files(attacher.probed_files());
    let counters = programs.take_kernel_counters()?;
    let mut wide_connections = programs.take_wide_connections()?;
    let http2_call_cap = args
        .http2_call_cap
        .clamp(args.call_cap, monitor_common::MAX_CALL_CAP);
    let ring = programs.take_ring_buffer()?;
    let wakeups = match args.ring_poll_interval {
        0 => capture::Wakeups::PerRecord,
        ms => capture::Wakeups::Batched {
            interval: Duration::from_millis(ms),
            asleep_flag: programs.take_reader_asleep_flag()?,
        },
    };
    // After the socket tracepoints are attached, so that no connection falls between the two:
    // the kernel tracks new connections from the arming on, the scan finds the older ones.
    // Without the arming the kernel would track no new connection at all, so it fails the start.
    let mut socket_table = programs.take_socket_table()?;
    socket_table
        .arm_tracking()
        .context("letting the kernel track new connections")?;
    let recovered = capture::recover_connections(
        Path::new("/proc"),
        &mut socket_table,
        WallClock::monotonic_now_ns(),
    );
    info!(
        connections = recovered.len(),
        "recovered established connections"
    );

    let (events_tx, mut events) = capture::event_queue(EVENT_QUEUE);
    let reader = capture::spawn_ring_reader(
        ring,
        wakeups,
        events_tx,
        metrics.clone(),
        recorder.clone(),
        stop_rx,
    )
    .context("polling the ring buffer")?;

    let processes = match &recorder {
        Some(recorder) => {
            ProcessTable::new(RecordingSource::new(ProcFs::new("/proc"), recorder.clone()))
        }
        None => ProcessTable::new(ProcFs::new("/proc")),
    };
    let inspector = Inspector::new(policy, fingerprint_key, clock, metrics.clone())?;
    let mut pipeline = Pipeline::new(
        stream_limits(&args),
        processes,
        libraries.clone(),
        clock,
        metrics.clone(),
        Some(inspector),
    );
    let pod_store = start_pod_watch(&args.kubernetes, metrics.clone()).await?;
    if let Some(store) = pod_store.clone() {
        pipeline = match &recorder {
            Some(recorder) => {
                pipeline.with_pods(Box::new(RecordingPods::new(store, recorder.clone())))
            }
            None => pipeline.with_pods(Box::new(store)),
        };
    }
    pipeline.exclude_commands(args.exclude_command.clone());
    // The inspector publishes the inventory each housekeeping tick and once more at flush.
    pipeline.publish_inventory_to(api_inventory.clone());
    for raw in &recovered {
        if let Some(recorder) = &recorder {
            recorder.record(raw).context("writing the recording")?;
        }
        if let Ok(event) = capture::decode(raw) {
            pipeline.handle(event, &mut |_| {});
        }
    }
    drop(socket_table);

    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
    let mut policy_poll = tokio::time::interval(POLICY_POLL);
    // On its own thread: a survey reads every process's maps (and, once per file, symbol
    // tables), which must not hold up event handling.
    let coverage_thread = spawn_coverage_survey(
        Duration::from_secs(args.coverage_interval.max(1)),
        metrics.clone(),
        stop_tx.subscribe(),
    );

    let inventory_writer = args.inventory_file.clone().map(|path| {
        info!(file = %path.display(), "writing the API inventory");
        FileWriter::spawn(
            path,
            Duration::from_secs(args.inventory_interval.max(1)),
            api_inventory.clone(),
            metrics.clone(),
        )
    });

    readiness.set_ready();
    metrics.set_ready();
    info!(
        libraries = report.libraries,
        probes = report.probes,
        unprobed = report.failures.len(),
        "monitor ready"
    );

    loop {
        // One batch per turn of the main loop: signals, rescans and housekeeping still get a
        // turn between batches.
        tokio::select! {
            received = events.recv() => {
                let Some(batch) = received else {
                    break;
                };
                for event in batch {
                    match event.kind {
                        EventKind::ProcessExec { .. } => tls_watcher.on_exec(event.tgid),
                        EventKind::CodeMapped => tls_watcher.on_code_mapped(event.tgid),
                        _ => {}
                    }
                    pipeline.handle(event, &mut sinks.emitter());
                }
                widen(&mut wide_connections, pipeline.take_widened(), http2_call_cap, &metrics);
            }
            Some(scan) = library_scans.recv() => {
                let report = attacher.attach(&mut programs, &scan.candidates, &libraries);
                if let Err(e) = record_libraries(recorder.as_ref(), &report) {
                    warn!(error = %e, "cannot write the recording");
                }
                if let Some(in_use) = &scan.in_use {
                    let detached = attacher.detach_unused(&mut programs, in_use);
                    metrics.probes_detached(detached.len());
                }
                metrics.set_probed_files(attacher.probed_files());
            }
            _ = housekeeping.tick() => {
                pipeline.tick(WallClock::monotonic_now_ns(), &mut sinks.emitter());
                export_kernel_counters(&counters, &metrics);
                // Deleted pods go after their grace period even on a node with no pod events.
                if let Some(store) = &pod_store {
                    store.expire(std::time::Instant::now());
                    metrics.k8s_set_pods(store.len());
                }
                let inventory = api_inventory.latest();
                metrics.api_inventory_state(inventory.entries.len(), inventory.evicted);
            }
            _ = policy_poll.tick() => {
                if policy_file.changed() {
                    reload_policy(&mut policy_file, &mut pipeline, &mut sinks, &metrics, "file changed");
                }
            }
            _ = sighup.recv() => reload_policy(&mut policy_file, &mut pipeline, &mut sinks, &metrics, "SIGHUP"),
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
        // Whatever the turn produced goes to the sinks' writers as one batch.
        sinks.end_batch();
    }

    info!("stopping: detaching probes");
    drop(tls_watcher);
    drop(programs);
    let _ = stop_tx.send(true);
    while let Some(batch) = events.recv().await {
        for event in batch {
            pipeline.handle(event, &mut sinks.emitter());
        }
    }
    let _ = reader.await;
    let _ = coverage_thread.join();
    pipeline.flush(WallClock::monotonic_now_ns(), &mut sinks.emitter());
    if let Some(writer) = inventory_writer {
        writer.finish().await;
    }
    let inventory = api_inventory.latest();
    metrics.api_inventory_state(inventory.entries.len(), inventory.evicted);
    sinks.close();
    if let Some(recorder) = &recorder {
        recorder.flush().context("writing the recording")?;
    }
    export_kernel_counters(&counters, &metrics);
    let _ = metrics_server.await;
    info!(summary = %summary(&metrics), "stopped");
    Ok(())
}

/// The outputs `run` writes to: the config file's `outputs:` section, extended by the flags
/// (`--no-api-calls`, `--alerts-file`, `--alertmanager-url`, `--webhook-url`...).
fn build_sinks(args: &RunArgs, metrics: &Arc<Metrics>) -> anyhow::Result<Sinks> {
    let mut outputs = match &args.config {
        Some(path) => ConfigFile::load(path)?.outputs,
        None => OutputsConfig::default(),
    };
    if args.no_api_calls {
        outputs
            .stdout
            .get_or_insert_with(StdoutConfig::default)
            .calls = false;
    }
    if let Some(path) = &args.alerts_file {
        outputs.alert_file = Some(AlertFileConfig {
            path: path.clone(),
            max_size: args.alerts_file_max_size,
            keep: args.alerts_file_keep,
            min_severity: Severity::Info,
        });
    }
    let tls = TlsConfig {
        ca_file: args.sink_ca_file.clone(),
        insecure_skip_verify: args.sink_insecure_skip_verify,
    };
    if !args.alertmanager_url.is_empty() {
        let mut am = AlertmanagerConfig::new(args.alertmanager_url.clone());
        am.labels = args.alertmanager_label.iter().cloned().collect();
        am.min_severity = args.sink_min_severity;
        am.timeout = args.sink_timeout;
        am.tls = tls.clone();
        outputs.alertmanager.push(am);
    }
    for url in &args.webhook_url {
        let mut hook = WebhookConfig::new(url.clone());
        hook.min_severity = args.sink_min_severity;
        hook.timeout = args.sink_timeout;
        hook.bearer_token_file = args.webhook_bearer_token_file.clone();
        hook.hmac_key_file = args.webhook_hmac_key_file.clone();
        hook.tls = tls.clone();
        outputs.webhook.push(hook);
    }
    let node = node_name(args.kubernetes.node_name.as_deref());
    Ok(outputs.build(&BuildContext {
        metrics,
        node: &node,
        line_queue: args.output_queue,
    })?)
}

/// The `node` of alerts sent off the host: the Kubernetes node name, else the host name.
fn node_name(kubernetes_node: Option<&str>) -> String {
    kubernetes_node
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_default()
}

/// Starts the watch of this node's pods when `--kubernetes` asks for it; the store it fills.
/// With `auto`, a watch that cannot start is a warning (calls of pod processes then carry only
/// their pod UID); with `on`, an error.
async fn start_pod_watch(
    args: &KubernetesArgs,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Option<Arc<PodStore>>> {
    if !args.wanted().map_err(anyhow::Error::msg)? {
        return Ok(None);
    }
    #[cfg(feature = "kubernetes")]
    {
        let store = Arc::new(PodStore::default());
        let node = args.node_name.clone().unwrap_or_default();
        match monitor::kubernetes::spawn_pod_watch(
            store.clone(),
            node,
            args.kubeconfig.as_deref(),
            metrics,
        )
        .await
        {
            Ok(_watch) => Ok(Some(store)),
            Err(e) if args.kubernetes == KubernetesMode::On => {
                Err(anyhow::Error::new(e).context("starting the pod watch"))
            }
            Err(e) => {
                warn!(
                    error = %format!("{:#}", anyhow::Error::new(e)),
                    "no pod watch: calls of processes in pods carry only their pod UID"
                );
                Ok(None)
            }
        }
    }
    #[cfg(not(feature = "kubernetes"))]
    {
        let _ = metrics;
        if args.kubernetes == KubernetesMode::On {
            anyhow::bail!("this monitor was built without the `kubernetes` feature");
        }
        warn!("built without the `kubernetes` feature: no pod watch");
        Ok(None)
    }
}

/// Surveys TLS coverage every `interval` until `stop` changes.
fn spawn_coverage_survey(
    interval: Duration,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut discovery = Discovery::new("/proc");
        loop {
            export_coverage(&mut discovery, &metrics);
            let deadline = std::time::Instant::now() + interval;
            while std::time::Instant::now() < deadline {
                if *stop.borrow() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
}

/// Surveys TLS coverage and exports the counts.
fn export_coverage(discovery: &mut Discovery, metrics: &Metrics) {
    let rows = monitor::coverage::survey(Path::new("/proc"), discovery);
    let mut counts: std::collections::BTreeMap<(String, &'static str), i64> = Default::default();
    // The monitor's own sockets (its metrics endpoint, its rustls client to the Kubernetes API)
    // are not traffic it is there to watch: counted, they would make every node a coverage gap.
    let own = std::process::id();
    for row in rows.iter().filter(|row| row.pid != own) {
        // Label values come from a fixed vocabulary: joined family names, java, go, rustls, none.
        *counts
            .entry((row.stack.clone(), row.state.as_str()))
            .or_default() += 1;
    }
    metrics.set_coverage(&counts.into_iter().collect::<Vec<_>>());
}

/// Saves newly probed libraries in the recording, so a replay names them.
fn record_libraries(recorder: Option<&Recorder>, report: &AttachReport) -> anyhow::Result<()> {
    if let Some(recorder) = recorder {
        for (cookie, library) in &report.registered {
            recorder
                .library(&LibraryFrame {
                    cookie: *cookie,
                    kind: library.kind,
                    path: library.path.clone(),
                })
                .context("writing the recording")?;
        }
    }
    Ok(())
}

/// Loads the policy again; a policy that fails keeps the last good one in force.
fn reload_policy(
    policy_file: &mut PolicyFile,
    pipeline: &mut Pipeline,
    sinks: &mut Sinks,
    metrics: &Metrics,
    trigger: &str,
) {
    let result = policy_file.load().and_then(|policy| {
        let window = policy.settings().suppression_window;
        pipeline
            .set_policy(policy)
            .map(|()| window)
            .map_err(|e| format!("{e:#}"))
    });
    match result {
        Ok(window) => {
            sinks.set_suppression_window(window);
            metrics.policy_reload(true);
            info!(policy = %policy_file.describe(), trigger, "policy reloaded");
        }
        Err(errors) => {
            metrics.policy_reload(false);
            error!(
                policy = %policy_file.describe(),
                trigger,
                "policy rejected, the last good policy stays in force: {errors}"
            );
        }
    }
}

fn export_kernel_counters(counters: &capture::KernelCounters, metrics: &Metrics) {
    match counters.read() {
        Ok(values) => {
            for (name, total) in values {
                metrics.kernel_counter(name, total);
            }
        }
        Err(e) => warn!(error = %e, "cannot read the kernel loss counters"),
    }
}

/// Non-zero counters, one `name{labels}=value` per item, for the stop log line.
pub fn summary(metrics: &Metrics) -> String {
    metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| !l.ends_with(" 0"))
        .map(|l| l.replacen(' ', "=", 1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tells the kernel to copy these connections' calls up to `cap` bytes.
fn widen(
    table: &mut aya::maps::HashMap<aya::maps::MapData, monitor_common::WideKey, u32>,
    connections: Vec<capture::ConnKey>,
    cap: u32,
    metrics: &Metrics,
) {
    for conn in connections {
        let key = monitor_common::WideKey {
            conn_id: conn.id,
            tgid: conn.tgid,
            source: u32::from(conn.source),
        };
        // An LRU map: a full one drops its least recently used entry, it does not refuse.
        if let Err(e) = table.insert(key, cap, 0) {
            metrics.record_kind("wide_connection_refused");
            debug!(error = %e, "cannot widen a connection's copies");
        }
    }
}
