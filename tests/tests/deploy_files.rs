//! The deployment files (deploy/, scripts/install.sh) as a user applies them: each Kubernetes
//! profile rendered with `kubectl kustomize` and checked by `kubernetes-validate --strict` for the
//! oldest and newest Kubernetes claimed, by checkov, and for the facts docs/deploy.md promises;
//! the systemd unit by `systemd-analyze verify` after `scripts/install.sh` put it in a scratch
//! root. No root needed. The tools come from `scripts/setup.sh --test`; without one, a test
//! skips with a message outside CI and fails under `CI=true`.
use std::{
    collections::BTreeSet,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use monitor_e2e::{monitor_binary, scratch_dir, test_deps, workspace_dir};
use serde::Deserialize as _;
use serde_json::Value;

/// The Kubernetes versions deploy/kubernetes claims (docs/deploy.md): the appArmorProfile field
/// of the least-privileged profile needs 1.30.
const OLDEST_KUBERNETES: &str = "1.30.0";
const NEWEST_KUBERNETES: &str = "1.37.0";
const PROFILES: [&str; 2] = ["privileged", "least-privileged"];

/// The least-privileged profile's capabilities. measured: see README Privileges; change this
/// together with deploy/kubernetes/least-privileged/security.yaml.
const MEASURED_CAPABILITIES: [&str; 4] = ["BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"];

/// A tool from PATH or the test dependencies, or None (outside CI) after saying why.
fn tool(test: &str, name: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    if let Some(found) = candidates
        .iter()
        .cloned()
        .chain(on_path)
        .find(|p| p.is_file())
    {
        return Some(found);
    }
    let why = format!("{name} is missing: run scripts/setup.sh --test");
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{test}: {why}");
    }
    eprintln!("SKIPPED {test}: {why} (under CI=true this fails instead)");
    None
}

fn deploy_tool(test: &str, name: &str) -> Option<PathBuf> {
    tool(
        test,
        name,
        &[test_deps().join("deploy-tools/bin").join(name)],
    )
}

fn kubectl(test: &str) -> Option<PathBuf> {
    tool(test, "kubectl", &[])
}

/// Debian 12's kubectl 1.20 (kustomize 2.0.3), the oldest the kustomizations are kept to.
fn kubectl_1_20(test: &str) -> Option<PathBuf> {
    tool(
        test,
        "kubectl-1.20",
        &[test_deps().join("kubernetes-client-1.20/usr/bin/kubectl")],
    )
}

fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn kubernetes_dir() -> PathBuf {
    workspace_dir().join("deploy/kubernetes")
}

/// `kubectl kustomize deploy/kubernetes/<dir>` as text.
fn render(kubectl: &Path, dir: &str) -> String {
    let out = run(Command::new(kubectl)
        .arg("kustomize")
        .arg(kubernetes_dir().join(dir)));
    String::from_utf8(out.stdout).expect("kustomize prints UTF-8")
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| {
            let value = serde_yaml_ng::Value::deserialize(doc).expect("kustomize prints YAML");
            serde_json::to_value(value).expect("manifests have string keys")
        })
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .collect()
}

fn default_policy() -> String {
    std::fs::read_to_string(workspace_dir().join("monitor/src/policy/default_policy.yaml"))
        .expect("reading the default policy")
}

/// The long flags `monitor run --help` documents.
fn run_flags() -> BTreeSet<String> {
    let out = run(Command::new(monitor_binary()).args(["run", "--help"]));
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_owned()
        })
        .collect()
}

fn assert_flags_exist(args: &[&str], what: &str) {
    let known = run_flags();
    for arg in args.iter().filter(|a| a.starts_with("--")) {
        let flag = arg.split('=').next().unwrap_or(arg);
        assert!(
            known.contains(flag),
            "{what} passes {flag}, which `monitor run --help` does not list"
        );
    }
}

