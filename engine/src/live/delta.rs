//! The live delta of one table: the blocks that real-time writes changed
//! since the last flush, each held whole (the shard's complete bitmap, INT
//! metadata or TEXT patches) so that a published snapshot can lay them over
//! the shard's part files as one in-memory layer.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{
    bias_day, encode_text, IntMeta, MemBlocks, Part, EVENT_ACTIVE, SHARD_ROWS, TAG_EVENT,
    TAG_INT_META, TAG_INT_SLICE, TAG_NOT_NULL, TAG_TEXT, TAG_TRUE, TAG_VALUE,
};

use super::bits::ShardBits;
use super::ids::NewIds;
use crate::error::{EngineError, Result};
use crate::schema::FieldKind;
use crate::table::{Contents, Table, ValueDict};
use crate::tally::{Tally, TallyMap};
use crate::write::{FieldChange, Op, RowsRecord, SetValue};
use segdb_storage_format::bitmap::RoaringView;

/// What a changed block holds.
// Blocks are boxed in the delta's map, so the variants' sizes do not
// matter there.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Data {
    Bitmap(ShardBits),
    /// INT metadata (16 bytes).
    Raw(Bytes),
    /// Rows whose text changed (`None`: cleared), over the part's column.
    Text(BTreeMap<u32, Option<String>>),
}

/// A block changed since the last flush.
#[derive(Debug)]
pub(crate) struct DeltaBlock {
    pub(crate) data: Data,
    /// The block's bytes as of the last publish.
    pub(crate) bytes: Bytes,
    /// Changed since the last publish.
    pub(crate) dirty: bool,
    /// The sequence number of the last batch that changed it.
    pub(crate) seq: u64,
}

/// One shard's changed blocks.
#[derive(Debug, Default)]
pub(crate) struct ShardDelta {
    /// Boxed, so that the map's nodes stay small and lookups touch few
    /// cache lines.
    pub(crate) blocks: BTreeMap<BlockKey, Box<DeltaBlock>>,
    pub(crate) dirty: bool,
    /// Bytes of the blocks as of the last publish.
    pub(crate) bytes: u64,
    /// Per ENUM field, each row's value id ([`NO_VALUE`] for null); per SET
    /// field, each row's number of values. Built on the shard's first write
    /// of the field (one pass over its value bitmaps), kept up to date by
    /// every write, dropped at a flush: without it, finding a row's old
    /// ENUM value (or whether a SET still has one) probes every value's
    /// bitmap.
    pub(crate) columns: std::collections::HashMap<u32, Vec<u32>>,
}

/// An ENUM column's null.
const NO_VALUE: u32 = u32::MAX;

/// The live delta of one table.
#[derive(Debug)]
pub(crate) struct TableDelta {
    /// The committed table the delta lies over (part files only).
    pub(crate) base: Arc<Table>,
    pub(crate) shards: BTreeMap<u32, ShardDelta>,
    pub(crate) ids: NewIds,
    pub(crate) values: Vec<ValueDict>,
    pub(crate) num_rows: u64,
    /// Changed since the last publish.
    pub(crate) changed: bool,
    /// The tallies of the batches applied since the last flush, with
    /// their sequence numbers (a flush commits those it covers)…
    pub(crate) tallies: Vec<(u64, Tally)>,
    /// …and their sums, as the published snapshots read them.
    pub(crate) live_tallies: Arc<TallyMap>,
    /// Per field index, when a batch applied to the delta last changed it
    /// (ms since the epoch): laid over the base's catalog when published.
    pub(crate) written: BTreeMap<u32, u64>,
    /// The time the batch being applied is stamped with.
    pub(crate) now_ms: u64,
}

impl TableDelta {
    pub(crate) fn new(base: Arc<Table>) -> TableDelta {
        TableDelta {
            ids: NewIds::new(base.num_rows),
            values: base.values.clone(),
            num_rows: base.num_rows,
            shards: BTreeMap::new(),
            changed: false,
            tallies: Vec::new(),
            live_tallies: Arc::default(),
            written: BTreeMap::new(),
            now_ms: crate::schema::now_ms(),
            base,
        }
    }

