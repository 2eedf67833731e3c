//! The accept loop: the listening sockets (HTTPS or plain HTTP on
//! `listen`, and plain HTTP on `plain_http_listen` beside TLS when asked),
//! the TLS handshake of each connection, and hyper's HTTP/1 server on it,
//! until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::{router, tls, Config, Decrement, Shared};

/// The sockets a server accepts connections on.
pub struct Listeners {
    /// `listen`: HTTPS when `tls` is given, else plain HTTP.
    pub main: TcpListener,
    /// The TLS identity `main` serves HTTPS with.
    pub tls: Option<TlsAcceptor>,
    /// `plain_http_listen`: plain HTTP beside HTTPS, only when asked.
    pub plain: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    /// Plain HTTP on `listener` alone.
    fn from(listener: TcpListener) -> Listeners {
        Listeners {
            main: listener,
            tls: None,
            plain: None,
        }
    }
}

impl Listeners {
    /// Reads the TLS files (if configured), then binds `listen` and
    /// `plain_http_listen`. The error names the file or the address.
    pub async fn bind(config: &Config) -> Result<Listeners, String> {
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let bind = |addr: SocketAddr, setting: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| format!("listening on {addr} ({setting}): {e}"))
        };
        let main = bind(config.listen, "listen").await?;
        let plain = match config.plain_http_listen {
            Some(addr) => Some(bind(addr, "plain_http_listen").await?),
            None => None,
        };
        Ok(Listeners { main, tls, plain })
    }

    /// Where clients reach `main`: `https://IP:PORT` or `http://IP:PORT`.
    pub fn url(&self) -> std::io::Result<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}", self.main.local_addr()?))
    }

    /// Where clients reach `plain`: `http://IP:PORT`.
    pub fn plain_url(&self) -> std::io::Result<Option<String>> {
        self.plain
            .as_ref()
            .map(|l| Ok(format!("http://{}", l.local_addr()?)))
            .transpose()
    }
}

/// Serves `state` on `listeners` (or a plain `TcpListener`) until
/// `shutdown` completes, then lets the requests in flight finish, waiting
/// at most the configured grace period; after it, the connections left are
/// dropped, so this returns within the grace period whatever the clients
/// do.
///
/// Each connection is served by hyper's HTTP/1 server with a header read
/// timeout (`header_read_timeout`: a connection that sends no request, or
/// part of its headers, is closed), and TCP_NODELAY, so that a streamed
/// answer's last segment does not wait for a delayed ACK. On a TLS
/// listener, the handshake comes first and must end within the same
/// timeout; a failed or stalled one closes the connection and is counted
/// (`segdb_tls_handshake_failures_total`).
///
/// With TLS configured (`tls_cert`, `tls_key`) but no acceptor among
/// `listeners`, nothing is served: an error, rather than plain HTTP where
/// HTTPS was asked for.
pub async fn serve(
    state: Shared,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Listeners { main, tls, plain } = listeners.into();
    if state.config.tls.is_some() && tls.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "TLS is configured (tls_cert, tls_key) but the listener has no TLS acceptor",
        ));
    }
    let grace = state.config.shutdown_grace;
    let running = state.running.clone();
    let shared = state.clone();
    let app = router(state);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (accepted, tls) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            a = main.accept() => (a, tls.clone()),
            a = accept(plain.as_ref()) => (a, None),
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little
                // rather than spin.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        connections.spawn(connection(
            shared.clone(),
            app.clone(),
            tcp,
            peer,
            tls,
            stop_rx.clone(),
        ));
    }
    let cancelled = running.cancel_all();
    // The scheduler finishes a tick in progress (a run starts whole or
    // not at all) and stops; the delivery workers record their batch in
    // flight and stop (their runs resume at the next start). Waited for
    // within the grace period.
    let campaigns = shared.clone();
    let stopped = tokio::time::timeout(
        grace,
        tokio::task::spawn_blocking(move || campaigns.campaigns.stop()),
    )
    .await;
    if stopped.is_err() {
        tracing::warn!("the campaign scheduler and delivery did not stop within the grace period");
    }
    tracing::info!(
        cancelled,
        "shutting down: running queries cancelled, finishing the requests in flight"
    );
    drop((main, plain));
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            connections = connections.len(),
            "shutdown grace period over; closing the connections left"
        );
        shared
            .metrics
            .connections_dropped
            .fetch_add(connections.len() as u64, Ordering::Relaxed);
        connections.shutdown().await;
    }
    Ok(())
}

/// The next connection of `listener`; never, without one.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// One connection, counted open from accept to close: the TLS handshake
/// first if `tls`, then HTTP.
async fn connection(
    state: Shared,
    app: Router,
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("could not set TCP_NODELAY: {e}");
    }
    let metrics = &state.metrics;
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    // Counted down however the task ends (dropped at the grace period too).
    let _open = Decrement(&metrics.connections_open);
    let timeout = state.config.header_read_timeout;
    let Some(acceptor) = tls else {
        return serve_http(&state, app, tcp, peer, stop).await;
    };
    // The handshake owns the socket until this function returns, so each
    // failure is counted before its connection closes.
    let handshake = acceptor.accept(tcp).into_fallible();
    tokio::pin!(handshake);
    let stream = tokio::select! {
        r = &mut handshake => match r {
            Ok(stream) => stream,
            Err((e, _tcp)) => {
                metrics.tls_handshake_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "TLS handshake failed: {e}");
                return;
            }
        },
        _ = tokio::time::sleep(timeout) => {
            metrics.tls_handshake_timeouts.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                %peer,
                timeout_ms = timeout.as_millis() as u64,
                "TLS handshake not done within header_read_timeout; closed"
            );
            return;
        }
        // Shutting down: a connection still shaking hands has sent no
        // request yet.
        _ = stop.wait_for(|s| *s) => return,
    };
    serve_http(&state, app, stream, peer, stop).await
}

/// HTTP/1 on one connection: requests until the client leaves, a header
/// read times out, or shutdown (then the request in flight finishes and
/// the connection closes).
async fn serve_http<IO>(
    state: &Shared,
    app: Router,
    io: IO,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut app.clone(), req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                if e.is_timeout() {
                    state.metrics.header_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(%peer, "connection ended: {e}");
            }
        }
        _ = async { stop.wait_for(|s| *s).await.is_ok() } => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        }
    }
}
