//! A store: a directory holding the manifest and, per table, its parts and
//! dictionary parts. Readers take an `Arc` snapshot of a table and never
//! wait for writers; writers (imports, schema changes) are serialized and
//! publish a new snapshot only after the manifest naming its files is
//! durable.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use segdb_storage_format::manifest::{Manifest, TableManifest, MANIFEST_FILE, SEGMENTS_DIR};
use segdb_storage_format::wal::WalFs;
use segdb_storage_format::FormatError;

use crate::error::{EngineError, Result};
use crate::live::{ApplyState, Live, LiveOptions};
use crate::schema::{
    check_num_fields, is_system_name, FieldDef, FieldKind, Schema, ID_COLUMN, SYSTEM_FIELD_PREFIX,
};
use crate::segment::{SegmentInfo, SnapshotRows};
use crate::table::Table;
use lock::{LockMode, StoreLock};

/// A named segment as the store holds it.
#[derive(Debug, Clone)]
struct Segment {
    info: SegmentInfo,
    /// A snapshot's mapped file.
    snapshot: Option<SnapshotRows>,
}

#[derive(Debug, Default)]
struct State {
    manifest: Arc<Manifest>,
    tables: BTreeMap<String, Arc<Table>>,
    segments: BTreeMap<String, Segment>,
}

/// A segdb store on disk.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    state: RwLock<Arc<State>>,
    writer: Mutex<()>,
    live: Live,
    /// Held while the store is open: no other process writes it.
    _lock: StoreLock,
}

/// The writer lock with the applier's state locked too: no batch is
/// applied or published while it is held, so a commit's read-modify-write
/// of the store's state cannot race a publish. From
/// [`Store::lock_writer_flushed`], the delta was flushed first and no batch
/// is applied until the guard is dropped.
pub(crate) struct WriterGuard<'a> {
    _state: MutexGuard<'a, ApplyState>,
    _writer: MutexGuard<'a, ()>,
    _flush: Option<MutexGuard<'a, ()>>,
    live: &'a Live,
    paused: bool,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if self.paused {
            self.live.resume();
        }
    }
}

/// Names of the store directory's own files and directories (any case:
/// some file systems ignore it), which a table's directory must not take:
/// a table `wal` would have its files mixed with the write-ahead log's,
/// and files no manifest names are deleted at open.
const RESERVED_TABLE_NAMES: &[&str] = &[
    "segments",
    "wal",
    "spool",
    "audit",
    "manifest",
    "idempotency",
    "lock",
    "keys",
];

