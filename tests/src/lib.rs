//! Shared test code: the naive row-scan model that the engine is checked
//! against, and generators of random tables and expressions.

pub mod generated;
pub mod model;
pub mod model_answers;
