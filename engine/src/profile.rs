//! One row's profile: every field's value, read straight from the row's
//! part (a directory lookup and a container probe per bitmap), and per-day
//! EVENT counts over a window.

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{
    bias_day, unbias_day, Part, EVENT_ACTIVE, TAG_EVENT, TAG_INT_SLICE, TAG_NOT_NULL, TAG_TRUE,
    TAG_VALUE,
};

use crate::error::Result;
use crate::expr::DayRange;
use crate::schema::FieldKind;
use crate::table::Table;

/// What one field holds for one row.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileValue {
    /// No value.
    Null,
    /// An ENUM's value.
    Enum(String),
    /// A SET's values, sorted (empty: no value).
    Set(Vec<String>),
    /// A BOOL.
    Bool(bool),
    /// An INT.
    Int(i64),
    /// A TEXT.
    Text(String),
    /// An EVENT's counts: `(day, count)` for the days of the window with a
    /// count, in day order.
    Events(Vec<(i32, u64)>),
}

/// Every user field of one row (system fields are left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The row id.
    pub row: u32,
    /// The row's external id.
    pub external_id: String,
    /// `(field name, value)` in schema order, system fields left out.
    pub fields: Vec<(String, ProfileValue)>,
}

impl Table {
    /// The profile of the row with external id `external_id` (`None` if
    /// the table has no such id), with EVENT counts for the days of `window`.
    pub fn profile(&self, external_id: &str, window: DayRange) -> Result<Option<Profile>> {
        let Some(row) = self.row_of(external_id)? else {
            return Ok(None);
        };
        self.profile_of_row(row, window).map(Some)
    }

    /// The profile of row `row` (which must be below `num_rows`).
    pub fn profile_of_row(&self, row: u32, window: DayRange) -> Result<Profile> {
        let part = self.part((row >> 20) as usize).map(|p| p.as_ref());
        let local = row & ((1 << 20) - 1);
        let mut fields = Vec::with_capacity(self.schema.fields.len());
        // System fields are no part of what a user sees of a row.
        for (fi, def) in self.schema.fields.iter().enumerate() {
            if def.is_system() {
                continue;
            }
            let value = match part {
                None => match def.kind {
                    FieldKind::Set => ProfileValue::Set(Vec::new()),
                    FieldKind::Event => ProfileValue::Events(Vec::new()),
                    _ => ProfileValue::Null,
                },
                Some(part) => self
                    .field_value(part, fi, def.kind, local, window)
                    .map_err(|e| self.name_error(e))?,
            };
            fields.push((def.name.clone(), value));
        }
        Ok(Profile {
            row,
            external_id: self.external_id(row)?.to_owned(),
            fields,
        })
    }

    pub(crate) fn field_value(
        &self,
        part: &Part,
        fi: usize,
        kind: FieldKind,
        local: u32,
        window: DayRange,
    ) -> Result<ProfileValue> {
        let f = fi as u32;
        let has = |key: BlockKey| -> Result<bool> {
            Ok(part.bitmap(key)?.is_some_and(|v| v.contains(local)))
        };
        Ok(match kind {
            FieldKind::Enum | FieldKind::Set => {
                let mut values = Vec::new();
                for (i, v) in self.value_dict(fi).values().iter().enumerate() {
                    if has(BlockKey::new(f, TAG_VALUE, i as u32, 0))? {
                        values.push(v.clone());
                        if kind == FieldKind::Enum {
                            break;
                        }
                    }
                }
                match kind {
                    FieldKind::Set => {
                        values.sort_unstable();
                        ProfileValue::Set(values)
                    }
                    _ => values.pop().map_or(ProfileValue::Null, ProfileValue::Enum),
                }
            }
            FieldKind::Bool => {
                if has(BlockKey::new(f, TAG_NOT_NULL, 0, 0))? {
                    ProfileValue::Bool(has(BlockKey::new(f, TAG_TRUE, 0, 0))?)
                } else {
                    ProfileValue::Null
                }
            }
            FieldKind::Int => match part.int_meta(f)? {
                Some(meta) if has(BlockKey::new(f, TAG_NOT_NULL, 0, 0))? => {
                    let mut offset = 0u64;
                    for j in 0..meta.bits {
                        if has(BlockKey::new(f, TAG_INT_SLICE, j, 0))? {
                            offset |= 1 << j;
                        }
                    }
                    ProfileValue::Int((i128::from(meta.base) + i128::from(offset)) as i64)
                }
                _ => ProfileValue::Null,
            },
            FieldKind::Text => part
                .text(f, local)?
                .map_or(ProfileValue::Null, |t| ProfileValue::Text(t.to_owned())),
            FieldKind::Event => ProfileValue::Events(event_counts(part, f, local, window)?),
        })
    }
}

impl Table {
    /// The count of EVENT field `field` of `row` on `day` (0 if none).
    pub(crate) fn day_count(&self, row: u32, field: u32, day: i32) -> Result<u64> {
        let Some(part) = self.part((row >> 20) as usize) else {
            return Ok(0);
        };
        let local = row & ((1 << 20) - 1);
        let window = DayRange {
            first: day,
            last: day,
        };
        Ok(event_counts(part, field, local, window)?
            .first()
            .map_or(0, |&(_, c)| c))
    }
}

/// The counts of row `local` for EVENT field `f` on each day of `window`
/// with a count.
fn event_counts(part: &Part, f: u32, local: u32, window: DayRange) -> Result<Vec<(i32, u64)>> {
    let file = part;
    let last = bias_day(window.last);
    let mut i = file.lower_bound(BlockKey::new(f, TAG_EVENT, bias_day(window.first), 0));
    let mut out: Vec<(i32, u64)> = Vec::new();
    while i < file.num_blocks() {
        let k = file.key(i);
        if k.field != f || k.tag != TAG_EVENT || k.key > last {
            break;
        }
        // A count of at least 1 has a bit in some slice: the day's active
        // bitmap adds nothing here.
        if k.aux != EVENT_ACTIVE && part.bitmap_at(i)?.contains(local) {
            let d = unbias_day(k.key);
            match out.last_mut() {
                Some((ld, c)) if *ld == d => *c |= 1 << k.aux,
                _ => out.push((d, 1 << k.aux)),
            }
        }
        i += 1;
    }
    Ok(out)
}