#[test]
fn every_profile_renders_the_same_with_kubectl_1_20_and_the_current_kubectl() {
    let test = "every_profile_renders_the_same_with_kubectl_1_20_and_the_current_kubectl";
    let (Some(current), Some(old)) = (kubectl(test), kubectl_1_20(test)) else {
        return;
    };
    for dir in PROFILES.iter().chain(&["servicemonitor"]) {
        let (new_docs, old_docs) = (
            documents(&render(&current, dir)),
            documents(&render(&old, dir)),
        );
        assert!(!new_docs.is_empty(), "{dir} renders nothing");
        assert_eq!(
            new_docs, old_docs,
            "{dir}: kubectl 1.20 renders something else"
        );
    }
}

#[test]
fn every_profile_validates_strictly_against_the_oldest_and_newest_kubernetes() {
    let test = "every_profile_validates_strictly_against_the_oldest_and_newest_kubernetes";
    let (Some(kubectl), Some(validate)) = (kubectl(test), deploy_tool(test, "kubernetes-validate"))
    else {
        return;
    };
    let dir = scratch_dir("deploy-validate");
    for profile in PROFILES {
        let rendered = render(&kubectl, profile);
        let file = dir.join(format!("{profile}.yaml"));
        std::fs::write(&file, &rendered).unwrap();
        for version in [OLDEST_KUBERNETES, NEWEST_KUBERNETES] {
            let out = run(Command::new(&validate)
                .args(["--strict", "-k", version])
                .arg(&file));
            // One line per resource: none may be left unchecked (an unknown kind is only a
            // warning).
            let passed = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains(" passed for resource "))
                .count();
            assert_eq!(
                passed,
                documents(&rendered).len(),
                "{profile} against {version}: not every resource was validated:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn checkov_passes_and_every_skipped_check_says_why() {
    let test = "checkov_passes_and_every_skipped_check_says_why";
    let (Some(kubectl), Some(checkov)) = (kubectl(test), deploy_tool(test, "checkov")) else {
        return;
    };
    let dir = scratch_dir("deploy-checkov");
    for profile in PROFILES {
        let rendered = render(&kubectl, profile);
        // The skips are annotations a reviewer reads: each names one check and a reason.
        for doc in documents(&rendered) {
            let Some(annotations) = doc["metadata"]["annotations"].as_object() else {
                continue;
            };
            for (key, value) in annotations
                .iter()
                .filter(|(k, _)| k.starts_with("checkov.io/skip"))
            {
                let value = value.as_str().unwrap_or_default();
                let (check, reason) = value.split_once('=').unwrap_or((value, ""));
                assert!(
                    check.starts_with("CKV") && reason.trim().len() >= 20,
                    "{profile}: {key} must be `CKV_…=<why the design needs it>`, not {value:?}"
                );
            }
        }
        std::fs::write(dir.join(format!("{profile}.yaml")), rendered).unwrap();
    }
    let out = Command::new(&checkov)
        .args([
            "--framework",
            "kubernetes",
            "--skip-download",
            "--compact",
            "-o",
            "json",
            "-d",
        ])
        .arg(&dir)
        .output()
        .expect("running checkov");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
        .collect();
    assert!(
        failed.is_empty() && out.status.success(),
        "checkov fails (fix it, or skip it with a reason if the design needs it): {failed:#?}"
    );
    assert_eq!(
        summary["parsing_errors"], 0,
        "checkov could not parse: {summary}"
    );
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 50,
        "checkov checked too little: {summary}"
    );
    // A new skip is a decision: it must show up here, not slip in.
    let skipped: BTreeSet<(String, String)> = report["results"]["skipped_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let file = c["file_path"].as_str().unwrap_or_default();
            let profile = Path::new(file)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                profile,
                c["check_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let both = [
        "CKV_K8S_17",
        "CKV_K8S_20",
        "CKV_K8S_23",
        "CKV_K8S_38",
        "CKV_K8S_40",
        "CKV_K8S_43",
    ];
    let expected: BTreeSet<(String, String)> = [
        (
            "privileged",
            &["CKV_K8S_16", "CKV_K8S_28", "CKV_K8S_37"][..],
        ),
        ("least-privileged", &["CKV_K8S_25", "CKV_K8S_39"][..]),
    ]
    .into_iter()
    .flat_map(|(profile, own)| {
        own.iter()
            .chain(&both)
            .map(move |check| (profile.to_owned(), (*check).to_owned()))
    })
    .collect();
    assert_eq!(
        skipped, expected,
        "checkov skips other checks than the design needs"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_rendered_manifests_hold_what_users_rely_on() {
    let test = "the_rendered_manifests_hold_what_users_rely_on";
    let Some(kubectl) = kubectl(test) else {
        return;
    };
    let policy = default_policy();
    // Kustomize reads no file outside its directory, so the ConfigMap's source is a copy.
    assert!(
        std::fs::read_to_string(kubernetes_dir().join("base/policy.yaml")).unwrap() == policy,
        "deploy/kubernetes/base/policy.yaml differs from the default policy: \
         cp monitor/src/policy/default_policy.yaml deploy/kubernetes/base/policy.yaml"
    );
    for profile in PROFILES {
        let docs = documents(&render(&kubectl, profile));
        let at = |what: &str| format!("{profile}: {what}");

        assert!(
            !docs.iter().any(|d| d["kind"] == "Secret"),
            "{}",
            at("no Secret may be committed: the fingerprint key is created at deploy time")
        );
        assert_eq!(find(&docs, "Namespace", "monitor")["kind"], "Namespace");
        let role = find(&docs, "ClusterRole", "monitor");
        assert_eq!(
            role["rules"],
            serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
            "{}",
            at("the ClusterRole grants reading pods and nothing more")
        );
        let binding = find(&docs, "ClusterRoleBinding", "monitor");
        assert_eq!(binding["roleRef"]["name"], "monitor");
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": "monitor", "namespace": "monitor"}])
        );
        assert!(
            find(&docs, "ConfigMap", "monitor-policy")["data"]["policy.yaml"] == policy.as_str(),
            "{}",
            at("the policy ConfigMap must hold the default policy")
        );

        let ds = find(&docs, "DaemonSet", "monitor");
        assert_eq!(ds["metadata"]["namespace"], "monitor");
        let pod = &ds["spec"]["template"];
        let spec = &pod["spec"];
        assert_eq!(spec["hostPID"], true, "{}", at("hostPID"));
        assert_eq!(spec["hostNetwork"], Value::Null, "{}", at("no hostNetwork"));
        assert_eq!(spec["serviceAccountName"], "monitor");
        assert_eq!(spec["priorityClassName"], "system-node-critical");
        assert_eq!(
            spec["tolerations"],
            serde_json::json!([{"operator": "Exists"}])
        );
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(ds["spec"]["updateStrategy"]["type"], "RollingUpdate");
        assert!(ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"].is_string());
        let annotations = &pod["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/port"], "9464");
        assert_eq!(annotations["prometheus.io/path"], "/metrics");

        let containers = spec["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        let args = strings(&c["args"]);
        assert_eq!(args[0], "run");
        for expected in [
            "--policy=/etc/monitor/policy.yaml",
            "--fingerprint-key=/var/lib/monitor/fingerprint.key",
            "--metrics-addr=0.0.0.0:9464",
            "--alerts-file=/var/log/monitor/alerts.jsonl",
            "--no-api-calls",
        ] {
            assert!(
                args.contains(&expected),
                "{}",
                at(&format!("args lack {expected}"))
            );
        }
        assert_flags_exist(&args, &at("the DaemonSet"));
        assert!(
            c["image"]
                .as_str()
                .unwrap()
                .starts_with("localhost/monitor:")
        );
        assert_eq!(
            c["env"],
            serde_json::json!([{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]),
            "{}",
            at("NODE_NAME from the downward API")
        );
        assert_eq!(
            c["ports"],
            serde_json::json!([{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}])
        );
        for (probe, path) in [
            ("startupProbe", "/readyz"),
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/healthz"),
        ] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "{}", at(probe));
            assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{}", at(probe));
        }
        for kind in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][resource].is_string(),
                    "{}",
                    at("resources")
                );
            }
        }

        let volumes = spec["volumes"].as_array().unwrap();
        let volume = |name: &str| {
            volumes
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{profile}: no volume {name}"))
        };
        let mounts = c["volumeMounts"].as_array().unwrap();
        let mount_at = |path: &str| {
            mounts
                .iter()
                .find(|m| m["mountPath"] == path)
                .unwrap_or_else(|| panic!("{profile}: nothing mounted at {path}"))
        };
        assert!(
            mounts
                .iter()
                .all(|m| m.get("subPath").is_none() && m.get("subPathExpr").is_none()),
            "{}",
            at("no subPath: a subPath mount never sees a ConfigMap or Secret update")
        );
        let policy_mount = mount_at("/etc/monitor");
        assert_eq!(policy_mount["readOnly"], true);
        assert_eq!(
            volume(policy_mount["name"].as_str().unwrap())["configMap"]["name"],
            "monitor-policy"
        );
        let key_mount = mount_at("/var/lib/monitor");
        let key_volume = volume(key_mount["name"].as_str().unwrap());
        assert_eq!(
            key_volume["secret"]["secretName"],
            "monitor-fingerprint-key"
        );
        assert_eq!(key_volume["secret"]["items"][0]["path"], "fingerprint.key");
        let tracefs = mount_at("/sys/kernel/tracing");
        assert_eq!(tracefs["readOnly"], true);
        assert_eq!(
            volume(tracefs["name"].as_str().unwrap())["hostPath"]["path"],
            "/sys/kernel/tracing"
        );
        let alerts = mount_at("/var/log/monitor");
        assert_eq!(
            volume(alerts["name"].as_str().unwrap())["hostPath"]["path"],
            "/var/log/monitor"
        );

        let security = &c["securityContext"];
        assert_eq!(
            security["readOnlyRootFilesystem"],
            true,
            "{}",
            at("read-only root")
        );
        let capabilities = &security["capabilities"];
        let adds_sys_admin = capabilities["add"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == "SYS_ADMIN"));
        if profile == "privileged" {
            assert_eq!(security["privileged"], true, "{}", at("privileged: true"));
        } else {
            assert_eq!(
                security["privileged"],
                Value::Null,
                "{}",
                at("not privileged")
            );
            assert_eq!(strings(&capabilities["drop"]), ["ALL"]);
            assert_eq!(
                strings(&capabilities["add"]),
                MEASURED_CAPABILITIES,
                "{}",
                at("exactly the measured capabilities")
            );
            assert_eq!(security["appArmorProfile"]["type"], "Unconfined");
        }
        // The API server refuses this combination; kubernetes-validate checks only the schema.
        if security["privileged"] == true || adds_sys_admin {
            assert_ne!(
                security["allowPrivilegeEscalation"],
                false,
                "{}",
                at("allowPrivilegeEscalation: false is rejected with privileged or CAP_SYS_ADMIN")
            );
        }

        let service = find(&docs, "Service", "monitor");
        assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
        assert_eq!(service["spec"]["ports"][0]["port"], 9464);
        assert_eq!(
            service["spec"]["selector"],
            ds["spec"]["selector"]["matchLabels"]
        );
        assert_eq!(
            pod["metadata"]["labels"],
            ds["spec"]["selector"]["matchLabels"]
        );
    }

    // The ServiceMonitor is a CRD kubernetes-validate has no schema for: check its shape here.
    let docs = documents(&render(&kubectl, "servicemonitor"));
    assert_eq!(docs.len(), 1);
    let sm = &docs[0];
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["kind"], "ServiceMonitor");
    assert_eq!(sm["metadata"]["namespace"], "monitor");
    let base = documents(&render(&kubectl, "privileged"));
    let service = find(&base, "Service", "monitor");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        service["metadata"]["labels"]
    );
    assert_eq!(
        strings(&sm["spec"]["namespaceSelector"]["matchNames"]),
        ["monitor"]
    );
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    assert_eq!(endpoint["path"], "/metrics");
}

