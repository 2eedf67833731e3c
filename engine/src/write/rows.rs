//! Writes to a set of rows named by row id: "these rows, this field, this
//! day", what a campaign records for millions of rows at once (touches,
//! sends) without formatting an external id per row. The rows travel in
//! the WAL as one portable Roaring bitmap, not one id per row.
//!
//! ```text
//! body   = kind:u8 field:u32 arg flags:u8 [key] rows
//! kind   = 1 set a BOOL (arg = value:u8, 0 or 1)
//!        | 2 add a SET value (arg = len:u32 UTF-8 bytes)
//!        | 3 add to an EVENT count (arg = day:i32 count:u64, count >= 1)
//! flags  = bit 0: an idempotency key follows; other bits 0
//! key    = len:u32 UTF-8 bytes
//! rows   = the rest: a portable Roaring bitmap (no run containers needed)
//! ```
//! Integers are little-endian. Decoding checks every length, kind, flag,
//! the UTF-8 and the bitmap's structure, and that it is not empty.

use segdb_storage_format::bitmap::{serialize_sorted, RoaringView};
use segdb_storage_format::date::Day;

use crate::error::{EngineError, Result};

/// What a [`RowsWrite`] does to each of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowsChange {
    /// Gives the BOOL field `field` the value `value`.
    SetBool {
        /// The BOOL field.
        field: String,
        /// Its new value.
        value: bool,
    },
    /// Adds `value` to the SET field `field` (a row that holds it already
    /// keeps it once).
    AddValue {
        /// The SET field.
        field: String,
        /// The value (non-empty, at most `MAX_VALUE_LEN` bytes).
        value: String,
    },
    /// Adds `count` (1 or more) to each row's count of the EVENT field
    /// `field` on `day`.
    AddEvent {
        /// The EVENT field.
        field: String,
        /// The day.
        day: Day,
        /// Events per row.
        count: u64,
    },
}

impl RowsChange {
    /// The field it changes.
    pub fn field(&self) -> &str {
        match self {
            RowsChange::SetBool { field, .. }
            | RowsChange::AddValue { field, .. }
            | RowsChange::AddEvent { field, .. } => field,
        }
    }
}

/// One change to a set of existing rows, by row id (see
/// `Store::write_rows`): durable in the WAL as one record, applied and
/// published all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsWrite {
    /// The rows (as `Table::rows` gives a segment's): sorted, distinct,
    /// each a row of the table.
    pub rows: Vec<u32>,
    /// What happens to each.
    pub change: RowsChange,
    /// As a batch's `Idempotency-Key`: a retry with the same key and the
    /// same write is acknowledged again, not applied twice.
    pub idempotency_key: Option<String>,
}

/// A [`RowsChange`] with its field resolved to an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldChange {
    SetBool(bool),
    AddValue(String),
    AddEvent { day: Day, count: u64 },
}

/// A [`RowsWrite`] as the WAL holds it: the field by index, the rows as a
/// portable Roaring bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowsRecord {
    pub(crate) field: u32,
    pub(crate) change: FieldChange,
    pub(crate) idempotency_key: Option<String>,
    /// A portable Roaring bitmap of the rows (checked, non-empty).
    pub(crate) rows: Vec<u8>,
    /// How many rows.
    pub(crate) num_rows: u64,
}

const KIND_SET_BOOL: u8 = 1;
const KIND_ADD_VALUE: u8 = 2;
const KIND_ADD_EVENT: u8 = 3;
const FLAG_KEY: u8 = 1;

impl RowsRecord {
    pub(crate) fn new(
        field: u32,
        change: FieldChange,
        idempotency_key: Option<String>,
        rows: &[u32],
    ) -> RowsRecord {
        RowsRecord {
            field,
            change,
            idempotency_key,
            rows: serialize_sorted(rows.iter().copied()),
            num_rows: rows.len() as u64,
        }
    }

