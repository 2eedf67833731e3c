//! Building the new part of one shard: the rows an import wrote, laid over
//! the shard's previous part (decoded only for the fields the import
//! touched; other fields' blocks are copied as they are).

use std::path::Path;
use std::sync::{Arc, Mutex};

use segdb_storage_format::bitmap::RoaringWriter;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::date::format_iso_day;
use segdb_storage_format::part::{
    bias_day, unbias_day, IntMeta, Part, PartWriter, EVENT_ACTIVE, SHARD_ROWS, TAG_EVENT,
    TAG_INT_SLICE, TAG_NOT_NULL, TAG_TRUE, TAG_VALUE,
};

use crate::error::{EngineError, Result};
use crate::schema::{FieldKind, Schema};
use crate::MAX_DAY_COUNT;

const NULL: u32 = u32::MAX;

/// A set of rows of a shard; its words grow as rows are set.
#[derive(Debug, Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn new() -> Bits {
        Bits(Vec::new())
    }
    fn set(&mut self, r: u32) {
        let w = r as usize / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (r % 64);
    }
    fn clear(&mut self, r: u32) {
        if let Some(w) = self.0.get_mut(r as usize / 64) {
            *w &= !(1 << (r % 64));
        }
    }
    fn get(&self, r: u32) -> bool {
        self.0
            .get(r as usize / 64)
            .is_some_and(|w| w & (1 << (r % 64)) != 0)
    }
}

/// `v[i]`, growing `v` with `fill` up to `i` first. Columns hold only the
/// rows up to the last one written, so a shard's few rows, or a table of
/// thousands of fields, do not cost 2^20 cells per field.
#[inline]
fn cell<T: Clone>(v: &mut Vec<T>, i: usize, fill: T) -> &mut T {
    if v.len() <= i {
        // Doubling (up to a shard) keeps a bulk load of new rows from
        // growing the column one cell at a time.
        let len = (i + 1).max((2 * v.len()).min(SHARD_ROWS as usize));
        v.resize(len, fill);
    }
    &mut v[i]
}

/// The values an import wrote to one field of one shard.
#[derive(Debug)]
enum Column {
    Enum(Vec<u32>),
    Set(Vec<Option<Box<[u32]>>>),
    /// 0 false, 1 true, 2 null.
    Bool(Vec<u8>),
    Int(Vec<i64>, Bits),
    Text(Vec<Option<Box<str>>>),
}

/// Memory counted per row a column spans (the largest cell, and the bit of
/// `touched`).
const CELL_BYTES: usize = 17;

