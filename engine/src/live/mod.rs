//! Real-time writes: batches made durable in the WAL, applied in sequence
//! order to the live delta, published as a new table snapshot (so the next
//! query sees the whole batch, never half of it), flushed to new part
//! layers in the background and compacted. See ARCHITECTURE.md,
//! "Real-time writes".

mod bits;
mod day_counts;
pub(crate) mod delta;
mod delta_tallied;
mod flush;
pub(crate) mod ids;
pub(crate) mod keys;
mod payload;
mod rows;
mod tallied;
mod value_cap;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use segdb_storage_format::wal::{
    replay, RealFs, ReplayOptions, SyncPolicy, WalFs, WalOptions, WalStats, WalWriter,
};

use crate::error::{EngineError, Result};
use crate::store::Store;
use crate::table::Table;
use crate::write::Batch;
use delta::TableDelta;

pub use flush::{CompactReport, FlushReport};

/// The store's directory of WAL segments.
pub const WAL_DIR: &str = "wal";

/// The default of [`LiveOptions::max_field_values`].
pub const DEFAULT_MAX_FIELD_VALUES: u32 = 65_536;

/// How real-time writes are made durable, flushed and limited.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// When an append to the WAL is acknowledged (`Always`: after fsync).
    pub sync: SyncPolicy,
    /// Size at which a WAL segment file is closed and a new one started.
    pub wal_segment_bytes: u64,
    /// Flush the delta to new parts once it holds this many bytes…
    pub flush_bytes: u64,
    /// …or once its oldest batch is this old.
    pub flush_age: Duration,
    /// Refuse batches (back-pressure) while the delta holds this many bytes.
    pub max_delta_bytes: u64,
    /// Compact a shard once it has more part files than this.
    pub compact_layers: usize,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_window: Duration,
    /// At most this many keys are remembered (the oldest are forgotten).
    pub idempotency_max_keys: usize,
    /// The most distinct values an ENUM or SET field may have, and the most
    /// values one line may add to a SET; a batch or import past it is
    /// refused (`EngineError::BadInput` naming the line and field), so that
    /// the manifest, which lists every value, stays small.
    pub max_field_values: u32,
    /// At start, drop everything from a damaged WAL record on instead of
    /// refusing to start.
    pub truncate_wal_at_corruption: bool,
    /// The WAL's file system (tests inject failures through it).
    pub wal_fs: Arc<dyn WalFs>,
}

impl Default for LiveOptions {
    fn default() -> LiveOptions {
        LiveOptions {
            sync: SyncPolicy::Always,
            wal_segment_bytes: 64 << 20,
            flush_bytes: 256 << 20,
            flush_age: Duration::from_secs(60),
            max_delta_bytes: 1 << 30,
            compact_layers: 4,
            idempotency_window: Duration::from_secs(24 * 3600),
            idempotency_max_keys: 1_000_000,
            max_field_values: DEFAULT_MAX_FIELD_VALUES,
            truncate_wal_at_corruption: false,
            wal_fs: Arc::new(RealFs),
        }
    }
}

/// The answer to an acknowledged batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IngestAck {
    /// Operations in the batch.
    pub operations: u64,
    /// The batch's WAL sequence number (0 for an empty batch).
    pub seq: u64,
    /// A retry of a batch already applied (same `Idempotency-Key`): it was
    /// acknowledged again and not applied twice.
    pub duplicate: bool,
}

/// What recovery did when the store was opened.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecoveryReport {
    /// Records replayed from the WAL (after the last flushed one).
    pub replayed_batches: u64,
    /// Their operations.
    pub replayed_operations: u64,
    /// The last flushed sequence number the replay started after.
    pub flushed_seq: u64,
    /// A torn last record that was cut off (file, offset, why).
    pub torn_tail: Option<String>,
    /// Records dropped at a damaged one (`truncate_wal_at_corruption`).
    pub dropped_at_corruption: Option<String>,
}

