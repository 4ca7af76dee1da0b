//! The kernel side's accounting under limits: the per-call capture cap cuts exactly what it says
//! and the cut is counted, and a ring buffer too small for the traffic drops records that are
//! counted while the monitor keeps going.
use std::process::Command;

use monitor_e2e::{Monitor, TlsServer, recording, root_or_skip, run_client};

const LARGE: u64 = 1536 * 1024;

fn download_large(server: &TlsServer) -> u32 {
    let (pid, output) = run_client(
        Command::new("curl")
            .args([
                "--silent",
                "--insecure",
                "--http1.1",
                "--output",
                "/dev/null",
            ])
            .args(["--write-out", "%{size_download}", &server.url("/large")]),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), LARGE.to_string());
    pid
}

#[test]
fn per_call_cap_is_configurable_and_cuts_exactly() {
    if !root_or_skip("per_call_cap_is_configurable_and_cuts_exactly") {
        return;
    }
    let dir = monitor_e2e::scratch_dir("call-cap");
    for cap in [16_384u64, 65_536] {
        let server = TlsServer::start();
        // `record`: the records say which process each cut belongs to; the counters cannot
        // (they are host-wide, and anything else running here adds to them).
        let recording = dir.join(format!("cap-{cap}.rec"));
        let monitor = Monitor::start_command(
            "record",
            &[
                "--out",
                recording.to_str().unwrap(),
                "--call-cap",
                &cap.to_string(),
            ],
        );
        let curl_pid = download_large(&server);
        let captured = monitor.stop();
        assert!(captured.exit_ok, "{}", captured.stderr);
        let records = recording::records(&recording);

        // Exact, on this test's processes only: the Python server writes the 1.5 MiB body with
        // one SSL_write, of which exactly the first `cap` bytes are copied and the rest is cut
        // and said so; curl's reads are at most 16 KiB, never cut. This fails if the cap is not
        // applied, not configurable, or cuts anywhere but at `cap`.
        let server_calls = recording::calls_of(&records, server.pid());
        let cut: Vec<_> = server_calls.iter().filter(|c| c.call_len > cap).collect();
        assert_eq!(cut.len(), 1, "cap {cap}: {cut:#?}");
        assert_eq!(cut[0].call_len, LARGE, "cap {cap}: {cut:#?}");
        assert!(
            cut[0].contiguous && cut[0].saw_last_chunk,
            "cap {cap}: {cut:#?}"
        );
        assert_eq!(cut[0].copied, cap, "cap {cap}");
        assert_eq!(cut[0].truncated, LARGE - cap, "cap {cap}");
        let curl_calls = recording::calls_of(&records, curl_pid);
        assert!(!curl_calls.is_empty(), "cap {cap}: no records of curl");
        assert!(
            curl_calls.iter().all(|c| c.truncated == 0),
            "cap {cap}: {curl_calls:#?}"
        );

        // The counters, host-wide: they hold our cut, and the kernel's count is what the records
        // delivered (every process's) unless records went missing, which only adds to it. This
        // fails if cut bytes go uncounted or are counted wrong, whatever else runs beside.
        let own = LARGE - cap;
        let delivered = recording::truncated_bytes(&records);
        let counted = captured.metric("monitor_kernel_loss_total{counter=\"truncated_bytes\"}");
        let missing_records = captured
            .metric("monitor_kernel_loss_total{counter=\"ring_full_records\"}")
            + captured.metric("monitor_kernel_loss_total{counter=\"read_faults\"}");
        assert!(
            counted >= own && counted >= delivered,
            "cap {cap}: counted {counted}, ours {own}, delivered {delivered}:\n{}",
            captured.stderr
        );
        eprintln!(
            "cap {cap}: ours {own}, delivered (all processes) {delivered}, counted {counted}, \
             records missing {missing_records}"
        );
        if missing_records == 0 {
            assert_eq!(counted, delivered, "cap {cap}: {}", captured.stderr);
        }
        // The stream gap is counted from the records userspace read: at least ours, at most
        // what all records carried.
        let gap = captured.metric("monitor_stream_gap_bytes_total{cause=\"truncated\"}");
        assert!(
            gap >= own && gap <= delivered,
            "cap {cap}: gap {gap}, ours {own}, delivered {delivered}"
        );
        let served = captured.calls_to(server.pid(), "server", "/large");
        assert_eq!(served.len(), 1, "cap {cap}: {served:#?}");
        assert_eq!(served[0]["response_body_bytes"], LARGE);
        assert_eq!(served[0]["complete"], true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ring_buffer_overflow_is_counted_and_capture_goes_on() {
    if !root_or_skip("ring_buffer_overflow_is_counted_and_capture_goes_on") {
        return;
    }
    let server = TlsServer::start();
    // One page: a full 4 KiB chunk (plus its header) can never fit, so every large read drops.
    let monitor = Monitor::start(&["--ring-buffer-size", "4096"]);
    let curl_pid = download_large(&server);
    // Small calls still fit, and are still reported after the overflow.
    let (after_pid, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--http1.1",
        &server.url("/hello"),
    ]));
    let captured = monitor.stop();
    assert!(captured.exit_ok, "{}", captured.stderr);

    let dropped = captured.metric("monitor_kernel_loss_total{counter=\"ring_full_records\"}");
    let dropped_bytes = captured.metric("monitor_kernel_loss_total{counter=\"ring_full_bytes\"}");
    assert!(
        dropped > 0 && dropped_bytes > 0,
        "drops must be counted:\n{}",
        captured.stderr
    );
    let after = captured.calls_to(after_pid, "client", "/hello");
    assert_eq!(after.len(), 1, "{after:#?}\n{}", captured.stderr);
    assert_eq!(after[0]["status"], 200);
    // The large download is reported once; how much of it survived depends on timing, but if
    // its end was delivered, the lost bytes were skipped by count and the size is exact.
    let large = captured.calls_to(curl_pid, "client", "/large");
    assert_eq!(large.len(), 1, "{large:#?}");
    if large[0]["complete"] == true {
        assert_eq!(large[0]["response_body_bytes"], LARGE);
    }
}
