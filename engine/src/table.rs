//! A table as queries see it: an immutable snapshot of its schema, value
//! dictionaries, parts (one per shard at most) and id dictionary parts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::dictionary::{hash_id, DictionaryPart};
use segdb_storage_format::manifest::{FieldManifest, TableManifest};
use segdb_storage_format::part::{unbias_day, Layer, Part, SHARD_ROWS, TAG_EVENT};

use crate::error::{EngineError, Result};
use crate::schema::{FieldDef, FieldKind, Schema};

/// The values of an ENUM or SET field: value id <-> text.
#[derive(Debug, Clone, Default)]
pub struct ValueDict {
    values: Vec<String>,
    ids: rustc_hash::FxHashMap<String, u32>,
}

impl ValueDict {
    /// A dictionary of these values, by id.
    pub fn new(values: Vec<String>) -> ValueDict {
        let ids = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u32))
            .collect();
        ValueDict { values, ids }
    }

    /// The id of a value.
    pub fn id(&self, value: &str) -> Option<u32> {
        self.ids.get(value).copied()
    }

    /// The id of a value, adding it if new.
    pub fn intern(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.to_owned());
        self.ids.insert(value.to_owned(), id);
        id
    }

    /// The text of a value id.
    pub fn value(&self, id: u32) -> Option<&str> {
        self.values.get(id as usize).map(String::as_str)
    }

    /// Every value, by id.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the field has no value yet.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A new table instance number (see `Table::instance`).
fn next_instance() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a table snapshot is made of, apart from its identity (name,
/// folder, instance) and its derived figures: see [`Table::new`].
pub(crate) struct Contents {
    pub(crate) schema: Schema,
    pub(crate) values: Vec<ValueDict>,
    pub(crate) num_rows: u64,
    pub(crate) parts: Vec<Option<Arc<Part>>>,
    pub(crate) part_files: Vec<Vec<(String, u64)>>,
    pub(crate) dictionary: Vec<Arc<DictionaryPart>>,
    pub(crate) dictionary_files: Vec<(String, u64)>,
    pub(crate) live_ids: Option<crate::live::ids::LiveIds>,
    pub(crate) tallies: crate::tally::Tallies,
}

/// An immutable snapshot of a table.
#[derive(Debug)]
pub struct Table {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) schema: Schema,
    pub(crate) values: Vec<ValueDict>,
    pub(crate) num_rows: u64,
    /// By shard; `None` for a shard without a part (no data yet).
    pub(crate) parts: Vec<Option<Arc<Part>>>,
    /// By shard: the part files (name, bytes), oldest layer first.
    pub(crate) part_files: Vec<Vec<(String, u64)>>,
    pub(crate) dictionary: Vec<Arc<DictionaryPart>>,
    pub(crate) dictionary_files: Vec<(String, u64)>,
    /// Which table this is a snapshot of: given when a table is opened or
    /// created, kept by every later snapshot of it.
    pub(crate) instance: u64,
    /// Ids created by real-time writes and not flushed yet.
    pub(crate) live_ids: Option<crate::live::ids::LiveIds>,
    /// Its tallies, committed and live.
    pub(crate) tallies: crate::tally::Tallies,
    /// Table-wide figures derived from this snapshot's immutable parts,
    /// computed on first use (see `insight`).
    pub(crate) derived: crate::insight::DerivedCache,
    /// The rows of `Expr::Cached` expressions over this snapshot.
    pub(crate) cached: crate::expr_cache::ExprCache,
}

/// Threads that open a table's part files: each open waits on the disk
/// for its footer and directory when they are not in the page cache, so
/// more of them than cores keep the disk busy (a cold open of the 100M
/// users store: 96 files).
const OPEN_THREADS: usize = 8;

/// `f` of each of `items`, in order, on up to [`OPEN_THREADS`] threads
/// (on this one for a few items).
fn open_in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 * OPEN_THREADS {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(OPEN_THREADS);
    std::thread::scope(|scope| {
        let f = &f;
        // A chunk whose thread could not start is opened here instead.
        let started: Vec<_> = items
            .chunks(per)
            .map(|chunk| {
                std::thread::Builder::new()
                    .name("segdb-open".into())
                    .spawn_scoped(scope, move || chunk.iter().map(f).collect::<Vec<R>>())
                    .map_err(|_| chunk)
            })
            .collect();
        started
            .into_iter()
            .flat_map(|s| match s {
                Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                Err(chunk) => chunk.iter().map(f).collect(),
            })
            .collect()
    })
}

