//! Real-time writes over HTTP: `POST /v1/tables/{t}/ingest`, opening the
//! store with the WAL settings (recovery), and the maintenance thread that
//! flushes and compacts the live delta in the background.

use std::path::Path as FsPath;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use segdb_engine::write::{parse_batch_noting, NewValues};
use segdb_engine::{EngineError, Store};
use segdb_storage_format::FormatError;
use serde_json::{json, Value};

use super::api_error::ApiError;
use super::audit_route::noted;
use super::auth::{self, Principal, Role};
use super::body::read_body;
use super::config::Config;
use super::{blocking, RowCount, Shared};
use crate::audit::{self, Action, Note};

/// The header that makes a batch safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest `Idempotency-Key` accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 200;

/// How often the maintenance thread asks the store to flush or compact.
pub const MAINTAIN_EVERY: Duration = Duration::from_millis(100);

/// The `Idempotency-Key` of a request: at most one, 1 to 200 visible ASCII
/// characters (`!` to `~`), else 400.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    let bad = |why: String| {
        ApiError::bad_request("bad_idempotency_key", why)
            .with_hint("an Idempotency-Key is 1 to 200 visible ASCII characters, e.g. a UUID")
    };
    if values.next().is_some() {
        return Err(bad("more than one Idempotency-Key header".into()));
    }
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_KEY_BYTES {
        return Err(bad(format!(
            "the Idempotency-Key is {} bytes long; it must be 1 to {MAX_KEY_BYTES}",
            b.len()
        )));
    }
    if let Some(pos) = b.iter().position(|c| !c.is_ascii_graphic()) {
        return Err(bad(format!(
            "the Idempotency-Key has a byte that is not visible ASCII (0x{:02x}) at offset {pos}",
            b[pos]
        )));
    }
    // Only visible ASCII, checked above.
    Ok(Some(String::from_utf8_lossy(b).into_owned()))
}

/// `POST /v1/tables/{t}/ingest`: a batch of operations as JSON lines
/// (`engine::write::parse_batch`), all or nothing. Answered once the batch
/// is durable (per `wal_sync`) and visible to the next query:
/// `{"table", "operations", "seq", "duplicate"}`.
pub async fn ingest(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(principal.role, Role::Write, "ingesting")?;
    let access = principal.access();
    let key = idempotency_key(&headers)?;
    let audit_key = key.clone();
    // Fail fast, before reading the body, if the table does not exist.
    s.store.table(&table)?;
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let st = s.clone();
    let (table, ack, new_values) = blocking(move || {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            ApiError::bad_request("bad_body", format!("the batch is not UTF-8: {e}"))
        })?;
        let t = st.store.table(&table)?;
        let (mut batch, new_values) = parse_batch_noting(&t, text, st.store.max_field_values())?;
        // Before anything changes: every field the batch writes must be
        // one the principal may use.
        access.check_batch(&table, t.schema(), &batch)?;
        drop(t);
        batch.idempotency_key = key;
        // A trigger watching the table needs the operations after the
        // engine took the batch.
        let triggers = &st.campaigns.triggers;
        let ops = triggers.set.watches(&table).then(|| batch.ops.clone());
        let ack = st.store.ingest(&table, batch)?;
        if let Some(ops) = ops {
            // Timers armed before the answer: durable once it is sent. A
            // retry acknowledged again (`duplicate`) arms too, in case the
            // first answer was lost with its timers; a pending or
            // recently fired user is not armed twice.
            let now_ms = st.campaigns.clock.now_ms();
            triggers.observe(&st.store, &table, &ops, now_ms)?;
        }
        Ok((table, ack, new_values))
    })
    .await?;
    let mut answer = json!({
        "table": table,
        "operations": ack.operations,
        "seq": ack.seq,
        "duplicate": ack.duplicate,
    });
    if !new_values.is_empty() && !ack.duplicate {
        answer["warnings"] = new_values.iter().map(new_values_warning).collect();
    }
    let mut r = Json(answer).into_response();
    r.extensions_mut().insert(RowCount(ack.operations));
    let note = Note::new(
        Action::Ingest,
        json!({ "table": table }),
        json!({
            "idempotency_key": audit_key.as_deref().map(audit::cut),
            "operations": ack.operations,
            "seq": ack.seq,
            "duplicate": ack.duplicate,
        }),
    );
    Ok(noted(r, note))
}

/// The warning of an ingest that gave a field values it had not seen: in
/// the shape of a query's warnings.
fn new_values_warning(n: &NewValues) -> Value {
    const SHOWN: usize = 10;
    let mut listed: Vec<String> = n
        .values
        .iter()
        .take(SHOWN)
        .map(|v| format!("`{v}`"))
        .collect();
    if n.values.len() > SHOWN {
        listed.push(format!("and {} more", n.values.len() - SHOWN));
    }
    let s = if n.values.len() == 1 { "" } else { "s" };
    json!({
        "code": "new_values",
        "message": format!("field `{}` gets {} new value{s}: {}", n.field, n.values.len(), listed.join(", ")),
        "line": null,
        "column": null,
        "hint": "if that is a typo, a later batch can set the right value; to refuse values \
                 ingest has not seen, declare the field CLOSED after its kind (`city ENUM CLOSED`): \
                 its values then come from imports",
    })
}

