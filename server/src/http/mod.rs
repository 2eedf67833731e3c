//! The HTTP API (DESIGN.md, "HTTP API") on tokio and axum: routes, auth,
//! limits, metrics and graceful shutdown. Handlers parse the request, check
//! the role, and run the engine's work on the blocking pool (never on the
//! reactor); the query logic itself lives in `exec` and below.

pub mod api_error;
pub mod auth;
mod body;
pub mod config;
mod id_list;
pub mod ingest;
mod insight;
pub mod metrics;
mod query;
mod segments;
mod tables;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use segdb_engine::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use api_error::ApiError;
pub use auth::Role;
pub use config::{Config, Settings};
use metrics::Metrics;

/// What every handler shares.
pub struct AppState {
    /// The store served.
    pub store: Store,
    /// The settings in effect.
    pub config: Config,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// One permit per query evaluated at once.
    slots: Arc<Semaphore>,
}

/// The shared state, as handlers get it.
pub type Shared = Arc<AppState>;

impl AppState {
    /// The state of a server of `store` with `config`.
    pub fn new(store: Store, config: Config) -> Shared {
        Arc::new(AppState {
            slots: Arc::new(Semaphore::new(config.max_concurrent_queries)),
            store,
            config,
            metrics: Metrics::default(),
        })
    }

    /// A query slot: waits up to `queue_wait` for one, then 503 with
    /// `Retry-After`.
    pub(crate) async fn query_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.config.queue_wait, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.metrics
                    .queries_rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(ApiError::busy(
                    format!(
                        "all {} query slots are busy; try again shortly",
                        self.config.max_concurrent_queries
                    ),
                    1,
                ))
            }
        }
    }
}

impl AppState {
    /// Takes a query slot if one is free, as a query would; for tests and
    /// maintenance that must keep queries out for a while.
    #[doc(hidden)]
    pub fn try_take_query_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }
}

/// The number of rows an answer carries, for the request log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowCount(pub u64);

/// Every route of the API.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/query", post(query::query))
        .route("/v1/insight", post(insight::insight))
        .route("/v1/tables", get(tables::list))
        .route("/v1/tables/{table}", get(tables::describe))
        .route("/v1/tables/{table}/import", post(tables::import))
        .route("/v1/tables/{table}/ingest", post(ingest::ingest))
        .route("/v1/tables/{table}/profiles/{id}", get(tables::profile))
        .route("/v1/segments", get(segments::list))
        .route(
            "/v1/segments/{name}",
            axum::routing::put(segments::put).delete(segments::delete),
        )
        .route("/v1/segments/{name}/ids", get(segments::ids))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(
    State(s): State<Shared>,
    axum::Extension(role): axum::Extension<Role>,
) -> Result<Response, ApiError> {
    auth::require(role, Role::Read, "reading metrics")?;
    let text = s.metrics.render(&s.store);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(
        "no_route",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
    .with_hint("see the HTTP API in the README")
}

/// Around every request: authenticates (except `/healthz`), then logs one
/// line and counts the request once the answer is ready.
async fn observe(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", |m| m.as_str())
        .to_owned();
    let response = if path == "/healthz" {
        next.run(req).await
    } else {
        match auth::role_of(req.headers(), peer, &s.config.tokens) {
            Ok(role) => {
                req.extensions_mut().insert(role);
                next.run(req).await
            }
            Err(e) => e.into_response(),
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    s.metrics.request(method.as_str(), &route, status, secs);
    let rows = response.extensions().get::<RowCount>().map(|r| r.0);
    tracing::info!(
        target: "segdb::request",
        method = %method,
        path = %path,
        status,
        latency_ms = secs * 1e3,
        rows,
        peer = %peer,
    );
    response
}

/// Serves `state` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish, waiting at most the configured grace period.
pub async fn serve(
    state: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.config.shutdown_grace;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Without TCP_NODELAY, the last small segment of an answer can wait for
    // the client's delayed ACK (up to 40 ms) behind the one before it.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {e}");
        }
    });
    let mut stop_rx2 = stop_rx.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    });
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    });
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r,
        _ = async {
            let _ = stop_rx2.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over; closing the connections left");
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Runs blocking engine work on tokio's blocking pool; a panic in it
/// becomes a 500 rather than a dropped connection.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("a worker failed: {e}"))))
}

/// Milliseconds since `start`, rounded to microseconds.
pub(crate) fn elapsed_ms(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
