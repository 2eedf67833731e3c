//! Damaged blocks named in people's words: the storage layer says "field
//! 10, bit slice 5, shard 0"; a table knows that field 10 is `ltv`, and
//! which value a value block holds, so every error that leaves a table's
//! read paths (queries, profiles, insight, EXPLAIN) and every problem
//! `segdb check` reports reads "table `users`, field `ltv`, bit slice 5,
//! shard 0".

use segdb_storage_format::block_label::{BlockLabel, FileKind, Names};
use segdb_storage_format::part::TAG_VALUE;
use segdb_storage_format::FormatError;

use crate::error::EngineError;
use crate::schema::Schema;
use crate::table::{Table, ValueDict};

impl Table {
    /// `e` with a damaged block of this table's files named by table,
    /// field and value; any other error as it is.
    pub fn name_error(&self, e: EngineError) -> EngineError {
        match e {
            EngineError::Storage(FormatError::CorruptBlock {
                path,
                offset,
                block,
                what,
                ..
            }) if path.starts_with(&self.dir) => EngineError::Storage(FormatError::CorruptBlock {
                place: describe_block(&self.name, &self.schema, &self.values, &block),
                path,
                offset,
                block,
                what,
            }),
            other => other,
        }
    }
}

/// A block of table `table` in words: "table `users`, field `ltv`, bit
/// slice 5, shard 0".
pub(crate) fn describe_block(
    table: &str,
    schema: &Schema,
    values: &[ValueDict],
    block: &BlockLabel,
) -> String {
    let mut names = Names::default();
    if block.file == FileKind::Part {
        let fi = block.key.field as usize;
        names.field = schema.fields.get(fi).map(|f| f.name.as_str());
        if block.key.tag == TAG_VALUE {
            names.value = values
                .get(fi)
                .and_then(|d| d.values().get(block.key.key as usize))
                .map(String::as_str);
        }
    }
    format!("table `{table}`, {}", block.describe(names))
}