    /// Whether the delta holds anything not in `base`.
    pub(crate) fn is_empty(&self) -> bool {
        self.shards.is_empty()
            && self.tallies.is_empty()
            && self.ids.len() == 0
            && self
                .values
                .iter()
                .zip(&self.base.values)
                .all(|(a, b)| a.len() == b.len())
    }

    /// Bytes held, as of the last publish (blocks and new ids).
    pub(crate) fn bytes(&self) -> u64 {
        self.shards.values().map(|s| s.bytes).sum::<u64>() + self.ids.bytes
    }

    /// The row of an external id, created if new. `hint` is the row the id
    /// had in a snapshot of this table (looked up before the batch queued,
    /// on the request's thread): rows never change once given.
    fn row_for(&mut self, id: &str, hint: Option<u32>) -> Result<u32> {
        if let Some(r) = hint.filter(|&r| u64::from(r) < self.num_rows) {
            return Ok(r);
        }
        if let Some(r) = self.base.row_of(id)? {
            return Ok(r);
        }
        if let Some(r) = self.ids.get(id) {
            return Ok(r);
        }
        let row = u32::try_from(self.num_rows)
            .map_err(|_| EngineError::TableFull(self.base.name.clone()))?;
        self.ids.push(id, row);
        self.num_rows += 1;
        Ok(row)
    }

    /// Notes that the batch being applied writes field `f`.
    fn wrote(&mut self, f: u32) {
        self.written.insert(f, self.now_ms);
    }

    /// Applies one operation (already checked against the schema).
    pub(crate) fn apply(&mut self, op: &Op, hint: Option<u32>, seq: u64) -> Result<()> {
        self.changed = true;
        match op {
            Op::Set { values, .. } => values.iter().for_each(|(f, _)| self.wrote(*f)),
            Op::Add { values, .. } | Op::Remove { values, .. } => {
                values.iter().for_each(|(f, _)| self.wrote(*f))
            }
            Op::Clear { fields, .. } => fields.iter().for_each(|f| self.wrote(*f)),
            Op::Event { field, .. } => self.wrote(*field),
            Op::Delete { .. } => {
                (0..self.base.schema.fields.len() as u32).for_each(|f| self.wrote(f))
            }
        }
        let row = self.row_for(op.id(), hint)?;
        let (shard, r) = (row / SHARD_ROWS, row % SHARD_ROWS);
        let base = self.base.clone();
        let mut ctx = Ctx {
            part: base.part(shard as usize).map(|p| &**p),
            delta: self.shards.entry(shard).or_default(),
            seq,
        };
        let kind = |f: u32| base.schema.fields[f as usize].kind;
        match op {
            Op::Set { values, .. } => {
                for (f, v) in values {
                    match v {
                        SetValue::Enum(s) => {
                            let vid = self.values[*f as usize].intern(s);
                            ctx.set_enum(*f, r, vid)?;
                        }
                        SetValue::Bool(b) => {
                            ctx.insert(key(*f, TAG_NOT_NULL, 0, 0), r)?;
                            let t = key(*f, TAG_TRUE, 0, 0);
                            if *b {
                                ctx.insert(t, r)?;
                            } else {
                                ctx.remove(t, r)?;
                            }
                        }
                        SetValue::Int(x) => ctx.set_int(*f, r, *x)?,
                        SetValue::Text(s) => ctx.set_text(*f, r, Some(s.clone())),
                    }
                }
            }
            Op::Add { values, .. } => {
                for (f, vs) in values {
                    for v in vs {
                        let vid = self.values[*f as usize].intern(v);
                        ctx.add_value(*f, r, vid)?;
                    }
                }
            }
            Op::Remove { values, .. } => {
                for (f, vs) in values {
                    for v in vs {
                        if let Some(vid) = self.values[*f as usize].id(v) {
                            ctx.remove_value(*f, r, vid)?;
                        }
                    }
                }
            }
            Op::Clear { fields, .. } => {
                for f in fields {
                    ctx.clear(*f, kind(*f), r)?;
                }
            }
            Op::Event {
                field, day, count, ..
            } => ctx.add_event(*field, *day, r, *count)?,
            Op::Delete { .. } => {
                for f in 0..base.schema.fields.len() as u32 {
                    ctx.clear(f, kind(f), r)?;
                }
            }
        }
        Ok(())
    }

