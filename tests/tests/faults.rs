//! Faults: a monitor killed with SIGKILL (a crash, an OOM kill) leaves no kernel program behind,
//! and the next monitor reports each call once (lingering probes would double them); 10,000 idle
//! connections cost the monitor bounded memory and do not stop it from reporting new calls.
use std::{
    io::{BufRead, BufReader, Write as _},
    net::TcpStream,
    process::{Command, Stdio},
    time::Duration,
};

use monitor_e2e::{Monitor, PYTHON, TlsServer, metric_in, root_or_skip, run_client};

/// Names of the monitor's kernel programs that bpftool lists now.
fn our_programs() -> usize {
    let output = Command::new("bpftool")
        .args(["prog", "show", "--json"])
        .output()
        .expect("bpftool (installed by scripts/setup.sh --test)");
    assert!(output.status.success(), "bpftool failed");
    let progs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    progs
        .iter()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| {
            ["ssl_", "sys_e", "sched_process", "go_tls_", "empty_"]
                .iter()
                .any(|prefix| n.starts_with(prefix))
        })
        .count()
}

#[test]
fn a_killed_monitor_leaves_no_probe_behind() {
    if !root_or_skip("a_killed_monitor_leaves_no_probe_behind") {
        return;
    }
    let before = our_programs();
    let monitor = Monitor::start(&[]);
    let running = our_programs();
    assert!(
        running >= before + 25,
        "{running} programs while running ({before} before)"
    );
    monitor.kill_hard();

    // The kernel frees programs and links with the last file descriptor; give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while our_programs() > before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        our_programs(),
        before,
        "programs of the killed monitor linger"
    );

    let server = TlsServer::start();
    let monitor = Monitor::start(&[]);
    let (pid, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        &server.url("/hello"),
    ]));
    let captured = monitor.stop();
    captured.only(pid, "client", "/hello");
    captured.only(server.pid(), "server", "/hello");
}

const IDLE_CONNECTIONS: usize = 10_000;

/// Accepts `N` connections on 127.0.0.1 and holds them without reading; prints `PORT p` when
/// listening and `HELD n` once all are accepted; closes them all and exits when stdin closes.
/// The server ends live in their own process so that neither process needs more than 10,000
/// descriptors (a container may forbid raising the hard limit even to root).
const ACCEPTOR: &str = r#"
import socket, sys
n = int(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
print("PORT", listener.getsockname()[1], flush=True)
held = [listener.accept()[0] for _ in range(n)]
print("HELD", len(held), flush=True)
sys.stdin.read()
for s in held:
    s.close()
"#;

/// Raises this process's open-file limit to `wanted` (inherited by the acceptor). The monitor
/// holds no descriptor per connection (it reads /proc and the kernel's maps): it needs no more.
fn raise_open_files(wanted: u64) {
    // SAFETY: getrlimit/setrlimit on a valid struct.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur >= wanted {
            return;
        }
        let hard = limit.rlim_max;
        limit.rlim_cur = wanted;
        limit.rlim_max = hard.max(wanted);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            // Root without CAP_SYS_RESOURCE: the hard limit stays, the soft one may still do.
            assert!(
                hard >= wanted,
                "RLIMIT_NOFILE: {wanted} descriptors needed, the hard limit is {hard} and cannot \
                 be raised here ({})",
                std::io::Error::last_os_error()
            );
            limit.rlim_max = hard;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// A `VmXXX:` figure of a process, in KiB.
fn vm_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

/// Polls `/metrics` until `done` holds for `series`. The deadline only keeps a broken monitor
/// from hanging the suite; how fast it gets there is the benchmarks' business.
fn wait_for_metric(monitor: &Monitor, series: &str, done: impl Fn(u64) -> bool) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let value = metric_in(&monitor.scrape_metrics(), series);
        if done(value) {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} still {value} after 10 minutes: the monitor is not keeping up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The next line the acceptor prints, which must start with `tag`; returns the rest.
fn acceptor_line(out: &mut impl BufRead, tag: &str) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("reading the acceptor");
    line.trim()
        .strip_prefix(tag)
        .unwrap_or_else(|| panic!("the acceptor printed {line:?}, expected {tag}..."))
        .trim()
        .to_owned()
}

