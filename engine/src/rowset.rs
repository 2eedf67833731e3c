//! A named, shared set of row ids held in memory: what a campaign group
//! (`in_variant(spring, 'a')`) becomes once the language has read it from
//! the campaigns' store. See [`Expr::RowSet`](crate::Expr::RowSet).

use std::fmt;
use std::sync::Arc;

/// Row ids of one table, sorted and distinct, with the label EXPLAIN
/// shows. Cheap to clone (shared); evaluated chunk by chunk like an id
/// list, estimated by its length.
#[derive(Clone)]
pub struct RowSet {
    label: Arc<str>,
    table: Arc<str>,
    rows: Arc<[u32]>,
}

impl RowSet {
    /// The set of `rows` (sorted and made distinct here) of `table`,
    /// shown as `label`.
    pub fn new(label: &str, table: &str, mut rows: Vec<u32>) -> RowSet {
        rows.sort_unstable();
        rows.dedup();
        RowSet {
            label: Arc::from(label),
            table: Arc::from(table),
            rows: Arc::from(rows),
        }
    }

    /// What EXPLAIN shows: `in_variant(spring, 'a') run 3`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The table whose rows these are.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The rows, sorted and distinct.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// How many rows.
    pub fn len(&self) -> u64 {
        self.rows.len() as u64
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub(crate) fn shared(&self) -> Arc<[u32]> {
        Arc::clone(&self.rows)
    }
}

impl PartialEq for RowSet {
    /// The same label, table and rows.
    fn eq(&self, other: &RowSet) -> bool {
        self.label == other.label
            && self.table == other.table
            && (Arc::ptr_eq(&self.rows, &other.rows) || self.rows == other.rows)
    }
}

impl fmt::Debug for RowSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowSet")
            .field("label", &self.label)
            .field("table", &self.table)
            .field("rows", &self.rows.len())
            .finish()
    }
}
