//! Any bytes as a batch of real-time writes (`POST /v1/tables/{t}/ingest`)
//! and as a WAL payload: see `segdb_engine::fuzzing::ingest_batch`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| segdb_engine::fuzzing::ingest_batch(data));
