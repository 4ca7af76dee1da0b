//! A TLS library that exists only inside another mount namespace (as in a container) is found
//! through `/proc/<pid>/maps` and probed through `/proc/<pid>/root`, as its own file.
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

use monitor_e2e::{Monitor, PYTHON, root_or_skip, run_client, scratch_dir, workspace_dir};

/// Where the library appears inside the namespace; on the host this directory stays empty.
const NS_LIB_DIR: &str = "/mnt/monitor-e2e-containerlib";

#[test]
fn libssl_inside_a_private_mount_namespace_is_probed() {
    if !root_or_skip("libssl_inside_a_private_mount_namespace_is_probed") {
        return;
    }
    let dir = scratch_dir("container-lib");
    let lib_dir = dir.join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    // A copy is a different inode from the host's libssl: it needs its own probes.
    std::fs::copy(
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        lib_dir.join("libssl.so.3"),
    )
    .expect("copying the system libssl");
    let (cert, key) = monitor_e2e::self_signed_cert(&dir);
    std::fs::create_dir_all(NS_LIB_DIR).unwrap();

    // The server starts before the monitor, in its own mount namespace, with the copy mounted
    // where only that namespace sees it.
    let script = format!(
        "mount --bind {lib} {ns} && LD_LIBRARY_PATH={ns} exec {PYTHON} {server} {cert} {key}",
        lib = lib_dir.display(),
        ns = NS_LIB_DIR,
        server = workspace_dir()
            .join("tests/fixtures/tls_server.py")
            .display(),
        cert = cert.display(),
        key = key.display(),
    );
    let mut server = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the namespaced server");
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("server did not start: {first:?}"));
    assert!(
        std::fs::read_dir(NS_LIB_DIR).unwrap().next().is_none(),
        "the host must not see the namespace's mount"
    );

    let monitor = Monitor::start(&[]);
    run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--http1.1",
        &format!("https://127.0.0.1:{port}/hello"),
    ]));
    let captured = monitor.stop();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let expected_path = format!("{NS_LIB_DIR}/libssl.so.3");
    assert!(
        captured.stderr.contains(&expected_path),
        "the namespace's libssl must be probed:\n{}",
        captured.stderr
    );
    let served = captured.calls_to(server.id(), "server", "/hello");
    assert_eq!(served.len(), 1, "{served:#?}\n{}", captured.all_output());
    assert_eq!(served[0]["tls_library"]["path"], expected_path.as_str());
    assert_eq!(served[0]["status"], 200);
}
