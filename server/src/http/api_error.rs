//! Every error the HTTP API answers, as one type with a status and a stable
//! `code`: 4xx for the client's mistakes, 5xx only for ours. The body is
//! `{"error": {"code", "message", "line", "column", "hint"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use segdb_engine::EngineError;
use segdb_query_lang::{CatalogError, ErrorKind, QueryError};
use serde_json::json;

use crate::exec::ExecError;

/// The code of an error answer, in its response's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
    hint: Option<String>,
    retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            line: None,
            column: None,
            hint: None,
            retry_after_s: None,
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no or an unknown token.
    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the token's role may not do this.
    pub fn forbidden(message: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such thing.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// The same error with a `Retry-After` of `seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_s = Some(seconds);
        self
    }

    /// 503 with `Retry-After`: too busy right now.
    pub fn busy(message: impl Into<String>, retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }

    /// 500: our fault. The message is logged; the client gets it too (it
    /// names a file or an I/O error, never a stack trace).
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(%message, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 500: a damaged file (the message names it). Our fault, logged.
    pub fn data_corruption(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(%message, "data corruption");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "data_corruption",
            message,
        )
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    /// The same error at `line` and `column` (from 1) of the body.
    pub fn at(mut self, line: usize, column: usize) -> ApiError {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// The same error with `note` added to its hint (after the hint, if
    /// it has one).
    pub fn with_note(mut self, note: impl Into<String>) -> ApiError {
        let note = note.into();
        self.hint = Some(match self.hint.take() {
            Some(h) => format!("{h}; {note}"),
            None => note,
        });
        self
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where in the statements' text it is: line and column (from 1, in
    /// characters), if it is anywhere.
    pub fn place(&self) -> Option<(usize, usize)> {
        self.line.zip(self.column)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        if e.is_internal() {
            // The catalog failed (a damaged dictionary): ours, not the
            // query's; the message names the file.
            return match e.kind() {
                ErrorKind::Catalog(CatalogError::Corrupt(m)) => ApiError::data_corruption(m),
                _ => ApiError::internal(e.message()),
            };
        }
        ApiError {
            line: Some(e.line()),
            column: Some(e.column()),
            hint: e.hint(),
            ..ApiError::bad_request(e.code(), e.message())
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        if let EngineError::BadInput {
            source_name,
            line,
            column,
            reason,
            position,
            hint,
        } = e
        {
            // The line, the position and the hint in their fields; the
            // message says the rest (the column's name, the reason).
            let place = segdb_engine::error::input_location(&column, position);
            return ApiError {
                line: usize::try_from(line).ok(),
                column: position.and_then(|p| usize::try_from(p).ok()),
                hint,
                ..ApiError::bad_request(
                    "bad_input",
                    format!("{source_name}: line {line}{place}: {reason}"),
                )
            };
        }
        let message = e.to_string();
        let (status, code) = match &e {
            EngineError::UnknownTable(_) => (StatusCode::NOT_FOUND, "unknown_table"),
            EngineError::TableExists(_) => (StatusCode::CONFLICT, "table_exists"),
            EngineError::UnknownField { .. } => (StatusCode::BAD_REQUEST, "unknown_field"),
            EngineError::WrongKind { .. } => (StatusCode::BAD_REQUEST, "wrong_kind"),
            EngineError::InvalidSchema(_) => (StatusCode::BAD_REQUEST, "invalid_schema"),
            EngineError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            EngineError::BadInput { .. } => (StatusCode::BAD_REQUEST, "bad_input"),
            EngineError::TableFull(_) => (StatusCode::CONFLICT, "table_full"),
            EngineError::UnknownSegment(_) => (StatusCode::NOT_FOUND, "unknown_segment"),
            EngineError::SegmentExists(_) => (StatusCode::CONFLICT, "already_exists"),
            EngineError::SegmentInUse { .. } | EngineError::TableHasSegments { .. } => {
                (StatusCode::CONFLICT, "in_use")
            }
            EngineError::SegmentCycle { .. } => (StatusCode::BAD_REQUEST, "segment_cycle"),
            EngineError::InvalidSegment(_) => (StatusCode::BAD_REQUEST, "invalid_segment"),
            EngineError::Timeout { .. } => (StatusCode::REQUEST_TIMEOUT, "query_timeout"),
            EngineError::Cancelled => (StatusCode::SERVICE_UNAVAILABLE, "cancelled"),
            // Reading an import's body failed: the client's stream broke.
            EngineError::Input { .. } => (StatusCode::BAD_REQUEST, "bad_body"),
            EngineError::IdempotencyConflict(_) => (StatusCode::CONFLICT, "idempotency_conflict"),
            EngineError::Overloaded { retry_after_ms, .. } => {
                let mut a = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
                a.retry_after_s = Some(retry_after_ms.div_ceil(1000).max(1));
                return a;
            }
            // Not the client's fault, and not transient: the batch was not
            // acknowledged, and writes are refused until a restart.
            EngineError::WalFailed(_) => (StatusCode::SERVICE_UNAVAILABLE, "wal_failed"),
            EngineError::Storage(e) if e.corrupt_at().is_some() => {
                return ApiError::data_corruption(message)
            }
            // A server opens its store once, at start; no request meets a lock.
            EngineError::Internal(_)
            | EngineError::Storage(_)
            | EngineError::StoreLocked { .. } => return ApiError::internal(message),
        };
        ApiError::new(status, code, message)
    }
}

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> ApiError {
        match e {
            ExecError::Query(q) => q.into(),
            ExecError::Engine(e) => e.into(),
            ExecError::Forbidden(f) => (*f).into(),
            ExecError::DataCorruption(m) => ApiError::data_corruption(m),
            ExecError::InUse(m) => ApiError::new(StatusCode::CONFLICT, "in_use", m),
            ExecError::Partial { error, note } => ApiError::from(*error).with_note(note),
        }
    }
}

impl From<crate::permissions::Forbidden> for ApiError {
    /// 403 `forbidden_field`, naming the table and field, and where the
    /// statement names it (or the segment that uses it).
    fn from(f: crate::permissions::Forbidden) -> ApiError {
        ApiError {
            line: f.at.map(|(l, _)| l),
            column: f.at.map(|(_, c)| c),
            hint: Some(f.hint().to_owned()),
            ..ApiError::new(StatusCode::FORBIDDEN, "forbidden_field", f.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
        }});
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // For the audit log's `error` field.
        r.extensions_mut().insert(ErrorCode(self.code));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real-time write failures: a failed WAL is the server's (5xx, not
    /// retried blindly), a full delta is temporary (503 with Retry-After),
    /// a reused key is the client's (409).
    #[test]
    fn ingest_errors_map_to_their_statuses() {
        let wal: ApiError = EngineError::WalFailed("fsync failed".into()).into();
        assert_eq!(wal.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(wal.code, "wal_failed");
        assert_eq!(wal.retry_after_s, None);
        let full: ApiError = EngineError::Overloaded {
            what: "the live delta is full".into(),
            retry_after_ms: 1500,
        }
        .into();
        assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.retry_after_s, Some(2));
        let r = full.into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let key: ApiError = EngineError::IdempotencyConflict("reused".into()).into();
        assert_eq!(key.status, StatusCode::CONFLICT);
    }
}