impl Column {
    /// Rows the column spans.
    fn cells(&self) -> usize {
        match self {
            Column::Enum(v) => v.len(),
            Column::Set(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Int(v, _) => v.len(),
            Column::Text(v) => v.len(),
        }
    }
}

/// One cell of an imported row, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Enum(u32),
    Set(&'a [u32]),
    Bool(bool),
    Int(i64),
    Text(&'a str),
}

#[derive(Debug)]
pub(crate) struct FieldBuilder {
    touched: Bits,
    column: Column,
}

impl FieldBuilder {
    /// Sets row `r` (relative to the shard); returns the bytes of memory it
    /// added (text kept, and the cells the column grew by).
    #[inline]
    pub fn put(&mut self, r: u32, value: Cell<'_>) -> usize {
        self.touched.set(r);
        let i = r as usize;
        let before = self.column.cells();
        let mut text = 0;
        match (&mut self.column, value) {
            (Column::Enum(v), Cell::Enum(x)) => *cell(v, i, NULL) = x,
            (Column::Enum(v), _) => *cell(v, i, NULL) = NULL,
            (Column::Set(v), Cell::Set(xs)) => {
                let mut xs = xs.to_vec();
                xs.sort_unstable();
                xs.dedup();
                *cell(v, i, None) = (!xs.is_empty()).then(|| xs.into_boxed_slice());
            }
            (Column::Set(v), _) => *cell(v, i, None) = None,
            (Column::Bool(v), Cell::Bool(b)) => *cell(v, i, 2) = u8::from(b),
            (Column::Bool(v), _) => *cell(v, i, 2) = 2,
            (Column::Int(v, nn), Cell::Int(x)) => {
                *cell(v, i, 0) = x;
                nn.set(r);
            }
            (Column::Int(v, nn), _) => {
                *cell(v, i, 0) = 0;
                nn.clear(r);
            }
            (Column::Text(v), Cell::Text(s)) => {
                *cell(v, i, None) = Some(s.into());
                text = s.len();
            }
            (Column::Text(v), _) => *cell(v, i, None) = None,
        }
        text + (self.column.cells() - before) * CELL_BYTES
    }

    fn kind_matches(&self, kind: FieldKind) -> bool {
        matches!(
            (&self.column, kind),
            (Column::Enum(_), FieldKind::Enum)
                | (Column::Set(_), FieldKind::Set)
                | (Column::Bool(_), FieldKind::Bool)
                | (Column::Int(..), FieldKind::Int)
                | (Column::Text(_), FieldKind::Text | FieldKind::Event)
        )
    }

    /// Back to "nothing written" (the buffers keep their capacity).
    fn reset(&mut self) {
        self.touched.0.clear();
        match &mut self.column {
            Column::Enum(v) => v.clear(),
            Column::Set(v) => v.clear(),
            Column::Bool(v) => v.clear(),
            Column::Int(v, nn) => {
                v.clear();
                nn.0.clear();
            }
            Column::Text(v) => v.clear(),
        }
    }
}

/// Column buffers kept for the next shard builders of an import: fresh
/// buffers for every shard would cost a page fault every 4 KiB.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spares(Arc<Mutex<Vec<FieldBuilder>>>);

impl Spares {
    fn take(&self, kind: FieldKind) -> Option<FieldBuilder> {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let i = v.iter().position(|fb| fb.kind_matches(kind))?;
        Some(v.swap_remove(i))
    }

    fn give(&self, mut fb: FieldBuilder, max: usize) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < max {
            fb.reset();
            v.push(fb);
        }
    }
}

/// Everything an import wrote to one shard, before it becomes a part.
#[derive(Debug)]
pub(crate) struct ShardBuilder {
    pub shard: u32,
    fields: Vec<Option<FieldBuilder>>,
    /// Per field: (day, row, count) to add.
    events: Vec<Vec<(i32, u32, u64)>>,
    pub approx_bytes: usize,
    spares: Spares,
}

impl ShardBuilder {
    pub fn new(shard: u32, num_fields: usize, spares: Spares) -> ShardBuilder {
        ShardBuilder {
            shard,
            fields: (0..num_fields).map(|_| None).collect(),
            events: vec![Vec::new(); num_fields],
            approx_bytes: 0,
            spares,
        }
    }

    fn field(&mut self, f: usize, kind: FieldKind) -> &mut FieldBuilder {
        let approx = &mut self.approx_bytes;
        let spares = &self.spares;
        self.fields[f].get_or_insert_with(|| {
            *approx += 64;
            if let Some(fb) = spares.take(kind) {
                return fb;
            }
            let column = match kind {
                FieldKind::Enum => Column::Enum(Vec::new()),
                FieldKind::Set => Column::Set(Vec::new()),
                FieldKind::Bool => Column::Bool(Vec::new()),
                FieldKind::Int => Column::Int(Vec::new(), Bits::new()),
                FieldKind::Text | FieldKind::Event => Column::Text(Vec::new()),
            };
            FieldBuilder {
                touched: Bits::new(),
                column,
            }
        })
    }

    /// The builder of field `f` (of kind `kind`), to [`FieldBuilder::put`]
    /// rows (relative to the shard) into.
    pub fn field_mut(&mut self, f: usize, kind: FieldKind) -> &mut FieldBuilder {
        self.field(f, kind)
    }

    /// Counts `bytes` more of memory held (TEXT values).
    pub fn add_bytes(&mut self, bytes: usize) {
        self.approx_bytes += bytes;
    }

    /// Adds `count` to the events of field `f` of row `r` on `day`.
    pub fn add_event(&mut self, f: usize, r: u32, day: i32, count: u64) {
        self.events[f].push((day, r, count));
        self.approx_bytes += 16;
    }