/// Figures of real-time writes, for `/metrics`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LiveStats {
    /// Batches acknowledged (not counting duplicates).
    pub batches: u64,
    /// Their operations.
    pub operations: u64,
    /// Retries acknowledged again by idempotency key.
    pub duplicates: u64,
    /// Batches refused because the delta was full.
    pub overloaded: u64,
    /// Bytes the delta holds.
    pub delta_bytes: u64,
    /// Bytes of the delta's per-shard ENUM/SET columns (4 per row of each
    /// shard and field written; dropped at each flush; not counted in
    /// `delta_bytes` nor in back-pressure).
    pub delta_index_bytes: u64,
    /// The highest sequence number visible to queries.
    pub published_seq: u64,
    /// The highest sequence number flushed to parts.
    pub flushed_seq: u64,
    /// Flushes and compactions done.
    pub flushes: u64,
    /// Compactions done.
    pub compactions: u64,
    /// Bytes written by flushes and compactions.
    pub flushed_bytes: u64,
    /// Milliseconds the last flush took.
    pub last_flush_ms: u64,
    /// Idempotency keys remembered.
    pub idempotency_keys: u64,
    /// The WAL writer's counters (records, writes, fsyncs).
    #[serde(skip)]
    pub wal: WalStats,
    /// Whether the WAL failed (writes refused until a restart).
    pub wal_failed: bool,
}

/// The applier's state: guarded by [`Live::state`].
#[derive(Debug, Default)]
pub(crate) struct ApplyState {
    pub(crate) deltas: BTreeMap<String, TableDelta>,
    /// When the oldest batch not flushed yet was applied.
    pub(crate) oldest: Option<Instant>,
    /// The highest sequence number applied and published.
    pub(crate) published_seq: u64,
}

impl ApplyState {
    pub(crate) fn delta_bytes(&self) -> u64 {
        self.deltas.values().map(TableDelta::bytes).sum()
    }

    pub(crate) fn index_bytes(&self) -> u64 {
        self.deltas
            .values()
            .flat_map(|d| d.shards.values())
            .map(|s| s.columns.values().map(|c| 4 * c.len() as u64).sum::<u64>())
            .sum()
    }
}

/// Durable batches waiting for their turn to be applied.
#[derive(Debug, Default)]
struct Queue {
    pending: BTreeMap<u64, payload::Record>,
    /// The next sequence number to apply.
    next: u64,
    /// The highest sequence number published.
    published: u64,
    /// A thread is applying.
    applying: bool,
    /// Applying failed: no later batch is applied or acknowledged.
    failed: Option<String>,
    /// Applying is paused (by writers that need an empty delta).
    paused: u32,
}

