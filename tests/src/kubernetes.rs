//! Kubernetes stand-ins for the end-to-end tests: an API server's pod list+watch on loopback
//! (`tests/fixtures/kube_apiserver.py`) and cgroups laid out as the kubelet lays them out, so a
//! test process runs "in a pod" as far as the monitor can tell.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use serde_json::Value;

use crate::{PYTHON, read_port, run_client, workspace_dir};

/// The stand-in API server.
pub struct ApiServer {
    child: Child,
    pub port: u16,
}

impl ApiServer {
    /// Serves `pods` (Pod objects) over plain HTTP.
    pub fn start(dir: &Path, pods: &[Value]) -> Self {
        Self::start_with(dir, pods, &[])
    }

    /// With more arguments for the stand-in (`--tls CERT KEY`, `--token TOKEN`).
    pub fn start_with(dir: &Path, pods: &[Value], args: &[&std::ffi::OsStr]) -> Self {
        let file = dir.join("pods.json");
        std::fs::write(&file, serde_json::to_vec(pods).unwrap()).unwrap();
        let mut child = Command::new(PYTHON)
            .arg(workspace_dir().join("tests/fixtures/kube_apiserver.py"))
            .arg(&file)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the stand-in API server");
        let port = read_port(&mut child);
        Self { child, port }
    }

    /// A kubeconfig for it (plain HTTP, a token).
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: monitor\n  user:\n    token: stand-in-token\ncontexts:\n- name: stand-in\n  context: {{cluster: stand-in, user: monitor}}\ncurrent-context: stand-in\n",
                self.port
            ),
        )
        .unwrap();
        path
    }

    /// A control request: `/control/apply` (a Pod), `/control/delete?uid=`, `/control/compact`
    /// (POST), `/control/requests` (GET: the pod requests received).
    pub fn control(&self, path: &str, body: Option<&Value>) -> Value {
        let mut command = Command::new("curl");
        command.args(["--silent", "--show-error", "--fail", "--request"]);
        command.arg(if body.is_some() || path != "/control/requests" {
            "POST"
        } else {
            "GET"
        });
        if let Some(body) = body {
            command.args(["--data-binary", &body.to_string()]);
        }
        command.arg(format!("http://127.0.0.1:{}{path}", self.port));
        let output = command.output().expect("curl runs");
        assert!(output.status.success(), "{path}: {output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cgroup directory shaped like the kubelet's, removed (after its processes exit) on drop.
pub struct PodCgroup {
    pub leaf: PathBuf,
    created: Vec<PathBuf>,
}

/// Where test cgroups go: the unified hierarchy on a cgroup v2 host, else the v1 `pids`
/// hierarchy (the path appears in `/proc/<pid>/cgroup` either way).
pub fn cgroup_root() -> PathBuf {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/pids")
    }
}

impl PodCgroup {
    /// `relative` below the cgroup root, e.g.
    /// `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`.
    pub fn new(relative: &str) -> Self {
        let mut created = Vec::new();
        let mut path = cgroup_root();
        for component in relative.split('/') {
            path.push(component);
            if !path.exists() {
                std::fs::create_dir(&path)
                    .unwrap_or_else(|e| panic!("creating the cgroup {}: {e}", path.display()));
                created.push(path.clone());
            }
        }
        Self {
            leaf: path,
            created,
        }
    }

    /// Runs `curl` to `url` inside this cgroup; returns its pid.
    pub fn curl(&self, url: &str) -> u32 {
        let script = format!(
            "echo $$ > {procs} && exec curl --silent --show-error --insecure --http1.1 --output /dev/null {url}",
            procs = self.leaf.join("cgroup.procs").display()
        );
        run_client(Command::new("sh").args(["-c", &script])).0
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        for dir in self.created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