impl Table {
    /// Opens the files of a table as its manifest lists them. Parts are
    /// mapped, not read: only footers and directories are checked.
    pub(crate) fn open(name: &str, dir: &Path, m: &TableManifest) -> Result<Table> {
        let mut schema = Schema::default();
        let mut values = Vec::with_capacity(m.fields.len());
        for f in &m.fields {
            let kind = FieldKind::parse(&f.kind).ok_or_else(|| {
                EngineError::InvalidSchema(format!(
                    "field `{}` has unknown kind `{}`",
                    f.name, f.kind
                ))
            })?;
            schema.fields.push(FieldDef {
                name: f.name.clone(),
                kind,
                sensitive: f.sensitive,
                category: f.category.clone(),
                closed: f.closed,
                catalog: crate::schema::FieldCatalog {
                    description: f.description.clone(),
                    owner: f.owner.clone(),
                    source: match &f.source {
                        None => Default::default(),
                        Some(s) => crate::schema::FieldSource::parse(s).ok_or_else(|| {
                            EngineError::InvalidSchema(format!(
                                "field `{}` has unknown source `{s}`",
                                f.name
                            ))
                        })?,
                    },
                    last_written_ms: f.last_written_ms,
                },
            });
            values.push(ValueDict::new(f.values.clone()));
        }
        let num_shards = m.num_rows.div_ceil(u64::from(SHARD_ROWS)) as usize;
        let mut parts: Vec<Option<Arc<Part>>> = vec![None; num_shards];
        let mut part_files: Vec<Vec<(String, u64)>> = vec![Vec::new(); num_shards];
        let mut layers: Vec<Vec<Layer>> = vec![Vec::new(); num_shards];
        for p in &m.parts {
            if p.shard as usize >= num_shards {
                return Err(EngineError::Storage(
                    segdb_storage_format::FormatError::corrupt(
                        dir.join(&p.file),
                        0,
                        format!("part listed for shard {} of {num_shards}", p.shard),
                    ),
                ));
            }
        }
        let opened = open_in_parallel(&m.parts, |p| Part::open_layer(&dir.join(&p.file), p.shard));
        for (p, layer) in m.parts.iter().zip(opened) {
            let s = p.shard as usize;
            layers[s].push(layer?);
            part_files[s].push((p.file.clone(), p.bytes));
        }
        for (s, l) in layers.into_iter().enumerate() {
            if !l.is_empty() {
                parts[s] = Some(Arc::new(Part::layered(s as u32, l)));
            }
        }
        let mut dictionary = Vec::new();
        let mut dictionary_files = Vec::new();
        for d in &m.dictionary {
            dictionary.push(Arc::new(DictionaryPart::open_mapped(&dir.join(&d.file))?));
            dictionary_files.push((d.file.clone(), d.bytes));
        }
        Ok(Table::new(
            name,
            dir,
            next_instance(),
            Contents {
                schema,
                values,
                num_rows: m.num_rows,
                parts,
                part_files,
                dictionary,
                dictionary_files,
                live_ids: None,
                tallies: crate::tally::Tallies::committed(std::sync::Arc::new(
                    crate::tally::from_manifest(&m.tallies),
                )),
            },
        ))
    }

    /// The one constructor of a snapshot: every snapshot of a table
    /// (opened, imported, flushed, compacted, published from the delta) is
    /// made here, so each starts with empty derived figures.
    pub(crate) fn new(name: &str, dir: &Path, instance: u64, c: Contents) -> Table {
        Table {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            schema: c.schema,
            values: c.values,
            num_rows: c.num_rows,
            parts: c.parts,
            part_files: c.part_files,
            dictionary: c.dictionary,
            dictionary_files: c.dictionary_files,
            instance,
            live_ids: c.live_ids,
            tallies: c.tallies,
            derived: Default::default(),
            cached: Default::default(),
        }
    }

    /// What this snapshot's cache of `Expr::Cached` rows holds and has
    /// done.
    pub fn expr_cache_stats(&self) -> crate::expr_cache::ExprCacheStats {
        self.cached.stats()
    }

    /// A later snapshot of the same table (same name, folder and instance)
    /// made of `c`.
    pub(crate) fn successor(&self, c: Contents) -> Table {
        Table::new(&self.name, &self.dir, self.instance, c)
    }

