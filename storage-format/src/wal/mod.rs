//! The write-ahead log: records that make a real-time write durable before
//! it is acknowledged. FORMAT.md ("The write-ahead log") has every byte and
//! the recovery rules.
//!
//! - `record.rs`: the segment header and the record (length, sequence
//!   number, CRC32C of the payload and of the record header).
//! - `writer.rs`: [`WalWriter`], shared by many threads, with group commit,
//!   a sync policy, segment rotation and poisoning after an I/O failure.
//! - `reader.rs`: [`replay`], recovery (torn tail cut, damage reported with
//!   file and offset, or dropped on request).
//! - `fs.rs`: [`WalFs`], the file operations, and [`FaultyFs`], which fails
//!   them on demand for tests.
//!
//! ```
//! use segdb_storage_format::wal::{replay, ReplayOptions, WalOptions, WalWriter};
//! let dir = tempfile::tempdir().unwrap();
//! let wal = WalWriter::open(dir.path(), WalOptions::default()).unwrap();
//! assert_eq!(wal.append(b"first").unwrap(), 1);
//! assert_eq!(wal.append(b"second").unwrap(), 2);
//! drop(wal);
//! let mut seen = Vec::new();
//! let summary = replay::<segdb_storage_format::FormatError, _>(
//!     dir.path(), 1, &ReplayOptions::default(), |seq, payload| {
//!         seen.push((seq, payload.to_vec()));
//!         Ok(())
//!     }).unwrap();
//! assert_eq!(seen, [(2, b"second".to_vec())]);
//! assert_eq!(summary.next_seq, 3);
//! ```

mod fs;
mod reader;
mod record;
mod verify;
mod writer;

pub use fs::{FaultyFs, RealFs, WalFile, WalFs};
pub use reader::{replay, ReplayOptions, ReplaySummary, Truncation};
pub use record::{
    encode_record, encode_segment_header, parse_segment_file_name, record_len, segment_file_name,
    MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, WAL_VERSION,
};
pub use verify::verify;
pub use writer::{SyncPolicy, WalOptions, WalStats, WalWriter};

#[cfg(test)]
mod tests;
