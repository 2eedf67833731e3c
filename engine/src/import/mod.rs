//! Bulk import: CSV with a header, JSON lines, and the long events format
//! `user_id,event,day,count`. Streams its input (memory is bounded by the
//! shards in flight, not the file), resolves external ids to row ids
//! (creating new ones), lays the rows over the shards' parts, and commits
//! all of a file or nothing of it.

mod builder;
mod input;
mod new_ids;
pub(crate) mod parse;
mod upgrade;

use std::collections::BTreeMap;

use std::io::Read;
use std::sync::{mpsc, Arc};

use segdb_storage_format::dictionary::{write_dictionary_part_hashed_with, DictionaryPart};
use segdb_storage_format::part::{Part, SHARD_ROWS};

use crate::error::{EngineError, Result};
use crate::store::Store;
use crate::table::{Contents, Table, ValueDict};
use builder::{Cell, ShardBuilder};

/// No row (a bad line) in a block's row ids.
const NO_ROW: u32 = u32::MAX;

/// What an import's input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// CSV with a header naming `user_id` and fields; SET values `|`-separated;
    /// an empty cell is null.
    Csv,
    /// One JSON object per line: `user_id` and fields (`null` is null, a SET
    /// is an array of strings).
    JsonLines,
    /// CSV `user_id,event,day,count` with ISO days; counts add up.
    Events,
}

/// What to do with a bad line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop; nothing of the input becomes visible.
    #[default]
    Abort,
    /// Skip the line, count it and report it.
    Skip,
}

/// Progress of an import, reported from time to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    /// Lines read so far.
    pub lines: u64,
    /// Bytes read so far.
    pub bytes: u64,
    /// Whether the import is writing its last parts.
    pub finishing: bool,
}

/// How to import.
pub struct ImportOptions<'a> {
    /// What to do with a bad line.
    pub on_error: OnError,
    /// A name for the input in error messages (file name, `<body>`).
    pub source_name: String,
    /// Called about every 100,000 lines.
    pub progress: Option<&'a (dyn Fn(ImportProgress) + Sync)>,
    /// Shard builders in memory above this many bytes are written out.
    pub memory_budget: usize,
    /// The input's size in bytes, if known (to size tables up front).
    pub size_hint: Option<u64>,
    /// New external ids kept in memory at most: past this many, they are
    /// written out as an (uncommitted) dictionary part, so that memory does
    /// not grow with the input.
    pub ids_in_memory: usize,
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            on_error: OnError::Abort,
            source_name: "<input>".into(),
            progress: None,
            memory_budget: 1 << 30,
            size_hint: None,
            ids_in_memory: 1 << 25,
        }
    }
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("on_error", &self.on_error)
            .field("source_name", &self.source_name)
            .finish()
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data lines read (not counting a header).
    pub lines: u64,
    /// Lines applied.
    pub applied: u64,
    /// Row ids created.
    pub new_rows: u64,
    /// Bad lines skipped (with `OnError::Skip`).
    pub skipped: u64,
    /// The first bad lines' errors (at most 100).
    pub errors: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Table rows after the import.
    pub num_rows: u64,
}

/// One import in progress.
struct Session<'s> {
    store: &'s Store,
    table: Arc<Table>,
    values: Vec<ValueDict>,
    new_ids: new_ids::NewIds,
    /// The last id resolved (consecutive lines often name the same id).
    last_id: (String, Option<u32>),
    builders: BTreeMap<u32, ShardBuilder>,
    /// Parts written by this import but not committed, by shard.
    written: BTreeMap<u32, (String, u64, Arc<Part>)>,
    file_counter: u64,
    memory_budget: usize,
    /// See [`ImportOptions::ids_in_memory`].
    ids_in_memory: usize,
    /// Dictionary parts of new ids written out by this import, not yet
    /// committed: file name, bytes, part.
    staged_ids: Vec<(String, u64, Arc<DictionaryPart>)>,
    /// A filter of each staged part's ids.
    staged_filters: Vec<new_ids::IdFilter>,
    /// The number of ids in `staged_ids`.
    staged_rows: u64,
    /// The lines the input holds, estimated from its size and its first
    /// block, and the average id's bytes (room for new ids is made from
    /// them at the start and after each spill).
    expected: Option<(u64, usize)>,
    /// Whether ids were spilled since room was last made for new ones.
    spilled: bool,
    /// Column buffers for new shard builders.
    spares: builder::Spares,
    /// Shard builders being sealed in the background.
    pending: Vec<(u32, mpsc::Receiver<Sealed>)>,
    /// Shards that new rows have moved past, to seal once the block that
    /// moved past them is applied.
    finished_shards: Vec<u32>,
    /// The shard of the last row id created.
    last_new_shard: Option<u32>,
    /// The fields this import writes (stamped as written at its commit).
    wrote: std::collections::BTreeSet<usize>,
}

