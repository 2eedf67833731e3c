//! Blocks named in people's words for messages: "field `ltv`, bit slice 5,
//! shard 0" rather than `BlockKey { field: 10, tag: 5, key: 0, aux: 0 }`.
//!
//! The storage layer knows a block's kind from its file's magic number and
//! its key; it does not know field or value names, which the engine fills
//! in where it has the schema ([`BlockLabel::describe`] with names).

use crate::block_file::BlockKey;
use crate::date::format_iso_day;
use crate::dictionary::DICT_MAGIC;
use crate::part::{
    unbias_day, EVENT_ACTIVE, PART_MAGIC, TAG_EVENT, TAG_INT_META, TAG_INT_SLICE, TAG_NOT_NULL,
    TAG_TEXT, TAG_TRUE, TAG_VALUE,
};
use crate::snapshot::SNAPSHOT_MAGIC;

/// The kind of file a block is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A part (or a delta layer) of one shard.
    Part,
    /// A dictionary part (external ids).
    Dictionary,
    /// A snapshot segment's rows.
    Snapshot,
    /// A block file of no kind known here.
    Other,
}

impl FileKind {
    /// The kind of a block file with this magic number.
    pub fn of_magic(magic: &[u8; 8]) -> FileKind {
        if magic == PART_MAGIC {
            FileKind::Part
        } else if magic == DICT_MAGIC {
            FileKind::Dictionary
        } else if magic == SNAPSHOT_MAGIC {
            FileKind::Snapshot
        } else {
            FileKind::Other
        }
    }
}

/// Which block of which file: enough to say it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLabel {
    /// The file's kind.
    pub file: FileKind,
    /// The block's key.
    pub key: BlockKey,
    /// The shard a part holds (a part's footer says).
    pub shard: Option<u32>,
}

/// Names the engine knows: a field's name and, for a value block, the
/// value's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    /// The field's name.
    pub field: Option<&'a str>,
    /// The value's name (ENUM and SET value blocks).
    pub value: Option<&'a str>,
}

impl BlockLabel {
    /// The block in words, with the names given (else numbers).
    pub fn describe(&self, names: Names<'_>) -> String {
        let k = self.key;
        let mut out = match self.file {
            FileKind::Part => {
                let field = match names.field {
                    Some(n) => format!("field `{n}`"),
                    None => format!("field {}", k.field),
                };
                let what = match k.tag {
                    TAG_NOT_NULL => "not-null rows".to_owned(),
                    TAG_VALUE => match names.value {
                        Some(v) => format!("rows of value `{v}`"),
                        None => format!("rows of value id {}", k.key),
                    },
                    TAG_TRUE => "rows that are true".to_owned(),
                    TAG_INT_META => "INT base and width".to_owned(),
                    TAG_INT_SLICE => format!("bit slice {}", k.key),
                    TAG_EVENT if k.aux == EVENT_ACTIVE => {
                        format!("active rows on {}", format_iso_day(unbias_day(k.key)))
                    }
                    TAG_EVENT => format!(
                        "count bit slice {} on {}",
                        k.aux,
                        format_iso_day(unbias_day(k.key))
                    ),
                    TAG_TEXT => "text column".to_owned(),
                    tag => format!("block of unknown tag {tag} (key {}, aux {})", k.key, k.aux),
                };
                format!("{field}, {what}")
            }
            FileKind::Dictionary => match k.tag {
                crate::dictionary::TAG_META => "the dictionary's metadata".to_owned(),
                crate::dictionary::TAG_IDS => format!("ids page {}", k.key),
                crate::dictionary::TAG_SLOTS => format!("hash table page {}", k.key),
                crate::dictionary::TAG_FIRSTS => "the first id of every ids page".to_owned(),
                crate::dictionary::TAG_COUNTER => "the rule of the part's ids".to_owned(),
                tag => format!("dictionary block of unknown tag {tag}"),
            },
            FileKind::Snapshot => format!("rows of shard {}", k.key),
            FileKind::Other => format!(
                "block (field {}, tag {}, key {}, aux {})",
                k.field, k.tag, k.key, k.aux
            ),
        };
        if let Some(shard) = self.shard {
            out.push_str(&format!(", shard {shard}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_read_in_words() {
        let slice = BlockLabel {
            file: FileKind::Part,
            key: BlockKey::new(10, TAG_INT_SLICE, 5, 0),
            shard: Some(0),
        };
        assert_eq!(
            slice.describe(Names::default()),
            "field 10, bit slice 5, shard 0"
        );
        let named = Names {
            field: Some("ltv"),
            value: None,
        };
        assert_eq!(slice.describe(named), "field `ltv`, bit slice 5, shard 0");
        let day = crate::date::parse_iso_day("2026-11-22").unwrap();
        let event = BlockLabel {
            key: BlockKey::new(3, TAG_EVENT, crate::part::bias_day(day), 1),
            ..slice
        };
        assert_eq!(
            event.describe(Names::default()),
            "field 3, count bit slice 1 on 2026-11-22, shard 0"
        );
        let page = BlockLabel {
            file: FileKind::Dictionary,
            key: BlockKey::new(0, crate::dictionary::TAG_IDS, 2, 0),
            shard: None,
        };
        assert_eq!(page.describe(Names::default()), "ids page 2");
    }
}