fn reserved_table_name(name: &str) -> bool {
    RESERVED_TABLE_NAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl Store {
    /// Opens the store in `dir`, creating an empty one if the directory has
    /// no manifest. Opening maps the live files and reads only their footers
    /// and directories. Files no manifest names (left by an interrupted
    /// import) are deleted.
    ///
    /// The store stays locked while open ([`lock`]): another open, in this
    /// process or another, is [`EngineError::StoreLocked`], naming the
    /// process that holds it.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with(dir, LiveOptions::default())
    }

    /// [`Store::open`] with settings for real-time writes. Recovery replays
    /// the WAL after the last flushed sequence number: a torn last record
    /// is cut off and logged; damage before the end is an error naming the
    /// file and offset, unless `truncate_wal_at_corruption` drops the rest.
    pub fn open_with(dir: &Path, options: LiveOptions) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| FormatError::io("create directory", dir, e))?;
        let lock = StoreLock::acquire(dir, LockMode::Exclusive)?;
        let manifest = match Manifest::load(dir)? {
            Some(m) => m,
            None => {
                let m = Manifest::default();
                m.store_with(&*options.wal_fs, dir)?;
                m
            }
        };
        let mut tables = BTreeMap::new();
        for (name, tm) in &manifest.tables {
            let tdir = dir.join(name);
            remove_unlisted_files(&tdir, tm);
            tables.insert(name.clone(), Arc::new(Table::open(name, &tdir, tm)?));
        }
        let sdir = dir.join(SEGMENTS_DIR);
        let live: HashSet<&str> = manifest
            .segments
            .values()
            .filter_map(|s| s.file.as_deref())
            .collect();
        remove_unlisted(&sdir, &live);
        let mut segments = BTreeMap::new();
        for (name, sm) in &manifest.segments {
            segments.insert(name.clone(), Segment::open(name, sm, &sdir)?);
        }
        let live = Store::open_live(dir, options, manifest.wal_flushed_seq);
        let mut store = Store {
            dir: dir.to_path_buf(),
            state: RwLock::new(Arc::new(State {
                manifest: Arc::new(manifest),
                tables,
                segments,
            })),
            writer: Mutex::new(()),
            live,
            _lock: lock,
        };
        store.recover()?;
        Ok(store)
    }

    /// [`LiveOptions::max_field_values`](crate::LiveOptions) of this store.
    pub fn max_field_values(&self) -> u32 {
        self.live.options.max_field_values
    }

    pub(crate) fn live(&self) -> &Live {
        &self.live
    }

    /// The file system every write of the store goes through (the OS, or a
    /// test's `FaultyFs`: `LiveOptions::wal_fs`).
    pub(crate) fn fs(&self) -> Arc<dyn WalFs> {
        self.live.options.wal_fs.clone()
    }

    pub(crate) fn live_mut(&mut self) -> &mut Live {
        &mut self.live
    }

    /// The committed manifest.
    pub(crate) fn manifest(&self) -> Arc<Manifest> {
        self.state().manifest.clone()
    }

    /// Publishes new snapshots of tables (the manifest is unchanged). The
    /// caller holds the applier's state lock.
    pub(crate) fn replace_tables(&self, tables: Vec<Arc<Table>>) {
        if tables.is_empty() {
            return;
        }
        let mut g = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut all = g.tables.clone();
        for t in tables {
            all.insert(t.name.clone(), t);
        }
        *g = Arc::new(State {
            manifest: g.manifest.clone(),
            tables: all,
            segments: g.segments.clone(),
        });
    }

    /// Publishes a manifest that is already durable, with new snapshots of
    /// tables. The caller holds the writer and state locks.
    pub(crate) fn commit_published(&self, manifest: Manifest, tables: Vec<Arc<Table>>) {
        let mut g = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut all = g.tables.clone();
        for t in tables {
            all.insert(t.name.clone(), t);
        }
        *g = Arc::new(State {
            manifest: Arc::new(manifest),
            tables: all,
            segments: g.segments.clone(),
        });
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A snapshot of a table.
    pub fn table(&self, name: &str) -> Result<Arc<Table>> {
        self.state()
            .tables
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::UnknownTable(name.to_owned()))
    }

    /// The names of the tables.
    pub fn table_names(&self) -> Vec<String> {
        self.state().tables.keys().cloned().collect()
    }

    /// The writer lock alone (flush and compaction take the state lock
    /// after it themselves).
    pub(crate) fn lock_writer_only(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer lock and the applier's state (see [`WriterGuard`]).
    pub(crate) fn lock_writer(&self) -> WriterGuard<'_> {
        let writer = self.lock_writer_only();
        WriterGuard {
            _state: self.live.state(),
            _writer: writer,
            _flush: None,
            live: &self.live,
            paused: false,
        }
    }

    /// The writer lock over an empty delta: applying is paused, the delta
    /// flushed, and nothing is applied until the guard is dropped. Imports
    /// and schema changes take it, since they replace a table's committed
    /// snapshot, which the delta lies over.
    pub(crate) fn lock_writer_flushed(&self) -> Result<WriterGuard<'_>> {
        let flush = self
            .live
            .flush_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.live.pause();
        let resume = |e| {
            self.live.resume();
            e
        };
        self.flush_locked().map_err(resume)?;
        let writer = self.lock_writer_only();
        let mut state = self.live.state();
        state.deltas.clear();
        Ok(WriterGuard {
            _state: state,
            _writer: writer,
            _flush: Some(flush),
            live: &self.live,
            paused: true,
        })
    }

    /// A name for a new file, unique in the store.
    pub(crate) fn new_file_name(&self, counter: &mut u64, prefix: &str) -> String {
        *counter += 1;
        format!("{prefix}-{:08}.seg", *counter)
    }

    /// The next file number of the committed manifest.
    pub(crate) fn next_file_id(&self) -> u64 {
        self.state().manifest.next_file_id
    }

    /// Makes `table` (a new snapshot) durable and visible: writes the
    /// manifest, then publishes. The caller holds the writer lock.
    pub(crate) fn commit(&self, table: Table, next_file_id: u64) -> Result<Arc<Table>> {
        let old = self.state();
        let mut manifest = (*old.manifest).clone();
        manifest.generation += 1;
        manifest.next_file_id = manifest.next_file_id.max(next_file_id);
        manifest.tables.insert(table.name.clone(), table.manifest());
        manifest.store_with(&*self.fs(), &self.dir)?;
        let table = Arc::new(table);
        let mut tables = old.tables.clone();
        let replaced = tables.insert(table.name.clone(), table.clone());
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            manifest: Arc::new(manifest),
            tables,
            segments: old.segments.clone(),
        });
        // Files of the old snapshot that the new one no longer names. Open
        // maps stay valid after the unlink.
        if let Some(old_table) = replaced {
            let live: HashSet<&str> = table
                .part_files
                .iter()
                .flatten()
                .map(|(f, _)| f.as_str())
                .chain(table.dictionary_files.iter().map(|(f, _)| f.as_str()))
                .collect();
            // Parts replaced, and dictionary parts rewritten (an import
            // upgrades version 1 parts).
            for (f, _) in old_table
                .part_files
                .iter()
                .flatten()
                .chain(&old_table.dictionary_files)
            {
                if !live.contains(f.as_str()) {
                    let _ = std::fs::remove_file(table.dir.join(f));
                }
            }
        }
        Ok(table)
    }

    /// Creates an empty table.
    pub fn create_table(&self, name: &str, schema: &Schema) -> Result<Arc<Table>> {
        let _w = self.lock_writer();
        if !valid_name(name) {
            return Err(EngineError::InvalidSchema(format!(
                "table name `{name}` must be letters, digits and `_`, not starting with a digit"
            )));
        }
        if reserved_table_name(name) {
            return Err(EngineError::InvalidSchema(format!(
                "table name `{name}` is reserved: the store keeps its own `{}` there; \
                 reserved are {}",
                name.to_ascii_lowercase(),
                RESERVED_TABLE_NAMES.join(", ")
            )));
        }
        if self.state().tables.contains_key(name) {
            return Err(EngineError::TableExists(name.to_owned()));
        }
        check_num_fields(name, schema.fields.len())?;
        let mut seen = HashSet::new();
        for f in &schema.fields {
            check_field(f)?;
            if !seen.insert(f.name.as_str()) {
                return Err(EngineError::InvalidSchema(format!(
                    "field `{}` defined twice",
                    f.name
                )));
            }
        }
        let tdir = self.dir.join(name);
        std::fs::create_dir_all(&tdir)
            .map_err(|e| FormatError::io("create directory", &tdir, e))?;
        let tm = TableManifest {
            fields: schema
                .fields
                .iter()
                .map(|f| crate::table::field_manifest(f, Vec::new()))
                .collect(),
            ..TableManifest::default()
        };
        // Files left by a table of this name dropped in a crash.
        remove_unlisted_files(&tdir, &tm);
        let table = Table::open(name, &tdir, &tm)?;
        let next = self.next_file_id();
        self.commit(table, next)
    }

    /// Adds a field at the end of a table's schema and commits. Rows that
    /// exist read it as null (an EVENT as no events) until an import writes
    /// it; no part is rewritten. The same rules as [`Store::create_table`]
    /// apply to the field, and its name must be new in the table.
    pub fn add_field(&self, table: &str, field: FieldDef) -> Result<Arc<Table>> {
        let _w = self.lock_writer_flushed()?;
        let old = self.table(table)?;
        check_field(&field)?;
        check_num_fields(table, old.schema().fields.len() + 1)?;
        if old.schema().field(&field.name).is_some() {
            return Err(EngineError::InvalidSchema(format!(
                "table `{table}` has a field `{}` already",
                field.name
            )));
        }
        let next = self.next_file_id();
        self.commit(old.with_field(field), next)
    }

    /// Changes the catalog entries of a user field (description, category,
    /// owner, source) and commits; nothing else of the field changes. A
    /// derived field's source is not changed (its rule makes it so), nor is
    /// any field's source made `derived` this way. Ingest pauses while the
    /// live delta is flushed, as for [`Store::add_field`], so that every
    /// later snapshot carries the change.
    pub fn set_field_catalog(
        &self,
        table: &str,
        field: &str,
        change: &crate::schema::CatalogChange,
    ) -> Result<Arc<Table>> {
        use crate::schema::FieldSource;
        let _w = self.lock_writer_flushed()?;
        let old = self.table(table)?;
        let i = old.schema().user_field_index(field).ok_or_else(|| {
            EngineError::InvalidSchema(format!("table `{table}` has no field `{field}`"))
        })?;
        let mut def = old.schema().fields[i].clone();
        if let Some(s) = change.source {
            let was = def.catalog.source;
            if (s == FieldSource::Derived) != (was == FieldSource::Derived) {
                return Err(EngineError::InvalidSchema(format!(
                    "field `{field}` is {}; a field is derived only by the rule that makes it",
                    was.as_str()
                )));
            }
        }
        change.apply(&mut def);
        let mut t = old.shallow_clone();
        t.schema.fields[i] = def;
        let next = self.next_file_id();
        self.commit(t, next)
    }

    /// Makes sure `table` has the system field `name` of `kind`
    /// ([`crate::schema::is_system_name`]): adds it at the end of the schema if
    /// absent, durably and with ingest paused, as [`Store::add_field`] does;
    /// Ok if it is there with that kind. An error if it is there with
    /// another kind, if `name` is not a system name (users' fields are
    /// added by [`Store::add_field`]), or if the table would pass
    /// [`crate::MAX_FIELDS`].
    pub fn ensure_system_field(&self, table: &str, name: &str, kind: FieldKind) -> Result<()> {
        let check_kind = |have: &FieldDef| {
            if have.kind == kind {
                Ok(())
            } else {
                Err(EngineError::InvalidSchema(format!(
                    "system field `{name}` of table `{table}` is {}, not {}",
                    have.kind.as_str(),
                    kind.as_str()
                )))
            }
        };
        let plain = name.strip_prefix(SYSTEM_FIELD_PREFIX).unwrap_or("");
        if !is_system_name(name) || !valid_name(plain) {
            return Err(EngineError::InvalidSchema(format!(
                "`{name}` is not a system field name: `{SYSTEM_FIELD_PREFIX}` then letters, \
                 digits and `_`, not starting with a digit"
            )));
        }
        // Without the writer lock first: the common case changes nothing
        // and need not pause ingest.
        if let Some(have) = self.table(table)?.schema().field(name) {
            return check_kind(have);
        }
        let _w = self.lock_writer_flushed()?;
        let old = self.table(table)?;
        if let Some(have) = old.schema().field(name) {
            return check_kind(have);
        }
        check_num_fields(table, old.schema().fields.len() + 1)?;
        let next = self.next_file_id();
        self.commit(old.with_field(FieldDef::new(name, kind)), next)?;
        Ok(())
    }

    /// Deletes a table: commits a manifest without it, then deletes its
    /// directory. Snapshots that readers hold stay readable (their files
    /// are mapped); a crash between the two steps leaves a directory that
    /// no manifest names, which the next [`Store::create_table`] of that
    /// name empties.
    ///
    /// A table that segments are defined on is not dropped
    /// ([`EngineError::TableHasSegments`], naming them).
    pub fn drop_table(&self, name: &str) -> Result<()> {
        let _w = self.lock_writer_flushed()?;
        let old = self.state();
        if !old.tables.contains_key(name) {
            return Err(EngineError::UnknownTable(name.to_owned()));
        }
        let on_it: Vec<String> = old
            .segments
            .values()
            .filter(|s| s.info.table == name)
            .map(|s| s.info.name.clone())
            .collect();
        if !on_it.is_empty() {
            return Err(EngineError::TableHasSegments {
                table: name.to_owned(),
                segments: on_it,
            });
        }
        let mut manifest = (*old.manifest).clone();
        manifest.generation += 1;
        manifest.tables.remove(name);
        // Its derived tags describe nothing any more.
        manifest.tags.retain(|_, t| t.table != name);
        manifest.store_with(&*self.fs(), &self.dir)?;
        let mut tables = old.tables.clone();
        let dropped = tables.remove(name);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            manifest: Arc::new(manifest),
            tables,
            segments: old.segments.clone(),
        });
        if let Some(t) = dropped {
            if let Err(e) = std::fs::remove_dir_all(&t.dir) {
                tracing::warn!(dir = %t.dir.display(), error = %e, "removing a dropped table's files");
            }
        }
        Ok(())
    }
}

