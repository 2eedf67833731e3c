//! The one error type of the storage layer.

use std::path::PathBuf;

/// What can go wrong reading or writing segdb's files.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The operating system refused an operation on a file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing (`open`, `read`, `write`, `fsync`, `rename`, …).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes of a file are not what we wrote: truncated, bit-flipped or
    /// not one of our files at all.
    #[error("corrupt file {path} at offset {offset}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damage (or of the structure that is damaged).
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A block of a part, dictionary part or snapshot whose bytes are not
    /// what we wrote, with the block named in words.
    #[error("corrupt file {path} at offset {offset}: {what} in {place}")]
    CorruptBlock {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damage (the block's start for a checksum).
        offset: u64,
        /// Which block (the engine names its field and value from it).
        block: crate::block_label::BlockLabel,
        /// The block in words: "field `ltv`, bit slice 5, shard 0".
        place: String,
        /// What is wrong.
        what: String,
    },
    /// The file was written by a format version this build cannot read.
    #[error("{path}: unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The WAL refuses writes after an earlier write or fsync failed: what
    /// was written since the last good fsync may not be durable, and
    /// nothing may follow a half-written record. Restart to recover.
    #[error("the WAL refuses writes after an earlier failure ({cause}); restart to recover")]
    Poisoned {
        /// The failure that poisoned the writer.
        cause: String,
    },
    /// A WAL record larger than the format allows.
    #[error("a WAL record of {len} bytes is larger than the limit of {max} bytes")]
    RecordTooLarge {
        /// The record's payload length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

impl FormatError {
    /// A `Corrupt` error.
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> FormatError {
        FormatError::Corrupt {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }

    /// The file and offset of a corruption error (`Corrupt` or
    /// `CorruptBlock`), if it is one.
    pub fn corrupt_at(&self) -> Option<(&std::path::Path, u64)> {
        match self {
            FormatError::Corrupt { path, offset, .. }
            | FormatError::CorruptBlock { path, offset, .. } => Some((path, *offset)),
            _ => None,
        }
    }

    /// An `Io` error.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> FormatError {
        FormatError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The storage layer's result.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;
