//! The web console: `GET /` (its page) and `GET /console/{asset}` (its
//! scripts and style), every file embedded in the binary, served without a
//! token (they hold no data: every figure the console shows comes from the
//! public API, called by the browser with the user's token); and
//! `GET /v1/whoami`, the principal a token stands for, which the console
//! asks to know which actions to offer.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::api_error::ApiError;
use super::auth::Principal;

/// One embedded file: its name under `/console/`, its bytes and type.
struct Asset {
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $ty:expr) => {
        Asset {
            name: $name,
            body: include_str!(concat!("../../console/", $name)),
            content_type: $ty,
        }
    };
}

/// Every file of the console.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("errors.js", JS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("ui.js", JS),
    asset!("charts.js", JS),
    asset!("query.js", JS),
    asset!("catalog.js", JS),
    asset!("profile.js", JS),
    asset!("insight.js", JS),
    asset!("builder.js", JS),
    asset!("builder_save.js", JS),
    asset!("import.js", JS),
    asset!("campaigns.js", JS),
];

/// The console's Content-Security-Policy: scripts, styles, fonts and
/// API calls from this server only (no inline script: a value that made
/// its way into the page as markup could not run), no plugins, no
/// framing (clickjacking), forms to this server. Inline styles are
/// allowed: the charts and inputs set widths in `style` attributes. Any
/// violation is an error the browser tests see (`errors.js`).
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The entity tag of a file: FNV-1a of its bytes (the files change only
/// with the binary).
fn etag(body: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(asset.body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let common = [
        (header::ETAG, HeaderValue::from_str(&tag).expect("hex")),
        // Revalidated on every load: a new binary's files are seen at once.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

/// `GET /`: the console's page.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&ASSETS[0], &headers)
}

/// `GET /console/{asset}`: one of its files, or 404 `unknown_asset`.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| serve(a, &headers))
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_asset",
                format!(
                    "the console has no file `{}`",
                    super::metrics::shorten(&name)
                ),
            )
            .with_hint("the console is at /")
        })
}

/// Whether `path` is one of the console's files, served without a token.
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

/// `GET /v1/whoami`: `{"name", "role", "allowed_fields",
/// "allowed_categories"}` of the token sent (any role).
pub async fn whoami(Extension(p): Extension<Principal>) -> Json<serde_json::Value> {
    Json(json!({
        "name": p.name,
        "role": p.role,
        "allowed_fields": p.limits.allowed_fields,
        "allowed_categories": p.limits.allowed_categories,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_once_with_its_type() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{}", a.name);
            assert!(
                ASSETS[..i].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
            let ext = a.name.rsplit('.').next().unwrap();
            let want = match ext {
                "js" => "text/javascript",
                "css" => "text/css",
                "html" => "text/html",
                _ => panic!("{}: no type for .{ext}", a.name),
            };
            assert!(a.content_type.starts_with(want), "{}", a.name);
        }
        // Every script a module imports is served.
        for a in ASSETS {
            for line in a.body.lines() {
                if let Some(rest) = line.split(" from \"./").nth(1) {
                    let file = rest.split('"').next().unwrap();
                    assert!(
                        ASSETS.iter().any(|b| b.name == file),
                        "{} imports {file}, which is not embedded",
                        a.name
                    );
                }
            }
        }
    }

    #[test]
    fn etags_differ_with_the_bytes() {
        assert_ne!(etag("a"), etag("b"));
        assert_eq!(etag("a"), etag("a"));
    }
}
