//! The Postgres wire protocol (`serve --pg-listen`), on the `pgwire`
//! crate: psql, psycopg, JDBC and the rest reach segdb's language with
//! the tokens and roles of the HTTP API.
//!
//! - `conn`: one connection: TLS negotiated, then each message checked by
//!   `frames` before pgwire decodes it (a malformed one: FATAL 08P01).
//! - `auth`: startup, SCRAM-SHA-256 / cleartext-over-TLS / loopback trust.
//! - `handler`: the simple and extended query protocols (Parse, Bind,
//!   Describe, Execute), over `run`.
//! - `run`: statements through the same checks and execution as
//!   `POST /v1/query` (`http::query::run_all`), a SELECT of ids streamed
//!   row by row from the engine's export path.
//! - `types`: answers as typed rows; `params`: `$n` bound as literals;
//!   `errors`: SQLSTATEs and positions; `catalog`: what clients ask at
//!   connect (SET, SHOW, version(), pg_catalog); `cancel`: CancelRequest.

mod auth;
mod cancel;
mod catalog;
mod conn;
mod errors;
mod frames;
mod handler;
mod params;
mod run;
pub mod scram;
mod types;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use pgwire::api::PgWireServerHandlers;
use tokio::net::TcpListener;

use crate::http::auth::Principal;
use crate::http::{tls, Shared};

/// What a logged-in connection keeps.
pub struct Session {
    /// Who logged in.
    pub principal: Principal,
    /// From where.
    pub peer: SocketAddr,
    /// Its running query, for CancelRequest.
    slot: Arc<cancel::Slot>,
    _registered: cancel::Registered,
    /// An answer computed by a Describe, for the Execute that follows.
    described: Mutex<Option<handler::Described>>,
    /// Warnings of the statements run, to send as NoticeResponses
    /// before their answers.
    notices: Mutex<Vec<segdb_query_lang::Warning>>,
}

impl Session {
    fn new(
        principal: Principal,
        peer: SocketAddr,
        slot: Arc<cancel::Slot>,
        registered: cancel::Registered,
    ) -> Session {
        Session {
            principal,
            peer,
            slot,
            _registered: registered,
            described: Mutex::new(None),
            notices: Mutex::new(Vec::new()),
        }
    }
}

struct Handlers {
    startup: Arc<auth::Startup>,
    query: Arc<handler::Queries>,
    cancels: Arc<cancel::Cancels>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancels.clone()
    }
}

thread_local! {
    /// Set while a Postgres connection's task is polled (by [`Marked`]).
    static IN_CONNECTION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A connection's future, marking the thread while it is polled.
struct Marked<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for Marked<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        struct Unmark;
        impl Drop for Unmark {
            fn drop(&mut self) {
                IN_CONNECTION.with(|c| c.set(false));
            }
        }
        IN_CONNECTION.with(|c| c.set(true));
        let _unmark = Unmark;
        self.0.as_mut().poll(cx)
    }
}

/// Makes a panic in a Postgres connection's task an error in the log
/// rather than a crash report: the last line of defence.
///
/// pgwire 0.42.1 (the newest release) decodes messages trusting the
/// lengths and counts a client sends; `frames` checks every message's
/// layout before pgwire sees it (`conn`), so a malformed one is answered
/// with an ErrorResponse (08P01) instead. Should a panic still happen in a
/// connection's task, it unwinds that task only: the connection is closed
/// and the server goes on, and the report names the place
/// (`server/tests/pg/hostile.rs` fails if any is logged). Panics on other
/// threads are reported as before.
fn contain_connection_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CONNECTION.with(|c| c.get()) {
                return previous(info);
            }
            let what = crate::http::query_pool::panic_text(info.payload());
            tracing::error!(
                place = %info.location().map(|l| l.to_string()).unwrap_or_default(),
                "a Postgres connection's task failed on a malformed message ({what}); the connection is closed, the server goes on"
            );
        }));
    });
}

/// Serves the Postgres protocol on `listener` until `shutdown` completes
/// (connections still open are then dropped; their queries are cancelled
/// by the HTTP server's shutdown, which cancels every running query). With
/// TLS configured, clients may (`sslmode=require`) switch to it.
pub async fn serve(
    state: Shared,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = match &state.config.tls {
        Some(files) => Some(
            tls::acceptor_for(files, b"postgresql")
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    let cancels = Arc::new(cancel::Cancels::default());
    let handlers = Arc::new(Handlers {
        startup: Arc::new(auth::Startup::new(state.clone(), cancels.clone())),
        query: Arc::new(handler::Queries::new(state.clone())),
        cancels,
    });
    contain_connection_panics();
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = ended {
                    if e.is_panic() {
                        tracing::warn!("a Postgres connection was closed: its task unwound (see the warning before)");
                    }
                }
                continue;
            }
            a = listener.accept() => a,
        };
        let (tcp, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accepting a Postgres connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let handlers = handlers.clone();
        let acceptor = acceptor.clone();
        connections.spawn(Marked(Box::pin(async move {
            if let Err(e) = conn::serve(tcp, acceptor, handlers).await {
                tracing::debug!("a Postgres connection ended: {e}");
            }
        })));
    }
    connections.abort_all();
    Ok(())
}
