//! Kubernetes identity end to end: the real monitor watches a stand-in API server on loopback
//! (`tests/fixtures/kube_apiserver.py`: the real list+watch protocol with paging, bookmarks,
//! server-ended watches and `410 Gone`) through `KUBECONFIG`, and curl runs inside real cgroups
//! laid out as the kubelet lays them out, with the systemd driver and with the cgroupfs driver.
//! What must hold: calls and alerts of a pod's process carry its namespace, pod, container,
//! labels and owner; `k8s` selectors in the policy match them; a process of a pod not known yet
//! carries its pod UID and is counted, and is known once the watch delivers the pod; the watch
//! lists only this node's pods, resumes from its last version and relists after 410.
use std::{
    process::Command,
    time::{Duration, Instant},
};

use monitor_e2e::{
    Monitor, TlsServer,
    kubernetes::{ApiServer, PodCgroup},
    metric_in, root_or_skip, run_client, scratch_dir,
};
use serde_json::{Value, json};

const NODE: &str = "node-e2e";
/// A Deployment's pod, run with the systemd cgroup driver.
const CHECKOUT_UID: &str = "5f0c2a8e-9a51-4f8e-8f0e-3b2a1c9d7e6f";
const CHECKOUT_CID: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// A StatefulSet's pod, run with the cgroupfs driver, announced only during the test.
const DB_UID: &str = "7c1d9e2f-3a4b-4c5d-8e6f-0a1b2c3d4e5f";
const DB_CID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn pod(uid: &str, name: &str, node: &str, owner: (&str, &str), container: (&str, &str)) -> Value {
    let (kind, owner_name) = owner;
    let (container_name, container_id) = container;
    let mut labels = json!({"app": name.split('-').next().unwrap(), "team": "payments"});
    if kind == "ReplicaSet" {
        labels["pod-template-hash"] = json!(owner_name.rsplit('-').next().unwrap());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "uid": uid,
            "creationTimestamp": "2026-11-27T10:00:00Z",
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-27T09:59:00Z"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": kind, "name": owner_name,
                "uid": "00000000-1111-2222-3333-444444444444",
                "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": {
            "nodeName": node,
            "serviceAccountName": "checkout",
            "containers": [{"name": container_name, "image": "registry.test/app:1"}]
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.7",
            "containerStatuses": [{
                "name": container_name, "ready": true, "restartCount": 0,
                "image": "registry.test/app:1", "imageID": "registry.test/app@sha256:00",
                "containerID": format!("containerd://{container_id}"),
                "started": true,
                "state": {"running": {"startedAt": "2026-11-27T10:00:01Z"}}
            }]
        }
    })
}

