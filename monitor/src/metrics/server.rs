//! HTTP endpoint for Prometheus and for orchestrators: `/metrics` (text exposition), `/healthz`
//! (the process is alive and serving) and `/readyz` (every probe is attached: 503 until then);
//! and for people and collectors, `/inventory` (the API inventory as JSON, docs/inventory.md).
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use tokio::{net::TcpListener, sync::watch};

use super::Metrics;
use crate::inventory::PublishedInventory;

/// Set once the daemon has attached its probes.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    readiness: Readiness,
    inventory: PublishedInventory,
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// The latest published snapshot (never the live table: see `inventory/publish.rs`).
async fn inventory(State(state): State<AppState>) -> impl IntoResponse {
    match serde_json::to_vec(&*state.inventory.latest()) {
        Ok(json) => (StatusCode::OK, [("content-type", "application/json")], json),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain; charset=utf-8")],
            format!("cannot encode the inventory: {e}\n").into_bytes(),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Binds `addr` now (so a busy port is an error at start) and serves until `stop` changes.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    inventory: PublishedInventory,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/inventory", get(self::inventory))
        .with_state(AppState {
            metrics,
            readiness,
            inventory,
        });
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        inventory::{ApiInventory, AuthScheme, Observation, fetch_url},
        protocols::CallDirection,
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn serves_the_latest_inventory() {
        let published = PublishedInventory::default();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (addr, task) = serve(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            Readiness::default(),
            published.clone(),
            stop_rx,
        )
        .await
        .unwrap();
        let url = format!("http://{addr}/inventory");
        let get = |url: String| async move {
            tokio::task::spawn_blocking(move || fetch_url(&url))
                .await
                .unwrap()
        };

        let empty = get(url.clone()).await.unwrap();
        assert!(empty.entries.is_empty());

        let mut inventory = ApiInventory::new(10);
        inventory.observe(&Observation {
            direction: CallDirection::Inbound,
            workload: "/srv/api@host",
            host: "api.internal",
            method: "GET",
            path_template: "/v1/items/{id}",
            status: Some(200),
            auth_schemes: &[AuthScheme::Bearer],
            credential_kinds: &["jwt"],
            tls: true,
            peer: "203.0.113.9",
            peer_internal: false,
            unix_ms: 1_700_000_000_000,
        });
        let snap = inventory.snapshot_at(1_700_000_001_000);
        published.publish(snap.clone());
        assert_eq!(get(url.clone()).await.unwrap(), snap);

        // Not an inventory: a clear error, not a panic.
        let err = get(format!("http://{addr}/healthz")).await.unwrap_err();
        assert!(err.to_string().contains("is not an inventory"), "{err}");
        let err = get(format!("http://{addr}/nothing")).await.unwrap_err();
        assert!(err.to_string().contains("cannot fetch"), "{err}");

        stop_tx.send(true).unwrap();
        task.await.unwrap();
    }
}
