//! `segdb serve`: the HTTP server on a store, or (`--demo`) on the demo
//! data set, built on first start.

use std::path::PathBuf;

use segdb_server::http::config::{parse_token, LogFormat, Settings};
use segdb_server::http::ingest::{flush_at_shutdown, open_store, Maintenance};
use segdb_server::http::{self, AppState, Listeners};

use crate::AnyError;

/// Flags of `segdb serve`; each overrides the config file and `SEGDB_*`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The store's directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Serve the demo data set (the `small` scale, 1M users), generating and
    /// importing it into --demo-dir on first start.
    #[arg(long, conflicts_with = "data")]
    demo: bool,
    /// Where --demo keeps its store.
    #[arg(long, default_value = "demo-data")]
    demo_dir: PathBuf,
    /// Users in the demo data set.
    #[arg(long, default_value_t = 1_000_000)]
    demo_rows: u64,
    /// Address to listen on (default 127.0.0.1:7878; port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs
    /// --tls-key. Plain HTTP is then off, unless --plain-listen.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// With TLS, also serve plain HTTP on this address (e.g. 127.0.0.1:7879
    /// for a local health check); only with --tls-cert and --tls-key.
    #[arg(long = "plain-listen")]
    plain_http_listen: Option<String>,
    /// Also serve the Postgres wire protocol on this address (e.g.
    /// 127.0.0.1:5433; port 0 picks a free one): psql, psycopg, JDBC.
    #[arg(long)]
    pg_listen: Option<String>,
    /// A TOML config file (see the README).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A bearer token, `NAME:ROLE:SECRET` (or `ROLE:SECRET`, named after its
    /// role) with ROLE read, write or admin; repeatable.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Stop queries running longer than this.
    #[arg(long)]
    query_timeout_ms: Option<u64>,
    /// Queries evaluated at once.
    #[arg(long)]
    max_concurrent_queries: Option<usize>,
    /// `human` or `json` log lines.
    #[arg(long)]
    log_format: Option<LogFormat>,
    /// When an ingested batch is acknowledged: `always` (after its fsync,
    /// the default) or `every_ms=N` (fsync every N ms: a power loss loses up
    /// to N ms of acknowledged writes).
    #[arg(long)]
    wal_sync: Option<String>,
    /// Start even if the write-ahead log is damaged before its end, dropping
    /// every batch from the damaged record on (keep a copy of DATA/wal
    /// first). Without it, a damaged WAL stops the start with the file and
    /// offset.
    #[arg(long)]
    truncate_wal_at_corruption: bool,
}

pub fn serve(args: ServeArgs) -> Result<(), AnyError> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let env = Settings::from_env(|k| std::env::var(k).ok())?;
    let flags = Settings {
        data: args.data.clone(),
        listen: args.listen.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        plain_http_listen: args.plain_http_listen.clone(),
        pg_listen: args.pg_listen.clone(),
        log_format: args.log_format,
        query_timeout_ms: args.query_timeout_ms,
        max_concurrent_queries: args.max_concurrent_queries,
        wal_sync: args.wal_sync.clone(),
        tokens: args
            .tokens
            .iter()
            .map(|t| parse_token(t))
            .collect::<Result<_, _>>()?,
        ..Settings::default()
    };
    let mut settings = file.overridden_by(env).overridden_by(flags);
    init_logging(settings.log_format.unwrap_or_default());
    if args.demo {
        settings.data = Some(crate::data::ensure_demo_store(
            &args.demo_dir,
            args.demo_rows,
        )?);
    }
    let config = settings.resolve()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.http_threads)
        .enable_all()
        .thread_name("segdb-http")
        .build()?;
    // The TLS files are read before the store is opened: a bad certificate
    // stops the start at once, naming the file.
    let listeners = runtime.block_on(Listeners::bind(&config))?;
    let pg_listener = match config.pg_listen {
        Some(addr) => Some(
            runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|e| format!("listening on {addr} (pg_listen): {e}"))?,
        ),
        None => None,
    };
    let store = open_store(&config, args.truncate_wal_at_corruption)?;
    if config.tokens.is_empty() {
        tracing::warn!(
            "no tokens configured: accepting only clients on this machine (loopback), with every role"
        );
    }
    tracing::info!(
        data = %config.data.display(),
        tables = store.table_names().len(),
        kernels = segdb_storage_format::cpu::level(),
        http_threads = config.http_threads,
        query_threads = rayon::current_num_threads(),
        "serving"
    );
    if let Some(l) = &pg_listener {
        // Printed before the HTTP line, which scripts wait for.
        outln!("segdb postgres listening on {}", l.local_addr()?);
    }
    // Scripts and tests read this line to learn where to connect:
    // `segdb listening on http://IP:PORT`, or `https://` with TLS.
    outln!("segdb listening on {}", listeners.url()?);
    if let Some(url) = listeners.plain_url()? {
        tracing::warn!(%url, "plain HTTP beside TLS (plain_http_listen): its traffic is not encrypted");
        outln!("segdb also listening on {url} (plain HTTP)");
    }
    let state = AppState::new(store, config)?;
    // Flushes and compactions, off the reactor, until shutdown.
    let maintenance = Maintenance::start(state.clone());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let pg = pg_listener.map(|l| {
        runtime.spawn(segdb_server::pg::serve(state.clone(), l, async move {
            let _ = stop_rx.changed().await;
        }))
    });
    let served = runtime.block_on(http::serve(state.clone(), listeners, async move {
        http::shutdown_signal().await;
        let _ = stop_tx.send(true);
    }));
    if let Some(pg) = pg {
        match runtime.block_on(pg) {
            Ok(Err(e)) => tracing::error!("the Postgres listener: {e}"),
            Err(e) => tracing::error!("the Postgres listener: {e}"),
            Ok(Ok(())) => {}
        }
    }
    maintenance.stop();
    // Every acknowledged batch is in the WAL already; flushing now only
    // spares the next start its replay.
    flush_at_shutdown(&state.store);
    served?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SEGDB_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
