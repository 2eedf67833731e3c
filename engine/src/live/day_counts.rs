//! The per-day limit of EVENT counts, checked before a batch reaches the
//! WAL: a row's count of one EVENT field on one day is at most
//! [`MAX_DAY_COUNT`], and an operation that would take it past (alone,
//! with the batch's earlier operations, or with the count stored already)
//! refuses the whole batch.
//!
//! Batches are checked against the snapshot they were looked up in, so
//! batches racing on one row and day may pass the limit together, by at
//! most their own counts; storage (64 slices) and evaluation (64-bit
//! window sums) stay exact for that.

use std::collections::HashMap;

use segdb_storage_format::date::{format_iso_day, Day};

use crate::error::{EngineError, Result};
use crate::table::Table;
use crate::write::{Op, INGEST_SOURCE};
use crate::MAX_DAY_COUNT;

/// Checks every `event` operation of `ops` against [`MAX_DAY_COUNT`];
/// `rows` are the rows of the operations' ids in `t` (`None` for new ids).
/// A `clear` of the field or a `delete` earlier in the batch starts the
/// day's count from zero again. The error names the operation (its number
/// in the batch, which is its line unless the batch has empty lines).
pub(crate) fn check_day_counts(t: &Table, ops: &[Op], rows: &[Option<u32>]) -> Result<()> {
    // (id, field, day) -> the day's count so far in this batch, stored
    // count included.
    let mut sums: HashMap<(&str, u32, Day), u64> = HashMap::new();
    // (id, field) cleared earlier in the batch (u32::MAX: every field).
    let mut cleared: HashMap<(&str, u32), ()> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Clear { id, fields } => {
                sums.retain(|k, _| !(k.0 == id && fields.contains(&k.1)));
                for &f in fields {
                    cleared.insert((id, f), ());
                }
            }
            Op::Delete { id } => {
                sums.retain(|k, _| k.0 != id);
                cleared.insert((id, u32::MAX), ());
            }
            Op::Event {
                id,
                field,
                day,
                count,
            } => {
                let sum = match sums.get(&(id.as_str(), *field, *day)) {
                    Some(&s) => s,
                    None => match rows.get(i).copied().flatten() {
                        Some(r)
                            if !cleared.contains_key(&(id.as_str(), *field))
                                && !cleared.contains_key(&(id.as_str(), u32::MAX)) =>
                        {
                            t.day_count(r, *field, *day)?
                        }
                        _ => 0,
                    },
                };
                let new = sum.saturating_add(*count);
                if new > MAX_DAY_COUNT {
                    let name = t
                        .schema()
                        .fields
                        .get(*field as usize)
                        .map_or("?", |f| f.name.as_str());
                    return Err(EngineError::BadInput {
                        source_name: INGEST_SOURCE.to_owned(),
                        line: i as u64 + 1,
                        column: "count".to_owned(),
                        position: None,
                        hint: None,
                        reason: format!(
                            "operation {}: the count of `{name}` of `{id}` on {} would be {new} \
                             ({sum} before it), past the limit of {MAX_DAY_COUNT} events a day",
                            i + 1,
                            format_iso_day(*day),
                        ),
                    });
                }
                sums.insert((id.as_str(), *field, *day), new);
            }
            _ => {}
        }
    }
    Ok(())
}