/// What an import knows of an id's row in the table before it applies the
/// id's line.
#[derive(Debug, Clone, Copy)]
enum InTable {
    /// Not looked up yet: it is, after the import's own new ids.
    Unknown,
    /// Looked up with its block ([`Session::table_rows`]): not there.
    Absent,
    /// Looked up with its block: this row.
    Row(u32),
}

impl InTable {
    /// What [`Session::table_rows`] found of line `k` of a block.
    fn of(known: &Option<Vec<Option<u32>>>, k: usize) -> InTable {
        match known {
            None => InTable::Unknown,
            Some(rows) => rows[k].map_or(InTable::Absent, InTable::Row),
        }
    }
}

/// A shard builder written as an uncommitted part: shard, file name, bytes, part.
type Sealed = Result<(u32, String, u64, Arc<Part>)>;

impl Session<'_> {
    /// The row of `id`, created if it is new; `in_table` is what is known
    /// of it in the table ([`Session::table_rows`]).
    fn row_for(&mut self, id: &str, hash: u64, in_table: InTable) -> Result<u32> {
        if let (last, Some(r)) = &self.last_id {
            if parse::same_bytes(last.as_bytes(), id.as_bytes()) {
                return Ok(*r);
            }
        }
        let r = match in_table {
            InTable::Row(r) => r,
            _ => self.lookup_or_create(id, hash, in_table)?,
        };
        self.last_id.0.clear();
        self.last_id.0.push_str(id);
        self.last_id.1 = Some(r);
        Ok(r)
    }

    /// Starts bringing into the cache what looking up an id of `hash`
    /// among this import's new ids reads: the new ids' slot and the filters
    /// of those already written. The lines some way ahead of the one being
    /// applied are prefetched, so that their misses overlap.
    fn prefetch_new(&self, hash: u64) {
        self.new_ids.prefetch(hash);
        for f in &self.staged_filters {
            f.prefetch(hash);
        }
    }

    /// The row id of the first id in `new_ids`.
    fn first_new_row(&self) -> u64 {
        self.table.num_rows() + self.staged_rows
    }

    /// The table's rows of a block's ids, looked up together (`Table::rows_of_hashed`)
    /// when the table's dictionary gains from it; `None` otherwise, and
    /// each id is looked up when its line is applied. The table's ids do
    /// not change during the import, and an id found there is never one
    /// of the import's new ids.
    fn table_rows(&self, block: &parse::Block) -> Result<Option<Vec<Option<u32>>>> {
        if !self.table.looks_up_in_batches() {
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(block.rows.len());
        let mut hashes = Vec::with_capacity(block.rows.len());
        for row in &block.rows {
            match row {
                parse::PRow::Cells { id, hash, .. } | parse::PRow::Event { id, hash, .. } => {
                    ids.push(block.str(*id));
                    hashes.push(*hash);
                }
                // Never used: a bad line has no row.
                parse::PRow::Bad { .. } => {
                    ids.push("");
                    hashes.push(0);
                }
            }
        }
        Ok(Some(self.table.rows_of_hashed(&ids, &hashes)?))
    }

    /// `id`'s row: one of this import's new ids, one of the table's
    /// (looked up unless `in_table` says it is absent), or a new one.
    fn lookup_or_create(&mut self, id: &str, hash: u64, in_table: InTable) -> Result<u32> {
        let first_new = self.first_new_row();
        if let Some(i) = self.new_ids.get(id, hash) {
            return Ok((first_new + u64::from(i)) as u32);
        }
        for ((_, _, d), filter) in self.staged_ids.iter().zip(&self.staged_filters) {
            if filter.may_contain(hash) {
                if let Some(r) = d.row_of_hashed(id, hash)? {
                    return Ok(r as u32);
                }
            }
        }
        if let InTable::Unknown = in_table {
            if let Some(r) = self.table.row_of_hashed(id, hash)? {
                return Ok(r);
            }
        }
        let r = u32::try_from(first_new + self.new_ids.len() as u64)
            .map_err(|_| EngineError::TableFull(self.table.name().to_owned()))?;
        self.new_ids.push(id, hash);
        if self.new_ids.len() >= self.ids_in_memory {
            self.spill_ids()?;
        }
        // A bulk load of new rows fills shards one after the other: once it
        // moves on, the previous shard's builder is sealed in the background.
        let shard = r / SHARD_ROWS;
        if let Some(prev) = self.last_new_shard.filter(|&p| p < shard) {
            self.finished_shards.push(prev);
        }
        self.last_new_shard = Some(shard);
        Ok(r)
    }

    /// Writes the new ids held in memory as an uncommitted dictionary part.
    fn spill_ids(&mut self) -> Result<()> {
        let name = self.store.new_file_name(&mut self.file_counter, "ids");
        let path = self.table.dir.join(&name);
        let (ids, hashes) = self.new_ids.ids_and_hashes();
        let bytes = write_dictionary_part_hashed_with(
            self.store.fs(),
            &path,
            self.first_new_row(),
            &ids,
            hashes,
        )?;
        let part = Arc::new(DictionaryPart::open_mapped(&path)?);
        self.staged_rows += self.new_ids.len() as u64;
        self.staged_filters
            .push(new_ids::IdFilter::of(&self.new_ids));
        self.staged_ids.push((name, bytes, part));
        self.new_ids = new_ids::NewIds::default();
        self.spilled = true;
        Ok(())
    }

    /// The ids this import created.
    fn num_new_rows(&self) -> u64 {
        self.staged_rows + self.new_ids.len() as u64
    }

    /// Writes one column of a block: `cells[k]` to row `rows[k]` (skipping
    /// `NO_ROW` rows and `None` cells).
    fn apply_column<'c>(
        &mut self,
        field: usize,
        rows: &[u32],
        cells: impl Fn(usize) -> Option<Cell<'c>>,
    ) {
        let kind = self.table.schema().fields[field].kind;
        let n = self.table.schema().fields.len();
        self.wrote.insert(field);
        let mut k = 0;
        while k < rows.len() {
            if rows[k] == NO_ROW {
                k += 1;
                continue;
            }
            let shard = rows[k] / SHARD_ROWS;
            let spares = &self.spares;
            let b = self
                .builders
                .entry(shard)
                .or_insert_with(|| ShardBuilder::new(shard, n, spares.clone()));
            let fb = b.field_mut(field, kind);
            let mut text_bytes = 0;
            while k < rows.len() && (rows[k] == NO_ROW || rows[k] / SHARD_ROWS == shard) {
                if rows[k] != NO_ROW {
                    if let Some(cell) = cells(k) {
                        text_bytes += fb.put(rows[k] % SHARD_ROWS, cell);
                    }
                }
                k += 1;
            }
            b.add_bytes(text_bytes);
        }
    }

    /// Adds an event count.
    fn add_event(
        &mut self,
        id: &str,
        hash: u64,
        in_table: InTable,
        field: usize,
        day: i32,
        count: u64,
    ) -> Result<()> {
        let row = self.row_for(id, hash, in_table)?;
        self.wrote.insert(field);
        self.builder(row)
            .add_event(field, row % SHARD_ROWS, day, count);
        self.maybe_seal()
    }

    fn builder(&mut self, row: u32) -> &mut ShardBuilder {
        let shard = row / SHARD_ROWS;
        let n = self.table.schema().fields.len();
        let spares = &self.spares;
        self.builders
            .entry(shard)
            .or_insert_with(|| ShardBuilder::new(shard, n, spares.clone()))
    }

    fn old_part(&self, shard: u32) -> Option<Arc<Part>> {
        match self.written.get(&shard) {
            Some((_, _, p)) => Some(p.clone()),
            None => self.table.part(shard as usize).cloned(),
        }
    }

    /// Seals a shard builder on the worker pool, as a new uncommitted part
    /// laid over the shard's latest part.
    fn spawn_seal(&mut self, b: ShardBuilder) -> Result<()> {
        self.wait_for(b.shard)?;
        let name = self.store.new_file_name(&mut self.file_counter, "part");
        let old = self.old_part(b.shard);
        let path = self.table.dir.join(&name);
        let schema = self.table.schema().clone();
        let (tx, rx) = mpsc::channel();
        let shard = b.shard;
        let fs = self.store.fs();
        rayon::spawn(move || {
            let sealed = b
                .seal(&schema, old.as_deref(), fs, &path)
                .and_then(|bytes| Ok((shard, name, bytes, Arc::new(Part::open_mapped(&path)?))));
            let _ = tx.send(sealed);
        });
        self.pending.push((shard, rx));
        Ok(())
    }

    fn finish_sealed(&mut self, sealed: Sealed) -> Result<()> {
        let (shard, name, bytes, part) = sealed?;
        if let Some((old_name, _, _)) = self.written.insert(shard, (name, bytes, part)) {
            let _ = std::fs::remove_file(self.table.dir.join(old_name));
        }
        Ok(())
    }

    /// Waits for the background seals of `shard` (every shard if `None`).
    fn wait_for_shards(&mut self, shard: Option<u32>) -> Result<()> {
        let (wait, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(s, _)| shard.is_none_or(|x| x == *s));
        self.pending = keep;
        let mut first_err = None;
        for (_, rx) in wait {
            let sealed = rx.recv().unwrap_or_else(|_| {
                Err(EngineError::Internal(
                    "a background seal stopped without an answer".into(),
                ))
            });
            if let Err(e) = self.finish_sealed(sealed) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn wait_for(&mut self, shard: u32) -> Result<()> {
        self.wait_for_shards(Some(shard))
    }

    /// Writes out every shard builder (in parallel) as a new, uncommitted part.
    fn seal_all(&mut self) -> Result<()> {
        for b in std::mem::take(&mut self.builders).into_values() {
            self.spawn_seal(b)?;
        }
        self.wait_for_shards(None)
    }

    /// After a block: seals the shards bulk loading has moved past, and
    /// everything if the builders hold more than the memory budget.
    fn maybe_seal(&mut self) -> Result<()> {
        for shard in std::mem::take(&mut self.finished_shards) {
            if let Some(b) = self.builders.remove(&shard) {
                self.spawn_seal(b)?;
            }
        }
        let total: usize = self.builders.values().map(|b| b.approx_bytes).sum();
        if total > self.memory_budget {
            self.seal_all()?;
        }
        Ok(())
    }

    /// Deletes the files of an import that will not be committed.
    fn abandon(&mut self) {
        let _ = self.wait_for_shards(None);
        for (name, _, _) in self.written.values() {
            let _ = std::fs::remove_file(self.table.dir.join(name));
        }
        self.written.clear();
        for (name, _, _) in self.staged_ids.drain(..) {
            let _ = std::fs::remove_file(self.table.dir.join(name));
        }
    }

    fn commit(mut self) -> Result<Arc<Table>> {
        // The dictionary part is written while the last shards are sealed.
        let new_ids = std::mem::take(&mut self.new_ids);
        let first_new = self.first_new_row();
        let dir = self.table.dir.clone();
        let dict_name =
            (new_ids.len() > 0).then(|| self.store.new_file_name(&mut self.file_counter, "ids"));
        let (sealed, dict) = std::thread::scope(|scope| {
            let fs = self.store.fs();
            let writer = dict_name.as_ref().map(|name| {
                let (path, new_ids) = (dir.join(name), &new_ids);
                scope.spawn(move || -> Result<(u64, Arc<DictionaryPart>)> {
                    let (ids, hashes) = new_ids.ids_and_hashes();
                    let bytes =
                        write_dictionary_part_hashed_with(fs, &path, first_new, &ids, hashes)?;
                    Ok((bytes, Arc::new(DictionaryPart::open_mapped(&path)?)))
                })
            });
            let sealed = self.seal_all();
            let dict = writer.map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EngineError::Internal(
                        "the dictionary writer stopped without an answer".into(),
                    ))
                })
            });
            (sealed, dict)
        });
        sealed?;
        let dict = dict.transpose()?;
        let old = &self.table;
        let num_rows = first_new + new_ids.len() as u64;
        let num_shards = num_rows.div_ceil(u64::from(SHARD_ROWS)) as usize;
        let mut parts = old.parts.clone();
        let mut part_files = old.part_files.clone();
        parts.resize(num_shards, None);
        part_files.resize(num_shards, Vec::new());
        for (shard, (name, bytes, part)) in std::mem::take(&mut self.written) {
            parts[shard as usize] = Some(part);
            part_files[shard as usize] = vec![(name, bytes)];
        }
        let mut dictionary = old.dictionary.clone();
        let mut dictionary_files = old.dictionary_files.clone();
        upgrade::upgrade_v1_parts(
            self.store,
            &dir,
            &mut self.file_counter,
            &mut dictionary,
            &mut dictionary_files,
        )?;
        for (name, bytes, part) in std::mem::take(&mut self.staged_ids) {
            dictionary.push(part);
            dictionary_files.push((name, bytes));
        }
        if let (Some(name), Some((bytes, part))) = (dict_name, dict) {
            dictionary.push(part);
            dictionary_files.push((name, bytes));
        }
        let mut schema = old.schema.clone();
        let now = crate::schema::now_ms();
        for &f in &self.wrote {
            schema.stamp_written(f, now);
        }
        let table = old.successor(Contents {
            schema,
            values: std::mem::take(&mut self.values),
            num_rows,
            parts,
            part_files,
            dictionary,
            dictionary_files,
            live_ids: None,
            tallies: old.tallies.clone(),
        });
        self.store.commit(table, self.file_counter)
    }
}

