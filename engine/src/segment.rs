//! Named segments: a dynamic segment is the text of a WHERE expression,
//! bound and planned again at every use (so it sees new data); a SNAPSHOT
//! segment is a set of row ids frozen when it was made, kept in a snapshot
//! file and read in place (see [`Store::create_segment`](crate::Store::create_segment)).

use std::fmt;
use std::sync::Arc;

use segdb_storage_format::snapshot::SnapshotFile;

use crate::error::Result;

/// Whether a segment is re-evaluated on use or frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// Its text is planned again at every use.
    Dynamic,
    /// Its rows were fixed when it was made.
    Snapshot,
}

impl SegmentKind {
    /// `dynamic` or `snapshot` (as SHOW SEGMENTS and the manifest say it).
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Dynamic => "dynamic",
            SegmentKind::Snapshot => "snapshot",
        }
    }
}

/// What a new segment is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentDef {
    /// A WHERE expression over the segment's table, in the language's
    /// canonical text; `uses` names the segments it refers to (`IN SEGMENT
    /// x`), so that the store can refuse cycles and dropping a segment in use.
    Dynamic {
        /// The expression's text.
        text: String,
        /// The segments the text names, each once.
        uses: Vec<String>,
    },
    /// Row ids of the segment's table, sorted and distinct; `text` is the
    /// expression they were evaluated from, if any (an uploaded list of ids
    /// has none).
    Snapshot {
        /// The rows.
        rows: Vec<u32>,
        /// The expression, if any.
        text: Option<String>,
    },
}

/// What the store knows of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its name (unique in the store).
    pub name: String,
    /// The table whose rows it holds.
    pub table: String,
    /// Dynamic or snapshot.
    pub kind: SegmentKind,
    /// The defining expression (always for a dynamic segment).
    pub text: Option<String>,
    /// The segments a dynamic segment's text names.
    pub uses: Vec<String>,
    /// A snapshot's number of rows (`None` for a dynamic segment).
    pub rows: Option<u64>,
    /// A snapshot file's length in bytes (`None` for a dynamic segment).
    pub bytes: Option<u64>,
}

/// The rows of a snapshot segment, read in place from its mapped file:
/// cheap to clone, evaluated chunk by chunk like a part's bitmaps (see
/// [`Expr::Snapshot`](crate::Expr::Snapshot)).
#[derive(Clone)]
pub struct SnapshotRows {
    name: Arc<str>,
    table: Arc<str>,
    file: Arc<SnapshotFile>,
}

impl SnapshotRows {
    pub(crate) fn new(name: &str, table: &str, file: Arc<SnapshotFile>) -> SnapshotRows {
        SnapshotRows {
            name: Arc::from(name),
            table: Arc::from(table),
            file,
        }
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Its number of rows.
    pub fn num_rows(&self) -> u64 {
        self.file.num_rows()
    }

    /// Every row id, in increasing order (reads the whole file; queries
    /// never need this).
    pub fn to_vec(&self) -> Result<Vec<u32>> {
        Ok(self.file.to_vec()?)
    }

    pub(crate) fn file(&self) -> &SnapshotFile {
        &self.file
    }
}

impl PartialEq for SnapshotRows {
    /// The same segment of the same file.
    fn eq(&self, other: &SnapshotRows) -> bool {
        self.name == other.name && self.table == other.table && Arc::ptr_eq(&self.file, &other.file)
    }
}

impl fmt::Debug for SnapshotRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotRows")
            .field("name", &self.name)
            .field("table", &self.table)
            .field("file", &self.file.path())
            .field("rows", &self.file.num_rows())
            .finish()
    }
}
