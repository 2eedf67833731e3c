//! segdb's bytes on disk. See FORMAT.md for every byte.
//!
//! ```
//! use segdb_storage_format::bitmap::{serialize_sorted, RoaringView};
//! let bytes = serialize_sorted([1, 5, 70_000]);
//! let view = RoaringView::new(&bytes).unwrap();
//! assert!(view.contains(70_000));
//! assert_eq!(view.cardinality(), 3);
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bitmap;
pub mod cpu;
pub mod date;
pub mod dense;
pub mod error;
pub mod mmap;

pub use error::{FormatError, Result};
pub mod block_file;
pub mod block_label;
pub mod dictionary;
pub mod fsutil;
pub mod manifest;
pub mod part;
pub mod snapshot;
pub mod wal;

#[doc(hidden)]
pub mod fuzzing;

/// Whether a stored checksum matches the one computed. A build for fuzzing
/// (`--cfg fuzzing`, which cargo-fuzz sets) accepts every checksum, so that
/// the fuzzer reaches the checks behind them; no other build does.
#[inline]
pub(crate) fn checksum_ok(computed: u32, stored: u32) -> bool {
    computed == stored || cfg!(fuzzing)
}
