//! The container image (`deploy/image/Containerfile`, built by `cargo xtask image`) run with podman
//! as the DaemonSet runs it: host PID namespace, read-only root filesystem, the host's tracefs
//! read-only, a policy directory, an alerts directory and the fingerprint key's directory mounted.
//! HTTPS calls by a process on the host and by a process in a second container must both be
//! reported, the second with that container's full id; with one needed privilege less the
//! monitor must say which one is missing.
//!
//! Privileges, as measured on our machines (kernel 6.18, `perf_event_paranoid` 2): CAP_BPF,
//! CAP_PERFMON, CAP_SYS_PTRACE and CAP_SYS_ADMIN (the uprobe PMU's check), AppArmor unconfined,
//! and `deploy/image/seccomp.json` (podman's default profile plus `bpf` and `perf_event_open`).
//!
//! Two adjustments are for these VMs only, not for deployments: Debian's `runc` instead of
//! `crun` (crun refuses their hybrid cgroup layout), and fixed ulimits (the machine's root lacks
//! CAP_SYS_RESOURCE, so podman's default ulimits cannot be set).
//!
//! The image is built once per test binary, with the binary in the dev profile: the same crate
//! and kernel programs as the release image, built in a fraction of the time (the release build's
//! LTO is what users get from `cargo xtask image`).
use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, OnceLock},
    thread,
    time::{Duration, Instant},
};

use monitor_e2e::{
    TlsServer,
    kubernetes::{ApiServer, PodCgroup},
    root_or_skip, run_client, scratch_dir, workspace_dir,
};
use serde_json::Value;

const TAG: &str = "localhost/monitor-e2e:test";
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// The least-privileged DaemonSet's capabilities (`deploy/kubernetes/least-privileged`), as
/// `--cap-add` takes them: read from the manifest, so the test runs what users deploy.
fn least_capabilities() -> Vec<&'static str> {
    static CAPABILITIES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CAPABILITIES
        .get_or_init(|| {
            let text = std::fs::read_to_string(
                workspace_dir().join("deploy/kubernetes/least-privileged/security.yaml"),
            )
            .expect("reading the least-privileged profile");
            let patch: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
            patch["spec"]["template"]["spec"]["containers"][0]["securityContext"]
                ["capabilities"]["add"]
                .as_sequence()
                .expect("the profile adds capabilities")
                .iter()
                .map(|c| &*c.as_str().unwrap().to_ascii_lowercase().leak())
                .collect()
        })
        .clone()
}

/// The DaemonSet's `monitor` arguments (`deploy/kubernetes/base`), but for the metrics address (a
/// free loopback port: the test's container is on the host network) and with API calls on stdout
/// (the DaemonSet prints alerts only; the test asserts on the calls).
fn daemonset_args(metrics_port: u16) -> Vec<String> {
    let text =
        std::fs::read_to_string(workspace_dir().join("deploy/kubernetes/base/daemonset.yaml"))
            .expect("reading the DaemonSet");
    let daemonset: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    daemonset["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("the DaemonSet passes arguments")
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .filter(|a| a != "--no-api-calls")
        .map(|a| {
            if a.starts_with("--metrics-addr") {
                format!("--metrics-addr=127.0.0.1:{metrics_port}")
            } else {
                a
            }
        })
        .collect()
}

/// Builds the image once for all tests of this binary; returns its tag.
fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let started = Instant::now();
        // The previous run's image would stay behind, untagged, at every rebuild.
        let _ = podman(&["rmi", "--force", TAG]);
        // The xtask's own code path, so the test image is built exactly as users build theirs.
        let output = Command::new(cargo)
            .args([
                "run",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "image",
                "--debug",
            ])
            .args(["--tag", TAG])
            .current_dir(workspace_dir())
            .stderr(Stdio::inherit())
            .output()
            .expect("running cargo xtask image");
        assert!(output.status.success(), "cargo xtask image failed");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), TAG);
        eprintln!("image {TAG} built in {:?}", started.elapsed());
    });
    TAG
}