    /// The rows, read in place.
    pub(crate) fn rows(&self) -> Result<RoaringView<'_>> {
        RoaringView::new(&self.rows).map_err(|e| {
            EngineError::Internal(format!("a rows write's bitmap at {}: {}", e.offset, e.what))
        })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.rows.len());
        let kind = match &self.change {
            FieldChange::SetBool(_) => KIND_SET_BOOL,
            FieldChange::AddValue(_) => KIND_ADD_VALUE,
            FieldChange::AddEvent { .. } => KIND_ADD_EVENT,
        };
        out.push(kind);
        out.extend_from_slice(&self.field.to_le_bytes());
        match &self.change {
            FieldChange::SetBool(b) => out.push(u8::from(*b)),
            FieldChange::AddValue(v) => {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v.as_bytes());
            }
            FieldChange::AddEvent { day, count } => {
                out.extend_from_slice(&day.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        match &self.idempotency_key {
            Some(k) => {
                out.push(FLAG_KEY);
                out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.rows);
        out
    }

    /// Decodes [`RowsRecord::encode`]'s bytes; `Err` names what is wrong.
    pub(crate) fn decode(b: &[u8]) -> std::result::Result<RowsRecord, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> std::result::Result<&[u8], String> {
            let s = b.get(at..at + n).ok_or("truncated")?;
            at += n;
            Ok(s)
        };
        let kind = take(1)?[0];
        let field = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "truncated")?);
        let change = match kind {
            KIND_SET_BOOL => match take(1)?[0] {
                0 => FieldChange::SetBool(false),
                1 => FieldChange::SetBool(true),
                v => return Err(format!("BOOL value {v}")),
            },
            KIND_ADD_VALUE => {
                let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "truncated")?);
                let v = std::str::from_utf8(take(n as usize)?).map_err(|_| "value is not UTF-8")?;
                FieldChange::AddValue(v.to_owned())
            }
            KIND_ADD_EVENT => {
                let day = i32::from_le_bytes(take(4)?.try_into().map_err(|_| "truncated")?);
                let count = u64::from_le_bytes(take(8)?.try_into().map_err(|_| "truncated")?);
                if count == 0 {
                    return Err("an event count of 0".into());
                }
                FieldChange::AddEvent { day, count }
            }
            k => return Err(format!("unknown kind {k}")),
        };
        let idempotency_key = match take(1)?[0] {
            0 => None,
            FLAG_KEY => {
                let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| "truncated")?);
                let k = std::str::from_utf8(take(n as usize)?).map_err(|_| "key is not UTF-8")?;
                Some(k.to_owned())
            }
            f => return Err(format!("flags {f}")),
        };
        let rows = b[at..].to_vec();
        let num_rows = RoaringView::new(&rows)
            .map_err(|e| format!("rows at {}: {}", e.offset, e.what))?
            .cardinality();
        if num_rows == 0 {
            return Err("no rows".into());
        }
        Ok(RowsRecord {
            field,
            change,
            idempotency_key,
            rows,
            num_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rows_record_is_a_bitmap_not_a_list() {
        let rows: Vec<u32> = (0..1_000_000).collect();
        let r = RowsRecord::new(
            3,
            FieldChange::AddEvent {
                day: 20_000,
                count: 1,
            },
            Some("send-7".into()),
            &rows,
        );
        let bytes = r.encode();
        // A million consecutive rows: 16 dense containers of 8 KiB.
        assert!(bytes.len() < 140_000, "{}", bytes.len());
        assert_eq!(RowsRecord::decode(&bytes).unwrap(), r);
        for change in [
            FieldChange::SetBool(true),
            FieldChange::SetBool(false),
            FieldChange::AddValue("promo_1".into()),
        ] {
            let r = RowsRecord::new(0, change, None, &[1, 5, 70_000, 1 << 21]);
            assert_eq!(RowsRecord::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn damaged_bytes_are_an_error() {
        let r = RowsRecord::new(
            1,
            FieldChange::AddValue("v".into()),
            Some("k".into()),
            &[1, 2],
        );
        let bytes = r.encode();
        for cut in 0..bytes.len() {
            assert!(RowsRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(RowsRecord::decode(&bad).is_err());
        let empty = RowsRecord::new(1, FieldChange::SetBool(true), None, &[]);
        assert!(RowsRecord::decode(&empty.encode()).is_err());
    }
}
