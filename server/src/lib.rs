//! The segdb binary's library: the data generator, statement execution and
//! the standard workload (the HTTP server comes with its own issue).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod exec;
pub mod gen;
pub mod procedures;
pub mod workload;