/// The rules every field follows: a plain name that is not `user_id`, and
/// a category (if any) that is a plain name too. SENSITIVE is allowed on
/// every kind.
fn check_field(f: &FieldDef) -> Result<()> {
    if f.is_system() {
        return Err(EngineError::InvalidSchema(format!(
            "field name `{}` is reserved: names beginning with `{SYSTEM_FIELD_PREFIX}` are \
             the store's own (system) fields",
            f.name
        )));
    }
    if !valid_name(&f.name) {
        return Err(EngineError::InvalidSchema(format!(
            "field name `{}` must be letters, digits and `_`, not starting with a digit",
            f.name
        )));
    }
    if f.name == ID_COLUMN {
        return Err(EngineError::InvalidSchema(format!(
            "`{ID_COLUMN}` is the external id; it cannot be a field"
        )));
    }
    if f.closed && !matches!(f.kind, crate::FieldKind::Enum | crate::FieldKind::Set) {
        return Err(EngineError::InvalidSchema(format!(
            "field `{}` is {}: only ENUM and SET fields can be CLOSED",
            f.name,
            f.kind.as_str()
        )));
    }
    if let Some(c) = &f.category {
        if !valid_name(c) {
            return Err(EngineError::InvalidSchema(format!(
                "category `{c}` of field `{}` must be letters, digits and `_`, not starting with a digit",
                f.name
            )));
        }
    }
    Ok(())
}

/// Deletes files of a table directory that the manifest does not name.
fn remove_unlisted_files(tdir: &Path, tm: &TableManifest) {
    let live: HashSet<&str> = tm
        .parts
        .iter()
        .map(|p| p.file.as_str())
        .chain(tm.dictionary.iter().map(|d| d.file.as_str()))
        .collect();
    remove_unlisted(tdir, &live);
}

/// Deletes the `.seg` and `.tmp` files of `dir` not in `live`.
fn remove_unlisted(tdir: &Path, live: &HashSet<&str>) {
    if let Ok(entries) = std::fs::read_dir(tdir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if (name.ends_with(".seg") || name.ends_with(".tmp"))
                && !live.contains(name.as_ref())
                && name != MANIFEST_FILE
            {
                tracing::info!(file = %e.path().display(), "removing a file no manifest names");
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

pub mod lock;
mod segments;
mod tags;
pub use tags::TagInfo;
