//! Batched ring-buffer wake-ups (`--ring-poll-interval`): while calls flow, the reader collects
//! records on its timer instead of being woken by the kernel for each one; on a quiet host it
//! stops polling; and the first call after a quiet spell wakes it at once. The per-record mode
//! (`--ring-poll-interval 0`) is checked against the same load, so the test shows the difference
//! it claims rather than a number that could hold either way.
use std::{process::Command, thread::sleep, time::Duration};

use monitor_e2e::{HttpServer, Monitor, metric_in, python_client, root_or_skip, run_client};

const CALLS: u32 = 150;
const KERNEL: &str = "monitor_capture_reader_wakeups_total{cause=\"kernel\"}";
const TIMER: &str = "monitor_capture_reader_wakeups_total{cause=\"timer\"}";

/// Data records read so far.
fn data_records(page: &str) -> u64 {
    metric_in(page, "monitor_capture_records_total{kind=\"data\"}")
}

/// `CALLS` plaintext GETs on one keep-alive connection, 3 ms apart; returns the client's pid.
fn paced_calls(server: &HttpServer) -> u32 {
    let (pid, output) = run_client(
        Command::new(monitor_e2e::PYTHON)
            .arg(python_client())
            .args([
                "paced",
                "127.0.0.1",
                &server.port.to_string(),
                &CALLS.to_string(),
                "3",
            ]),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "done");
    pid
}

/// (kernel wake-ups, timer polls, data records) during the paced calls, and the client's pid.
fn wakeups_during_calls(monitor: &Monitor, server: &HttpServer) -> (u64, u64, u64, u32) {
    // Let start-up records drain and the reader settle.
    sleep(Duration::from_millis(500));
    let before = monitor.scrape_metrics();
    let start = std::time::Instant::now();
    let pid = paced_calls(server);
    let calls_took = start.elapsed();
    let waited = monitor.wait_for_output(&format!("/paced/{CALLS}\""), Duration::from_secs(10));
    let after = monitor.scrape_metrics();
    let (kernel, timer, records) = (
        metric_in(&after, KERNEL) - metric_in(&before, KERNEL),
        metric_in(&after, TIMER) - metric_in(&before, TIMER),
        data_records(&after) - data_records(&before),
    );
    eprintln!(
        "{CALLS} calls took {calls_took:?}, the last one reported {waited:?} later; \
         {records} data records, {kernel} kernel wake-ups, {timer} polls"
    );
    (kernel, timer, records, pid)
}

#[test]
fn the_reader_batches_while_calls_flow_sleeps_when_idle_and_wakes_for_the_next_call() {
    if !root_or_skip(
        "the_reader_batches_while_calls_flow_sleeps_when_idle_and_wakes_for_the_next_call",
    ) {
        return;
    }
    let server = HttpServer::start("127.0.0.1");

    // Per record: the kernel wakes the reader for nearly every record of a paced load.
    let monitor = Monitor::start(&["--ring-poll-interval", "0"]);
    let (kernel, timer, records, _) = wakeups_during_calls(&monitor, &server);
    assert_eq!(timer, 0, "no timer in per-record mode");
    assert!(
        records >= u64::from(CALLS) * 4 && kernel >= u64::from(CALLS),
        "per-record mode: {kernel} wake-ups for {records} records"
    );
    drop(monitor);

    // Batched (the default): one wake-up to start, then the timer collects several records a
    // poll; every call is still reported.
    let monitor = Monitor::start(&[]);
    let (kernel, timer, records, client) = wakeups_during_calls(&monitor, &server);
    assert!(records >= u64::from(CALLS) * 4, "{records} records");
    assert!(
        kernel <= 10,
        "batched mode: the kernel woke the reader {kernel} times for {records} records"
    );
    assert!(
        timer * 2 <= records,
        "batched mode: {timer} polls for {records} records"
    );

    // Quiet: after its quiet polls the reader stops its timer (a scrape is traffic too, so
    // allow one wake-up's worth of polls between the two scrapes, not a poll every 20 ms).
    sleep(Duration::from_secs(1));
    let quiet_start = monitor.scrape_metrics();
    sleep(Duration::from_secs(2));
    let quiet_end = monitor.scrape_metrics();
    let quiet_polls = metric_in(&quiet_end, TIMER) - metric_in(&quiet_start, TIMER);
    assert!(
        quiet_polls <= 60,
        "{quiet_polls} polls in 2 quiet seconds: the reader does not go to sleep"
    );

    // Asleep, the next call's records wake it at once (the kernel reads the flag).
    sleep(Duration::from_millis(500));
    let (after_idle, _) = run_client(Command::new("curl").args([
        "--silent",
        "--output",
        "/dev/null",
        &server.url("/after-idle"),
    ]));
    let waited = monitor.wait_for_output("/after-idle\"", Duration::from_secs(5));
    eprintln!("call after a quiet spell reported in {waited:?}");

    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);
    let client_calls = captured.calls_of(client);
    assert_eq!(
        client_calls.len(),
        CALLS as usize,
        "every paced call reported"
    );
    for n in 1..=CALLS {
        captured.only(server.pid(), "server", &format!("/paced/{n}"));
    }
    captured.only(after_idle, "client", "/after-idle");
}
