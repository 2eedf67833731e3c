//! Flush (the delta's blocks written as a new part layer per shard, new ids
//! as a dictionary part, then one manifest naming them with the flushed
//! sequence number) and compaction (a shard's part layers merged into one
//! part). Both run under `Live::flush_lock`, write their files without
//! holding anything else, and take the writer and apply locks only to
//! commit and re-publish.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use segdb_storage_format::dictionary::{write_dictionary_part_with, DictionaryPart};
use segdb_storage_format::part::{is_tombstone, Layer, Part, PartWriter};
use serde::Serialize;

use super::lock;
use crate::error::{EngineError, Result};
use crate::store::Store;
use crate::table::{Contents, Table};

/// What a flush did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlushReport {
    /// Every batch up to this sequence number is now in part files.
    pub flushed_seq: u64,
    /// Tables written.
    pub tables: usize,
    /// Part files written (one per changed shard).
    pub parts: usize,
    /// Bytes written.
    pub bytes: u64,
    /// WAL segment files removed.
    pub wal_files_removed: usize,
    /// Milliseconds taken.
    pub millis: u64,
}

/// What one compaction did.
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    /// The table.
    pub table: String,
    /// The shard.
    pub shard: u32,
    /// Part files merged.
    pub layers: usize,
    /// Bytes of the merged part.
    pub bytes: u64,
    /// Milliseconds taken.
    pub millis: u64,
}

/// One table's flush, written but not committed.
struct Written {
    name: String,
    /// The published snapshot that was written (as of the flushed seq).
    published: Arc<Table>,
    /// The committed table it lay over.
    base: Arc<Table>,
    layers: Vec<(u32, String, u64)>,
    dictionary: Option<(String, u64)>,
}

impl Store {
    /// Flushes the delta now: every batch acknowledged so far is written to
    /// part files, the WAL before it is deleted, and the delta's memory is
    /// freed. Batches keep being acknowledged while the files are written.
    pub fn flush(&self) -> Result<FlushReport> {
        let _f = lock(&self.live().flush_lock);
        self.flush_locked()
    }

    /// [`Store::flush`] for a caller holding the flush lock.
    pub(crate) fn flush_locked(&self) -> Result<FlushReport> {
        let live = self.live();
        let started = Instant::now();
        let (seq, snaps) = {
            let st = live.state();
            let mut snaps = Vec::new();
            for (name, d) in &st.deltas {
                if !d.is_empty() {
                    snaps.push((name.clone(), self.table(name)?, d.base.clone()));
                }
            }
            (st.published_seq, snaps)
        };
        if snaps.is_empty() && seq <= live.flushed_seq.load(Ordering::Relaxed) {
            return Ok(FlushReport {
                flushed_seq: seq,
                ..FlushReport::default()
            });
        }
        let mut counter = self.next_file_id();
        let mut written = Vec::new();
        let mut report = FlushReport {
            flushed_seq: seq,
            tables: snaps.len(),
            ..FlushReport::default()
        };
        for (name, published, base) in snaps {
            let w = self.write_layers(name, published, base, &mut counter)?;
            report.parts += w.layers.len();
            report.bytes += w.layers.iter().map(|l| l.2).sum::<u64>()
                + w.dictionary.as_ref().map_or(0, |d| d.1);
            written.push(w);
        }
        lock(&live.keys).save(&*live.options.wal_fs, self.dir())?;
        {
            let _w = self.lock_writer_only();
            let mut st = live.state();
            let mut manifest = (*self.manifest()).clone();
            manifest.generation += 1;
            manifest.next_file_id = manifest.next_file_id.max(counter);
            manifest.wal_flushed_seq = manifest.wal_flushed_seq.max(seq);
            let mut committed = Vec::new();
            for w in &written {
                let c = committed_table(w)?;
                manifest.tables.insert(w.name.clone(), c.manifest());
                committed.push((w.name.clone(), Arc::new(c), w.published.num_rows));
            }
            manifest.store_with(&*live.options.wal_fs, self.dir())?;
            let mut tables = Vec::new();
            for (name, c, rows) in committed {
                let Some(d) = st.deltas.get_mut(&name) else {
                    tables.push(c);
                    continue;
                };
                d.base = c;
                for sd in d.shards.values_mut() {
                    sd.blocks.retain(|_, b| b.seq > seq);
                    sd.columns.clear();
                    sd.bytes = sd.blocks.values().map(|b| b.bytes.len() as u64).sum();
                    sd.dirty = true;
                }
                d.shards.retain(|_, sd| !sd.blocks.is_empty());
                d.retain_tallies_after(seq);
                d.ids = d.ids.split_from(rows);
                tables.push(Arc::new(d.publish()?));
            }
            st.deltas.retain(|_, d| !d.is_empty());
            st.oldest = if st.deltas.is_empty() {
                None
            } else {
                Some(Instant::now())
            };
            live.set_delta_bytes(st.delta_bytes());
            live.index_bytes.store(st.index_bytes(), Ordering::Relaxed);
            self.commit_published(manifest, tables);
            live.flushed_seq.store(seq, Ordering::Relaxed);
        }
        // Open the WAL if only replayed so far, so that its old files go too.
        let wal = match live.wal_if_open() {
            Some(w) => Some(w),
            None if live.dir.exists() => Some(live.wal()?),
            None => None,
        };
        if let Some(wal) = wal {
            report.wal_files_removed = wal.remove_before(seq + 1)?;
        }
        report.millis = started.elapsed().as_millis() as u64;
        let c = live.counters();
        c.flushes.fetch_add(1, Ordering::Relaxed);
        c.flushed_bytes.fetch_add(report.bytes, Ordering::Relaxed);
        c.last_flush_ms.store(report.millis, Ordering::Relaxed);
        tracing::info!(
            flushed_seq = seq,
            parts = report.parts,
            bytes = report.bytes,
            ms = report.millis,
            "flushed the live delta"
        );
        Ok(report)
    }