    /// Applies a write to a set of existing rows (checked against the
    /// schema and the rows when it was made): container by container of
    /// the rows' bitmap, each shard's blocks looked up once per container.
    pub(crate) fn apply_rows(&mut self, w: &RowsRecord, seq: u64) -> Result<()> {
        self.apply_rows_view(w.field, &w.change, &w.rows()?, seq)
    }

    pub(super) fn apply_rows_view(
        &mut self,
        f: u32,
        change: &FieldChange,
        rows: &RoaringView<'_>,
        seq: u64,
    ) -> Result<()> {
        self.changed = true;
        self.wrote(f);
        let vid = match change {
            FieldChange::AddValue(v) => self.values[f as usize].intern(v),
            _ => 0,
        };
        let base = self.base.clone();
        for i in 0..rows.num_containers() {
            let high = u32::from(rows.key(i)) << 16;
            let shard = high / SHARD_ROWS;
            if u64::from(high) >= self.num_rows {
                return Err(EngineError::Internal(format!(
                    "a rows write names rows from {high}, past the table's {}",
                    self.num_rows
                )));
            }
            let mut ctx = Ctx {
                part: base.part(shard as usize).map(|p| &**p),
                delta: self.shards.entry(shard).or_default(),
                seq,
            };
            // An EVENT day's slices, looked up once per container.
            let slices = match change {
                FieldChange::AddEvent { day, .. } => ctx.event_slices(f, *day)?,
                _ => Vec::new(),
            };
            let mut result = Ok(());
            rows.container_at(i).for_each(|low| {
                if result.is_err() {
                    return;
                }
                let r = (high | u32::from(low)) % SHARD_ROWS;
                result = match change {
                    FieldChange::SetBool(b) => {
                        ctx.insert(key(f, TAG_NOT_NULL, 0, 0), r).and_then(|()| {
                            let t = key(f, TAG_TRUE, 0, 0);
                            if *b {
                                ctx.insert(t, r)
                            } else {
                                ctx.remove(t, r)
                            }
                        })
                    }
                    FieldChange::AddValue(_) => ctx.add_value(f, r, vid),
                    FieldChange::AddEvent { day, count } => {
                        ctx.add_event_to(f, *day, &slices, r, *count)
                    }
                };
            });
            result?;
        }
        Ok(())
    }

    /// Serializes the blocks changed since the last publish and returns the
    /// snapshot of the table with the delta laid over its parts.
    pub(crate) fn publish(&mut self) -> Result<Table> {
        self.changed = false;
        let base = &self.base;
        let num_shards = self.num_rows.div_ceil(u64::from(SHARD_ROWS)) as usize;
        let mut parts = base.parts.clone();
        let mut part_files = base.part_files.clone();
        parts.resize(num_shards.max(parts.len()), None);
        part_files.resize(parts.len(), Vec::new());
        // Shards serialize their changed blocks in parallel.
        use rayon::prelude::*;
        let layered: Vec<(u32, Part)> = self
            .shards
            .par_iter_mut()
            .map(|(&s, sd)| {
                let part = base.part(s as usize).map(|p| &**p);
                if sd.dirty {
                    for (k, b) in sd.blocks.iter_mut().filter(|(_, b)| b.dirty) {
                        sd.bytes -= b.bytes.len() as u64;
                        b.bytes = encode_block(*k, &b.data, part)?;
                        sd.bytes += b.bytes.len() as u64;
                        b.dirty = false;
                    }
                    sd.dirty = false;
                }
                Ok((s, overlay(part, s, sd)))
            })
            .collect::<Result<_>>()?;
        for (s, p) in layered {
            parts[s as usize] = Some(Arc::new(p));
        }
        let mut schema = base.schema.clone();
        for (&f, &ms) in &self.written {
            schema.stamp_written(f as usize, ms);
        }
        Ok(base.successor(Contents {
            schema,
            values: self.values.clone(),
            num_rows: self.num_rows,
            parts,
            part_files,
            dictionary: base.dictionary.clone(),
            dictionary_files: base.dictionary_files.clone(),
            live_ids: self.ids.view(),
            tallies: crate::tally::Tallies {
                committed: base.tallies.committed.clone(),
                live: (!self.live_tallies.is_empty()).then(|| self.live_tallies.clone()),
            },
        }))
    }
}

