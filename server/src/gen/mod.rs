//! The data generator.
