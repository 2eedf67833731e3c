//! A WAL record's payload: the table, a fingerprint of the schema the batch
//! was checked against, and the batch (FORMAT.md, "WAL payload").
//!
//! ```text
//! u8 kind | u32 table name length | name | u32 fields | u64 schema hash | body
//! ```
//! Kind 1: the body is a batch of operations by external id
//! (`write/codec.rs`). Kind 2: a write to a set of rows by row id
//! (`write/rows.rs`). Kind 3: SET values added to sets of rows and
//! tallies, together (`write/tallied.rs`). A payload of version 1 is a kind-1 payload, so WALs
//! written before kind 2 existed replay as they did.
//! Fields are referred to by index, and ALTER TABLE only appends fields, so a
//! batch applies to the table as long as the first `fields` fields are
//! still the same (a table dropped and created again with other fields is
//! not); the hash covers their names and kinds.

use segdb_storage_format::dictionary::hash_id;

use super::IngestAck;
use crate::error::{EngineError, Result};
use crate::schema::Schema;
use crate::write::{Batch, Op, RowsRecord, TalliedRecord};

/// The payload of a batch by external id.
const KIND_BATCH: u8 = 1;
/// The payload of a write to a set of rows.
const KIND_ROWS: u8 = 2;
/// The payload of a tallied write.
const KIND_TALLIED: u8 = 3;

/// What a record changes.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Batch(Batch),
    Rows(RowsRecord),
    Tallied(TalliedRecord),
}

/// A batch as the WAL holds it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) table: String,
    fields: u32,
    schema_hash: u64,
    pub(crate) change: Change,
    /// A hash of the body's encoding: a retry with the same idempotency
    /// key must carry the same change.
    pub(crate) hash: u64,
    encoded_body: Vec<u8>,
    /// Not stored: the rows of the operations' ids, looked up before the
    /// batch queued, with the table instance they belong to.
    pub(crate) rows: Option<(u64, Vec<Option<u32>>)>,
}

fn schema_hash(schema: &Schema, n: usize) -> u64 {
    let mut text = String::new();
    for f in schema.fields.iter().take(n) {
        text.push_str(&f.name);
        text.push(':');
        text.push_str(f.kind.as_str());
        text.push(';');
    }
    hash_id(text.as_bytes())
}

impl Record {
    pub(crate) fn new(table: &str, schema: &Schema, change: Change) -> Record {
        let encoded_body = match &change {
            Change::Batch(b) => b.encode(),
            Change::Rows(r) => r.encode(),
            Change::Tallied(r) => r.encode(),
        };
        Record {
            table: table.to_owned(),
            fields: schema.fields.len() as u32,
            schema_hash: schema_hash(schema, schema.fields.len()),
            hash: hash_id(&encoded_body),
            change,
            encoded_body,
            rows: None,
        }
    }

    /// The batch's operations (none for a rows write).
    pub(crate) fn ops(&self) -> &[Op] {
        match &self.change {
            Change::Batch(b) => &b.ops,
            Change::Rows(_) | Change::Tallied(_) => &[],
        }
    }

    /// The operations it counts: a batch's, or one per row written.
    pub(crate) fn operations(&self) -> u64 {
        match &self.change {
            Change::Batch(b) => b.ops.len() as u64,
            Change::Rows(r) => r.num_rows,
            Change::Tallied(r) => r.operations(),
        }
    }

    pub(crate) fn idempotency_key(&self) -> Option<&String> {
        match &self.change {
            Change::Batch(b) => b.idempotency_key.as_ref(),
            Change::Rows(r) => r.idempotency_key.as_ref(),
            Change::Tallied(r) => r.idempotency_key.as_ref(),
        }
    }

    /// Whether the batch was written for (a prefix of) this schema.
    pub(crate) fn matches(&self, schema: &Schema) -> bool {
        let n = self.fields as usize;
        n <= schema.fields.len() && schema_hash(schema, n) == self.schema_hash
    }

    pub(crate) fn ack(&self, seq: u64) -> IngestAck {
        IngestAck {
            operations: self.operations(),
            seq,
            duplicate: false,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + self.table.len() + self.encoded_body.len());
        out.push(match self.change {
            Change::Batch(_) => KIND_BATCH,
            Change::Rows(_) => KIND_ROWS,
            Change::Tallied(_) => KIND_TALLIED,
        });
        out.extend_from_slice(&(self.table.len() as u32).to_le_bytes());
        out.extend_from_slice(self.table.as_bytes());
        out.extend_from_slice(&self.fields.to_le_bytes());
        out.extend_from_slice(&self.schema_hash.to_le_bytes());
        out.extend_from_slice(&self.encoded_body);
        out
    }

    /// Decodes a payload that passed its checksum; an error here is ours.
    pub(crate) fn decode(b: &[u8]) -> Result<Record> {
        let bad = |what: &str| EngineError::Internal(format!("WAL payload: {what}"));
        let kind = match b.first() {
            Some(&k) if k == KIND_BATCH || k == KIND_ROWS || k == KIND_TALLIED => k,
            _ => return Err(bad("unknown kind")),
        };
        let get = |at: usize, n: usize| b.get(at..at + n).ok_or_else(|| bad("truncated"));
        let len = u32::from_le_bytes(get(1, 4)?.try_into().unwrap_or_default()) as usize;
        let table = std::str::from_utf8(get(5, len)?)
            .map_err(|_| bad("table name is not UTF-8"))?
            .to_owned();
        let at = 5 + len;
        let fields = u32::from_le_bytes(get(at, 4)?.try_into().unwrap_or_default());
        let schema_hash = u64::from_le_bytes(get(at + 4, 8)?.try_into().unwrap_or_default());
        let rest = &b[at + 12..];
        let change = match kind {
            KIND_BATCH => Change::Batch(Batch::decode(rest).map_err(|e| bad(&e.to_string()))?),
            KIND_ROWS => Change::Rows(
                RowsRecord::decode(rest).map_err(|e| bad(&format!("rows write: {e}")))?,
            ),
            _ => Change::Tallied(
                TalliedRecord::decode(rest).map_err(|e| bad(&format!("tallied write: {e}")))?,
            ),
        };
        Ok(Record {
            table,
            fields,
            schema_hash,
            hash: hash_id(rest),
            change,
            encoded_body: rest.to_vec(),
            rows: None,
        })
    }
}
