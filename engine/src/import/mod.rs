//! Bulk import: CSV with a header, JSON lines, and the long events format
//! `user_id,event,day,count`. Streams its input (memory is bounded by the
//! shards in flight, not the file), resolves external ids to row ids
//! (creating new ones), lays the rows over the shards' parts, and commits
//! all of a file or nothing of it.

mod builder;
mod input;
mod parse;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::io::Read;
use std::sync::Arc;

use rayon::prelude::*;
use segdb_storage_format::dictionary::{write_dictionary_part, DictionaryPart};
use segdb_storage_format::part::{Part, SHARD_ROWS};

use crate::error::{EngineError, Result};
use crate::store::Store;
use crate::table::{Table, ValueDict};
use builder::{Cell, ShardBuilder};

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
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            on_error: OnError::Abort,
            source_name: "<input>".into(),
            progress: None,
            memory_budget: 1 << 30,
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
    new_ids: FxHashMap<Arc<str>, u32>,
    /// The last id resolved (consecutive lines often name the same id).
    last_id: (String, Option<u32>),
    new_id_list: Vec<Arc<str>>,
    builders: BTreeMap<u32, ShardBuilder>,
    /// Parts written by this import but not committed, by shard.
    written: BTreeMap<u32, (String, u64, Arc<Part>)>,
    file_counter: u64,
    memory_budget: usize,
}

impl Session<'_> {
    fn row_for(&mut self, id: &str) -> Result<u32> {
        if let (last, Some(r)) = &self.last_id {
            if last == id {
                return Ok(*r);
            }
        }
        let r = self.lookup_or_create(id)?;
        self.last_id.0.clear();
        self.last_id.0.push_str(id);
        self.last_id.1 = Some(r);
        Ok(r)
    }

    fn lookup_or_create(&mut self, id: &str) -> Result<u32> {
        if let Some(&r) = self.new_ids.get(id) {
            return Ok(r);
        }
        if let Some(r) = self.table.row_of(id)? {
            return Ok(r);
        }
        let r = self.table.num_rows() + self.new_id_list.len() as u64;
        let r = u32::try_from(r)
            .map_err(|_| EngineError::InvalidSchema("table is full: 2^32 rows".into()))?;
        let shared: Arc<str> = id.into();
        self.new_ids.insert(shared.clone(), r);
        self.new_id_list.push(shared);
        Ok(r)
    }

    /// Applies one parsed row.
    fn apply_row(&mut self, id: &str, cells: &[(usize, Cell<'_>)]) -> Result<()> {
        let row = self.row_for(id)?;
        let table = self.table.clone();
        let b = self.builder(row);
        let local = row % SHARD_ROWS;
        for (f, cell) in cells {
            b.set(*f, table.schema().fields[*f].kind, local, *cell);
        }
        self.maybe_seal()
    }

    /// Adds an event count.
    fn add_event(&mut self, id: &str, field: usize, day: i32, count: u64) -> Result<()> {
        let row = self.row_for(id)?;
        self.builder(row)
            .add_event(field, row % SHARD_ROWS, day, count);
        self.maybe_seal()
    }

    fn builder(&mut self, row: u32) -> &mut ShardBuilder {
        let shard = row / SHARD_ROWS;
        let n = self.table.schema().fields.len();
        self.builders
            .entry(shard)
            .or_insert_with(|| ShardBuilder::new(shard, n))
    }

    fn old_part(&self, shard: u32) -> Option<Arc<Part>> {
        match self.written.get(&shard) {
            Some((_, _, p)) => Some(p.clone()),
            None => self.table.part(shard as usize).cloned(),
        }
    }

    /// Writes out every shard builder (in parallel) as a new, uncommitted part.
    fn seal_all(&mut self) -> Result<()> {
        let builders = std::mem::take(&mut self.builders);
        let jobs: Vec<(ShardBuilder, Option<Arc<Part>>, String)> = builders
            .into_values()
            .map(|b| {
                let name = self.store.new_file_name(&mut self.file_counter, "part");
                let old = self.old_part(b.shard);
                (b, old, name)
            })
            .collect();
        let dir = self.table.dir.clone();
        let schema = self.table.schema().clone();
        let done: Vec<(u32, String, u64, Arc<Part>)> = jobs
            .into_par_iter()
            .map(|(b, old, name)| {
                let shard = b.shard;
                let path = dir.join(&name);
                let bytes = b.seal(&schema, old.as_deref(), &path)?;
                Ok((shard, name, bytes, Arc::new(Part::open_mapped(&path)?)))
            })
            .collect::<Result<_>>()?;
        for (shard, name, bytes, part) in done {
            if let Some((old_name, _, _)) = self.written.insert(shard, (name, bytes, part)) {
                let _ = std::fs::remove_file(dir.join(old_name));
            }
        }
        Ok(())
    }

    fn maybe_seal(&mut self) -> Result<()> {
        let total: usize = self.builders.values().map(|b| b.approx_bytes).sum();
        if total > self.memory_budget {
            self.seal_all()?;
        }
        Ok(())
    }

    /// Deletes the files of an import that will not be committed.
    fn abandon(&mut self) {
        for (name, _, _) in self.written.values() {
            let _ = std::fs::remove_file(self.table.dir.join(name));
        }
        self.written.clear();
    }

    fn commit(mut self) -> Result<Arc<Table>> {
        self.seal_all()?;
        let old = &self.table;
        let num_rows = old.num_rows() + self.new_id_list.len() as u64;
        let num_shards = num_rows.div_ceil(u64::from(SHARD_ROWS)) as usize;
        let mut parts = old.parts.clone();
        let mut part_files = old.part_files.clone();
        parts.resize(num_shards, None);
        part_files.resize(num_shards, None);
        for (shard, (name, bytes, part)) in std::mem::take(&mut self.written) {
            parts[shard as usize] = Some(part);
            part_files[shard as usize] = Some((name, bytes));
        }
        let mut dictionary = old.dictionary.clone();
        let mut dictionary_files = old.dictionary_files.clone();
        if !self.new_id_list.is_empty() {
            let name = self.store.new_file_name(&mut self.file_counter, "ids");
            let path = old.dir.join(&name);
            let ids: Vec<&str> = self.new_id_list.iter().map(|s| &**s).collect();
            let bytes = write_dictionary_part(&path, old.num_rows(), &ids)?;
            dictionary.push(Arc::new(DictionaryPart::open_mapped(&path)?));
            dictionary_files.push((name, bytes));
        }
        let table = Table {
            name: old.name.clone(),
            dir: old.dir.clone(),
            schema: old.schema.clone(),
            values: std::mem::take(&mut self.values),
            num_rows,
            parts,
            part_files,
            dictionary,
            dictionary_files,
        };
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
        let _w = self.lock_writer();
        let t = self.table(table)?;
        let mut session = Session {
            store: self,
            values: t.values.clone(),
            table: t,
            new_ids: FxHashMap::default(),
            last_id: (String::new(), None),
            new_id_list: Vec::new(),
            builders: BTreeMap::new(),
            written: BTreeMap::new(),
            file_counter: self.next_file_id(),
            memory_budget: opts.memory_budget,
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
                report.new_rows = session.new_id_list.len() as u64;
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
