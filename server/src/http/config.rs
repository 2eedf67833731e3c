//! The server's settings: defaults, then the config file (`segdb.toml`),
//! then `SEGDB_*` environment variables, then command-line flags; each
//! later source overrides the earlier ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use segdb_engine::LiveOptions;
use segdb_storage_format::wal::SyncPolicy;
use serde::Deserialize;

use super::auth::{Role, Token};
use super::secret_hash::SecretHash;
use super::tls::TlsFiles;
use crate::permissions::Limits;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format `{s}` (human or json)")),
        }
    }
}

/// Settings as one source gives them: every one optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The store's directory.
    pub data: Option<PathBuf>,
    /// The address to listen on.
    pub listen: Option<String>,
    /// The certificate chain (PEM) to serve HTTPS with; needs `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// With TLS, also serve plain HTTP on this address (off unless given).
    pub plain_http_listen: Option<String>,
    /// Serve the Postgres wire protocol on this address (off unless given).
    pub pg_listen: Option<String>,
    /// `human` or `json`.
    pub log_format: Option<LogFormat>,
    /// A query running longer is stopped (408).
    pub query_timeout_ms: Option<u64>,
    /// Queries evaluated at once; more wait.
    pub max_concurrent_queries: Option<usize>,
    /// How long an excess query waits for a slot before a 503.
    pub queue_wait_ms: Option<u64>,
    /// How long a query thread stays awake after answering, in µs (0:
    /// it sleeps at once).
    pub query_spin_us: Option<u64>,
    /// Threads that serve connections (HTTP and Postgres: read requests,
    /// write answers); statements run on the query threads.
    pub http_threads: Option<usize>,
    /// The largest request body, except imports.
    pub max_body_bytes: Option<u64>,
    /// The largest import body.
    pub max_import_bytes: Option<u64>,
    /// The most rows a JSON answer may have (CSV answers stream).
    pub max_json_rows: Option<u64>,
    /// The most rows one request's answer may hold, over all its
    /// statements.
    pub max_answer_rows: Option<u64>,
    /// The most bytes one request's answer may hold, over all its
    /// statements.
    pub max_answer_bytes: Option<u64>,
    /// The most distinct values an ENUM or SET field may have (and the most
    /// values one line may add to a SET).
    pub max_field_values: Option<u64>,
    /// A connection must send a request's whole headers within this time.
    pub header_read_timeout_ms: Option<u64>,
    /// A gap between two pieces of a request body longer than this ends
    /// the request with 408.
    pub body_read_timeout_ms: Option<u64>,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_ms: Option<u64>,
    /// When an ingested batch is acknowledged: `always` (after its fsync)
    /// or `every_ms=N` (after the write; fsync every N ms). See
    /// [`parse_wal_sync`].
    pub wal_sync: Option<String>,
    /// Flush the live delta to part files once it holds this many bytes…
    pub flush_bytes: Option<u64>,
    /// …or once its oldest batch is this many ms old.
    pub flush_age_ms: Option<u64>,
    /// Ingest answers 503 (back-pressure) while the delta holds this many bytes.
    pub max_delta_bytes: Option<u64>,
    /// Compact a shard once it has more part files than this.
    pub compact_layers: Option<usize>,
    /// How long an `Idempotency-Key` is remembered, in seconds.
    pub idempotency_window_s: Option<u64>,
    /// A new audit log file is started past this size.
    pub audit_max_file_bytes: Option<u64>,
    /// Audit every query too.
    pub audit_queries: Option<bool>,
    /// Ids one principal may export per minute (0: unlimited).
    pub export_ids_per_minute: Option<u64>,
    /// Bearer tokens and their roles.
    #[serde(default)]
    pub tokens: Vec<TokenSetting>,
}

/// A token in the config file: `[[tokens]] name = "ana" role = "read"`
/// and either `secret = "…"` or `secret_hash = "sha256$…"` (what `segdb
/// token hash` prints).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSetting {
    /// Who holds it (logged on each of its requests). A token given
    /// without a name is named after its role.
    #[serde(default)]
    pub name: Option<String>,
    /// `read`, `write` or `admin`.
    pub role: Role,
    /// The bearer token, hashed when the settings are resolved.
    #[serde(default)]
    pub secret: Option<String>,
    /// The bearer token's salted hash, `sha256$<salt>$<digest>`.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Limits it to these fields (`field` or `table.field`).
    #[serde(default)]
    pub allowed_fields: Option<Vec<String>>,
    /// Limits it to the fields of these catalog categories.
    #[serde(default)]
    pub allowed_categories: Option<Vec<String>>,
}

