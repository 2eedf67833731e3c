//! `Store::write_tallied`: SET values added to sets of rows and tallies
//! added, as one WAL record (`write/tallied.rs`), through the same WAL,
//! applier, publish and flush as a batch. Checked before the WAL: each
//! field and its kind, each value, the rows (sorted, distinct, rows of the
//! table), the value cap of new values, and each tally.

use std::collections::HashSet;

use super::rows::check_rows;
use super::{lock, payload, IngestAck};
use crate::error::{EngineError, Result};
use crate::schema::{FieldKind, MAX_VALUE_LEN};
use crate::store::Store;
use crate::tally::MAX_TALLY_KEY_LEN;
use crate::write::{TalliedRecord, TalliedWrite};

impl Store {
    /// Makes `w` durable and visible as one batch: returns once the next
    /// query sees every value and tally of it, or nothing of it.
    /// `operations` in the answer is the rows of the adds plus the
    /// tallies. Refused, with nothing written, when a field is unknown or
    /// not SET, a value is empty, too long or past the field's cap of
    /// distinct values, rows are not sorted, distinct rows of the table,
    /// or a tally's key is empty or longer than [`MAX_TALLY_KEY_LEN`] or
    /// its count is 0. A retry with the same idempotency key is
    /// acknowledged again, not applied.
    pub fn write_tallied(&self, table: &str, w: &TalliedWrite) -> Result<IngestAck> {
        let t = self.table(table)?;
        let mut adds = Vec::with_capacity(w.adds.len());
        let mut new_values: HashSet<(u32, &str)> = HashSet::new();
        for a in &w.adds {
            let (fi, def) = t.field(&a.field)?;
            if def.kind != FieldKind::Set {
                return Err(EngineError::WrongKind {
                    field: def.name.clone(),
                    kind: def.kind.as_str(),
                    what: "a tallied write adds values to SET fields".into(),
                });
            }
            if a.value.is_empty() || a.value.len() > MAX_VALUE_LEN {
                return Err(EngineError::InvalidArgument(format!(
                    "a value of `{}` must be 1 to {MAX_VALUE_LEN} bytes, not {}",
                    def.name,
                    a.value.len()
                )));
            }
            check_rows(&t, &a.rows)?;
            if a.rows.is_empty() {
                continue;
            }
            if t.value_dict(fi).id(&a.value).is_none() {
                new_values.insert((fi as u32, &a.value));
            }
            adds.push((fi as u32, a.value.clone(), &a.rows[..]));
        }
        for x in &w.tallies {
            if x.key.is_empty() || x.key.len() > MAX_TALLY_KEY_LEN {
                return Err(EngineError::InvalidArgument(format!(
                    "a tally's key must be 1 to {MAX_TALLY_KEY_LEN} bytes, not {}",
                    x.key.len()
                )));
            }
            if x.count == 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "the count of tally `{}` must be 1 or more",
                    x.key
                )));
            }
        }
        if adds.is_empty() && w.tallies.is_empty() {
            return Ok(IngestAck {
                operations: 0,
                seq: 0,
                duplicate: false,
            });
        }
        let live = self.live();
        live.admit()?;
        // New values are checked against the latest snapshot while holding
        // the gate until published (as a batch's, `value_cap`).
        let _gate = if new_values.is_empty() {
            None
        } else {
            let gate = lock(&live.values_gate);
            let latest = self.table(table)?;
            let max = live.options.max_field_values as usize;
            let mut fields: Vec<u32> = new_values.iter().map(|(f, _)| *f).collect();
            fields.sort_unstable();
            fields.dedup();
            for f in fields {
                let dict = latest.value_dict(f as usize);
                let added = new_values
                    .iter()
                    .filter(|(g, v)| *g == f && dict.id(v).is_none())
                    .count();
                if dict.len() + added > max {
                    return Err(EngineError::InvalidArgument(format!(
                        "field `{}` of `{table}` has {} distinct values; {added} new ones would \
                         pass max_field_values ({max})",
                        latest.schema().fields[f as usize].name,
                        dict.len()
                    )));
                }
            }
            Some(gate)
        };
        let record = TalliedRecord::new(w.idempotency_key.clone(), adds, w.tallies.clone());
        let rec = payload::Record::new(table, t.schema(), payload::Change::Tallied(record));
        self.ingest_keyed(table, rec, |_| Ok(()))
    }
}