fn runc() -> String {
    let output = Command::new("sh")
        .args(["-c", "command -v runc"])
        .output()
        .expect("running sh");
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "runc is missing (scripts/setup.sh --test installs it)"
    );
    path
}

/// `podman --runtime runc`, with the ulimits these VMs need on `run`.
fn podman_run() -> Command {
    let mut command = Command::new("podman");
    command.args(["--runtime", &runc(), "run"]);
    command.args([
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ]);
    command
}

fn podman(args: &[&str]) -> std::process::Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("running podman")
}

/// Security settings of a monitor container.
#[derive(Clone, Copy)]
enum Privileges<'a> {
    Privileged,
    /// Only these capabilities, AppArmor unconfined, and this seccomp profile.
    Capabilities {
        add: &'a [&'a str],
        seccomp: Seccomp,
    },
}

#[derive(Clone, Copy)]
enum Seccomp {
    /// `deploy/image/seccomp.json`.
    Ours,
    /// podman's default profile.
    RuntimeDefault,
}

impl Privileges<'_> {
    fn args(self) -> Vec<String> {
        match self {
            Self::Privileged => vec!["--privileged".into()],
            Self::Capabilities { add, seccomp } => {
                let mut args = vec![
                    "--cap-drop=all".into(),
                    format!("--cap-add={}", add.join(",")),
                    "--security-opt".into(),
                    "apparmor=unconfined".into(),
                ];
                if let Seccomp::Ours = seccomp {
                    let profile = workspace_dir().join("deploy/image/seccomp.json");
                    args.extend([
                        "--security-opt".into(),
                        format!("seccomp={}", profile.display()),
                    ]);
                }
                args
            }
        }
    }
}

fn least_without(capability: &str) -> Vec<&'static str> {
    least_capabilities()
        .into_iter()
        .filter(|c| *c != capability)
        .collect()
}

/// A free TCP port on loopback (the monitor's metrics endpoint, on the host network).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// The monitor's container; removed (`podman rm -f`) when dropped, whatever happened.
struct MonitorContainer {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    port: u16,
    /// The alerts directory mounted at /var/log/monitor.
    alerts_dir: PathBuf,
}

impl MonitorContainer {
    /// Starts the image as the DaemonSet does, with `privileges`.
    fn start(privileges: Privileges<'_>) -> Self {
        Self::start_with(privileges, &[])
    }

