//! Real-time writes (issue 5): the typed ingest operations, parsed from
//! JSON lines against a table's schema, and their binary encoding, which is
//! the payload of a WAL record (`segdb_storage_format::wal`).
//!
//! - `op.rs`: [`Batch`], [`Op`], [`SetValue`].
//! - `parse.rs`: [`parse_batch`], JSON lines to a `Batch`, every line
//!   checked against the schema; the first bad line is an
//!   `EngineError::BadInput` naming its 1-based number and the reason.
//! - `codec.rs`: [`Batch::encode`] / [`Batch::decode`], compact and
//!   versioned; damaged bytes decode to a [`DecodeError`], never a panic.
//!
//! - `tallied.rs`: [`TalliedWrite`], SET values added to sets of rows and
//!   tallies ([`crate::tally`]) in one WAL record.
//! - `rows.rs`: [`RowsWrite`], one change to a set of rows by row id
//!   (`Store::write_rows`), and its compact WAL form (the rows as a
//!   portable Roaring bitmap).
//!
//! ```
//! use segdb_engine::write::{parse_batch, Batch, Op};
//! use segdb_engine::{FieldDef, FieldKind, Schema};
//! let schema = Schema {
//!     fields: vec![
//!         FieldDef::new("city", FieldKind::Enum),
//!         FieldDef::new("search", FieldKind::Event),
//!     ],
//! };
//! let text = r#"{"id":"u1","set":{"city":"c001"}}
//! {"id":"u1","event":"search","day":"2026-11-22","count":2}"#;
//! let batch = parse_batch(&schema, text).unwrap();
//! assert_eq!(batch.ops.len(), 2);
//! assert!(matches!(&batch.ops[1], Op::Event { field: 1, count: 2, .. }));
//! assert_eq!(Batch::decode(&batch.encode()).unwrap(), batch);
//! ```

mod codec;
mod op;
mod parse;
mod rows;
mod tallied;

pub use codec::{DecodeError, BATCH_FORMAT_VERSION};
pub use op::{Batch, Op, SetValue};
pub use parse::{parse_batch, parse_batch_for, parse_batch_noting, NewValues, INGEST_SOURCE};
pub(crate) use rows::{FieldChange, RowsRecord};
pub use rows::{RowsChange, RowsWrite};
pub(crate) use tallied::TalliedRecord;
pub use tallied::{TalliedWrite, ValueAdd};

#[cfg(test)]
mod tests;
