//! One field's values for many rows in row order: [`FieldReader`] finds
//! the field's bitmaps in a part's block directory once per part, not once
//! per row (an ENUM of 20 values is 20 directory searches a row in
//! [`Table::profile_of_row`]), and gives each row's value exactly as
//! `profile_of_row` does.
//!
//! An ENUM read often within one 65,536-row block (more than
//! [`DENSE_AFTER`] rows) is decoded once into a value per row of the
//! block, from the containers of its values' bitmaps, instead of probing
//! every value's bitmap per row.

use segdb_storage_format::bitmap::RoaringView;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{IntMeta, Part, TAG_INT_SLICE, TAG_NOT_NULL, TAG_TRUE, TAG_VALUE};

use crate::error::{EngineError, Result};
use crate::expr::DayRange;
use crate::profile::ProfileValue;
use crate::schema::FieldKind;
use crate::table::Table;

/// Rows read in one 65,536-row block before an ENUM decodes the block.
pub const DENSE_AFTER: u32 = 32;

/// Reads one field of a table row by row (see the module's note).
pub struct FieldReader<'t> {
    table: &'t Table,
    field: usize,
    kind: FieldKind,
    window: DayRange,
    /// The part the views below are of (`None`: none yet).
    shard: Option<usize>,
    part: Option<&'t Part>,
    /// ENUM/SET: one per value of the dictionary; BOOL: not-null, true;
    /// INT: not-null then the slices.
    views: Vec<Option<RoaringView<'t>>>,
    meta: Option<IntMeta>,
    /// ENUM: the block (`local >> 16`) rows were last read in, and how many.
    block: Option<(u16, u32)>,
    /// ENUM: the block `dense` holds, and per row of it the index of its
    /// value (`u32::MAX`: none).
    dense_block: Option<u16>,
    dense: Vec<u32>,
}

impl std::fmt::Debug for FieldReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldReader")
            .field("field", &self.field)
            .field("shard", &self.shard)
            .finish()
    }
}

impl Table {
    /// A reader of field `field` (its index in the schema), with EVENT
    /// counts over `window`.
    pub fn field_reader(&self, field: usize, window: DayRange) -> Result<FieldReader<'_>> {
        let Some(def) = self.schema().fields.get(field) else {
            return Err(EngineError::Internal(format!(
                "field {field} of {} fields",
                self.schema().fields.len()
            )));
        };
        Ok(FieldReader {
            table: self,
            field,
            kind: def.kind,
            window,
            shard: None,
            part: None,
            views: Vec::new(),
            meta: None,
            block: None,
            dense_block: None,
            dense: Vec::new(),
        })
    }
}

impl<'t> FieldReader<'t> {
    /// Row `row`'s value (the row below `num_rows`); fastest with rows in
    /// increasing order.
    pub fn value(&mut self, row: u32) -> Result<ProfileValue> {
        let shard = (row >> 20) as usize;
        if self.shard != Some(shard) {
            self.load(shard)
                .map_err(|e| self.table.name_error(e.into()))?;
        }
        let local = row & ((1 << 20) - 1);
        let Some(part) = self.part else {
            return Ok(match self.kind {
                FieldKind::Set => ProfileValue::Set(Vec::new()),
                FieldKind::Event => ProfileValue::Events(Vec::new()),
                _ => ProfileValue::Null,
            });
        };
        if self.kind == FieldKind::Enum {
            let high = (local >> 16) as u16;
            if self.dense_block != Some(high) {
                let hits = match self.block {
                    Some((b, n)) if b == high => n + 1,
                    _ => 1,
                };
                self.block = Some((high, hits));
                if hits > DENSE_AFTER {
                    self.decode(high);
                }
            }
            if self.dense_block == Some(high) {
                let names = self.table.value_dict(self.field).values();
                return Ok(
                    match names.get(self.dense[(local & 0xffff) as usize] as usize) {
                        Some(name) => ProfileValue::Enum(name.clone()),
                        None => ProfileValue::Null,
                    },
                );
            }
        }
        let has = |v: &Option<RoaringView<'_>>| v.as_ref().is_some_and(|v| v.contains(local));
        Ok(match self.kind {
            FieldKind::Enum | FieldKind::Set => {
                let names = self.table.value_dict(self.field).values();
                let mut values = Vec::new();
                for (name, view) in names.iter().zip(&self.views) {
                    if has(view) {
                        values.push(name.clone());
                        if self.kind == FieldKind::Enum {
                            break;
                        }
                    }
                }
                if self.kind == FieldKind::Set {
                    values.sort_unstable();
                    ProfileValue::Set(values)
                } else {
                    values.pop().map_or(ProfileValue::Null, ProfileValue::Enum)
                }
            }
            FieldKind::Bool => {
                if has(&self.views[0]) {
                    ProfileValue::Bool(has(&self.views[1]))
                } else {
                    ProfileValue::Null
                }
            }
            FieldKind::Int => match self.meta {
                Some(meta) if has(&self.views[0]) => {
                    let mut offset = 0u64;
                    for (j, view) in self.views[1..].iter().enumerate() {
                        if has(view) {
                            offset |= 1 << j;
                        }
                    }
                    ProfileValue::Int((i128::from(meta.base) + i128::from(offset)) as i64)
                }
                _ => ProfileValue::Null,
            },
            FieldKind::Text | FieldKind::Event => self
                .table
                .field_value(part, self.field, self.kind, local, self.window)
                .map_err(|e| self.table.name_error(e))?,
        })
    }

    /// An ENUM's value index for each row of block `high` of the part: the
    /// first value (in dictionary order) whose bitmap holds the row, as the
    /// per-row probe finds it (so the values are written last to first).
    fn decode(&mut self, high: u16) {
        self.dense.clear();
        self.dense.resize(1 << 16, u32::MAX);
        for (i, view) in self.views.iter().enumerate().rev() {
            if let Some(c) = view.as_ref().and_then(|v| v.container(high)) {
                let dense = &mut self.dense;
                c.for_each(|low| dense[usize::from(low)] = i as u32);
            }
        }
        self.dense_block = Some(high);
    }

    /// Finds the field's bitmaps in part `shard`.
    fn load(&mut self, shard: usize) -> segdb_storage_format::Result<()> {
        self.shard = None;
        self.views.clear();
        self.meta = None;
        self.block = None;
        self.dense_block = None;
        self.part = self.table.part(shard).map(|p| p.as_ref());
        if let Some(part) = self.part {
            let f = self.field as u32;
            let keys: Vec<BlockKey> = match self.kind {
                FieldKind::Enum | FieldKind::Set => (0..self.table.value_dict(self.field).len())
                    .map(|i| BlockKey::new(f, TAG_VALUE, i as u32, 0))
                    .collect(),
                FieldKind::Bool => vec![
                    BlockKey::new(f, TAG_NOT_NULL, 0, 0),
                    BlockKey::new(f, TAG_TRUE, 0, 0),
                ],
                FieldKind::Int => {
                    self.meta = part.int_meta(f)?;
                    let bits = self.meta.map_or(0, |m| m.bits);
                    std::iter::once(BlockKey::new(f, TAG_NOT_NULL, 0, 0))
                        .chain((0..bits).map(|j| BlockKey::new(f, TAG_INT_SLICE, j, 0)))
                        .collect()
                }
                FieldKind::Text | FieldKind::Event => Vec::new(),
            };
            for key in keys {
                self.views.push(part.bitmap(key)?);
            }
        }
        self.shard = Some(shard);
        Ok(())
    }
}
