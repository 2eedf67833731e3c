//! The engine's errors: the client's mistakes and our faults are different
//! variants, so that the server can map them to 4xx and 5xx.

use segdb_storage_format::FormatError;

/// What can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No table of that name.
    #[error("unknown table `{0}`")]
    UnknownTable(String),
    /// The table exists already.
    #[error("table `{0}` already exists")]
    TableExists(String),
    /// No field of that name in the table.
    #[error("unknown field `{field}` in table `{table}`")]
    UnknownField {
        /// The table.
        table: String,
        /// The field asked for.
        field: String,
    },
    /// A field used in a way its kind does not allow.
    #[error("field `{field}` is {kind}: {what}")]
    WrongKind {
        /// The field.
        field: String,
        /// Its kind.
        kind: &'static str,
        /// What was attempted.
        what: String,
    },
    /// A schema that cannot be created.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// Bad input to an import, with where and why.
    #[error("{source_name}: line {line}{}: {reason}{}", input_location(column, *position), hint_suffix(hint))]
    BadInput {
        /// File name or `<stdin>`/`<body>`.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// Column (or JSON key) name; `-` for the line as a whole.
        column: String,
        /// What is wrong.
        reason: String,
        /// Where in the line, from 1: a CSV cell's column number, or for
        /// a line that is not JSON the byte at which it stopped being JSON.
        position: Option<u64>,
        /// How to fix it ("did you mean `city`?"), if we can tell.
        hint: Option<String>,
    },
    /// No segment of that name.
    #[error("unknown segment `{0}`")]
    UnknownSegment(String),
    /// The segment exists already (and was not to be replaced).
    #[error("segment `{0}` already exists")]
    SegmentExists(String),
    /// Other segments use the segment, so it cannot be dropped (or moved to
    /// another table).
    #[error("segment `{name}` is used by {}: drop or replace {} first", list("segment", users), if users.len() == 1 { "it" } else { "them" })]
    SegmentInUse {
        /// The segment.
        name: String,
        /// The segments whose definitions name it.
        users: Vec<String>,
    },
    /// The table has segments, so it cannot be dropped.
    #[error("table `{table}` has {}: drop them first", list("segment", segments))]
    TableHasSegments {
        /// The table.
        table: String,
        /// Its segments.
        segments: Vec<String>,
    },
    /// A segment that would use itself, through the path shown.
    #[error("segment `{name}` would use itself: {path}")]
    SegmentCycle {
        /// The segment being defined.
        name: String,
        /// `a -> b -> a`.
        path: String,
    },
    /// A segment that cannot be made or used as asked.
    #[error("{0}")]
    InvalidSegment(String),
    /// A table cannot take more rows: row ids are 32-bit.
    #[error("table `{0}` is full: it has 2^32 rows")]
    TableFull(String),
    /// The evaluation ran past its time limit and was stopped.
    #[error("the query was stopped after running for its time limit of {limit_ms} ms")]
    Timeout {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The evaluation was stopped (the server is shutting down).
    #[error("the query was cancelled")]
    Cancelled,
    /// An argument out of its range (a quantile past 1, a bucket width of 0).
    #[error("{0}")]
    InvalidArgument(String),
    /// Real-time writes are coming faster than they can be flushed: the
    /// delta is full. Nothing of the batch was applied; retry later.
    #[error("{what}; retry in {retry_after_ms} ms")]
    Overloaded {
        /// What is full.
        what: String,
        /// When a retry is likely to succeed.
        retry_after_ms: u64,
    },
    /// The write-ahead log failed (a write or fsync error, a full disk).
    /// The batch was not acknowledged and nothing of it was applied; no
    /// later batch is taken until a restart recovers from the WAL.
    #[error("the write-ahead log failed, so writes are refused until a restart: {0}")]
    WalFailed(String),
    /// An `Idempotency-Key` that cannot be used for this batch.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// A failure of segdb itself (a worker that stopped without an answer).
    #[error("internal error: {0}")]
    Internal(String),
    /// Another open of the store holds its lock (see `store::lock`).
    #[error(
        "the store {} is in use by {holder}, which holds its lock file {}/LOCK; \
         stop it first, or, while it serves, import through it with \
         `POST /v1/tables/{{t}}/import` and query it with `POST /v1/query`",
        dir.display(), dir.display()
    )]
    StoreLocked {
        /// The store's directory.
        dir: std::path::PathBuf,
        /// Who holds the lock, e.g. "process 4242 (`segdb serve --data s`)".
        holder: String,
    },
    /// The storage layer failed: I/O or corruption (our fault or the disk's).
    #[error(transparent)]
    Storage(#[from] FormatError),
    /// An I/O error reading an import's input.
    #[error("reading {source_name}: {error}")]
    Input {
        /// File name.
        source_name: String,
        /// The error.
        error: std::io::Error,
    },
}

/// "segment `a`" or "segments `a`, `b`".
fn list(noun: &str, names: &[String]) -> String {
    let s = if names.len() == 1 { "" } else { "s" };
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("{noun}{s} {}", names.join(", "))
}

impl EngineError {
    /// Whether the error is the client's mistake (as opposed to ours or the disk's).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            EngineError::Storage(_)
                | EngineError::Input { .. }
                | EngineError::Internal(_)
                | EngineError::Cancelled
                | EngineError::Overloaded { .. }
                | EngineError::WalFailed(_)
                | EngineError::StoreLocked { .. }
        )
    }
}

/// The engine's result.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Where in a line bad input is, as [`EngineError::BadInput`] says it:
/// `, column `age`` (a CSV column or a JSON key), `, byte 32` (a line that
/// is not JSON), or nothing (the line as a whole).
pub fn input_location(column: &str, position: Option<u64>) -> String {
    match (column, position) {
        ("-", Some(p)) => format!(", byte {p}"),
        ("-", None) => String::new(),
        (c, _) => format!(", column `{c}`"),
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default()
}