/// `scripts/install.sh --root <dir>` with the built monitor binary.
fn install_into(root: &Path) -> Output {
    run(Command::new(workspace_dir().join("scripts/install.sh"))
        .arg("--root")
        .arg(root)
        .arg("--binary")
        .arg(monitor_binary()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_sh_installs_into_a_root_and_keeps_the_policy_and_key() {
    let root = scratch_dir("deploy-install");
    let out = install_into(&root);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("systemctl daemon-reload && systemctl enable --now monitor"),
        "install.sh must print the next step: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = root.join("usr/local/bin/monitor");
    assert_eq!(mode(&binary), 0o755);
    assert_eq!(
        std::fs::read(&binary).unwrap(),
        std::fs::read(monitor_binary()).unwrap()
    );
    let unit = root.join("etc/systemd/system/monitor.service");
    assert_eq!(mode(&unit), 0o644);
    assert_eq!(
        std::fs::read(&unit).unwrap(),
        std::fs::read(workspace_dir().join("deploy/systemd/monitor.service")).unwrap()
    );
    let policy = root.join("etc/monitor/policy.yaml");
    assert_eq!(mode(&policy), 0o644);
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), default_policy());
    let key = root.join("var/lib/monitor/fingerprint.key");
    assert_eq!(mode(&key), 0o600, "the fingerprint key must be private");
    assert_eq!(mode(&root.join("var/lib/monitor")), 0o700);
    let first_key = std::fs::read(&key).unwrap();
    assert_eq!(first_key.len(), 32);

    // An upgrade keeps what the operator owns.
    std::fs::write(&policy, "version: 1\n").unwrap();
    install_into(&root);
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), "version: 1\n");
    assert_eq!(std::fs::read(&key).unwrap(), first_key);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn the_systemd_unit_verifies_and_grants_what_the_monitor_needs() {
    let test = "the_systemd_unit_verifies_and_grants_what_the_monitor_needs";
    let Some(analyze) = tool(test, "systemd-analyze", &[]) else {
        return;
    };
    // verify resolves the unit's dependencies and checks that its commands exist, all inside
    // --root: the installed files, plus the host's stock units and /bin/kill (ExecReload).
    let root = scratch_dir("deploy-systemd");
    install_into(&root);
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    run(Command::new("cp")
        .arg("-a")
        .arg("/usr/lib/systemd/system")
        .arg(root.join("usr/lib/systemd/")));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/kill", root.join("bin/kill")).unwrap();
    let out = run(Command::new(&analyze)
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("monitor.service"));
    // verify exits 0 on an unknown key or a misspelt system call: any remark is a failure.
    let remarks = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        remarks.trim().is_empty(),
        "systemd-analyze verify:\n{remarks}"
    );

    let unit =
        std::fs::read_to_string(workspace_dir().join("deploy/systemd/monitor.service")).unwrap();
    let setting = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit has no {key}="))
            .to_owned()
    };
    let exec: Vec<String> = setting("ExecStart")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(exec[..2], ["/usr/local/bin/monitor", "run"]);
    let args: Vec<&str> = exec[2..].iter().map(String::as_str).collect();
    assert!(args.contains(&"--no-api-calls"));
    assert_flags_exist(&args, "the unit's ExecStart");
    let filter = setting("SystemCallFilter");
    for syscall in ["bpf", "perf_event_open"] {
        assert!(
            filter.split_whitespace().any(|s| s == syscall),
            "SystemCallFilter lacks {syscall}"
        );
    }
    assert_eq!(setting("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(setting("ProtectSystem"), "strict");
    assert_eq!(setting("StateDirectory"), "monitor");
    assert_eq!(setting("LogsDirectory"), "monitor");
    assert_eq!(setting("NoNewPrivileges"), "yes");

    // The host daemon gets the same capabilities as the least-privileged DaemonSet.
    let bounding: Vec<String> = setting("CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_owned())
        .collect();
    assert_eq!(bounding, MEASURED_CAPABILITIES, "CapabilityBoundingSet");
    let _ = std::fs::remove_dir_all(root);
}