impl std::fmt::Debug for TokenSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenSetting({}, {}, <secret>)",
            self.name.as_deref().unwrap_or("-"),
            self.role
        )
    }
}

impl TokenSetting {
    /// The token in effect: named (after its role if it has no name), its
    /// secret hashed. Exactly one of `secret` and `secret_hash` is needed.
    fn resolve(self) -> Result<Token, String> {
        let name = self.name.unwrap_or_else(|| self.role.to_string());
        check_principal_name(&name)?;
        let mut scram = None;
        let secret_hash = match (self.secret, self.secret_hash) {
            (Some(s), None) if !s.is_empty() => {
                scram = Some(crate::pg::scram::ScramVerifier::new(&s));
                SecretHash::new(&s)
            }
            (None, Some(h)) => {
                SecretHash::parse(&h).map_err(|e| format!("token `{name}`: {e}"))?
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "token `{name}` has both `secret` and `secret_hash`; give one"
                ))
            }
            _ => {
                return Err(format!(
                    "token `{name}` needs a non-empty `secret` or a `secret_hash` (see `segdb token hash`)"
                ))
            }
        };
        let limits = Limits {
            allowed_fields: self.allowed_fields,
            allowed_categories: self.allowed_categories,
        };
        limits
            .validate()
            .map_err(|e| format!("token `{name}`: {e}"))?;
        if self.role == Role::Admin && limits.is_limited() {
            return Err(format!(
                "token `{name}` is an admin's: an admin is never limited; give it the read or write role, or drop allowed_fields and allowed_categories"
            ));
        }
        Ok(Token {
            name,
            role: self.role,
            secret_hash,
            limits,
            scram,
        })
    }
}

/// The settings in effect.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store's directory.
    pub data: PathBuf,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// With these, `listen` serves HTTPS only.
    pub tls: Option<TlsFiles>,
    /// Plain HTTP beside TLS, only when asked (and only with `tls`).
    pub plain_http_listen: Option<SocketAddr>,
    /// The Postgres wire protocol, only when asked (TLS offered with `tls`).
    pub pg_listen: Option<SocketAddr>,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// A query running longer is stopped.
    pub query_timeout: Duration,
    /// Queries evaluated at once.
    pub max_concurrent_queries: usize,
    /// How long an excess query waits for a slot.
    pub queue_wait: Duration,
    /// How long a query thread stays awake after answering.
    pub query_spin: Duration,
    /// Threads that serve connections.
    pub http_threads: usize,
    /// The largest request body, except imports.
    pub max_body_bytes: u64,
    /// The largest import body.
    pub max_import_bytes: u64,
    /// The most rows a JSON answer may have.
    pub max_json_rows: u64,
    /// The most rows of one request's answer, all statements together.
    pub max_answer_rows: u64,
    /// The most bytes of one request's answer, all statements together.
    pub max_answer_bytes: u64,
    /// The most distinct values of an ENUM or SET field.
    pub max_field_values: u32,
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The longest gap between two pieces of a request body.
    pub body_read_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Accepted bearer tokens.
    pub tokens: Vec<Token>,
    /// A new audit log file is started past this size.
    pub audit_max_file_bytes: u64,
    /// Audit every query too.
    pub audit_queries: bool,
    /// Ids one principal may export per minute (0: unlimited).
    pub export_ids_per_minute: u64,
    /// When an ingested batch is acknowledged.
    pub wal_sync: SyncPolicy,
    /// Flush the delta at this size…
    pub flush_bytes: u64,
    /// …or at this age.
    pub flush_age: Duration,
    /// Back-pressure (503) from this delta size.
    pub max_delta_bytes: u64,
    /// Compact a shard with more part files than this.
    pub compact_layers: usize,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_window: Duration,
}

