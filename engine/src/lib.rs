//! segdb's engine: tables, fields, shards, evaluation of bitmap expressions,
//! bulk import and the typed operations of real-time writes. See
//! ARCHITECTURE.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod expr;
mod expr_cache;
pub mod schema;
pub mod segment;

pub use expr::{CmpOp, DayRange, Expr};
pub use expr_cache::{ExprCacheStats, MAX_CACHED_BYTES};
pub use schema::{
    is_system_name, CatalogChange, FieldCatalog, FieldDef, FieldKind, FieldSource, Schema,
    ID_COLUMN, MAX_FIELDS, MAX_VALUE_LEN, SYSTEM_FIELD_PREFIX,
};
pub use segdb_storage_format::date;
mod block_names;
pub mod cancel;
pub mod check;
mod coverage;
pub mod csv;
pub mod error;
pub mod eval;
pub mod evaluated;
pub mod explain;
pub mod field_reader;
#[doc(hidden)]
pub mod fuzzing;
pub mod group_by;
pub mod import;
pub mod insight;
pub mod live;
mod plan;
pub mod profile;
pub mod rowset;
pub mod store;
pub mod table;
pub mod tally;
pub mod write;

pub use aggregate::{Aggregate, AggregateValue};
pub use cancel::Cancel;
pub use error::{EngineError, Result};
pub use eval::IntStats;
pub use evaluated::Evaluated;
pub use explain::PlanNode;
pub use field_reader::FieldReader;
pub use group_by::GroupOrder;
pub use import::{ImportFormat, ImportOptions, ImportReport, OnError};
pub use live::{IngestAck, LiveOptions, LiveStats, RecoveryReport};
pub use profile::{Profile, ProfileValue};
pub use rowset::RowSet;
pub use segment::{SegmentDef, SegmentInfo, SegmentKind, SnapshotRows};
pub use store::{Store, TagInfo};
pub use table::Table;
pub use tally::{Tallies, Tally};

/// The largest count of one EVENT field for one row on one day
/// (2^32 - 1). Real-time writes and imports refuse to pass it, so that a
/// window's sum (at most this times the number of days) is exact in the
/// 64-bit counters of evaluation, and every stored count is found by WHERE.
pub const MAX_DAY_COUNT: u64 = u32::MAX as u64;
