//! axum's own error answers (a 405 with an empty body, an extractor's
//! rejection in `text/plain`) rewritten into the API's one error shape,
//! `{"error": {"code", "message", …}}`, so that every error a client gets
//! reads the same way.

use axum::body::to_bytes;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api_error::ApiError;
use super::metrics::shorten;

/// The most of a rejection's text read (axum's are a line or two).
const MAX_TEXT: usize = 16 << 10;

/// `response` unchanged if it is not an error or already JSON; else the
/// same status as an [`ApiError`], with the text axum gave as the message.
pub(crate) async fn into_api_error(method: &Method, path: &str, response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let allow = parts
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = to_bytes(body, MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let path = shorten(path);
    let method = shorten(method.as_str());
    let e = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
        .with_hint(match &allow {
            Some(a) => format!("this route takes {a}"),
            // axum adds `Allow` outside this middleware.
            None => "the Allow header lists the methods this route takes".to_owned(),
        }),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            or_default(
                text,
                "the request's Content-Type is not one this route takes",
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "body_too_large",
            or_default(text, "the request body is too large"),
        ),
        s if s.is_client_error() => ApiError::new(
            status,
            "bad_request",
            or_default(text, "the request is malformed"),
        )
        .with_hint(format!(
            "check the path, query string and body of {method} {path}"
        )),
        _ => ApiError::internal(or_default(text, "the server failed")),
    };
    let mut r = e.into_response();
    if let Some(a) = allow.and_then(|a| a.parse().ok()) {
        r.headers_mut().insert(header::ALLOW, a);
    }
    r
}

fn or_default(text: String, default: &str) -> String {
    if text.is_empty() {
        default.to_owned()
    } else {
        text
    }
}
