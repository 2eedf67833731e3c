//! segdb's query language.
#![forbid(unsafe_code)]
