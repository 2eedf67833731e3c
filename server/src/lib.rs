//! The segdb binary's library: command-line tools and (later) the HTTP server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod gen;