/// Real-time writes of one store.
pub(crate) struct Live {
    pub(crate) options: LiveOptions,
    pub(crate) dir: PathBuf,
    wal: Mutex<Option<Arc<WalWriter>>>,
    queue: Mutex<Queue>,
    applied: Condvar,
    pub(crate) state: Mutex<ApplyState>,
    pub(crate) keys: Mutex<keys::Keys>,
    pub(crate) flush_lock: Mutex<()>,
    /// Held by a batch that adds ENUM/SET values from its check until it
    /// is published (`value_cap`).
    values_gate: Mutex<()>,
    pub(crate) recovery: RecoveryReport,
    pub(crate) flushed_seq: AtomicU64,
    delta_bytes: AtomicU64,
    index_bytes: AtomicU64,
    counters: Counters,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("dir", &self.dir).finish()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    batches: AtomicU64,
    operations: AtomicU64,
    duplicates: AtomicU64,
    overloaded: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) flushed_bytes: AtomicU64,
    pub(crate) last_flush_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Live {
    pub(crate) fn state(&self) -> MutexGuard<'_, ApplyState> {
        lock(&self.state)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn set_delta_bytes(&self, bytes: u64) {
        self.delta_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The WAL writer, opened on first use.
    pub(crate) fn wal(&self) -> Result<Arc<WalWriter>> {
        let mut w = lock(&self.wal);
        if let Some(w) = &*w {
            return Ok(w.clone());
        }
        let writer = WalWriter::open(
            &self.dir,
            WalOptions {
                sync: self.options.sync,
                segment_bytes: self.options.wal_segment_bytes,
                start_seq: lock(&self.queue).next.max(1),
                fs: self.options.wal_fs.clone(),
            },
        )?;
        let writer = Arc::new(writer);
        *w = Some(writer.clone());
        Ok(writer)
    }

    /// The WAL writer if it is open.
    pub(crate) fn wal_if_open(&self) -> Option<Arc<WalWriter>> {
        lock(&self.wal).clone()
    }
}

impl Store {
    /// Opens the store's live side: replays the WAL after the last flushed
    /// sequence number into the delta and publishes it.
    pub(crate) fn open_live(dir: &std::path::Path, options: LiveOptions, flushed: u64) -> Live {
        Live {
            dir: dir.join(WAL_DIR),
            wal: Mutex::new(None),
            queue: Mutex::new(Queue {
                next: flushed + 1,
                published: flushed,
                ..Queue::default()
            }),
            applied: Condvar::new(),
            state: Mutex::new(ApplyState {
                published_seq: flushed,
                ..ApplyState::default()
            }),
            keys: Mutex::new(keys::Keys::default()),
            flush_lock: Mutex::new(()),
            values_gate: Mutex::new(()),
            recovery: RecoveryReport {
                flushed_seq: flushed,
                ..RecoveryReport::default()
            },
            flushed_seq: AtomicU64::new(flushed),
            delta_bytes: AtomicU64::new(0),
            index_bytes: AtomicU64::new(0),
            counters: Counters::default(),
            options,
        }
    }

    /// Replays the WAL (called once, by `open`, before the store is shared).
    pub(crate) fn recover(&mut self) -> Result<()> {
        let flushed = self.live().flushed_seq.load(Ordering::Relaxed);
        *lock(&self.live().keys) = keys::Keys::load(self.dir(), &self.live().options)?;
        let live_dir = self.live().dir.clone();
        let options = ReplayOptions {
            truncate_at_corruption: self.live().options.truncate_wal_at_corruption,
            fs: self.live().options.wal_fs.clone(),
        };
        let mut records: Vec<(u64, payload::Record)> = Vec::new();
        let summary = replay::<EngineError, _>(&live_dir, flushed, &options, |seq, bytes| {
            records.push((seq, payload::Record::decode(bytes)?));
            Ok(())
        })?;
        let (mut batches, mut ops) = (0u64, 0u64);
        {
            let mut st = self.live().state();
            for (seq, rec) in &records {
                batches += 1;
                ops += rec.operations();
                self.apply_record(&mut st, *seq, rec)?;
            }
            let last = records.last().map_or(flushed, |r| r.0);
            self.publish(&mut st, last)?;
            let mut q = lock(&self.live().queue);
            q.next = summary.next_seq.max(last + 1);
            q.published = last;
        }
        let live = self.live_mut();
        live.recovery.replayed_batches = batches;
        live.recovery.replayed_operations = ops;
        live.recovery.torn_tail = summary.torn_tail.as_ref().map(describe_truncation);
        live.recovery.dropped_at_corruption = summary
            .dropped_at_corruption
            .as_ref()
            .map(describe_truncation);
        if let Some(t) = &live.recovery.torn_tail {
            tracing::warn!(what = %t, "cut a torn record off the end of the WAL");
        }
        if let Some(t) = &live.recovery.dropped_at_corruption {
            tracing::warn!(what = %t, "dropped the WAL from a damaged record on, as asked");
        }
        if summary.skipped_flushed > 0 {
            tracing::warn!(
                records = summary.skipped_flushed,
                "skipped damaged WAL records that were already flushed to parts"
            );
        }
        if batches > 0 {
            tracing::info!(
                batches,
                operations = ops,
                after_seq = flushed,
                "replayed the WAL"
            );
        }
        Ok(())
    }

    /// Makes a batch durable and visible: appends it to the WAL (sharing an
    /// fsync with concurrent batches), applies it in sequence order and
    /// publishes a snapshot that holds all of it. Returns once the next
    /// query sees it. A retried batch with an idempotency key already
    /// applied is acknowledged again and not applied.
    pub fn ingest(&self, table: &str, batch: Batch) -> Result<IngestAck> {
        let t = self.table(table)?;
        let live = self.live();
        let operations = batch.ops.len() as u64;
        if operations == 0 {
            return Ok(IngestAck {
                operations,
                seq: 0,
                duplicate: false,
            });
        }
        live.admit()?;
        if t.num_rows + operations > 1 << 32 {
            return Err(EngineError::TableFull(table.to_owned()));
        }
        // A batch that brings new values is checked against the latest
        // snapshot and holds the gate until published, so that concurrent
        // batches cannot each pass the cap against the same snapshot.
        let _gate = if value_cap::adds_values(&t, &batch) {
            let gate = lock(&live.values_gate);
            value_cap::check(&*self.table(table)?, &batch, live.options.max_field_values)?;
            Some(gate)
        } else {
            None
        };
        let mut rec = payload::Record::new(table, t.schema(), payload::Change::Batch(batch));
        // Existing ids are looked up here, in parallel on the requests'
        // threads, rather than one by one by the applier. A failed lookup
        // (a damaged dictionary) refuses the batch before the WAL: written,
        // it would make a second row for an existing id, or fail the
        // applier and with it every later write.
        let ids: Vec<&str> = rec.ops().iter().map(|op| op.id()).collect();
        let rows = t.rows_of(&ids)?;
        rec.rows = Some((t.instance, rows));
        self.ingest_keyed(table, rec, |rec| match &rec.rows {
            Some((_, rows)) => day_counts::check_day_counts(&t, rec.ops(), rows),
            None => Ok(()),
        })
    }

    /// Writes `rec` under its idempotency key: a retry of a key already
    /// applied is acknowledged again (counted as a duplicate); else
    /// `check` runs, then the record is made durable and applied, and a
    /// failure forgets the key so that the retry can be applied.
    pub(crate) fn ingest_keyed(
        &self,
        table: &str,
        rec: payload::Record,
        check: impl FnOnce(&payload::Record) -> Result<()>,
    ) -> Result<IngestAck> {
        let live = self.live();
        let key = rec.idempotency_key().cloned();
        if let Some(k) = &key {
            if let Some(ack) = lock(&live.keys).begin(table, k, rec.hash)? {
                live.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                return Ok(ack);
            }
        }
        let operations = rec.operations();
        let result = check(&rec).and_then(|()| self.ingest_durable(rec));
        if let Some(k) = &key {
            if result.is_err() {
                lock(&live.keys).forget_failed(table, k);
            }
        }
        if result.is_ok() {
            live.counters.batches.fetch_add(1, Ordering::Relaxed);
            live.counters
                .operations
                .fetch_add(operations, Ordering::Relaxed);
        }
        result
    }

    fn ingest_durable(&self, rec: payload::Record) -> Result<IngestAck> {
        let live = self.live();
        let wal = live.wal()?;
        let seq = match wal.append(&rec.encode()) {
            Ok(seq) => seq,
            Err(e) => {
                let why = e.to_string();
                lock(&live.queue).failed.get_or_insert(why.clone());
                tracing::error!(error = %why, "the WAL failed: refusing writes until a restart");
                return Err(EngineError::WalFailed(why));
            }
        };
        let ack = rec.ack(seq);
        let mut q = lock(&live.queue);
        q.pending.insert(seq, rec);
        loop {
            if q.published >= seq {
                return Ok(ack);
            }
            if let Some(f) = &q.failed {
                return Err(EngineError::WalFailed(f.clone()));
            }
            if !q.applying && q.paused == 0 && q.pending.contains_key(&q.next) {
                q.applying = true;
                drop(q);
                let outcome = self.apply_pending();
                q = lock(&live.queue);
                q.applying = false;
                if let Err(e) = outcome {
                    q.failed.get_or_insert(e.to_string());
                }
                live.applied.notify_all();
                continue;
            }
            q = live
                .applied
                .wait_timeout(q, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Applies every consecutive pending batch, then publishes once.
    fn apply_pending(&self) -> Result<()> {
        let live = self.live();
        let mut st = live.state();
        let mut last = None;
        loop {
            let (seq, rec) = {
                let mut q = lock(&live.queue);
                let next = q.next;
                match q.pending.remove(&next) {
                    Some(rec) => {
                        q.next += 1;
                        (next, rec)
                    }
                    None => break,
                }
            };
            self.apply_record(&mut st, seq, &rec)?;
            last = Some(seq);
        }
        if let Some(last) = last {
            self.publish(&mut st, last)?;
            lock(&live.queue).published = last;
        }
        Ok(())
    }

    /// Applies one durable batch to the delta (not yet visible).
    fn apply_record(&self, st: &mut ApplyState, seq: u64, rec: &payload::Record) -> Result<()> {
        let Ok(table) = self.table(&rec.table) else {
            tracing::warn!(seq, table = %rec.table, "skipping a WAL batch of a table that is gone");
            return Ok(());
        };
        if !rec.matches(table.schema()) {
            tracing::warn!(seq, table = %rec.table, "skipping a WAL batch written for another schema of the table");
            return Ok(());
        }
        let d = st
            .deltas
            .entry(rec.table.clone())
            .or_insert_with(|| TableDelta::new(table));
        d.now_ms = crate::schema::now_ms();
        match &rec.change {
            payload::Change::Batch(batch) => {
                // Row hints hold only for the table instance they were
                // taken from (not one dropped and created again since).
                let hints = rec
                    .rows
                    .as_ref()
                    .filter(|h| h.0 == d.base.instance && h.1.len() == batch.ops.len());
                for (i, op) in batch.ops.iter().enumerate() {
                    d.apply(op, hints.and_then(|h| h.1[i]), seq)?;
                }
            }
            payload::Change::Rows(w) => d.apply_rows(w, seq)?,
            payload::Change::Tallied(w) => d.apply_tallied(w, seq)?,
        }
        st.oldest.get_or_insert_with(Instant::now);
        // Remembered as applied now, before the publish, so that a flush
        // (which saves the keys of every batch it covers) never misses the
        // key of a batch whose answer has not reached its client yet.
        if let Some(k) = rec.idempotency_key() {
            lock(&self.live().keys).remember(&rec.table, k, rec.hash, rec.ack(seq));
        }
        Ok(())
    }

    /// Publishes the tables whose delta changed: queries from now on see
    /// every batch up to `seq`.
    pub(crate) fn publish(&self, st: &mut ApplyState, seq: u64) -> Result<()> {
        let mut tables: Vec<Table> = Vec::new();
        for d in st.deltas.values_mut().filter(|d| d.changed) {
            tables.push(d.publish()?);
        }
        st.published_seq = seq;
        self.live().set_delta_bytes(st.delta_bytes());
        self.live()
            .index_bytes
            .store(st.index_bytes(), Ordering::Relaxed);
        self.replace_tables(tables.into_iter().map(Arc::new).collect());
        Ok(())
    }

    /// Figures of real-time writes.
    pub fn live_stats(&self) -> LiveStats {
        let live = self.live();
        let c = &live.counters;
        let q = lock(&live.queue);
        let wal = live.wal_if_open();
        LiveStats {
            batches: c.batches.load(Ordering::Relaxed),
            operations: c.operations.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            overloaded: c.overloaded.load(Ordering::Relaxed),
            delta_bytes: live.delta_bytes.load(Ordering::Relaxed),
            delta_index_bytes: live.index_bytes.load(Ordering::Relaxed),
            published_seq: q.published,
            flushed_seq: live.flushed_seq.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            flushed_bytes: c.flushed_bytes.load(Ordering::Relaxed),
            last_flush_ms: c.last_flush_ms.load(Ordering::Relaxed),
            idempotency_keys: lock(&live.keys).len() as u64,
            wal: wal.map(|w| w.stats()).unwrap_or_default(),
            wal_failed: q.failed.is_some(),
        }
    }

    /// What recovery did when the store was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.live().recovery
    }

    /// Flushes or compacts if due (the delta's size or age passed its
    /// threshold, a shard has too many part files). The server calls it
    /// every 100 ms from a background thread.
    pub fn maintain(&self) -> Result<(Option<FlushReport>, Vec<CompactReport>)> {
        let live = self.live();
        let due = {
            let st = live.state();
            st.delta_bytes() >= live.options.flush_bytes
                || st
                    .oldest
                    .is_some_and(|t| t.elapsed() >= live.options.flush_age)
        };
        let flushed = if due { Some(self.flush()?) } else { None };
        let compacted = self.compact_due(live.options.compact_layers)?;
        Ok((flushed, compacted))
    }
}

fn describe_truncation(t: &segdb_storage_format::wal::Truncation) -> String {
    format!(
        "{} at offset {}: {} ({} bytes removed{})",
        t.path.display(),
        t.offset,
        t.what,
        t.bytes_removed,
        if t.files_removed.is_empty() {
            String::new()
        } else {
            format!(", {} later files removed", t.files_removed.len())
        }
    )
}

impl Live {
    /// Refuses a write while the WAL has failed or the delta is full.
    fn admit(&self) -> Result<()> {
        if let Some(f) = &lock(&self.queue).failed {
            return Err(EngineError::WalFailed(f.clone()));
        }
        let bytes = self.delta_bytes.load(Ordering::Relaxed);
        if bytes >= self.options.max_delta_bytes {
            self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            return Err(EngineError::Overloaded {
                what: format!(
                    "the live delta is full ({bytes} bytes of {}) until a flush ends",
                    self.options.max_delta_bytes
                ),
                retry_after_ms: 1000,
            });
        }
        Ok(())
    }

    /// Stops the applier from taking new batches (they stay durable and
    /// queued) and waits for the one applying to finish.
    pub(crate) fn pause(&self) {
        let mut q = lock(&self.queue);
        q.paused += 1;
        while q.applying {
            q = self
                .applied
                .wait_timeout(q, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Undoes [`Live::pause`].
    pub(crate) fn resume(&self) {
        let mut q = lock(&self.queue);
        q.paused -= 1;
        drop(q);
        self.applied.notify_all();
    }
}
