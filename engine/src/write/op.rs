//! The typed operations of a real-time write batch.

use segdb_storage_format::date::Day;

/// A value given to a field by `set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// An ENUM value (non-empty).
    Enum(String),
    /// A BOOL.
    Bool(bool),
    /// An INT.
    Int(i64),
    /// A TEXT string.
    Text(String),
}

/// One operation on one row, named by its external id. Fields are indices
/// into the table's `Schema::fields`. A row that does not exist yet is
/// created by any operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `{"id":…,"set":{"city":"c001","age":31}}`: give ENUM, BOOL, INT and
    /// TEXT fields a value (replacing the old one).
    Set {
        /// The external id.
        id: String,
        /// (field, value) in the order given.
        values: Vec<(u32, SetValue)>,
    },
    /// `{"id":…,"add":{"interests":["i03"]}}`: add values to SET fields.
    Add {
        /// The external id.
        id: String,
        /// (SET field, values).
        values: Vec<(u32, Vec<String>)>,
    },
    /// `{"id":…,"remove":{"interests":["i07"]}}`: remove values from SET
    /// fields (a value the row does not hold is ignored).
    Remove {
        /// The external id.
        id: String,
        /// (SET field, values).
        values: Vec<(u32, Vec<String>)>,
    },
    /// `{"id":…,"clear":["contract_end_days"]}`: make fields null (an
    /// EVENT field loses every count of the row).
    Clear {
        /// The external id.
        id: String,
        /// The fields.
        fields: Vec<u32>,
    },
    /// `{"id":…,"event":"search","day":"2026-11-22","count":2}`: add
    /// `count` to the row's count of an EVENT field on a day.
    Event {
        /// The external id.
        id: String,
        /// The EVENT field.
        field: u32,
        /// The day.
        day: Day,
        /// How many events (positive).
        count: u64,
    },
    /// `{"id":…,"delete":true}`: clear every field of the row. Its row id
    /// is not reused.
    Delete {
        /// The external id.
        id: String,
    },
}

impl Op {
    /// The external id of the row the operation applies to.
    pub fn id(&self) -> &str {
        match self {
            Op::Set { id, .. }
            | Op::Add { id, .. }
            | Op::Remove { id, .. }
            | Op::Clear { id, .. }
            | Op::Event { id, .. }
            | Op::Delete { id } => id,
        }
    }
}

/// A batch of operations, applied all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The client's `Idempotency-Key`, if it sent one: a retried batch with
    /// the same key is acknowledged again without being applied twice. It
    /// travels in the WAL record so that the set of applied keys can be
    /// rebuilt after a restart.
    pub idempotency_key: Option<String>,
    /// The operations, in the order of the lines.
    pub ops: Vec<Op>,
}