#[test]
fn ten_thousand_idle_connections_cost_bounded_memory() {
    if !root_or_skip("ten_thousand_idle_connections_cost_bounded_memory") {
        return;
    }
    raise_open_files(IDLE_CONNECTIONS as u64 + 1024);
    let monitor = Monitor::start(&[]);
    let pid = monitor.pid();
    let active = "monitor_connections_active";
    let active_before = metric_in(&monitor.scrape_metrics(), active);
    let anon_before = vm_kib(pid, "RssAnon");

    let mut acceptor = Command::new(PYTHON)
        .args(["-c", ACCEPTOR, &IDLE_CONNECTIONS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the acceptor");
    let mut acceptor_out = BufReader::new(acceptor.stdout.take().unwrap());
    let port: u16 = acceptor_line(&mut acceptor_out, "PORT").parse().unwrap();
    // Each client sends the start of a request head and stops: the monitor tracks the connection
    // (first bytes say HTTP/1) and holds the partial head until more comes.
    let clients: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .map(|i| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            write!(stream, "GET /idle/{i} HTTP/1.1\r\nHost: idle.test\r\n").unwrap();
            stream
        })
        .collect();
    assert_eq!(
        acceptor_line(&mut acceptor_out, "HELD"),
        IDLE_CONNECTIONS.to_string()
    );
    let active_open = wait_for_metric(&monitor, active, |n| {
        n >= active_before + IDLE_CONNECTIONS as u64
    });

    // A real call while the 10,000 are open.
    let server = TlsServer::start();
    let (curl_pid, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        &server.url("/after-idle"),
    ]));
    let (health, _) = monitor.http_get("/healthz");
    let (rss, hwm, anon) = (
        vm_kib(pid, "VmRSS"),
        vm_kib(pid, "VmHWM"),
        vm_kib(pid, "RssAnon"),
    );
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let per_socket =
        anon.saturating_sub(anon_before) as f64 * 1024.0 / (2 * IDLE_CONNECTIONS) as f64;
    println!(
        "{IDLE_CONNECTIONS} idle connections ({} sockets, both ends traced, {active_open} \
         connections tracked): monitor VmRSS {rss} KiB, VmHWM {hwm} KiB, RssAnon {anon} KiB \
         ({anon_before} KiB before: {per_socket:.0} bytes per socket); {fds} file descriptors",
        2 * IDLE_CONNECTIONS,
    );
    assert_eq!(
        health, 200,
        "/healthz with {IDLE_CONNECTIONS} connections open"
    );
    // The bound is on anonymous memory, the monitor's own: VmRSS and VmHWM also count file pages,
    // such as the executables the coverage survey reads every 30 s (the monitor's own among
    // them: 110 MB for a debug build), which the page cache can drop at any time.
    // What the monitor keeps per connection: an identity entry per socket (`SocketInfo`, 104
    // bytes, about 250 with its key and hash-table slack) and, for each connection that carried
    // data, a stream tracker (HTTP/1 state of both directions holding the partial head: 1.5 KiB
    // with its hash-map slot, measured with a counting allocator). 20,000 identities and 10,000
    // trackers: some 20 MiB. The bound allows twice that (2 KiB per socket), plus 32 MiB for
    // what the allocator keeps of transient buffers (each lookup in a /proc TCP table of 20,000
    // sockets reads about 3 MB of text), and still fails if anything per connection were
    // kilobytes larger than designed.
    let bound_kib = anon_before + (2 * IDLE_CONNECTIONS as u64) * 2 + 32 * 1024;
    assert!(
        anon <= bound_kib,
        "monitor anonymous memory {anon} KiB with {IDLE_CONNECTIONS} idle connections, bound \
         {bound_kib} KiB"
    );

    // The server ends close first (their TIME_WAIT does not hold ephemeral ports), then ours.
    drop(acceptor.stdin.take());
    acceptor.wait().expect("the acceptor exits");
    drop(clients);
    let active_closed = wait_for_metric(&monitor, active, |n| n < active_before + 100);
    println!("after closing them: {active_closed} connections tracked");
    let captured = monitor.stop();
    captured.only(curl_pid, "client", "/after-idle");
    captured.only(server.pid(), "server", "/after-idle");
    assert_eq!(
        captured.metric("monitor_kernel_loss_total{counter=\"socket_table_full\"}"),
        0,
        "20,000 sockets fit the kernel's socket table (65,536)"
    );
}
