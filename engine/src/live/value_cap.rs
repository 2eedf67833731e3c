//! The cap on distinct ENUM and SET values per field
//! ([`LiveOptions::max_field_values`](super::LiveOptions)), held across
//! concurrent batches. `write::parse_batch_for` checks a batch line by line
//! against the snapshot it parses with; batches parsed at the same moment
//! would each pass against that snapshot. So `Store::ingest` checks a batch
//! that brings new values again, against the latest snapshot, while holding
//! `Live::values_gate` until the batch is published: value-adding batches
//! go one at a time (a batch of known values never waits).

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{EngineError, Result};
use crate::table::Table;
use crate::write::{Batch, Op, SetValue};

/// An operation's ENUM `set` values and SET `add` values.
type Values<'a> = (&'a [(u32, SetValue)], &'a [(u32, Vec<String>)]);

/// Every (field, value) the batch adds to a field's values.
fn added(batch: &Batch) -> impl Iterator<Item = (u32, &str)> {
    batch.ops.iter().flat_map(|op| {
        let (sets, adds): Values<'_> = match op {
            Op::Set { values, .. } => (values, &[]),
            Op::Add { values, .. } => (&[], values),
            _ => (&[], &[]),
        };
        let sets = sets.iter().filter_map(|(f, v)| match v {
            SetValue::Enum(s) => Some((*f, s.as_str())),
            _ => None,
        });
        let adds = adds
            .iter()
            .flat_map(|(f, vs)| vs.iter().map(move |v| (*f, v.as_str())));
        sets.chain(adds)
    })
}

/// Whether the batch brings a value `t` does not know.
pub(crate) fn adds_values(t: &Table, batch: &Batch) -> bool {
    added(batch).any(|(f, v)| t.value_dict(f as usize).id(v).is_none())
}

/// Refuses the batch if its new values would give a field of `t` more
/// than `max` distinct values.
pub(crate) fn check(t: &Table, batch: &Batch, max: u32) -> Result<()> {
    let mut new: FxHashMap<u32, FxHashSet<&str>> = FxHashMap::default();
    for (f, v) in added(batch) {
        if t.value_dict(f as usize).id(v).is_none() {
            new.entry(f).or_default().insert(v);
        }
    }
    for (f, values) in new {
        let known = t.value_dict(f as usize).len();
        if known + values.len() > max as usize {
            let name = &t.schema().fields[f as usize].name;
            return Err(EngineError::InvalidArgument(format!(
                "field `{name}` of `{}` has {known} distinct values; the {} new ones of this \
                 batch would pass max_field_values ({max})",
                t.name(),
                values.len()
            )));
        }
    }
    Ok(())
}