/// Whether opening a store failed on a damaged WAL record (one that
/// `truncate_wal_at_corruption` would drop).
pub fn is_wal_corruption(e: &EngineError, data: &FsPath) -> bool {
    match e {
        EngineError::Storage(FormatError::Corrupt { path, .. }) => {
            path.starts_with(data.join(segdb_engine::live::WAL_DIR))
                || path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("wal-") && n.ends_with(".log"))
        }
        _ => false,
    }
}

/// Opens the store of `config` with its settings for real-time writes
/// (replaying the WAL), and logs what recovery did. A damaged WAL is an
/// error that names the file and offset and says how to start anyway.
pub fn open_store(config: &Config, truncate_wal_at_corruption: bool) -> Result<Store, String> {
    let options = segdb_engine::LiveOptions {
        truncate_wal_at_corruption,
        ..config.live_options()
    };
    // Bodies of imports cut off by the last stop.
    super::body::clear_spool(&config.data);
    let store = Store::open_with(&config.data, options).map_err(|e| {
        if is_wal_corruption(&e, &config.data) {
            format!(
                "opening the store {}: {e}\n\
                 The write-ahead log is damaged before its end. To start anyway, keep a copy \
                 of {} and run `segdb serve --truncate-wal-at-corruption`: every batch from \
                 the damaged record on is dropped (acknowledged writes among them are lost).",
                config.data.display(),
                config.data.join(segdb_engine::live::WAL_DIR).display(),
            )
        } else {
            format!("opening the store {}: {e}", config.data.display())
        }
    })?;
    let r = store.recovery();
    tracing::info!(
        replayed_batches = r.replayed_batches,
        replayed_operations = r.replayed_operations,
        flushed_seq = r.flushed_seq,
        "recovered the WAL"
    );
    if let Some(t) = &r.torn_tail {
        tracing::warn!(what = %t, "recovery cut a torn record off the end of the WAL (a write that was never acknowledged)");
    }
    if let Some(t) = &r.dropped_at_corruption {
        tracing::warn!(what = %t, "recovery dropped the WAL from a damaged record on (--truncate-wal-at-corruption)");
    }
    Ok(store)
}

/// The background thread that calls [`Store::maintain`] every
/// [`MAINTAIN_EVERY`] (flushes the delta when due, compacts shards with too
/// many part files), off the tokio reactor. Stops when told or dropped.
pub struct Maintenance {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    /// Starts the thread on `state`'s store.
    pub fn start(state: Shared) -> Maintenance {
        Maintenance::start_every(state, MAINTAIN_EVERY)
    }

    /// Starts the thread, calling `maintain` every `every`.
    pub fn start_every(state: Shared, every: Duration) -> Maintenance {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("segdb-maintain".into())
            .spawn(move || {
                let (stopped, cv) = &*flag;
                loop {
                    {
                        let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
                        let (guard, _) = cv
                            .wait_timeout_while(guard, every, |s| !*s)
                            .unwrap_or_else(|e| e.into_inner());
                        if *guard {
                            return;
                        }
                    }
                    maintain_once(&state.store);
                }
            })
            .expect("spawning the maintenance thread");
        Maintenance {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it (a flush under way finishes).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (stopped, cv) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One round of maintenance; errors (and panics) are logged and the next
/// round tries again.
fn maintain_once(store: &Store) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.maintain()));
    match outcome {
        Ok(Ok((flush, compactions))) => {
            if let Some(f) = flush {
                tracing::info!(
                    flushed_seq = f.flushed_seq,
                    tables = f.tables,
                    parts = f.parts,
                    bytes = f.bytes,
                    wal_files_removed = f.wal_files_removed,
                    ms = f.millis,
                    "flushed the live delta"
                );
            }
            for c in compactions {
                tracing::info!(
                    table = %c.table,
                    shard = c.shard,
                    layers = c.layers,
                    bytes = c.bytes,
                    ms = c.millis,
                    "compacted a shard"
                );
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "background flush or compaction failed; retrying"),
        Err(_) => tracing::error!("background flush or compaction panicked; retrying"),
    }
}

/// The last flush at graceful shutdown, so that the next start has little
/// WAL to replay. A failure is logged: the WAL still holds every batch.
pub fn flush_at_shutdown(store: &Store) {
    match store.flush() {
        Ok(f) => tracing::info!(
            flushed_seq = f.flushed_seq,
            bytes = f.bytes,
            ms = f.millis,
            "flushed the live delta at shutdown"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "flush at shutdown failed; the WAL will be replayed at the next start")
        }
    }
}