    /// Writes the shard's new part to `path`, laid over `old`.
    pub fn seal(
        mut self,
        schema: &Schema,
        old: Option<&Part>,
        fs: Arc<dyn segdb_storage_format::wal::WalFs>,
        path: &Path,
    ) -> Result<u64> {
        let mut w = PartWriter::create_with(fs, path, self.shard)?;
        for (f, def) in schema.fields.iter().enumerate() {
            let fi = f as u32;
            let fb = self.fields[f].take();
            let events = std::mem::take(&mut self.events[f]);
            match (fb, def.kind) {
                (None, FieldKind::Event) if events.is_empty() => copy_field(&mut w, old, fi)?,
                (_, FieldKind::Event) => write_events(&mut w, old, fi, events).map_err(|e| {
                    match e {
                        DayOverflow::At { local, day, total } => EngineError::InvalidArgument(
                            format!(
                                "the count of `{}` of row {} on {} would be {total}, past the \
                                 limit of {MAX_DAY_COUNT} events a day (the import changed nothing)",
                                def.name,
                                u64::from(self.shard) * u64::from(SHARD_ROWS) + u64::from(local),
                                format_iso_day(day),
                            ),
                        ),
                        DayOverflow::Engine(e) => e,
                    }
                })?,
                (None, _) => copy_field(&mut w, old, fi)?,
                (Some(mut fb), _) => {
                    if let Some(old) = old {
                        decode_old(old, fi, &mut fb)?;
                    }
                    encode(&mut w, fi, &fb)?;
                    self.spares.give(fb, 2 * schema.fields.len());
                }
            }
        }
        Ok(w.finish()?)
    }
}

fn copy_field(w: &mut PartWriter, old: Option<&Part>, field: u32) -> Result<()> {
    let Some(old) = old else { return Ok(()) };
    let f = old;
    let mut i = f.lower_bound(BlockKey::new(field, 0, 0, 0));
    while i < f.num_blocks() && f.key(i).field == field {
        let key = f.key(i);
        w.add_raw(key, f.block(i)?)?;
        i += 1;
    }
    Ok(())
}

fn for_each_row(old: &Part, key: BlockKey, mut f: impl FnMut(u32)) -> Result<()> {
    if let Some(v) = old.bitmap(key)? {
        v.for_each(&mut f);
    }
    Ok(())
}

/// Calls `f(value id, row)` for every row of every value bitmap of `field`.
fn for_each_value_row(old: &Part, field: u32, mut f: impl FnMut(u32, u32)) -> Result<()> {
    let file = old;
    let mut i = file.lower_bound(BlockKey::new(field, TAG_VALUE, 0, 0));
    while i < file.num_blocks() && file.key(i).field == field && file.key(i).tag == TAG_VALUE {
        let vid = file.key(i).key;
        for_each_row(old, file.key(i), |r| f(vid, r))?;
        i += 1;
    }
    Ok(())
}

/// Fills the rows the import did not touch with the old part's values.
fn decode_old(old: &Part, field: u32, fb: &mut FieldBuilder) -> Result<()> {
    let touched = &fb.touched;
    match &mut fb.column {
        Column::Enum(v) => for_each_value_row(old, field, |vid, r| {
            if !touched.get(r) {
                *cell(v, r as usize, NULL) = vid;
            }
        })?,
        Column::Set(v) => {
            let mut rows_of: Vec<(u32, u32)> = Vec::new();
            for_each_value_row(old, field, |vid, r| {
                if !touched.get(r) {
                    rows_of.push((r, vid));
                }
            })?;
            rows_of.sort_unstable();
            for group in rows_of.chunk_by(|a, b| a.0 == b.0) {
                let vals: Box<[u32]> = group.iter().map(|&(_, vid)| vid).collect();
                *cell(v, group[0].0 as usize, None) = Some(vals);
            }
        }
        Column::Bool(v) => {
            for_each_row(old, BlockKey::new(field, TAG_NOT_NULL, 0, 0), |r| {
                if !touched.get(r) {
                    *cell(v, r as usize, 2) = 0;
                }
            })?;
            for_each_row(old, BlockKey::new(field, TAG_TRUE, 0, 0), |r| {
                if !touched.get(r) {
                    *cell(v, r as usize, 2) = 1;
                }
            })?;
        }
        Column::Int(v, nn) => {
            if let Some(meta) = old.int_meta(field)? {
                let mut u: Vec<(u32, u64)> = Vec::new();
                for_each_row(old, BlockKey::new(field, TAG_NOT_NULL, 0, 0), |r| {
                    if !touched.get(r) {
                        u.push((r, 0));
                    }
                })?;
                let span = u.iter().map(|&(r, _)| r as usize + 1).max().unwrap_or(0);
                let mut acc = vec![0u64; span];
                for j in 0..meta.bits {
                    for_each_row(old, BlockKey::new(field, TAG_INT_SLICE, j, 0), |r| {
                        if let Some(a) = acc.get_mut(r as usize) {
                            *a |= 1 << j;
                        }
                    })?;
                }
                for (r, _) in u {
                    *cell(v, r as usize, 0) =
                        (i128::from(meta.base) + i128::from(acc[r as usize])) as i64;
                    nn.set(r);
                }
            }
        }
        Column::Text(v) => {
            for r in 0..old.text_rows(field)?.min(SHARD_ROWS) {
                if !touched.get(r) {
                    if let Some(s) = old.text(field, r)? {
                        *cell(v, r as usize, None) = Some(s.into());
                    }
                }
            }
        }
    }
    Ok(())
}

fn push_bitmap(w: &mut PartWriter, key: BlockKey, rows: &[u32]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut rw = RoaringWriter::new();
    for &r in rows {
        rw.push(r);
    }
    Ok(w.add_bitmap(key, &rw.finish())?)
}

/// Writes a bitmap from a shard's worth of dense words.
fn push_dense(w: &mut PartWriter, key: BlockKey, words: &[u64]) -> Result<()> {
    let mut rw = RoaringWriter::new();
    let mut padded = [0u64; 1024];
    for (chunk, c) in words.chunks(1024).enumerate() {
        if c.iter().any(|&x| x != 0) {
            padded[..c.len()].copy_from_slice(c);
            padded[c.len()..].fill(0);
            rw.push_words(chunk as u16, &padded);
        }
    }
    if rw.is_empty() {
        return Ok(());
    }
    Ok(w.add_bitmap(key, &rw.finish())?)
}

fn encode(w: &mut PartWriter, field: u32, fb: &FieldBuilder) -> Result<()> {
    let nn_key = BlockKey::new(field, TAG_NOT_NULL, 0, 0);
    match &fb.column {
        Column::Enum(v) => {
            let mut lists: Vec<Vec<u32>> = Vec::new();
            let mut nn = Vec::new();
            for (r, &x) in v.iter().enumerate() {
                if x != NULL {
                    if lists.len() <= x as usize {
                        lists.resize(x as usize + 1, Vec::new());
                    }
                    lists[x as usize].push(r as u32);
                    nn.push(r as u32);
                }
            }
            push_bitmap(w, nn_key, &nn)?;
            for (vid, rows) in lists.iter().enumerate() {
                push_bitmap(w, BlockKey::new(field, TAG_VALUE, vid as u32, 0), rows)?;
            }
        }
        Column::Set(v) => {
            let mut lists: Vec<Vec<u32>> = Vec::new();
            let mut nn = Vec::new();
            for (r, xs) in v.iter().enumerate() {
                if let Some(xs) = xs {
                    nn.push(r as u32);
                    for &x in xs.iter() {
                        if lists.len() <= x as usize {
                            lists.resize(x as usize + 1, Vec::new());
                        }
                        lists[x as usize].push(r as u32);
                    }
                }
            }
            push_bitmap(w, nn_key, &nn)?;
            for (vid, rows) in lists.iter().enumerate() {
                push_bitmap(w, BlockKey::new(field, TAG_VALUE, vid as u32, 0), rows)?;
            }
        }
        Column::Bool(v) => {
            let (mut nn, mut t) = (Bits::new(), Bits::new());
            for (r, &x) in v.iter().enumerate() {
                if x != 2 {
                    nn.set(r as u32);
                }
                if x == 1 {
                    t.set(r as u32);
                }
            }
            push_dense(w, nn_key, &nn.0)?;
            push_dense(w, BlockKey::new(field, TAG_TRUE, 0, 0), &t.0)?;
        }
        Column::Int(v, nn) => {
            let rows: Vec<u32> = (0..v.len() as u32).filter(|&r| nn.get(r)).collect();
            if rows.is_empty() {
                return Ok(());
            }
            let min = rows.iter().map(|&r| v[r as usize]).min().unwrap_or(0);
            let max = rows.iter().map(|&r| v[r as usize]).max().unwrap_or(0);
            let meta = IntMeta::for_range(min, max);
            push_dense(w, nn_key, &nn.0)?;
            w.add_int_meta(field, meta)?;
            // Slices are dense (about half the rows have any given bit), so
            // they are built as words, not row lists.
            let mut slices: Vec<Bits> = (0..meta.bits).map(|_| Bits::new()).collect();
            for &r in &rows {
                let mut x = (i128::from(v[r as usize]) - i128::from(meta.base)) as u64;
                while x != 0 {
                    slices[x.trailing_zeros() as usize].set(r);
                    x &= x - 1;
                }
            }
            for (j, s) in slices.iter().enumerate() {
                push_dense(w, BlockKey::new(field, TAG_INT_SLICE, j as u32, 0), &s.0)?;
            }
        }
        Column::Text(v) => {
            let last = v.iter().rposition(Option::is_some);
            if let Some(last) = last {
                let texts: Vec<Option<&str>> = v[..=last].iter().map(|t| t.as_deref()).collect();
                w.add_text(field, &texts)?;
            }
        }
    }
    Ok(())
}

/// Why [`write_events`] failed.
enum DayOverflow {
    /// Row `local` of the shard on `day` would count `total`, past
    /// [`MAX_DAY_COUNT`].
    At { local: u32, day: i32, total: u64 },
    /// Reading the old part or writing the new one failed.
    Engine(EngineError),
}

impl From<EngineError> for DayOverflow {
    fn from(e: EngineError) -> DayOverflow {
        DayOverflow::Engine(e)
    }
}

/// Writes an EVENT field: the old part's counts plus the new ones, each
/// day's at most [`MAX_DAY_COUNT`].
fn write_events(
    w: &mut PartWriter,
    old: Option<&Part>,
    field: u32,
    mut events: Vec<(i32, u32, u64)>,
) -> std::result::Result<(), DayOverflow> {
    if let Some(old) = old {
        let file = old;
        let mut i = file.lower_bound(BlockKey::new(field, TAG_EVENT, 0, 0));
        while i < file.num_blocks() && file.key(i).field == field && file.key(i).tag == TAG_EVENT {
            let k = file.key(i);
            if k.aux != EVENT_ACTIVE {
                let day = unbias_day(k.key);
                let add = 1u64 << k.aux;
                for_each_row(old, k, |r| events.push((day, r, add)))?;
            }
            i += 1;
        }
    }
    events.sort_unstable_by_key(|&(d, r, _)| (d, r));
    let mut i = 0;
    while i < events.len() {
        let day = events[i].0;
        let mut active = Vec::new();
        let mut slices: Vec<Vec<u32>> = Vec::new();
        while i < events.len() && events[i].0 == day {
            let r = events[i].1;
            let mut total = 0u64;
            while i < events.len() && events[i].0 == day && events[i].1 == r {
                total = total.saturating_add(events[i].2);
                i += 1;
            }
            if total == 0 {
                continue;
            }
            if total > MAX_DAY_COUNT {
                return Err(DayOverflow::At {
                    local: r,
                    day,
                    total,
                });
            }
            active.push(r);
            let mut x = total;
            while x != 0 {
                let j = x.trailing_zeros() as usize;
                if slices.len() <= j {
                    slices.resize(j + 1, Vec::new());
                }
                slices[j].push(r);
                x &= x - 1;
            }
        }
        let key = bias_day(day);
        push_bitmap(
            w,
            BlockKey::new(field, TAG_EVENT, key, EVENT_ACTIVE),
            &active,
        )?;
        for (j, s) in slices.iter().enumerate() {
            push_bitmap(w, BlockKey::new(field, TAG_EVENT, key, j as u16), s)?;
        }
    }
    Ok(())
}