fn wait_for_metric(monitor: &Monitor, series: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = monitor.scrape_metrics();
        if metric_in(&page, series) >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} did not reach {at_least}:\n{}",
            page.lines()
                .filter(|l| l.starts_with("monitor_k8s"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const POLICY: &str = "version: 1
workloads:
  checkout:
    k8s:
      namespace: [payments]
      owner: [Deployment/checkout]
      labels:
        matchExpressions:
          - {key: team, operator: In, values: [payments]}
  stateful:
    k8s: {owner: [StatefulSet/db], service_account: [checkout]}
destinations:
  - {id: checkout-egress, action: deny, hosts: ['*'], workloads: [checkout]}
  - {id: db-egress, action: deny, hosts: ['*'], workloads: [stateful]}
";

#[test]
fn pod_processes_carry_their_pod_and_k8s_selectors_match_them() {
    if !root_or_skip("pod_processes_carry_their_pod_and_k8s_selectors_match_them") {
        return;
    }
    let dir = scratch_dir("kubernetes");
    let api = ApiServer::start(
        &dir,
        &[
            pod(
                CHECKOUT_UID,
                "checkout-6d4b9c7f5d-x2k8q",
                NODE,
                ("ReplicaSet", "checkout-6d4b9c7f5d"),
                ("app", CHECKOUT_CID),
            ),
            // Same namespace, another node: must never reach this monitor.
            pod(
                "9a8b7c6d-0000-4000-8000-000000000001",
                "checkout-6d4b9c7f5d-other",
                "node-other",
                ("ReplicaSet", "checkout-6d4b9c7f5d"),
                ("app", &"e".repeat(64)),
            ),
            // Two more on this node, so that the list takes more than one page.
            pod(
                "9a8b7c6d-0000-4000-8000-000000000002",
                "web-1",
                NODE,
                ("DaemonSet", "web"),
                ("web", &"d".repeat(64)),
            ),
            pod(
                "9a8b7c6d-0000-4000-8000-000000000003",
                "web-2",
                NODE,
                ("DaemonSet", "web"),
                ("web", &"c".repeat(64)),
            ),
        ],
    );
    let kubeconfig = api.kubeconfig(&dir);
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let systemd_driver = PodCgroup::new(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{CHECKOUT_CID}.scope",
        CHECKOUT_UID.replace('-', "_")
    ));
    let cgroupfs_driver = PodCgroup::new(&format!("kubepods/besteffort/pod{DB_UID}/{DB_CID}"));
    let server = TlsServer::start();

    // As an operator outside the cluster would run it: `KUBECONFIG` and `NODE_NAME` in the
    // environment, `--kubernetes on` so that a missing piece is an error, not a silent no-watch.
    let monitor = Monitor::start_with_env(
        "run",
        &["--policy", policy.to_str().unwrap(), "--kubernetes", "on"],
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("NODE_NAME", NODE),
        ],
    );
    wait_for_metric(&monitor, "monitor_k8s_watch_synced", 1);
    wait_for_metric(&monitor, "monitor_k8s_pods", 3);

    // A Deployment's pod (systemd driver): everything known.
    let checkout_pid = systemd_driver.curl(&server.url("/v1/charges"));
    // A pod the API server has not announced yet (cgroupfs driver): its UID only.
    let early_db_pid = cgroupfs_driver.curl(&server.url("/v1/early"));
    wait_for_metric(
        &monitor,
        "monitor_k8s_pod_lookups_total{result=\"unknown_pod\"}",
        1,
    );

    // Now it is scheduled here: the watch delivers it, and the next call carries it.
    api.control(
        "/control/apply",
        Some(&pod(
            DB_UID,
            "db-0",
            NODE,
            ("StatefulSet", "db"),
            ("db", DB_CID),
        )),
    );
    wait_for_metric(&monitor, "monitor_k8s_pods", 4);
    let db_pid = cgroupfs_driver.curl(&server.url("/v1/rows"));

    // The API server compacts its history: the watch gets 410 and lists again.
    let relists_before = metric_in(
        &monitor.scrape_metrics(),
        "monitor_k8s_watch_events_total{type=\"relist_done\"}",
    );
    api.control("/control/compact", None);
    wait_for_metric(&monitor, "monitor_k8s_watch_errors_total{kind=\"gone\"}", 1);
    wait_for_metric(
        &monitor,
        "monitor_k8s_watch_events_total{type=\"relist_done\"}",
        relists_before + 1,
    );
    // Watches end every 4 s (as an API server's timeout does) and resume: give it one.
    std::thread::sleep(Duration::from_secs(5));
    let after_relist_pid = systemd_driver.curl(&server.url("/v1/after-relist"));
    std::thread::sleep(Duration::from_millis(500));
    let captured = monitor.stop();

    let checkout = captured.only(checkout_pid, "client", "/v1/charges");
    assert_eq!(
        checkout["process"]["container_id"], CHECKOUT_CID,
        "{checkout:#}"
    );
    assert_eq!(
        checkout["process"]["k8s"],
        json!({
            "namespace": "payments",
            "pod": "checkout-6d4b9c7f5d-x2k8q",
            "pod_uid": CHECKOUT_UID,
            "container": "app",
            "labels": {"app": "checkout", "pod-template-hash": "6d4b9c7f5d", "team": "payments"},
            "owner": {"kind": "Deployment", "name": "checkout"},
            "service_account": "checkout"
        }),
        "{checkout:#}"
    );
    // The server (on the host, not in a pod) has no k8s object.
    let served = captured.only(server.pid(), "server", "/v1/charges");
    assert!(served["process"].get("k8s").is_none(), "{served:#}");

    let early = captured.only(early_db_pid, "client", "/v1/early");
    assert_eq!(
        early["process"]["k8s"],
        json!({"pod_uid": DB_UID}),
        "{early:#}"
    );
    assert_eq!(early["process"]["container_id"], DB_CID);

    let db = captured.only(db_pid, "client", "/v1/rows");
    assert_eq!(db["process"]["k8s"]["pod"], "db-0", "{db:#}");
    assert_eq!(db["process"]["k8s"]["container"], "db");
    assert_eq!(
        db["process"]["k8s"]["owner"],
        json!({"kind": "StatefulSet", "name": "db"})
    );
    let after = captured.only(after_relist_pid, "client", "/v1/after-relist");
    assert_eq!(after["process"]["k8s"]["pod"], "checkout-6d4b9c7f5d-x2k8q");

    // Selectors: the Deployment's rule fires for its pod (both calls), the StatefulSet's for
    // the db pod once known, and nothing for the call made before the pod was known.
    let alerts_of = |rule: &str, pid: u32| -> Vec<&Value> {
        captured
            .alerts_of(rule)
            .into_iter()
            .filter(|a| a["workload"]["pid"].as_u64() == Some(u64::from(pid)))
            .collect()
    };
    let checkout_alerts = alerts_of("checkout-egress", checkout_pid);
    assert_eq!(checkout_alerts.len(), 1, "{}", captured.all_output());
    assert_eq!(
        checkout_alerts[0]["workload"]["k8s"]["owner"]["name"],
        "checkout"
    );
    assert_eq!(
        alerts_of("db-egress", db_pid).len(),
        1,
        "{}",
        captured.all_output()
    );
    assert!(alerts_of("db-egress", early_db_pid).is_empty());
    assert!(alerts_of("checkout-egress", early_db_pid).is_empty());
    assert!(alerts_of("checkout-egress", db_pid).is_empty());

    // What the API server saw: only this node's pods were asked for, lists paged, watches
    // asked for bookmarks and resumed from a version the server had sent.
    let requests = api.control("/control/requests", None);
    let requests = requests.as_array().unwrap();
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request["query"]["fieldSelector"],
            format!("spec.nodeName={NODE}"),
            "{request}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r["query"].get("continue").is_some()),
        "the list was not paged: {requests:#?}"
    );
    let watches: Vec<&Value> = requests
        .iter()
        .filter(|r| r["query"]["watch"] == "true" || r["query"]["watch"] == "1")
        .collect();
    assert!(watches.len() >= 3, "{requests:#?}");
    assert!(
        watches
            .iter()
            .all(|w| w["query"]["allowWatchBookmarks"] == "true"),
        "{watches:#?}"
    );
    let lists = requests.len() - watches.len();
    assert!(
        lists >= 4,
        "two paged lists (start, after 410) expected: {requests:#?}"
    );
    // The last watch of the test resumed (no list before it) from a version above the relist's.
    let last = requests.last().unwrap();
    assert!(
        last["query"]["resourceVersion"].as_str().is_some(),
        "{last}"
    );

    // The pod on another node never appeared anywhere.
    assert!(!captured.all_output().contains("checkout-6d4b9c7f5d-other"));
    drop(server);
}

