//! The HTTP API (DESIGN.md, "HTTP API") on tokio and axum: routes, auth,
//! limits, metrics and graceful shutdown. Handlers parse the request, check
//! the role, and run the engine's work on the blocking pool (never on the
//! reactor); the query logic itself lives in `exec` and below.

pub mod api_error;
pub mod audit_route;
pub mod auth;
mod body;
mod campaigns;
pub mod config;
mod console;
mod effects;
pub mod export_limit;
mod frequency_cap;
mod id_list;
pub mod ingest;
mod insight;
pub mod key_store;
mod keys;
mod listen;
pub mod metrics;
pub(crate) mod query;
pub(crate) mod query_pool;
mod rejection;
pub mod running;
pub mod secret_hash;
mod segments;
mod tables;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use segdb_engine::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::audit::Audit;
pub use api_error::ApiError;
pub use auth::Role;
pub use config::{Config, Settings};
use export_limit::ExportLimit;
use key_store::KeyStore;
pub use listen::{serve, Listeners};
use metrics::Metrics;
use running::{Running, RunningQuery};

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
    /// The queries running now, which a shutdown cancels.
    pub running: Arc<Running>,
    /// The API keys (`/v1/keys`), kept in the store's `KEYS` file.
    pub keys: KeyStore,
    /// The audit log (`DATA/audit/`).
    pub audit: Arc<Audit>,
    /// Ids exported per principal.
    pub export_limit: ExportLimit,
    /// The campaigns (`DATA/campaigns.d/`) and their scheduler.
    pub campaigns: crate::campaigns::Campaigns,
}

/// The shared state, as handlers get it.
pub type Shared = Arc<AppState>;

impl AppState {
    /// The state of a server of `store` with `config`, its campaign
    /// scheduler started; fails if the store's `KEYS` file or its
    /// campaigns cannot be read (the error names the file).
    pub fn new(store: Store, config: Config) -> Result<Shared, String> {
        let keys = KeyStore::open(&config.data)?;
        let campaigns = crate::campaigns::Campaigns::open(&config.data)?;
        for k in keys.snapshot().iter() {
            if config.tokens.iter().any(|t| t.name == k.name) {
                tracing::warn!(
                    name = %k.name,
                    "an API key and a configured token have the same name; their requests are logged alike"
                );
            }
        }
        query_pool::set_spin(config.query_spin);
        let metrics = Metrics::default();
        metrics
            .api_keys
            .store(keys.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Arc::new(AppState {
            audit: Arc::new(Audit::new(
                config.data.join("audit"),
                config.audit_max_file_bytes,
                metrics.audit_entries.clone(),
                metrics.audit_write_failures.clone(),
            )),
            export_limit: ExportLimit::new(
                config.export_ids_per_minute,
                metrics.exports_rate_limited.clone(),
            ),
            slots: Arc::new(Semaphore::new(config.max_concurrent_queries)),
            store,
            config,
            metrics,
            running: Arc::default(),
            keys,
            campaigns,
        }))
        .inspect(crate::campaigns::Campaigns::start_scheduler)
    }

    /// Registers a query about to run, with the query timeout from now.
    pub(crate) fn start_query(&self) -> RunningQuery {
        self.running.start(self.config.query_timeout)
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
    /// The store as the binder sees it, with the server's campaigns and
    /// delivery log (so `sent(c)` counts batches not yet checkpointed).
    pub fn catalog(&self) -> crate::exec::StoreCatalog<'_> {
        crate::exec::StoreCatalog::live(
            &self.store,
            &self.campaigns.store,
            &self.campaigns.delivery.log,
        )
    }

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
        .route("/", get(console::index))
        .route("/console/{asset}", get(console::asset))
        .route("/v1/whoami", get(console::whoami))
        .route("/metrics", get(metrics))
        .route("/v1/query", post(query::query))
        .route("/v1/insight", post(insight::insight))
        .route("/v1/tables", get(tables::list))
        .route("/v1/tables/{table}", get(tables::describe))
        .route("/v1/tables/{table}/fields", get(tables::fields))
        .route("/v1/tables/{table}/import", post(tables::import))
        .route("/v1/tables/{table}/ingest", post(ingest::ingest))
        .route("/v1/tables/{table}/profiles/{id}", get(tables::profile))
        .route(
            "/v1/tables/{table}/frequency_cap",
            get(frequency_cap::get)
                .put(frequency_cap::put)
                .delete(frequency_cap::delete),
        )
        .route("/v1/segments", get(segments::list))
        .route(
            "/v1/segments/{name}",
            axum::routing::put(segments::put).delete(segments::delete),
        )
        .route("/v1/segments/{name}/ids", get(segments::ids))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{name}", get(keys::describe).delete(keys::revoke))
        .route("/v1/audit", get(audit_route::read))
        .route(
            "/v1/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route(
            "/v1/campaigns/{name}",
            get(campaigns::describe).delete(campaigns::delete),
        )
        .route("/v1/campaigns/{name}/effects", post(effects::intake))
        .route("/v1/campaigns/{name}/report", get(effects::report))
        .route("/v1/campaigns/{name}/{action}", post(campaigns::act))
        // A new route goes in `metrics::route_label` too (else it is
        // counted as `unmatched`).
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
    let mut text = s.metrics.render(&s.store);
    s.campaigns.render_metrics(&mut text);
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

/// Around every request: authenticates (except `/healthz` and the
/// console's files), then logs one
/// line and counts the request once the answer is ready.
async fn observe(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    // Labels and log fields come from a closed set or are cut short: a
    // client's method or path never becomes a series of its own.
    let request_method = req.method().clone();
    let method = metrics::method_label(&request_method);
    let path = metrics::shorten(req.uri().path());
    let route = metrics::route_label(req.extensions().get::<MatchedPath>());
    let mut principal = None;
    // The console's files hold no data: served to anyone, as /healthz.
    let response = if path == "/healthz" || console::is_console_path(&path) {
        next.run(req).await
    } else {
        let keys = s.keys.snapshot();
        match auth::authenticate(req.headers(), peer, &s.config.tokens, &keys, s.keys.now()) {
            Ok(p) => {
                req.extensions_mut().insert(p.role);
                req.extensions_mut().insert(p.clone());
                principal = Some(p);
                next.run(req).await
            }
            Err(e) => {
                if let Some(reason) = e.reason() {
                    s.metrics.auth_failure(reason);
                }
                ApiError::from(e).into_response()
            }
        }
    };
    let response = rejection::into_api_error(&request_method, &path, response).await;
    let response = audit_route::record(
        &s,
        audit_route::Seen {
            principal: principal.as_ref(),
            peer,
            method: &request_method,
            route,
            path: &path,
        },
        response,
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    s.metrics.request(method, route, status, secs);
    let rows = response.extensions().get::<RowCount>().map(|r| r.0);
    tracing::info!(
        target: "segdb::request",
        method = %metrics::shorten(request_method.as_str()),
        path = %path,
        status,
        latency_ms = (secs * 1e6).round() / 1e3,
        rows,
        peer = %peer,
        principal = %principal.as_ref().map_or("-", |p| p.name.as_str()),
    );
    response
}

/// Decrements a gauge when dropped.
pub(crate) struct Decrement<'a>(pub(crate) &'a std::sync::atomic::AtomicU64);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