    /// Writes one table's delta blocks (as published at the flushed seq)
    /// as a part layer per shard, and its new ids as a dictionary part.
    fn write_layers(
        &self,
        name: String,
        published: Arc<Table>,
        base: Arc<Table>,
        counter: &mut u64,
    ) -> Result<Written> {
        let mut layers = Vec::new();
        for s in 0..published.num_shards() {
            let Some(mem) = published.part(s).and_then(|p| p.mem()) else {
                continue;
            };
            let lower = base.part(s);
            let file = self.new_file_name(counter, "delta");
            let path = published.dir.join(&file);
            let mut w =
                PartWriter::create_with(self.live().options.wal_fs.clone(), &path, s as u32)?;
            for (k, bytes) in mem.blocks() {
                // A tombstone is needed only over a block it hides.
                if is_tombstone(*k, bytes.len()) && lower.is_none_or(|l| l.find(*k).is_none()) {
                    continue;
                }
                w.add_raw(*k, bytes)?;
            }
            let len = w.finish()?;
            layers.push((s as u32, file, len));
        }
        let mut dictionary = None;
        if published.num_rows > base.num_rows {
            let ids: Vec<&str> = (base.num_rows..published.num_rows)
                .map(|r| {
                    published
                        .live_ids
                        .as_ref()
                        .and_then(|l| l.id_of(r))
                        .ok_or_else(|| EngineError::Internal(format!("new row {r} has no id")))
                })
                .collect::<Result<_>>()?;
            let file = self.new_file_name(counter, "ids");
            let len = write_dictionary_part_with(
                self.live().options.wal_fs.clone(),
                &published.dir.join(&file),
                base.num_rows,
                &ids,
            )?;
            dictionary = Some((file, len));
        }
        Ok(Written {
            name,
            published,
            base,
            layers,
            dictionary,
        })
    }

    /// Compacts every shard that has more than `max_layers` part files.
    pub(crate) fn compact_due(&self, max_layers: usize) -> Result<Vec<CompactReport>> {
        let _f = lock(&self.live().flush_lock);
        let mut out = Vec::new();
        for name in self.table_names() {
            let t = self.committed_table(&name)?;
            for s in 0..t.part_files.len() {
                if t.part_files[s].len() > max_layers.max(1) {
                    out.push(self.compact_shard(&name, s as u32)?);
                }
            }
        }
        Ok(out)
    }

    /// Merges every shard of `table` that has more than one part file.
    pub fn compact(&self, table: &str) -> Result<Vec<CompactReport>> {
        let _f = lock(&self.live().flush_lock);
        let t = self.committed_table(table)?;
        let mut out = Vec::new();
        for s in 0..t.part_files.len() {
            if t.part_files[s].len() > 1 {
                out.push(self.compact_shard(table, s as u32)?);
            }
        }
        Ok(out)
    }

    /// The committed table (part files only) under the delta, if any.
    fn committed_table(&self, name: &str) -> Result<Arc<Table>> {
        match self.live().state().deltas.get(name) {
            Some(d) => Ok(d.base.clone()),
            None => self.table(name),
        }
    }

