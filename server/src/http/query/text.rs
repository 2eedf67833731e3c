//! The statements' text of a `POST /v1/query` body: plain text, or the
//! JSON form `{"query": …}` with its Content-Type, and the hint for the
//! JSON form sent without it.

use axum::http::{header, HeaderMap};
use serde_json::Value;

use super::super::api_error::ApiError;

/// The statement text of a request: the body itself, or the `query` of a
/// JSON body.
pub(super) fn query_text(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            let text = e.to_string();
            let why = text.rfind(" at line ").map_or(&text[..], |at| &text[..at]);
            ApiError::bad_request("bad_json", format!("the body is not valid JSON: {why}"))
                .at(e.line(), e.column().max(1))
        })?;
        return match v.get("query") {
            Some(Value::String(q)) => Ok(q.clone()),
            _ => Err(ApiError::bad_request(
                "bad_json",
                "the JSON body needs a string field `query`",
            )
            .with_hint(r#"send {"query": "SELECT COUNT(*) FROM users"}"#)),
        };
    }
    String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::bad_request("bad_body", format!("the body is not UTF-8: {e}")))
}

/// `e`, a syntax error of a text body, with a hint to say it is JSON if
/// it looks like the JSON form (`{"query": …}` sent without
/// `Content-Type: application/json`, as `curl -d` does).
pub(super) fn json_without_type(e: ApiError, text: &str) -> ApiError {
    let looks_json = text.trim_start().starts_with('{')
        && serde_json::from_str::<Value>(text).is_ok_and(|v| v.get("query").is_some());
    if looks_json {
        e.with_hint(
            "this is the JSON form of a query: send it with `Content-Type: application/json`, \
             or send the statements alone as text",
        )
    } else {
        e
    }
}
