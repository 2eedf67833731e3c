//! segdb's bytes on disk. See FORMAT.md.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod date;