impl Store {
    /// Imports `input` into `table`. With [`OnError::Abort`] a bad line
    /// fails the import and nothing of it becomes visible.
    pub fn import(
        &self,
        table: &str,
        format: ImportFormat,
        input: impl Read + Send,
        opts: &ImportOptions<'_>,
    ) -> Result<ImportReport> {
        let _w = self.lock_writer_flushed()?;
        let t = self.table(table)?;
        let mut session = Session {
            store: self,
            values: t.values.clone(),
            table: t,
            new_ids: new_ids::NewIds::default(),
            last_id: (String::new(), None),
            builders: BTreeMap::new(),
            written: BTreeMap::new(),
            file_counter: self.next_file_id(),
            memory_budget: opts.memory_budget,
            ids_in_memory: opts.ids_in_memory.max(1),
            staged_ids: Vec::new(),
            staged_filters: Vec::new(),
            staged_rows: 0,
            expected: None,
            spilled: false,
            pending: Vec::new(),
            spares: builder::Spares::default(),
            last_new_shard: None,
            wrote: Default::default(),
            finished_shards: Vec::new(),
        };
        let mut report = ImportReport::default();
        let result = input::read_lines(&mut session, format, input, opts, &mut report);
        match result {
            Ok(()) => {
                if let Some(p) = opts.progress {
                    p(ImportProgress {
                        lines: report.lines,
                        bytes: report.bytes,
                        finishing: true,
                    });
                }
                report.new_rows = session.num_new_rows();
                match session.commit() {
                    Ok(t) => {
                        report.num_rows = t.num_rows();
                        tracing::info!(
                            table,
                            lines = report.lines,
                            new_rows = report.new_rows,
                            skipped = report.skipped,
                            "import committed"
                        );
                        Ok(report)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => {
                session.abandon();
                Err(e)
            }
        }
    }
}
