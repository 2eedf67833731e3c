//! The live delta's tallied writes: values added to sets of rows (as
//! rows writes) and tallies, kept with their sequence numbers until a
//! flush commits them.

use std::sync::Arc;

use super::delta::TableDelta;
use crate::error::Result;
use crate::tally::TallyMap;
use crate::write::{FieldChange, TalliedRecord};

impl TableDelta {
    /// Applies a tallied write: each value to its rows, and the tallies.
    pub(crate) fn apply_tallied(&mut self, w: &TalliedRecord, seq: u64) -> Result<()> {
        for (i, (field, value, _, _)) in w.adds.iter().enumerate() {
            let change = FieldChange::AddValue(value.clone());
            self.apply_rows_view(*field, &change, &w.rows(i)?, seq)?;
        }
        if !w.tallies.is_empty() {
            self.changed = true;
            let live = Arc::make_mut(&mut self.live_tallies);
            for t in &w.tallies {
                crate::tally::add(live, t);
                self.tallies.push((seq, t.clone()));
            }
        }
        Ok(())
    }

    /// Drops the tallies a flush up to `seq` committed.
    pub(crate) fn retain_tallies_after(&mut self, seq: u64) {
        self.tallies.retain(|(s, _)| *s > seq);
        let mut live = TallyMap::new();
        for (_, t) in &self.tallies {
            crate::tally::add(&mut live, t);
        }
        self.live_tallies = Arc::new(live);
    }
}
