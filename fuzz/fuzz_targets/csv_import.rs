//! Any bytes as CSV: segdb's one CSV reader (streamed, scanned and split)
//! and the import's block parser: see `segdb_engine::fuzzing::csv_import`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| segdb_engine::fuzzing::csv_import(data));