    /// `start`, with more `podman run` options (mounts, environment).
    fn start_with(privileges: Privileges<'_>, options: &[String]) -> Self {
        let image = image();
        let dir = scratch_dir("image");
        let (policy_dir, alerts_dir, key_dir) =
            (dir.join("policy"), dir.join("alerts"), dir.join("key"));
        for d in [&policy_dir, &alerts_dir, &key_dir] {
            std::fs::create_dir_all(d).expect("creating a mounted directory");
        }
        // The built-in default policy, printed by the image itself.
        let policy = podman_run()
            .args(["--rm", image, "policy", "default"])
            .output()
            .expect("running the image");
        assert!(
            policy.status.success(),
            "`policy default` in the image failed: {}",
            String::from_utf8_lossy(&policy.stderr)
        );
        std::fs::write(policy_dir.join("policy.yaml"), &policy.stdout).expect("writing the policy");
        // The cluster-wide key comes from a Secret, mounted read-only.
        let key: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37) ^ (std::process::id() as u8))
            .collect();
        std::fs::write(key_dir.join("fingerprint.key"), key).expect("writing the key");

        let port = free_port();
        let name = format!("monitor-e2e-{}-{port}", std::process::id());
        let mount = |host: &Path, container: &str, mode: &str| {
            format!("--volume={}:{container}:{mode}", host.display())
        };
        let mut command = podman_run();
        command
            .args([
                "--rm",
                "--name",
                &name,
                "--pid=host",
                "--network=host",
                "--read-only",
            ])
            .args(privileges.args())
            .args(options)
            .arg("--volume=/sys/kernel/tracing:/sys/kernel/tracing:ro")
            .arg(mount(&policy_dir, "/etc/monitor", "ro"))
            .arg(mount(&alerts_dir, "/var/log/monitor", "rw"))
            .arg(mount(&key_dir, "/var/lib/monitor", "ro"))
            .args([
                "--env",
                "RUST_LOG=info",
                "--env",
                "NODE_NAME=e2e-node",
                image,
            ])
            .args(daemonset_args(port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawning podman run");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        for (pipe, lines) in [
            (
                Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
                stdout.clone(),
            ),
            (
                Box::new(child.stderr.take().expect("piped")),
                stderr.clone(),
            ),
        ] {
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Self {
            name,
            child,
            stdout,
            stderr,
            port,
            alerts_dir,
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Whether the container has exited, and how.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("polling podman run")
    }

    /// The `/metrics` page.
    fn metrics(&self) -> String {
        let output = Command::new("curl")
            .args(["--silent", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{}/metrics", self.port))
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `/readyz`'s HTTP status (0 when nothing answers).
    fn readyz(&self) -> u16 {
        let output = Command::new("curl")
            .args([
                "--silent",
                "--output",
                "/dev/null",
                "--write-out",
                "%{http_code}",
            ])
            .arg(format!("http://127.0.0.1:{}/readyz", self.port))
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Waits for `/readyz` to answer 200; panics with the log if the container exits first.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.readyz() != 200 {
            if let Some(status) = self.exited() {
                panic!(
                    "the monitor container exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "/readyz not 200 within {READY_TIMEOUT:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until a log line contains `needle`; returns it.
    fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut exited_at = None;
        loop {
            if let Some(line) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            // Lines written just before an exit may still be on their way through the pipe.
            if self.exited().is_some() {
                let at = *exited_at.get_or_insert_with(Instant::now);
                assert!(
                    at.elapsed() < Duration::from_secs(2),
                    "no log line with {needle:?}; the container exited:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} within {timeout:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `predicate` holds for some API call printed on stdout; returns it.
    fn wait_for_call(&self, what: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|call| predicate(call));
            if let Some(call) = found {
                return call;
            }
            assert!(
                Instant::now() < deadline,
                "no API call {what} within 20 s; stdout:\n{}\nlog:\n{}",
                self.stdout.lock().unwrap().join("\n"),
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM through podman (the monitor drains and exits); returns whether it exited cleanly.
    fn stop(mut self) -> bool {
        let _ = podman(&["stop", "--time", "20", &self.name]);
        let status = self.child.wait().expect("waiting for podman run");
        status.success()
    }
}

impl Drop for MonitorContainer {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.name]);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A second container with nothing of its own: an empty root with the host's /usr bind-mounted
/// read-only (no image, no registry), on the host network to reach the loopback server.
/// Runs `curl URL` in it, then keeps curl alive 1.5 s longer with a slow second request (see
/// below), and returns the container's full id.
fn curl_in_a_container(url: &str, slow_url: &str) -> String {
    let root = scratch_dir("client-root");
    for d in ["usr", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("creating the client's root");
    }
    // Debian's merged /usr: the loader and libraries are reached through these links.
    for link in ["bin", "lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{link}"), root.join(link))
            .expect("linking into /usr");
    }
    let name = format!("monitor-e2e-client-{}-{}", std::process::id(), free_port());
    let _cleanup = RemoveOnDrop(name.clone());
    let output = podman_run()
        .args(["--detach", "--name", &name, "--network=host", "--read-only"])
        .args(["--volume=/usr:/usr:ro", "--rootfs"])
        .arg(&root)
        .args([
            "/usr/bin/curl",
            "--silent",
            "--show-error",
            "--insecure",
            "--http1.1",
        ])
        // The container id is read from /proc/<pid>/cgroup when the monitor handles the exec
        // event; a process gone by then keeps its executable (from the event) but loses its
        // container id. Real clients live longer than one request; so does this one.
        .args([url, slow_url])
        .output()
        .expect("running podman run");
    assert!(
        output.status.success(),
        "starting the client container failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(
        id.len(),
        64,
        "podman run --detach prints the full id: {id:?}"
    );
    let waited = podman(&["wait", &id]);
    assert_eq!(
        String::from_utf8_lossy(&waited.stdout).trim(),
        "0",
        "curl in the container failed: {}",
        String::from_utf8_lossy(&podman(&["logs", &id]).stderr)
    );
    id
}

struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.0]);
    }
}

/// Both calls (from the host, from a second container) are reported, each with the right
/// container id.
fn reports_host_and_container_calls(privileges: Privileges<'_>) {
    let server = TlsServer::start();
    let mut monitor = MonitorContainer::start(privileges);
    monitor.wait_ready();

    let (curl_pid, output) = run_client(
        Command::new("curl")
            .args(["--silent", "--show-error", "--insecure", "--http1.1"])
            .arg(server.url("/status/201")),
    );
    assert!(output.status.success(), "curl on the host failed");
    let container_id =
        curl_in_a_container(&server.url("/status/202"), &server.url("/slow?ms=1500"));

    let host_call = monitor.wait_for_call("by curl on the host", |c| {
        c["role"] == "client"
            && c["path"] == "/status/201"
            && c["process"]["pid"].as_u64() == Some(u64::from(curl_pid))
    });
    assert_eq!(host_call["status"], 201, "{host_call:#}");
    assert_eq!(host_call["tls"], true, "{host_call:#}");
    assert!(
        host_call["process"]["container_id"].is_null(),
        "{host_call:#}"
    );

    let container_call = monitor.wait_for_call("by curl in the second container", |c| {
        c["role"] == "client" && c["path"] == "/status/202"
    });
    assert_eq!(container_call["status"], 202, "{container_call:#}");
    assert_eq!(container_call["tls"], true, "{container_call:#}");
    assert_eq!(
        container_call["process"]["container_id"], container_id,
        "{container_call:#}"
    );
    assert_eq!(container_call["process"]["command"], "curl");
    // The server (a host process) saw both.
    monitor.wait_for_call("served for the container's curl", |c| {
        c["role"] == "server"
            && c["path"] == "/status/202"
            && c["process"]["pid"].as_u64() == Some(u64::from(server.pid()))
    });

    let alerts_dir = monitor.alerts_dir.clone();
    assert!(
        monitor.stop(),
        "the monitor did not exit cleanly on SIGTERM"
    );
    // The alerts file is created in the mounted directory even when there is nothing to say.
    assert!(
        alerts_dir.join("alerts.jsonl").exists(),
        "no alerts file in the mounted directory"
    );
}

#[test]
fn image_runs_help() {
    if !root_or_skip("image_runs_help") {
        return;
    }
    // Scratch has no loader and no libraries: that it runs at all shows the binary is static.
    let output = podman_run()
        .args(["--rm", "--read-only", image(), "--help"])
        .output()
        .expect("running the image");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("Usage:"),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspect = podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}}",
        image(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        r#"["/usr/bin/monitor"]"#
    );
}

#[test]
fn privileged_container_reports_host_and_container_calls() {
    if !root_or_skip("privileged_container_reports_host_and_container_calls") {
        return;
    }
    reports_host_and_container_calls(Privileges::Privileged);
}

#[test]
fn least_privileged_container_reports_host_and_container_calls() {
    if !root_or_skip("least_privileged_container_reports_host_and_container_calls") {
        return;
    }
    // As the least-privileged DaemonSet runs: its capabilities and the runtime's default
    // seccomp profile (which allows bpf() and perf_event_open() to a holder of CAP_SYS_ADMIN).
    reports_host_and_container_calls(Privileges::Capabilities {
        add: &least_capabilities(),
        seccomp: Seccomp::RuntimeDefault,
    });
}

#[test]
fn without_sys_admin_the_uprobe_refusal_is_named() {
    if !root_or_skip("without_sys_admin_the_uprobe_refusal_is_named") {
        return;
    }
    let capabilities = least_without("sys_admin");
    let mut monitor = MonitorContainer::start(Privileges::Capabilities {
        add: &capabilities,
        seccomp: Seccomp::Ours,
    });
    // Programs load and tracepoints attach; every uprobe is refused by the kernel.
    let line = monitor.wait_for_log("cannot attach uprobes", READY_TIMEOUT);
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("missing CAP_SYS_ADMIN"), "{line}");
    assert!(line.contains("perf_uprobe_event_init"), "{line}");
    let log = monitor.log();
    assert_eq!(
        log.matches("cannot attach uprobes").count(),
        1,
        "one error line, not one per library:\n{log}"
    );
}

#[test]
fn without_bpf_the_load_refusal_is_named() {
    if !root_or_skip("without_bpf_the_load_refusal_is_named") {
        return;
    }
    // CAP_SYS_ADMIN stands in for CAP_BPF in the kernel's bpf_capable(): without CAP_BPF the
    // monitor still works with it, so both go.
    let capabilities: Vec<&str> = least_without("bpf")
        .into_iter()
        .filter(|c| *c != "sys_admin")
        .collect();
    let mut monitor = MonitorContainer::start(Privileges::Capabilities {
        add: &capabilities,
        seccomp: Seccomp::Ours,
    });
    let line = monitor.wait_for_log("loading the kernel programs failed", READY_TIMEOUT);
    assert!(line.contains("missing CAP_BPF"), "{line}");
    assert!(!line.contains("seccomp"), "{line}");
    assert!(!monitor.stop(), "the monitor must exit with an error");
}

#[test]
fn runtime_default_seccomp_refusal_is_named() {
    if !root_or_skip("runtime_default_seccomp_refusal_is_named") {
        return;
    }
    // The capabilities the kernel asks for bpf(), but podman's default profile, which allows
    // bpf() only with CAP_SYS_ADMIN.
    let mut monitor = MonitorContainer::start(Privileges::Capabilities {
        add: &least_without("sys_admin"),
        seccomp: Seccomp::RuntimeDefault,
    });
    let line = monitor.wait_for_log("loading the kernel programs failed", READY_TIMEOUT);
    assert!(line.contains("seccomp filter refuses bpf()"), "{line}");
    assert!(!line.contains("missing CAP_BPF"), "{line}");
    assert!(!monitor.stop(), "the monitor must exit with an error");
}

#[test]
fn without_sys_ptrace_the_missing_capability_is_named() {
    if !root_or_skip("without_sys_ptrace_the_missing_capability_is_named") {
        return;
    }
    // Programs load, but no other process's maps can be read: nothing to probe.
    let mut monitor = MonitorContainer::start(Privileges::Capabilities {
        add: &least_without("sys_ptrace"),
        seccomp: Seccomp::Ours,
    });
    let line = monitor.wait_for_log("cannot read other processes' libraries", READY_TIMEOUT);
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("missing CAP_SYS_PTRACE"), "{line}");
}

/// The DaemonSet in a cluster: the image finds its API server as a pod does
/// (`KUBERNETES_SERVICE_HOST`/`_PORT`, the service account's token and CA under
/// `/var/run/secrets/kubernetes.io/serviceaccount`), over TLS with the token, watches its node's
/// pods (a stand-in API server on loopback) and names the pod of a host process that runs in a
/// kubelet-shaped cgroup.
#[test]
fn in_a_cluster_the_image_names_the_pod_of_each_call() {
    if !root_or_skip("in_a_cluster_the_image_names_the_pod_of_each_call") {
        return;
    }
    let dir = scratch_dir("image-cluster");
    // A cluster CA, and the API server's certificate from it for its service address as pods
    // reach it (rustls, like Go's TLS, refuses a CA certificate used as the server's own).
    let (ca, cert, key) = (
        dir.join("ca.crt"),
        dir.join("apiserver.crt"),
        dir.join("apiserver.key"),
    );
    let script = format!(
        "set -e; cd {dir}
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=e2e-cluster-ca -keyout ca.key -out ca.crt
        openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
        printf 'basicConstraints=critical,CA:FALSE\\nsubjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > apiserver.ext
        openssl x509 -req -days 1 -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -extfile apiserver.ext -out apiserver.crt",
        dir = dir.display()
    );
    let openssl = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("running openssl");
    assert!(openssl.status.success(), "{openssl:?}");
    let service_account = dir.join("serviceaccount");
    std::fs::create_dir_all(&service_account).unwrap();
    std::fs::copy(&ca, service_account.join("ca.crt")).unwrap();
    std::fs::write(service_account.join("token"), "e2e-service-account-token").unwrap();
    std::fs::write(service_account.join("namespace"), "monitor").unwrap();

    let uid = "3e9b2c1d-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
    let container = "5a".repeat(32);
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "orders-7c9d8b6f4-qx2lp", "namespace": "shop", "uid": uid,
            "labels": {"app": "orders", "pod-template-hash": "7c9d8b6f4"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "orders-7c9d8b6f4", "uid": "11111111-2222-3333-4444-555555555555",
                "controller": true}]
        },
        "spec": {"nodeName": "e2e-node", "serviceAccountName": "orders",
                 "containers": [{"name": "api", "image": "registry.test/orders:3"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "ready": true, "restartCount": 0, "image": "registry.test/orders:3",
            "imageID": "registry.test/orders@sha256:00",
            "containerID": format!("containerd://{container}"),
            "state": {"running": {"startedAt": "2026-11-27T10:00:01Z"}}}]}
    });
    let api = ApiServer::start_with(
        &dir,
        &[pod],
        &[
            "--tls".as_ref(),
            cert.as_os_str(),
            key.as_os_str(),
            "--token".as_ref(),
            "e2e-service-account-token".as_ref(),
        ],
    );

    let options = [
        format!(
            "--volume={}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
            service_account.display()
        ),
        "--env=KUBERNETES_SERVICE_HOST=127.0.0.1".to_owned(),
        format!("--env=KUBERNETES_SERVICE_PORT={}", api.port),
    ];
    let mut monitor = MonitorContainer::start_with(Privileges::Privileged, &options);
    monitor.wait_ready();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !monitor_e2e::metric_in(&monitor.metrics(), "monitor_k8s_watch_synced").eq(&1) {
        assert!(
            Instant::now() < deadline,
            "the pod watch did not sync:\n{}",
            monitor.log()
        );
        thread::sleep(Duration::from_millis(200));
    }

    // A process of that pod, as the kubelet (systemd driver) places it.
    let cgroup = PodCgroup::new(&format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{container}.scope",
        uid.replace('-', "_")
    ));
    let server = TlsServer::start();
    let pid = cgroup.curl(&server.url("/v1/orders/in-a-pod"));
    let call = monitor.wait_for_call("by the pod's curl", |c| {
        c["process"]["pid"].as_u64() == Some(u64::from(pid)) && c["path"] == "/v1/orders/in-a-pod"
    });
    assert_eq!(
        call["process"]["k8s"],
        serde_json::json!({
            "namespace": "shop",
            "pod": "orders-7c9d8b6f4-qx2lp",
            "pod_uid": uid,
            "container": "api",
            "labels": {"app": "orders", "pod-template-hash": "7c9d8b6f4"},
            "owner": {"kind": "Deployment", "name": "orders"},
            "service_account": "orders"
        }),
        "{call:#}"
    );
    assert!(monitor.stop(), "the monitor must exit cleanly");
}