    /// What this snapshot is made of (parts shared, not copied), to change
    /// and pass to [`Table::successor`].
    pub(crate) fn contents(&self) -> Contents {
        Contents {
            schema: self.schema.clone(),
            values: self.values.clone(),
            num_rows: self.num_rows,
            parts: self.parts.clone(),
            part_files: self.part_files.clone(),
            dictionary: self.dictionary.clone(),
            dictionary_files: self.dictionary_files.clone(),
            live_ids: self.live_ids.clone(),
            tallies: self.tallies.clone(),
        }
    }

    /// The same snapshot with one more field at the end of the schema.
    /// Existing parts hold no block of it, so every row reads as null (or
    /// as no events) until an import writes it.
    pub(crate) fn with_field(&self, field: FieldDef) -> Table {
        let mut t = self.shallow_clone();
        t.schema.fields.push(field);
        t.values.push(ValueDict::default());
        t
    }

    /// A copy of the snapshot (its parts shared), without derived figures.
    pub(crate) fn shallow_clone(&self) -> Table {
        self.successor(self.contents())
    }

    /// The manifest entry describing this snapshot.
    pub(crate) fn manifest(&self) -> TableManifest {
        TableManifest {
            fields: self
                .schema
                .fields
                .iter()
                .zip(&self.values)
                .map(|(f, v)| field_manifest(f, v.values().to_vec()))
                .collect(),
            num_rows: self.num_rows,
            parts: self
                .part_files
                .iter()
                .enumerate()
                .flat_map(|(s, layers)| {
                    layers.iter().map(move |(file, bytes)| {
                        segdb_storage_format::manifest::PartManifest {
                            shard: s as u32,
                            file: file.clone(),
                            bytes: *bytes,
                        }
                    })
                })
                .collect(),
            dictionary: self
                .dictionary
                .iter()
                .zip(&self.dictionary_files)
                .map(
                    |(d, (file, bytes))| segdb_storage_format::manifest::DictionaryPartManifest {
                        file: file.clone(),
                        first_row: d.first_row(),
                        num_ids: u64::from(d.num_ids()),
                        bytes: *bytes,
                    },
                )
                .collect(),
            tallies: crate::tally::to_manifest(&self.tallies.merged()),
        }
    }

