//! Benchmarks of segdb.
