//! `Store::write_rows`: one change to a set of existing rows, by row id,
//! through the same WAL, applier and publish as a batch (see
//! `write/rows.rs` for the record). Checked before the WAL: the field and
//! its kind, the rows (sorted, distinct, rows of the table), the value cap
//! of a new SET value and the per-day limit of EVENT counts.

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::date::format_iso_day;
use segdb_storage_format::part::{bias_day, EVENT_ACTIVE, TAG_EVENT};

use super::{lock, payload, IngestAck};
use crate::error::{EngineError, Result};
use crate::schema::{FieldKind, MAX_VALUE_LEN};
use crate::store::Store;
use crate::table::Table;
use crate::write::{FieldChange, RowsChange, RowsRecord, RowsWrite};
use crate::MAX_DAY_COUNT;

impl Store {
    /// Makes `w` durable and visible, as [`Store::ingest`] does a batch:
    /// one WAL record holding the rows as a bitmap, applied and published
    /// whole; returns once the next query sees it. `operations` in the
    /// answer is the number of rows. Refused, with nothing written, when
    /// the field is unknown or of another kind, a row is not a row of the
    /// table or the rows are not sorted and distinct, a SET value is empty,
    /// too long or past the field's cap of distinct values, or an EVENT
    /// count would pass [`MAX_DAY_COUNT`] for a row and day. A retry with
    /// the same idempotency key is acknowledged again, not applied.
    pub fn write_rows(&self, table: &str, w: &RowsWrite) -> Result<IngestAck> {
        let t = self.table(table)?;
        let (field, change) = resolve(&t, &w.change)?;
        check_rows(&t, &w.rows)?;
        if w.rows.is_empty() {
            return Ok(IngestAck {
                operations: 0,
                seq: 0,
                duplicate: false,
            });
        }
        let live = self.live();
        live.admit()?;
        // A new SET value is checked against the latest snapshot while
        // holding the gate until published (as a batch's, `value_cap`).
        let _gate = match &change {
            FieldChange::AddValue(v) if t.value_dict(field as usize).id(v).is_none() => {
                let gate = lock(&live.values_gate);
                let latest = self.table(table)?;
                let known = latest.value_dict(field as usize).len();
                let max = live.options.max_field_values as usize;
                if latest.value_dict(field as usize).id(v).is_none() && known + 1 > max {
                    return Err(EngineError::InvalidArgument(format!(
                        "field `{}` of `{table}` has {known} distinct values; a new one would \
                         pass max_field_values ({max})",
                        w.change.field()
                    )));
                }
                Some(gate)
            }
            _ => None,
        };
        let record = RowsRecord::new(field, change, w.idempotency_key.clone(), &w.rows);
        let rec = payload::Record::new(table, t.schema(), payload::Change::Rows(record));
        self.ingest_keyed(table, rec, |_| match &w.change {
            RowsChange::AddEvent { day, count, .. } => {
                check_day_counts(&t, field, *day, *count, &w.rows, w.change.field())
            }
            _ => Ok(()),
        })
    }
}

/// The field's index and the change, checked against its kind.
fn resolve(t: &Table, change: &RowsChange) -> Result<(u32, FieldChange)> {
    let (fi, def) = t.field(change.field())?;
    let (want, resolved) = match change {
        RowsChange::SetBool { value, .. } => (FieldKind::Bool, FieldChange::SetBool(*value)),
        RowsChange::AddValue { value, .. } => {
            if value.is_empty() || value.len() > MAX_VALUE_LEN {
                return Err(EngineError::InvalidArgument(format!(
                    "a value of `{}` must be 1 to {MAX_VALUE_LEN} bytes, not {}",
                    def.name,
                    value.len()
                )));
            }
            (FieldKind::Set, FieldChange::AddValue(value.clone()))
        }
        RowsChange::AddEvent { day, count, .. } => {
            if *count == 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "an event count of `{}` must be 1 or more",
                    def.name
                )));
            }
            (
                FieldKind::Event,
                FieldChange::AddEvent {
                    day: *day,
                    count: *count,
                },
            )
        }
    };
    if def.kind != want {
        return Err(EngineError::WrongKind {
            field: def.name.clone(),
            kind: def.kind.as_str(),
            what: format!("this write needs a {} field", want.as_str()),
        });
    }
    Ok((fi as u32, resolved))
}

/// The rows must be sorted, distinct and rows of `t`.
pub(super) fn check_rows(t: &Table, rows: &[u32]) -> Result<()> {
    if let Some(i) = rows.windows(2).position(|w| w[0] >= w[1]) {
        return Err(EngineError::InvalidArgument(format!(
            "rows must be sorted and distinct: row {} (at {}) follows row {}",
            rows[i + 1],
            i + 1,
            rows[i]
        )));
    }
    if let Some(&last) = rows.last().filter(|&&r| u64::from(r) >= t.num_rows()) {
        return Err(EngineError::InvalidArgument(format!(
            "row {last} is not a row of `{}` ({} rows)",
            t.name(),
            t.num_rows()
        )));
    }
    Ok(())
}

/// Refuses an EVENT count that would take a row's count of the day past
/// [`MAX_DAY_COUNT`]. A day's count is held in bit slices, so a shard's
/// counts of the day are below `2^slices`: when that bound plus `count`
/// is within the limit (a campaign's counts always are), no row is read;
/// otherwise each row's count is.
fn check_day_counts(
    t: &Table,
    field: u32,
    day: i32,
    count: u64,
    rows: &[u32],
    name: &str,
) -> Result<()> {
    let d = bias_day(day);
    let mut bound = 0u64;
    for part in (0..t.num_shards()).filter_map(|s| t.part(s)) {
        let mut i = part.lower_bound(BlockKey::new(field, TAG_EVENT, d, 0));
        let mut slices = 0u32;
        while i < part.num_blocks() {
            let k = part.key(i);
            if k.field != field || k.tag != TAG_EVENT || k.key != d || k.aux == EVENT_ACTIVE {
                break;
            }
            slices = slices.max(u32::from(k.aux) + 1);
            i += 1;
        }
        bound = bound.max(if slices >= 64 {
            u64::MAX
        } else {
            (1u64 << slices) - 1
        });
    }
    if bound.saturating_add(count) <= MAX_DAY_COUNT {
        return Ok(());
    }
    for &r in rows {
        let before = t.day_count(r, field, day)?;
        let after = before.saturating_add(count);
        if after > MAX_DAY_COUNT {
            return Err(EngineError::InvalidArgument(format!(
                "the count of `{name}` of row {r} on {} would be {after} ({before} before it), \
                 past the limit of {MAX_DAY_COUNT} events a day",
                format_iso_day(day)
            )));
        }
    }
    Ok(())
}
