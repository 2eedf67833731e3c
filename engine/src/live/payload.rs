//! A WAL record's payload: the table, a fingerprint of the schema the batch
//! was checked against, and the batch (FORMAT.md, "WAL payload").
//!
//! ```text
//! u8 version (1) | u32 table name length | name | u32 fields | u64 schema hash | batch
//! ```
//! Fields are referred to by index, and ALTER TABLE only appends fields, so a
//! batch applies to the table as long as the first `fields` fields are
//! still the same (a table dropped and created again with other fields is
//! not); the hash covers their names and kinds.

use segdb_storage_format::dictionary::hash_id;

use super::IngestAck;
use crate::error::{EngineError, Result};
use crate::schema::Schema;
use crate::write::Batch;

const VERSION: u8 = 1;

/// A batch as the WAL holds it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) table: String,
    fields: u32,
    schema_hash: u64,
    pub(crate) batch: Batch,
    /// A hash of the batch's encoding: a retry with the same idempotency
    /// key must carry the same batch.
    pub(crate) hash: u64,
    encoded_batch: Vec<u8>,
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
    pub(crate) fn new(table: &str, schema: &Schema, batch: Batch) -> Record {
        let encoded_batch = batch.encode();
        Record {
            table: table.to_owned(),
            fields: schema.fields.len() as u32,
            schema_hash: schema_hash(schema, schema.fields.len()),
            hash: hash_id(&encoded_batch),
            batch,
            encoded_batch,
            rows: None,
        }
    }

    /// Whether the batch was written for (a prefix of) this schema.
    pub(crate) fn matches(&self, schema: &Schema) -> bool {
        let n = self.fields as usize;
        n <= schema.fields.len() && schema_hash(schema, n) == self.schema_hash
    }

    pub(crate) fn ack(&self, seq: u64) -> IngestAck {
        IngestAck {
            operations: self.batch.ops.len() as u64,
            seq,
            duplicate: false,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + self.table.len() + self.encoded_batch.len());
        out.push(VERSION);
        out.extend_from_slice(&(self.table.len() as u32).to_le_bytes());
        out.extend_from_slice(self.table.as_bytes());
        out.extend_from_slice(&self.fields.to_le_bytes());
        out.extend_from_slice(&self.schema_hash.to_le_bytes());
        out.extend_from_slice(&self.encoded_batch);
        out
    }

    /// Decodes a payload that passed its checksum; an error here is ours.
    pub(crate) fn decode(b: &[u8]) -> Result<Record> {
        let bad = |what: &str| EngineError::Internal(format!("WAL payload: {what}"));
        if b.first() != Some(&VERSION) {
            return Err(bad("unknown version"));
        }
        let get = |at: usize, n: usize| b.get(at..at + n).ok_or_else(|| bad("truncated"));
        let len = u32::from_le_bytes(get(1, 4)?.try_into().unwrap_or_default()) as usize;
        let table = std::str::from_utf8(get(5, len)?)
            .map_err(|_| bad("table name is not UTF-8"))?
            .to_owned();
        let at = 5 + len;
        let fields = u32::from_le_bytes(get(at, 4)?.try_into().unwrap_or_default());
        let schema_hash = u64::from_le_bytes(get(at + 4, 8)?.try_into().unwrap_or_default());
        let rest = &b[at + 12..];
        let batch = Batch::decode(rest).map_err(|e| bad(&e.to_string()))?;
        Ok(Record {
            table,
            fields,
            schema_hash,
            hash: hash_id(rest),
            batch,
            encoded_batch: rest.to_vec(),
            rows: None,
        })
    }
}
