//! The segdb binary's library: the data generator, statement execution and
//! the standard workload, and the HTTP server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod background;
pub mod campaign_delivery;
pub mod campaign_triggers;
pub mod campaigns;
pub mod client;
pub mod exec;
pub mod gen;
pub mod http;
pub mod permissions;
pub mod pg;
pub mod procedures;
pub mod profile;
pub mod workload;
