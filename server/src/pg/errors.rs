//! segdb's errors as Postgres `ErrorResponse`s: a SQLSTATE for each
//! error code, the message, the hint in HINT, and the place as a 1-based
//! character position into the query string (psql draws its caret
//! there).

use pgwire::error::{ErrorInfo, PgWireError};

use super::params::Bound;
use crate::http::ApiError;

/// The SQLSTATE of segdb's error `code` (HTTP `status` for the rest).
pub fn sqlstate(code: &str, status: u16) -> &'static str {
    match code {
        "syntax_error" | "empty_query" | "bad_json" | "bad_body" => "42601",
        "unknown_field" => "42703",
        "unknown_table" => "42P01",
        "unknown_segment" | "unknown_tag" | "unknown_campaign" => "42704",
        "unknown_procedure" => "42883",
        "forbidden" | "forbidden_field" => "42501",
        "unauthorized" | "key_expired" => "28P01",
        "cancelled" | "query_timeout" => "57014",
        "table_exists" | "already_exists" => "42P07",
        "type_error" | "wrong_kind" => "42804",
        "in_use" => "2BP01",
        "invalid_argument" | "bad_input" | "bad_parameter" => "22023",
        "out_of_range" => "22003",
        "null_parameter" => "22004",
        "invalid_schema" | "segment_cycle" | "tag_cycle" | "invalid_segment" => "42P17",
        "result_too_large" | "limit_exceeded" | "table_full" => "54000",
        "busy" | "overloaded" => "53000",
        "export_limited" | "rate_limited" => "53400",
        "unsupported" => "0A000",
        "data_corruption" => "XX001",
        _ if status >= 500 => "XX000",
        _ if status == 429 => "53400",
        _ => "22000",
    }
}

/// `e` as an ErrorInfo; its place (line, column of `bound.text`) as a
/// position in the text the client sent.
pub fn error_info(e: &ApiError, bound: Option<&Bound>) -> ErrorInfo {
    let mut info = ErrorInfo::new(
        "ERROR".to_owned(),
        sqlstate(e.code(), e.status()).to_owned(),
        e.message().to_owned(),
    );
    info.hint = e.hint().map(str::to_owned);
    if let (Some((line, column)), Some(b)) = (e.place(), bound) {
        let pos = position(&b.text, line, column);
        info.position = Some(b.original_position(pos).to_string());
    }
    info
}

/// A statement's warning as a NoticeResponse's fields: severity WARNING,
/// SQLSTATE 01000, the message, the hint, the place as in [`error_info`].
pub fn notice_info(w: &segdb_query_lang::Warning, bound: Option<&Bound>) -> ErrorInfo {
    let mut info = ErrorInfo::new(
        "WARNING".to_owned(),
        "01000".to_owned(),
        w.message().to_owned(),
    );
    info.hint = w.hint().map(str::to_owned);
    if let Some(b) = bound {
        let pos = position(&b.text, w.line(), w.column());
        info.position = Some(b.original_position(pos).to_string());
    }
    info
}

/// `e` as a PgWireError (sent as an ErrorResponse; the connection stays).
pub fn wire(e: &ApiError, bound: Option<&Bound>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e, bound)))
}

/// The 1-based character position of `line`, `column` (from 1) in `text`.
pub fn position(text: &str, line: usize, column: usize) -> usize {
    let before: usize = text
        .split('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count() + 1)
        .sum();
    before + column.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_over_lines() {
        let text = "SELECT 1;\nSELECT é FROM x";
        assert_eq!(position(text, 1, 1), 1);
        assert_eq!(position(text, 2, 8), 10 + 8);
        assert_eq!(
            text.chars().nth(position(text, 2, 10) - 1),
            Some('F'),
            "{text}"
        );
    }
}
