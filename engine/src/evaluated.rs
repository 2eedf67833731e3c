//! A filter's rows evaluated once over one table snapshot and held as the
//! dense chunks the evaluator works in: what an export charged exactly
//! against a limit counts first and then streams, without evaluating the
//! filter a second time. See [`Expr::Evaluated`](crate::Expr::Evaluated).
//!
//! Memory is bounded by the table, not the filter: 8 KiB per 65,536-row
//! chunk holding any of the rows (at most 12.5 MB for 100M rows).

use std::fmt;
use std::sync::Arc;

use segdb_storage_format::part::SHARD_ROWS;

use crate::error::Result;
use crate::expr::Expr;
use crate::expr_cache::DenseRows;
use crate::table::Table;

/// The rows of a filter over one table, evaluated. Cheap to clone
/// (shared); read back as `Expr::Evaluated`, a copy per chunk.
#[derive(Clone)]
pub struct Evaluated {
    table: Arc<str>,
    pub(crate) rows: Arc<DenseRows>,
}

impl Evaluated {
    /// How many rows.
    pub fn len(&self) -> u64 {
        self.rows.rows
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.rows == 0
    }

    /// The table whose rows these are.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether `row` is one of them.
    pub fn contains(&self, row: u32) -> bool {
        let shard = row / SHARD_ROWS;
        let key = ((row % SHARD_ROWS) >> 16) as u16;
        let bit = usize::from(row as u16);
        self.rows
            .chunks
            .get(&(shard, key))
            .is_some_and(|w| w[bit / 64] >> (bit % 64) & 1 == 1)
    }
}

impl PartialEq for Evaluated {
    /// The same evaluation (not merely the same rows).
    fn eq(&self, other: &Evaluated) -> bool {
        self.table == other.table && Arc::ptr_eq(&self.rows, &other.rows)
    }
}

impl fmt::Debug for Evaluated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluated")
            .field("table", &self.table)
            .field("rows", &self.rows.rows)
            .finish()
    }
}

impl Table {
    /// Evaluates `filter` once and keeps its rows (see [`Evaluated`]).
    pub fn evaluate(&self, filter: &Expr) -> Result<Evaluated> {
        let mut dense = DenseRows::default();
        for c in self.segment_chunks(filter)? {
            dense.rows += c.count;
            dense.chunks.insert((c.shard, c.key), c.words);
        }
        Ok(Evaluated {
            table: Arc::from(self.name()),
            rows: Arc::new(dense),
        })
    }
}