    /// Writes the merged view of a shard's part files as one part, commits
    /// it in their place and re-publishes the table.
    fn compact_shard(&self, name: &str, shard: u32) -> Result<CompactReport> {
        let started = Instant::now();
        let live = self.live();
        let base = self.committed_table(name)?;
        let s = shard as usize;
        let Some(part) = base.part(s).cloned() else {
            return Err(EngineError::Internal(format!("shard {shard} has no part")));
        };
        let layers = base.part_files[s].len();
        let mut counter = self.next_file_id();
        let file = self.new_file_name(&mut counter, "part");
        let path = base.dir.join(&file);
        let mut w = PartWriter::create_with(live.options.wal_fs.clone(), &path, shard)?;
        for i in 0..part.num_blocks() {
            w.add_raw(part.key(i), part.block(i)?)?;
        }
        let bytes = w.finish()?;
        let merged = Arc::new(Part::open_mapped(&path)?);
        let old_files = {
            let _w = self.lock_writer_only();
            let mut st = live.state();
            // The base may have moved (a flush) since it was read: compact
            // only what is still there, else leave the file for next time.
            let now = match st.deltas.get(name) {
                Some(d) => d.base.clone(),
                None => self.table(name)?,
            };
            if now.part_files.get(s) != base.part_files.get(s) {
                let _ = std::fs::remove_file(&path);
                return Err(EngineError::Internal(format!(
                    "shard {shard} of `{name}` changed while it was compacted"
                )));
            }
            let mut contents = now.contents();
            contents.parts[s] = Some(merged);
            let old = std::mem::replace(&mut contents.part_files[s], vec![(file.clone(), bytes)]);
            let c = Arc::new(now.successor(contents));
            let mut manifest = (*self.manifest()).clone();
            manifest.generation += 1;
            manifest.next_file_id = manifest.next_file_id.max(counter);
            manifest.tables.insert(name.to_owned(), c.manifest());
            manifest.store_with(&*live.options.wal_fs, self.dir())?;
            let published = match st.deltas.get_mut(name) {
                Some(d) => {
                    d.base = c;
                    for sd in d.shards.values_mut() {
                        sd.dirty = true;
                    }
                    Arc::new(d.publish()?)
                }
                None => c,
            };
            self.commit_published(manifest, vec![published]);
            old
        };
        for (f, _) in old_files {
            if let Err(e) = std::fs::remove_file(base.dir.join(&f)) {
                tracing::warn!(file = %f, error = %e, "removing a compacted part file");
            }
        }
        let millis = started.elapsed().as_millis() as u64;
        live.counters().compactions.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            table = name,
            shard,
            layers,
            bytes,
            ms = millis,
            "compacted a shard"
        );
        Ok(CompactReport {
            table: name.to_owned(),
            shard,
            layers,
            bytes,
            millis,
        })
    }
}

/// The committed table after a flush: the base with each written layer on
/// top of its shard, the new dictionary part, and the published row count
/// and values.
fn committed_table(w: &Written) -> Result<Table> {
    let b = &w.base;
    let p = &w.published;
    let mut parts = b.parts.clone();
    let mut part_files = b.part_files.clone();
    parts.resize(p.num_shards().max(parts.len()), None);
    part_files.resize(parts.len(), Vec::new());
    for (s, file, bytes) in &w.layers {
        let s = *s as usize;
        let mut layers: Vec<Layer> = parts[s]
            .as_ref()
            .map(|p| p.layers().to_vec())
            .unwrap_or_default();
        layers.push(Part::open_layer(&b.dir.join(file), s as u32)?);
        parts[s] = Some(Arc::new(Part::layered(s as u32, layers)));
        part_files[s].push((file.clone(), *bytes));
    }
    let mut dictionary = b.dictionary.clone();
    let mut dictionary_files = b.dictionary_files.clone();
    if let Some((file, bytes)) = &w.dictionary {
        dictionary.push(Arc::new(DictionaryPart::open_mapped(&b.dir.join(file))?));
        dictionary_files.push((file.clone(), *bytes));
    }
    // The published snapshot's catalog says when its batches wrote each
    // field; a schema change flushes first, so its fields are the base's.
    let mut schema = b.schema.clone();
    for (i, f) in p.schema.fields.iter().enumerate() {
        if let Some(ms) = f.catalog.last_written_ms {
            schema.stamp_written(i, ms);
        }
    }
    Ok(b.successor(Contents {
        schema,
        values: p.values.clone(),
        num_rows: p.num_rows,
        parts,
        part_files,
        dictionary,
        dictionary_files,
        live_ids: None,
        // The published snapshot's tallies are those of every batch up to
        // the flushed sequence number.
        tallies: crate::tally::Tallies::committed(Arc::new(p.tallies.merged())),
    }))
}