#[test]
fn without_a_watch_pod_processes_carry_their_pod_uid_and_nothing_changes_outside_kubernetes() {
    if !root_or_skip(
        "without_a_watch_pod_processes_carry_their_pod_uid_and_nothing_changes_outside_kubernetes",
    ) {
        return;
    }
    let server = TlsServer::start();
    let cgroup = PodCgroup::new(&format!("kubepods/pod{DB_UID}/{DB_CID}"));
    // `auto` outside a cluster: no watch, no API server contacted.
    let monitor = Monitor::start(&["--kubernetes", "auto"]);
    let in_pod = cgroup.curl(&server.url("/v1/in-pod"));
    let (on_host, _) = run_client(Command::new("curl").args([
        "--silent",
        "--insecure",
        "--output",
        "/dev/null",
        &server.url("/v1/on-host"),
    ]));
    std::thread::sleep(Duration::from_millis(500));
    let captured = monitor.stop();
    let call = captured.only(in_pod, "client", "/v1/in-pod");
    assert_eq!(call["process"]["k8s"], json!({"pod_uid": DB_UID}));
    let host_call = captured.only(on_host, "client", "/v1/on-host");
    assert!(host_call["process"].get("k8s").is_none(), "{host_call:#}");
    assert!(captured.metric("monitor_k8s_watch_synced") == 0);
    assert!(
        !captured.stderr.contains("watching this node's pods"),
        "{}",
        captured.stderr
    );
}
