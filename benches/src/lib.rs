//! Benchmarks of segdb.
pub mod effects_fixture;