    /// The table's tallies (committed and live).
    pub fn tallies(&self) -> &crate::tally::Tallies {
        &self.tallies
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The number of rows (external ids) in the table.
    pub fn num_rows(&self) -> u64 {
        self.num_rows
    }

    /// The number of shards.
    pub fn num_shards(&self) -> usize {
        self.parts.len()
    }

    /// The part of shard `s`, if it has one.
    pub fn part(&self, s: usize) -> Option<&Arc<Part>> {
        self.parts.get(s).and_then(Option::as_ref)
    }

    /// The first and last day on which EVENT field `i` has events in any
    /// shard, or `None` if it has none. Reads only block keys.
    pub fn event_day_bounds(&self, i: usize) -> Option<(i32, i32)> {
        let field = i as u32;
        let mut bounds: Option<(i32, i32)> = None;
        for part in self.parts.iter().flatten() {
            let first_at = part.lower_bound(BlockKey::new(field, TAG_EVENT, 0, 0));
            let end_at = part.lower_bound(BlockKey::new(field, TAG_EVENT + 1, 0, 0));
            if first_at >= end_at {
                continue;
            }
            let (a, b) = (part.key(first_at), part.key(end_at - 1));
            if a.field != field || a.tag != TAG_EVENT || b.field != field || b.tag != TAG_EVENT {
                continue;
            }
            let (first, last) = (unbias_day(a.key), unbias_day(b.key));
            bounds = Some(match bounds {
                Some((f, l)) => (f.min(first), l.max(last)),
                None => (first, last),
            });
        }
        bounds
    }

    /// The known values of an ENUM or SET field (empty for other kinds).
    pub fn field_values(&self, field: &str) -> &[String] {
        match self.schema.field_index(field) {
            Some(i) => self.values[i].values(),
            None => &[],
        }
    }

    /// The value dictionary of field `i`.
    pub fn value_dict(&self, i: usize) -> &ValueDict {
        &self.values[i]
    }

    /// Bytes on disk of the table's live files.
    pub fn bytes_on_disk(&self) -> u64 {
        self.part_files
            .iter()
            .flatten()
            .map(|(_, b)| *b)
            .sum::<u64>()
            + self.dictionary_bytes()
    }

    /// Bytes of the table's id dictionary parts on disk (part of
    /// [`Table::bytes_on_disk`]).
    pub fn dictionary_bytes(&self) -> u64 {
        self.dictionary_files.iter().map(|(_, b)| *b).sum::<u64>()
    }

    /// The row id of an external id.
    pub fn row_of(&self, external_id: &str) -> Result<Option<u32>> {
        self.row_of_hashed(external_id, hash_id(external_id.as_bytes()))
    }

    /// [`Table::row_of`] with the id's dictionary hash computed already.
    pub fn row_of_hashed(&self, external_id: &str, hash: u64) -> Result<Option<u32>> {
        for d in &self.dictionary {
            if let Some(r) = d.row_of_hashed(external_id, hash)? {
                return Ok(Some(r as u32));
            }
        }
        Ok(self
            .live_ids
            .as_ref()
            .and_then(|l| l.row_of(external_id, self.num_rows)))
    }

    /// The row ids of many external ids at once (`None`: no such id):
    /// [`Table::row_of`]'s answers, each dictionary part taking the ids
    /// not found in an earlier one in batches whose cache misses overlap
    /// (an IN list, an uploaded id list, a batch of real-time writes).
    pub fn rows_of(&self, external_ids: &[&str]) -> Result<Vec<Option<u32>>> {
        self.rows_of_maybe_hashed(external_ids, None)
    }

    /// [`Table::rows_of`] with the ids' dictionary hashes computed already.
    pub fn rows_of_hashed(
        &self,
        external_ids: &[&str],
        hashes: &[u64],
    ) -> Result<Vec<Option<u32>>> {
        assert_eq!(external_ids.len(), hashes.len(), "an id's hash each");
        self.rows_of_maybe_hashed(external_ids, Some(hashes))
    }

    /// Whether some dictionary part of the table looks ids up faster in
    /// batches ([`Table::rows_of`]) than one at a time (pages to read: not
    /// a counter, not a version 1 part).
    pub fn looks_up_in_batches(&self) -> bool {
        self.dictionary.iter().any(|d| d.looks_up_in_batches())
    }

    fn rows_of_maybe_hashed(
        &self,
        external_ids: &[&str],
        given: Option<&[u64]>,
    ) -> Result<Vec<Option<u32>>> {
        // Hashed only for a part with a hash index (not a counter's).
        let mut computed = Vec::new();
        let mut found = vec![None; external_ids.len()];
        for d in &self.dictionary {
            let hashes: &[u64] = match given {
                Some(h) => h,
                None if d.uses_hash() => {
                    if computed.is_empty() {
                        computed = external_ids
                            .iter()
                            .map(|id| hash_id(id.as_bytes()))
                            .collect();
                    }
                    &computed
                }
                None => &[],
            };
            d.rows_of_hashed(external_ids, hashes, &mut found)?;
        }
        Ok(found
            .into_iter()
            .zip(external_ids)
            .map(|(r, id)| match r {
                Some(r) => Some(r as u32),
                None => self
                    .live_ids
                    .as_ref()
                    .and_then(|l| l.row_of(id, self.num_rows)),
            })
            .collect())
    }

    /// The external id of a row id (decoded: dictionary pages are
    /// front-coded, so an id is not one slice of the file).
    pub fn id_of(&self, row: u32) -> Result<Option<String>> {
        let row = u64::from(row);
        if let Some(l) = self.live_ids.as_ref().filter(|l| row >= l.first_row) {
            return Ok(l
                .id_of(row)
                .filter(|_| row < self.num_rows)
                .map(str::to_owned));
        }
        let i = self.dictionary.partition_point(|d| d.first_row() <= row);
        if i == 0 {
            return Ok(None);
        }
        Ok(self.dictionary[i - 1].id_of(row)?)
    }

    /// Calls `f` with the external id (bytes) of each of `rows`
    /// (increasing) until it returns `false`; much faster than
    /// [`Table::id_of`] per row for many rows (see
    /// `DictionaryPart::for_each_id`). Returns whether it went through all.
    pub fn for_each_external_id(
        &self,
        rows: &[u32],
        mut f: impl FnMut(u32, &[u8]) -> bool,
    ) -> Result<bool> {
        let mut wide: Vec<u64> = Vec::with_capacity(rows.len().min(1 << 16));
        let mut rest = rows;
        while let Some(&first) = rest.first() {
            if let Some(l) = self
                .live_ids
                .as_ref()
                .filter(|l| u64::from(first) >= l.first_row)
            {
                for &r in rest {
                    let Some(id) = l.id_of(u64::from(r)) else {
                        return Err(EngineError::Internal(format!(
                            "row {r} has no external id among the new ones"
                        )));
                    };
                    if !f(r, id.as_bytes()) {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            let i = self
                .dictionary
                .partition_point(|d| d.first_row() <= u64::from(first));
            let Some(part) = i.checked_sub(1).map(|i| &self.dictionary[i]) else {
                return Err(EngineError::Storage(
                    segdb_storage_format::FormatError::corrupt(
                        &self.dir,
                        0,
                        format!("row {first} has no external id in the dictionary"),
                    ),
                ));
            };
            let end = part.first_row() + u64::from(part.num_ids());
            let n = rest.partition_point(|&r| u64::from(r) < end).max(1);
            for piece in rest[..n].chunks(1 << 16) {
                wide.clear();
                wide.extend(piece.iter().map(|&r| u64::from(r)));
                if !part.for_each_id(&wide, |r, id| f(r as u32, id))? {
                    return Ok(false);
                }
            }
            rest = &rest[n..];
        }
        Ok(true)
    }

    /// The external ids of `rows` (increasing), each written into one
    /// buffer by `fmt` (e.g. as a CSV line), in row order. Batches of rows
    /// are looked up in parallel on the worker pool.
    pub fn format_external_ids(
        &self,
        rows: &[u32],
        fmt: impl Fn(&[u8], &mut Vec<u8>) + Sync,
    ) -> Result<Vec<u8>> {
        use rayon::prelude::*;
        let parts: Vec<Vec<u8>> = rows
            .par_chunks(1024)
            .map(|batch| {
                let mut out = Vec::with_capacity(batch.len() * 12);
                self.for_each_external_id(batch, |_, id| {
                    fmt(id, &mut out);
                    true
                })?;
                Ok(out)
            })
            .collect::<Result<_>>()?;
        Ok(parts.concat())
    }

    /// The index and definition of a field, or an unknown-field error.
    pub fn field(&self, name: &str) -> Result<(usize, &FieldDef)> {
        self.schema
            .field_index(name)
            .map(|i| (i, &self.schema.fields[i]))
            .ok_or_else(|| EngineError::UnknownField {
                table: self.name.clone(),
                field: name.to_owned(),
            })
    }
}

/// The manifest entry of field `f` with `values`.
pub(crate) fn field_manifest(f: &FieldDef, values: Vec<String>) -> FieldManifest {
    let c = &f.catalog;
    FieldManifest {
        name: f.name.clone(),
        kind: f.kind.as_str().to_owned(),
        sensitive: f.sensitive,
        category: f.category.clone(),
        closed: f.closed,
        values,
        description: c.description.clone(),
        owner: c.owner.clone(),
        source: (c.source != crate::schema::FieldSource::Imported)
            .then(|| c.source.as_str().to_owned()),
        last_written_ms: c.last_written_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results come back in the items' order, whether the items are opened
    /// on this thread (a few) or on several (many), and an item's error
    /// stays with that item.
    #[test]
    fn open_in_parallel_keeps_the_order() {
        for n in [0, 1, 2 * OPEN_THREADS - 1, 2 * OPEN_THREADS, 97, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let got = open_in_parallel(&items, |&i| {
                if i % 31 == 5 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i * 3)
                }
            });
            let want: Vec<std::result::Result<usize, String>> = items
                .iter()
                .map(|&i| {
                    if i % 31 == 5 {
                        Err(format!("item {i}"))
                    } else {
                        Ok(i * 3)
                    }
                })
                .collect();
            assert_eq!(got, want, "{n} items");
        }
        // The threads really run at once: each waits until all have started.
        let started = std::sync::atomic::AtomicUsize::new(0);
        let items: Vec<usize> = (0..4 * OPEN_THREADS).collect();
        let per = items.len().div_ceil(OPEN_THREADS);
        let got = open_in_parallel(&items, |&i| {
            if i % per == 0 {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Bounded: a sequential open would never see them all.
                let mut spins = 0u64;
                while started.load(std::sync::atomic::Ordering::SeqCst) < OPEN_THREADS {
                    spins += 1;
                    assert!(spins < 1 << 26, "the chunks were not opened at once");
                    std::thread::yield_now();
                }
            }
            i
        });
        assert_eq!(got, items);
    }
}