/// The shard's part (or no file) with the delta's blocks on top.
pub(crate) fn overlay(part: Option<&Part>, shard: u32, sd: &ShardDelta) -> Part {
    let mem = Arc::new(MemBlocks::new(
        sd.blocks
            .iter()
            .map(|(k, b)| (*k, b.bytes.clone()))
            .collect(),
    ));
    match part {
        Some(p) => p.with_overlay(mem),
        None => Part::layered(shard, vec![segdb_storage_format::part::Layer::Mem(mem)]),
    }
}

fn key(field: u32, tag: u8, k: u32, aux: u16) -> BlockKey {
    BlockKey::new(field, tag, k, aux)
}

/// The bytes of a changed block.
fn encode_block(k: BlockKey, data: &Data, part: Option<&Part>) -> Result<Bytes> {
    Ok(match data {
        Data::Bitmap(b) => Bytes::from(b.serialize()),
        Data::Raw(b) => b.clone(),
        Data::Text(patches) => {
            let base_rows = match part {
                Some(p) => p.text_rows(k.field)?,
                None => 0,
            };
            let n = patches
                .keys()
                .next_back()
                .map_or(base_rows, |&r| base_rows.max(r + 1));
            let mut texts: Vec<Option<&str>> = Vec::with_capacity(n as usize);
            for r in 0..n {
                texts.push(match patches.get(&r) {
                    Some(t) => t.as_deref(),
                    None => match part {
                        Some(p) => p.text(k.field, r)?,
                        None => None,
                    },
                });
            }
            Bytes::from(encode_text(texts.into_iter()))
        }
    })
}

/// A bitmap block of a part as a mutable bitmap.
pub(crate) fn load_bitmap(part: Option<&Part>, k: BlockKey) -> Result<ShardBits> {
    Ok(match part.map(|p| p.bitmap(k)).transpose()?.flatten() {
        Some(view) => ShardBits::from_view(&view),
        None => ShardBits::default(),
    })
}

/// One shard of one table while an operation is applied.
struct Ctx<'a> {
    part: Option<&'a Part>,
    delta: &'a mut ShardDelta,
    seq: u64,
}