impl Config {
    /// The engine's options for real-time writes under these settings
    /// (what the settings do not cover keeps the engine's default).
    pub fn live_options(&self) -> LiveOptions {
        LiveOptions {
            sync: self.wal_sync,
            flush_bytes: self.flush_bytes,
            flush_age: self.flush_age,
            max_delta_bytes: self.max_delta_bytes,
            compact_layers: self.compact_layers,
            idempotency_window: self.idempotency_window,
            max_field_values: self.max_field_values,
            ..LiveOptions::default()
        }
    }
}

/// Parses the `wal_sync` setting: `always` (an ingest is answered once its
/// batch is fsynced: nothing acknowledged is ever lost), or `every_ms=N`
/// with N ≥ 1 (answered once written to the operating system; the WAL is
/// fsynced every N ms, so a power loss or OS crash loses up to the last N
/// ms of acknowledged batches, a crash of segdb alone nothing).
pub fn parse_wal_sync(text: &str) -> Result<SyncPolicy, String> {
    let t = text.trim();
    if t == "always" {
        return Ok(SyncPolicy::Always);
    }
    match t.strip_prefix("every_ms=").map(|n| n.trim().parse::<u64>()) {
        Some(Ok(n)) if n >= 1 => Ok(SyncPolicy::EveryMs(n)),
        _ => Err(format!(
            "wal_sync `{text}` is neither `always` nor `every_ms=N` (N a number of milliseconds, at least 1)"
        )),
    }
}

