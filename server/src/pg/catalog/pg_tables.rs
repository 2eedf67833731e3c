//! The pg_catalog and information_schema queries clients send to list
//! tables and columns, answered from segdb's catalog.

use super::super::run::Outcome;
use super::super::Session;
use crate::http::{ApiError, Shared};

/// The answer to a catalog query `text` (`lower`: the same in lowercase).
pub fn answer(
    _s: &Shared,
    _session: &Session,
    _text: &str,
    lower: &str,
) -> Option<Result<Vec<Outcome>, ApiError>> {
    Some(Err(ApiError::bad_request(
        "unsupported",
        format!(
            "segdb does not answer this catalog query: {}",
            crate::audit::cut(lower)
        ),
    )))
}
