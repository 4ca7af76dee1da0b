//! The list+watch of this node's pods (`spec.nodeName=$NODE_NAME`) into the `PodStore`.
//!
//! kube's watcher lists in pages, then watches from the list's resourceVersion with bookmarks,
//! resumes a dropped watch from the last version seen, and relists when the server answers
//! `410 Gone` (the version was compacted away). Every relist replaces the store atomically when
//! complete, so a call never sees half a list. The whole Pod is watched, not only its metadata:
//! container names live in its status and the service account in its spec; each object is
//! reduced to `PodMeta` as it arrives, so memory holds only what is used.
use std::{sync::Arc, time::Instant};

use futures_util::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{WatchStreamExt as _, watcher},
};
use thiserror::Error;
use tracing::{info, warn};

use super::{PodStore, pod::pod_meta};
use crate::metrics::Metrics;

#[derive(Debug, Error)]
pub enum WatchError {
    #[error("cannot read the kubeconfig {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error(
        "no Kubernetes client configuration: not in a pod (KUBERNETES_SERVICE_HOST unset) and no kubeconfig"
    )]
    Infer(#[source] kube::config::InferConfigError),
    #[error("cannot build the Kubernetes client")]
    Client(#[source] kube::Error),
}

/// Pods per page of a list: a node runs at most a few hundred.
const PAGE_SIZE: u32 = 500;

/// Starts watching the pods of `node` on the current tokio runtime. `kubeconfig` overrides the
/// usual inference (in-cluster service account, then `KUBECONFIG`, then `~/.kube/config`).
pub async fn spawn_pod_watch(
    store: Arc<PodStore>,
    node: String,
    kubeconfig: Option<&std::path::Path>,
    metrics: Arc<Metrics>,
) -> Result<tokio::task::JoinHandle<()>, WatchError> {
    let config = match kubeconfig {
        Some(path) => {
            let parsed = Kubeconfig::read_from(path).map_err(|source| WatchError::Kubeconfig {
                path: path.display().to_string(),
                source,
            })?;
            Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
                .await
                .map_err(|source| WatchError::Kubeconfig {
                    path: path.display().to_string(),
                    source,
                })?
        }
        None => Config::infer().await.map_err(WatchError::Infer)?,
    };
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(WatchError::Client)?;
    info!(%server, %node, "watching this node's pods");
    Ok(tokio::spawn(run(client, store, node, metrics)))
}

async fn run(client: Client, store: Arc<PodStore>, node: String, metrics: Arc<Metrics>) {
    let pods: Api<Pod> = Api::all(client);
    let config = watcher::Config::default()
        .fields(&format!("spec.nodeName={node}"))
        .page_size(PAGE_SIZE);
    let mut events = watcher(pods, config).default_backoff().boxed();
    let mut listing = Vec::new();
    // A complete list has been applied: after a failure the watcher resumes from its last
    // version (no new list), so the next event says the view is current again.
    let mut listed = false;
    metrics.k8s_set_synced(false);
    loop {
        let event = match events.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(e) => {
                // The watcher backs off and retries by itself; a `410 Gone` makes it relist.
                let kind = error_kind(&e);
                metrics.k8s_watch_error(kind);
                if kind != "gone" {
                    metrics.k8s_set_synced(false);
                }
                warn!(error = %chain(&e), kind, "pod watch interrupted; retrying");
                continue;
            }
        };
        let now = Instant::now();
        match event {
            watcher::Event::Init => {
                listing.clear();
                metrics.k8s_watch_event("relist_started");
            }
            watcher::Event::InitApply(pod) => listing.extend(pod_meta(&pod)),
            watcher::Event::InitDone => {
                for meta in &listing {
                    metrics.k8s_labels_omitted(meta.labels.len());
                }
                store.replace_all(std::mem::take(&mut listing), now);
                listed = true;
                metrics.k8s_watch_event("relist_done");
                metrics.k8s_set_synced(true);
            }
            watcher::Event::Apply(pod) => {
                if let Some(meta) = pod_meta(&pod) {
                    metrics.k8s_labels_omitted(meta.labels.len());
                    store.apply(meta);
                }
                metrics.k8s_watch_event("applied");
                metrics.k8s_set_synced(listed);
            }
            watcher::Event::Delete(pod) => {
                if let Some(uid) = &pod.metadata.uid {
                    store.delete(uid, now);
                }
                metrics.k8s_watch_event("deleted");
                metrics.k8s_set_synced(listed);
            }
        }
        store.expire(now);
        metrics.k8s_set_pods(store.len());
    }
    warn!("pod watch ended");
    metrics.k8s_set_synced(false);
}

/// A fixed label value per kind of failure.
fn error_kind(error: &watcher::Error) -> &'static str {
    match error {
        watcher::Error::InitialListFailed(_) => "list_failed",
        watcher::Error::WatchStartFailed(_) => "watch_start_failed",
        watcher::Error::WatchError(status) if status.code == 410 => "gone",
        watcher::Error::WatchError(_) => "watch_error",
        watcher::Error::WatchFailed(_) => "watch_failed",
        watcher::Error::NoResourceVersion => "no_resource_version",
    }
}

/// An error and its causes on one line (a connect error's cause is what tells TLS from TCP).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