impl Ctx<'_> {
    fn contains(&self, k: BlockKey, r: u32) -> Result<bool> {
        if let Some(b) = self.delta.blocks.get(&k) {
            return Ok(match &b.data {
                Data::Bitmap(b) => b.contains(r),
                _ => false,
            });
        }
        match self.part {
            Some(p) => Ok(p.bitmap(k)?.is_some_and(|v| v.contains(r))),
            None => Ok(false),
        }
    }

    /// The block, loaded into the delta on first change and marked changed.
    fn block_mut(&mut self, k: BlockKey, load: impl FnOnce() -> Result<Data>) -> Result<&mut Data> {
        let seq = self.seq;
        let b = match self.delta.blocks.entry(k) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(Box::new(DeltaBlock {
                data: load()?,
                bytes: Bytes::new(),
                dirty: true,
                seq,
            })),
        };
        b.dirty = true;
        b.seq = seq;
        self.delta.dirty = true;
        Ok(&mut b.data)
    }

    fn bitmap_mut(&mut self, k: BlockKey) -> Result<&mut ShardBits> {
        let part = self.part;
        match self.block_mut(k, || load_bitmap(part, k).map(Data::Bitmap))? {
            Data::Bitmap(b) => Ok(b),
            _ => Err(EngineError::Internal(format!(
                "block {k:?} is not a bitmap"
            ))),
        }
    }

    /// The block if the delta holds it: one search, and the change marked
    /// only if there is one.
    fn edit_held(&mut self, k: BlockKey, f: impl FnOnce(&mut ShardBits) -> bool) -> Option<()> {
        let b = self.delta.blocks.get_mut(&k)?;
        let Data::Bitmap(bits) = &mut b.data else {
            return None;
        };
        if f(bits) {
            b.dirty = true;
            b.seq = self.seq;
            self.delta.dirty = true;
        }
        Some(())
    }

    fn insert(&mut self, k: BlockKey, r: u32) -> Result<()> {
        if self.edit_held(k, |b| b.insert(r)).is_some() {
            return Ok(());
        }
        if !self.contains(k, r)? {
            self.bitmap_mut(k)?.insert(r);
        }
        Ok(())
    }

    fn remove(&mut self, k: BlockKey, r: u32) -> Result<()> {
        if self.edit_held(k, |b| b.remove(r)).is_some() {
            return Ok(());
        }
        if self.contains(k, r)? {
            self.bitmap_mut(k)?.remove(r);
        }
        Ok(())
    }

    /// The keys of a field's blocks of one tag, in the part or the delta.
    fn keys(&self, f: u32, tag: u8) -> Result<Vec<BlockKey>> {
        self.keys_between(key(f, tag, 0, 0), key(f, tag, u32::MAX, u16::MAX))
    }

    /// The keys in `lo..=hi`, in the part or the delta.
    fn keys_between(&self, lo: BlockKey, hi: BlockKey) -> Result<Vec<BlockKey>> {
        let mut out: Vec<BlockKey> = self.delta.blocks.range(lo..=hi).map(|(k, _)| *k).collect();
        if let Some(p) = self.part {
            let mut i = p.lower_bound(lo);
            while i < p.num_blocks() && p.key(i) <= hi {
                out.push(p.key(i));
                i += 1;
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The field's column (see [`ShardDelta::columns`]), built if needed.
    fn column(&mut self, f: u32, enum_values: bool) -> Result<&mut Vec<u32>> {
        if !self.delta.columns.contains_key(&f) {
            let fill = if enum_values { NO_VALUE } else { 0 };
            let mut col = vec![fill; SHARD_ROWS as usize];
            for k in self.keys(f, TAG_VALUE)? {
                let mut set = |r: u32| {
                    let c = &mut col[r as usize];
                    *c = if enum_values { k.key } else { *c + 1 };
                };
                match self.delta.blocks.get(&k).map(|b| &**b) {
                    Some(DeltaBlock {
                        data: Data::Bitmap(b),
                        ..
                    }) => b.iter().for_each(&mut set),
                    _ => {
                        if let Some(v) = self.part.map(|p| p.bitmap(k)).transpose()?.flatten() {
                            v.for_each(&mut set);
                        }
                    }
                }
            }
            self.delta.columns.insert(f, col);
        }
        Ok(self.delta.columns.get_mut(&f).expect("inserted above"))
    }

    fn set_enum(&mut self, f: u32, r: u32, vid: u32) -> Result<()> {
        let old = self.column(f, true)?[r as usize];
        if old == vid {
            return Ok(());
        }
        if old != NO_VALUE {
            self.remove(key(f, TAG_VALUE, old, 0), r)?;
        }
        self.column(f, true)?[r as usize] = vid;
        self.insert(key(f, TAG_VALUE, vid, 0), r)?;
        self.insert(key(f, TAG_NOT_NULL, 0, 0), r)
    }

    /// Adds a value to a SET row.
    fn add_value(&mut self, f: u32, r: u32, vid: u32) -> Result<()> {
        let k = key(f, TAG_VALUE, vid, 0);
        if !self.contains(k, r)? {
            self.column(f, false)?[r as usize] += 1;
            self.bitmap_mut(k)?.insert(r);
        }
        self.insert(key(f, TAG_NOT_NULL, 0, 0), r)
    }

    /// Removes a value from a SET row (null once it has none).
    fn remove_value(&mut self, f: u32, r: u32, vid: u32) -> Result<()> {
        let k = key(f, TAG_VALUE, vid, 0);
        if self.contains(k, r)? {
            let left = {
                let c = &mut self.column(f, false)?[r as usize];
                *c = c.saturating_sub(1);
                *c
            };
            self.bitmap_mut(k)?.remove(r);
            if left == 0 {
                self.remove(key(f, TAG_NOT_NULL, 0, 0), r)?;
            }
        }
        Ok(())
    }

    fn int_meta(&self, f: u32) -> Result<Option<IntMeta>> {
        let k = key(f, TAG_INT_META, 0, 0);
        if let Some(b) = self.delta.blocks.get(&k) {
            if let Data::Raw(b) = &b.data {
                return Ok(Some(IntMeta::decode(b)));
            }
        }
        match self.part {
            Some(p) => Ok(p.int_meta(f)?),
            None => Ok(None),
        }
    }

    fn set_int(&mut self, f: u32, r: u32, x: i64) -> Result<()> {
        let meta = match self.int_meta(f)? {
            Some(m) if fits(m, x) => m,
            old => self.rebase_int(f, old, x)?,
        };
        let u = (i128::from(x) - i128::from(meta.base)) as u64;
        for j in 0..meta.bits {
            let k = key(f, TAG_INT_SLICE, j, 0);
            if u >> j & 1 == 1 {
                self.insert(k, r)?;
            } else {
                self.remove(k, r)?;
            }
        }
        self.insert(key(f, TAG_NOT_NULL, 0, 0), r)
    }

    /// Re-encodes the shard's values of INT field `f` so that `x` fits
    /// (with one bit of headroom, so that a growing range is re-encoded
    /// only a logarithmic number of times).
    fn rebase_int(&mut self, f: u32, old: Option<IntMeta>, x: i64) -> Result<IntMeta> {
        let nn = self.current_bitmap(key(f, TAG_NOT_NULL, 0, 0))?;
        let mut values: Vec<(u32, i64)> = Vec::new();
        if let Some(m) = old {
            let mut acc = vec![0u64; SHARD_ROWS as usize];
            for j in 0..m.bits {
                for r in self.current_bitmap(key(f, TAG_INT_SLICE, j, 0))?.iter() {
                    acc[r as usize] |= 1 << j;
                }
            }
            values = nn
                .iter()
                .map(|r| {
                    let v = (i128::from(m.base) + i128::from(acc[r as usize])) as i64;
                    (r, v)
                })
                .collect();
        }
        let lo = values.iter().map(|v| v.1).chain([x]).min().unwrap_or(x);
        let hi = values.iter().map(|v| v.1).chain([x]).max().unwrap_or(x);
        let mut meta = IntMeta::for_range(lo, hi);
        meta.bits = (meta.bits + 1).min(64);
        let old_bits = old.map_or(0, |m| m.bits);
        for j in 0..meta.bits.max(old_bits) {
            let mut b = ShardBits::default();
            if j < meta.bits {
                for &(r, v) in &values {
                    let u = (i128::from(v) - i128::from(meta.base)) as u64;
                    if u >> j & 1 == 1 {
                        b.insert(r);
                    }
                }
            }
            *self.bitmap_mut(key(f, TAG_INT_SLICE, j, 0))? = b;
        }
        let raw = Bytes::copy_from_slice(&meta.encode());
        let loaded = raw.clone();
        *self.block_mut(key(f, TAG_INT_META, 0, 0), move || Ok(Data::Raw(loaded)))? =
            Data::Raw(raw);
        Ok(meta)
    }

    /// A bitmap as it is now (delta or part), copied.
    fn current_bitmap(&self, k: BlockKey) -> Result<ShardBits> {
        match self.delta.blocks.get(&k).map(|b| &**b) {
            Some(DeltaBlock {
                data: Data::Bitmap(b),
                ..
            }) => Ok(b.clone()),
            _ => load_bitmap(self.part, k),
        }
    }

    fn set_text(&mut self, f: u32, r: u32, t: Option<String>) {
        let k = key(f, TAG_TEXT, 0, 0);
        // Loading never fails: the patches start empty.
        if let Ok(Data::Text(p)) = self.block_mut(k, || Ok(Data::Text(BTreeMap::new()))) {
            p.insert(r, t);
        }
    }

    fn add_event(&mut self, f: u32, day: i32, r: u32, count: u64) -> Result<()> {
        let slices = self.event_slices(f, day)?;
        self.add_event_to(f, day, &slices, r, count)
    }

    /// The keys of the count slices of EVENT field `f` on `day`.
    fn event_slices(&self, f: u32, day: i32) -> Result<Vec<BlockKey>> {
        let d = bias_day(day);
        self.keys_between(
            key(f, TAG_EVENT, d, 0),
            key(f, TAG_EVENT, d, EVENT_ACTIVE - 1),
        )
    }

    /// [`Ctx::add_event`] with the day's slices as they were before any of
    /// the rows being written (distinct rows, so a slice made by one of
    /// them holds none of the others: each reads its old count right).
    fn add_event_to(
        &mut self,
        f: u32,
        day: i32,
        slices: &[BlockKey],
        r: u32,
        count: u64,
    ) -> Result<()> {
        let d = bias_day(day);
        let mut old = 0u64;
        for k in slices {
            if self.contains(*k, r)? {
                old |= 1 << k.aux;
            }
        }
        let new = old.saturating_add(count);
        let top = 64 - new.leading_zeros();
        for j in 0..top.max(
            slices
                .iter()
                .map(|k| u32::from(k.aux) + 1)
                .max()
                .unwrap_or(0),
        ) {
            let k = key(f, TAG_EVENT, d, j as u16);
            if new >> j & 1 == 1 {
                self.insert(k, r)?;
            } else {
                self.remove(k, r)?;
            }
        }
        if new > 0 {
            self.insert(key(f, TAG_EVENT, d, EVENT_ACTIVE), r)?;
        }
        Ok(())
    }

    fn clear(&mut self, f: u32, kind: FieldKind, r: u32) -> Result<()> {
        match kind {
            FieldKind::Text => {
                let has = match self.delta.blocks.get(&key(f, TAG_TEXT, 0, 0)) {
                    Some(_) => true,
                    None => match self.part {
                        Some(p) => p.text(f, r)?.is_some(),
                        None => false,
                    },
                };
                if has {
                    self.set_text(f, r, None);
                }
                Ok(())
            }
            FieldKind::Event => {
                for k in self.keys(f, TAG_EVENT)? {
                    self.remove(k, r)?;
                }
                Ok(())
            }
            FieldKind::Enum => {
                let old = self.column(f, true)?[r as usize];
                if old != NO_VALUE {
                    self.remove(key(f, TAG_VALUE, old, 0), r)?;
                    self.column(f, true)?[r as usize] = NO_VALUE;
                }
                self.remove(key(f, TAG_NOT_NULL, 0, 0), r)
            }
            FieldKind::Set => {
                if self.column(f, false)?[r as usize] > 0 {
                    for k in self.keys(f, TAG_VALUE)? {
                        self.remove(k, r)?;
                    }
                    self.column(f, false)?[r as usize] = 0;
                }
                self.remove(key(f, TAG_NOT_NULL, 0, 0), r)
            }
            _ => {
                for tag in [TAG_TRUE, TAG_INT_SLICE] {
                    for k in self.keys(f, tag)? {
                        self.remove(k, r)?;
                    }
                }
                self.remove(key(f, TAG_NOT_NULL, 0, 0), r)
            }
        }
    }
}

fn fits(m: IntMeta, x: i64) -> bool {
    let u = i128::from(x) - i128::from(m.base);
    u >= 0 && (m.bits >= 64 || u < (1i128 << m.bits))
}