impl Settings {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))
    }

    /// Reads `SEGDB_*` variables through `var` (the process environment in
    /// production, a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        fn num<T: std::str::FromStr>(
            var: &impl Fn(&str) -> Option<String>,
            name: &str,
        ) -> Result<Option<T>, String> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("{name}=`{v}` is not a number"))
                })
                .transpose()
        }
        Ok(Settings {
            data: var("SEGDB_DATA").map(PathBuf::from),
            listen: var("SEGDB_LISTEN"),
            tls_cert: var("SEGDB_TLS_CERT").map(PathBuf::from),
            tls_key: var("SEGDB_TLS_KEY").map(PathBuf::from),
            plain_http_listen: var("SEGDB_PLAIN_HTTP_LISTEN"),
            pg_listen: var("SEGDB_PG_LISTEN"),
            log_format: var("SEGDB_LOG_FORMAT")
                .map(|v| v.parse())
                .transpose()
                .map_err(|e| format!("SEGDB_LOG_FORMAT: {e}"))?,
            query_timeout_ms: num(&var, "SEGDB_QUERY_TIMEOUT_MS")?,
            max_concurrent_queries: num(&var, "SEGDB_MAX_CONCURRENT_QUERIES")?,
            queue_wait_ms: num(&var, "SEGDB_QUEUE_WAIT_MS")?,
            query_spin_us: num(&var, "SEGDB_QUERY_SPIN_US")?,
            http_threads: num(&var, "SEGDB_HTTP_THREADS")?,
            max_body_bytes: num(&var, "SEGDB_MAX_BODY_BYTES")?,
            max_import_bytes: num(&var, "SEGDB_MAX_IMPORT_BYTES")?,
            max_json_rows: num(&var, "SEGDB_MAX_JSON_ROWS")?,
            max_answer_rows: num(&var, "SEGDB_MAX_ANSWER_ROWS")?,
            max_answer_bytes: num(&var, "SEGDB_MAX_ANSWER_BYTES")?,
            max_field_values: num(&var, "SEGDB_MAX_FIELD_VALUES")?,
            header_read_timeout_ms: num(&var, "SEGDB_HEADER_READ_TIMEOUT_MS")?,
            body_read_timeout_ms: num(&var, "SEGDB_BODY_READ_TIMEOUT_MS")?,
            shutdown_grace_ms: num(&var, "SEGDB_SHUTDOWN_GRACE_MS")?,
            wal_sync: var("SEGDB_WAL_SYNC"),
            flush_bytes: num(&var, "SEGDB_FLUSH_BYTES")?,
            flush_age_ms: num(&var, "SEGDB_FLUSH_AGE_MS")?,
            max_delta_bytes: num(&var, "SEGDB_MAX_DELTA_BYTES")?,
            compact_layers: num(&var, "SEGDB_COMPACT_LAYERS")?,
            idempotency_window_s: num(&var, "SEGDB_IDEMPOTENCY_WINDOW_S")?,
            audit_max_file_bytes: num(&var, "SEGDB_AUDIT_MAX_FILE_BYTES")?,
            audit_queries: var("SEGDB_AUDIT_QUERIES")
                .map(|v| match v.trim() {
                    "true" | "1" => Ok(true),
                    "false" | "0" => Ok(false),
                    _ => Err(format!(
                        "SEGDB_AUDIT_QUERIES=`{v}` is neither true nor false"
                    )),
                })
                .transpose()?,
            export_ids_per_minute: num(&var, "SEGDB_EXPORT_IDS_PER_MINUTE")?,
            tokens: match var("SEGDB_TOKENS") {
                Some(list) => list
                    .split(',')
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| parse_token(t.trim()).map_err(|e| format!("SEGDB_TOKENS: {e}")))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        })
    }

    /// `self` with every setting `over` has replaced; tokens add up.
    pub fn overridden_by(mut self, over: Settings) -> Settings {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            data,
            listen,
            tls_cert,
            tls_key,
            plain_http_listen,
            pg_listen,
            log_format,
            query_timeout_ms,
            max_concurrent_queries,
            queue_wait_ms,
            query_spin_us,
            http_threads,
            max_body_bytes,
            max_import_bytes,
            max_json_rows,
            max_answer_rows,
            max_answer_bytes,
            max_field_values,
            header_read_timeout_ms,
            body_read_timeout_ms,
            shutdown_grace_ms,
            wal_sync,
            flush_bytes,
            flush_age_ms,
            max_delta_bytes,
            compact_layers,
            idempotency_window_s,
            audit_max_file_bytes,
            audit_queries,
            export_ids_per_minute
        );
        self.tokens.extend(over.tokens);
        self
    }

    /// The settings in effect, with defaults for what no source gave.
    pub fn resolve(self) -> Result<Config, String> {
        let listen = self.listen.as_deref().unwrap_or("127.0.0.1:7878");
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| format!("listen address `{listen}` is not IP:PORT"))?;
        let (tls, plain_http_listen) = super::tls::resolve(&self, listen)?;
        let pg_listen = self
            .pg_listen
            .as_deref()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|_| format!("pg_listen address `{a}` is not IP:PORT"))
            })
            .transpose()?;
        let data = self.data.ok_or(
            "no store: give --data DIR (or `data` in the config, or SEGDB_DATA), or --demo",
        )?;
        let positive = |name: &str, v: Option<u64>, default: u64| -> Result<u64, String> {
            match v.unwrap_or(default) {
                0 => Err(format!("{name} must be at least 1")),
                v => Ok(v),
            }
        };
        let live = LiveOptions::default();
        let flush_bytes = positive("flush_bytes", self.flush_bytes, live.flush_bytes)?;
        let max_delta_bytes = positive(
            "max_delta_bytes",
            self.max_delta_bytes,
            live.max_delta_bytes,
        )?;
        if max_delta_bytes < flush_bytes {
            return Err(format!(
                "max_delta_bytes ({max_delta_bytes}) is below flush_bytes ({flush_bytes}): \
                 ingest would be refused before a flush by size is due"
            ));
        }
        Ok(Config {
            wal_sync: match &self.wal_sync {
                Some(text) => parse_wal_sync(text)?,
                None => live.sync,
            },
            flush_bytes,
            flush_age: Duration::from_millis(positive(
                "flush_age_ms",
                self.flush_age_ms,
                live.flush_age.as_millis() as u64,
            )?),
            max_delta_bytes,
            compact_layers: positive(
                "compact_layers",
                self.compact_layers.map(|v| v as u64),
                live.compact_layers as u64,
            )? as usize,
            idempotency_window: Duration::from_secs(positive(
                "idempotency_window_s",
                self.idempotency_window_s,
                live.idempotency_window.as_secs(),
            )?),
            data,
            listen,
            tls,
            plain_http_listen,
            pg_listen,
            log_format: self.log_format.unwrap_or_default(),
            query_timeout: Duration::from_millis(positive(
                "query_timeout_ms",
                self.query_timeout_ms,
                30_000,
            )?),
            max_concurrent_queries: positive(
                "max_concurrent_queries",
                self.max_concurrent_queries.map(|v| v as u64),
                16,
            )? as usize,
            queue_wait: Duration::from_millis(self.queue_wait_ms.unwrap_or(2_000)),
            query_spin: Duration::from_micros(self.query_spin_us.unwrap_or(500)),
            http_threads: positive(
                "http_threads",
                self.http_threads.map(|v| v as u64),
                default_http_threads() as u64,
            )? as usize,
            max_body_bytes: positive("max_body_bytes", self.max_body_bytes, 16 << 20)?,
            max_import_bytes: positive("max_import_bytes", self.max_import_bytes, 64 << 30)?,
            max_json_rows: positive("max_json_rows", self.max_json_rows, 1_000_000)?,
            max_answer_rows: positive("max_answer_rows", self.max_answer_rows, 1_000_000)?,
            max_answer_bytes: positive("max_answer_bytes", self.max_answer_bytes, 256 << 20)?,
            max_field_values: u32::try_from(positive(
                "max_field_values",
                self.max_field_values,
                u64::from(live.max_field_values),
            )?)
            .map_err(|_| "max_field_values must be below 2^32".to_owned())?,
            header_read_timeout: Duration::from_millis(positive(
                "header_read_timeout_ms",
                self.header_read_timeout_ms,
                10_000,
            )?),
            body_read_timeout: Duration::from_millis(positive(
                "body_read_timeout_ms",
                self.body_read_timeout_ms,
                30_000,
            )?),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms.unwrap_or(30_000)),
            audit_max_file_bytes: positive(
                "audit_max_file_bytes",
                self.audit_max_file_bytes,
                64 << 20,
            )?,
            audit_queries: self.audit_queries.unwrap_or(false),
            export_ids_per_minute: self.export_ids_per_minute.unwrap_or(10_000_000),
            tokens: self
                .tokens
                .into_iter()
                .map(TokenSetting::resolve)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Parses `NAME:ROLE:SECRET` (as `--token` and `SEGDB_TOKENS` give them),
/// or `ROLE:SECRET`, a token named after its role. A name is 1–64 letters,
/// digits, `_`, `-`, `.` or `@`.
pub fn parse_token(text: &str) -> Result<TokenSetting, String> {
    let bad = || format!("token `{}…` is not NAME:ROLE:SECRET", short(text));
    let (first, rest) = text.split_once(':').ok_or_else(bad)?;
    let (name, role, secret) = match first.parse::<Role>() {
        Ok(role) => (None, role, rest),
        Err(_) => {
            let (role, secret) = rest.split_once(':').ok_or_else(bad)?;
            let role = role.parse::<Role>()?;
            check_principal_name(first)?;
            (Some(first.to_owned()), role, secret)
        }
    };
    if secret.is_empty() {
        return Err(format!(
            "token `{}` for role {role} has an empty secret",
            name.as_deref().unwrap_or("")
        ));
    }
    Ok(TokenSetting {
        name,
        role,
        secret: Some(secret.to_owned()),
        secret_hash: None,
        allowed_fields: None,
        allowed_categories: None,
    })
}

/// The first characters of a token's text, for an error that must not
/// show its secret.
fn short(text: &str) -> String {
    text.chars().take_while(|c| *c != ':').take(64).collect()
}

/// `Ok` for a principal's name: 1–64 letters, digits, `_`, `-`, `.`, `@`.
pub fn check_principal_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a role (read, write or admin) nor a token name (1–64 letters, digits, _ - . @)",
            short(name)
        ))
    }
}

#[cfg(test)]
mod tests;

/// Threads serving connections when the configuration does not say: one
/// per four cores, at least one. Statements run on the query threads (one
/// per core), so a connection thread only parses requests and writes
/// answers rendered for it. More of them cost a wake-up per request: the
/// one woken for an answer wakes another to look for work, about 40 µs of
/// a 0.3 ms query's round trip on a 2-core virtual machine (README,
/// "One connection thread").
pub fn default_http_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
}
