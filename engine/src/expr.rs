//! The engine's bitmap expression: what a WHERE clause becomes after the
//! language has bound it to a table's schema.
//!
//! Semantics are those of sets with two values (DESIGN.md): every node is a
//! set of row ids; comparisons never match a row whose field is null; `Not`
//! is every row of the table that is not in its operand.

use crate::date::Day;
use crate::rowset::RowSet;
use crate::segment::SnapshotRows;

/// A comparison operator on numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Whether `a op b` holds.
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }

    /// The operator's text in the language.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// An inclusive range of days (`first..=last`), as day numbers since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayRange {
    /// First day of the window, included.
    pub first: Day,
    /// Last day of the window, included.
    pub last: Day,
}

/// A bitmap expression over one table. Fields and values are named; the
/// engine resolves names against the table when the expression is prepared
/// (an unknown field is an error, an unknown value of a known field matches
/// no row).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Every row of the table.
    All,
    /// No row.
    Nothing,
    /// Rows in every operand (an empty list is `All`).
    And(Vec<Expr>),
    /// Rows in any operand (an empty list is `Nothing`).
    Or(Vec<Expr>),
    /// Rows of the table not in the operand.
    Not(Box<Expr>),
    /// ENUM `field = value`, SET `field HAS value`: rows holding the value.
    Value {
        /// ENUM or SET field.
        field: String,
        /// The value's text.
        value: String,
    },
    /// ENUM `field IN (…)`, SET `field HAS ANY (…)`: rows holding any value.
    AnyValue {
        /// ENUM or SET field.
        field: String,
        /// The values' text.
        values: Vec<String>,
    },
    /// SET `field HAS ALL (…)`: rows holding every value (an empty list is
    /// every row whose field is not null).
    AllValues {
        /// SET field.
        field: String,
        /// The values' text.
        values: Vec<String>,
    },
    /// ENUM `field != value`, `field NOT IN (…)`: rows whose field is not null
    /// and holds none of the values.
    NoneOfValues {
        /// ENUM or SET field.
        field: String,
        /// The values' text.
        values: Vec<String>,
    },
    /// `field IS NOT NULL` (any kind but EVENT and TEXT).
    NotNull {
        /// The field.
        field: String,
    },
    /// BOOL `flag` / `flag = true` (`value` true) or `flag = false`
    /// (`value` false: rows whose flag is known to be false).
    Bool {
        /// BOOL field.
        field: String,
        /// The value asked for.
        value: bool,
    },
    /// INT `field op value`.
    IntCmp {
        /// INT field.
        field: String,
        /// The comparison.
        op: CmpOp,
        /// The constant.
        value: i64,
    },
    /// INT `field BETWEEN lo AND hi` (both ends included).
    IntBetween {
        /// INT field.
        field: String,
        /// Low end, included.
        lo: i64,
        /// High end, included.
        hi: i64,
    },
    /// EVENT `count(field, days) op n`: the sum of the row's counts over the
    /// window (0 for a row with none) compared with `n`.
    EventCount {
        /// EVENT field.
        field: String,
        /// The window.
        days: DayRange,
        /// The comparison.
        op: CmpOp,
        /// The constant.
        n: i64,
    },
    /// EVENT `count(field, days) BETWEEN lo AND hi` (both ends included).
    EventBetween {
        /// EVENT field.
        field: String,
        /// The window.
        days: DayRange,
        /// Low end, included.
        lo: i64,
        /// High end, included.
        hi: i64,
    },
    /// Explicit row ids (e.g. `user_id IN ('u1', 'u2')` after the id
    /// dictionary resolved them), sorted or not.
    Rows(Vec<u32>),
    /// The rows of a SNAPSHOT segment of this table, read in place from its
    /// file (from [`Store::snapshot_expr`](crate::Store::snapshot_expr)).
    Snapshot(SnapshotRows),
    /// A named set of rows of this table held in memory (a campaign
    /// group: `in_variant(spring, 'a')`), shared, shown by its label.
    RowSet(RowSet),
    /// The rows of the expression, evaluated once per table snapshot and
    /// kept (a derived tag's value): later statements on the same
    /// snapshot read them from memory. Not kept when the expression reads
    /// a campaign group or a snapshot segment (their rows change while the
    /// table does not).
    Cached(Box<Expr>),
    /// Rows of this table evaluated before ([`Table::evaluate`]
    /// (crate::Table::evaluate)), read back a chunk at a time.
    Evaluated(crate::Evaluated),
}

impl Expr {
    /// `did(field, days)`: `count(field, days) > 0`.
    pub fn did(field: impl Into<String>, days: DayRange) -> Expr {
        Expr::EventCount {
            field: field.into(),
            days,
            op: CmpOp::Gt,
            n: 0,
        }
    }
}
