//! Any bytes as a part, a dictionary part, a snapshot, the manifest and a
//! WAL segment: `Err`, never a panic (see
//! `segdb_storage_format::fuzzing::read_any`). Built with `--cfg fuzzing`,
//! storage-format accepts every checksum, so mutations reach the checks
//! behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| segdb_storage_format::fuzzing::read_any(data));
