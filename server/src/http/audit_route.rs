//! `GET /v1/audit` (admin): the audit log read back, oldest first, the
//! newest `limit` entries that match `since`, `until`, `principal` and
//! `action`; and the writing of each request's entries, which the
//! `observe` middleware calls once the answer is ready.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::api_error::{ApiError, ErrorCode};
use super::auth::{self, Principal, Role};
use super::{blocking, Shared};
use crate::audit::{self, time, Action, Entry, Filter, Note, Notes, Outcome};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: usize = 1_000;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 10_000;

/// `GET /v1/audit?since=…&until=…&principal=…&action=…&limit=…`.
pub async fn read(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let note = Note::new(Action::AuditRead, json!({}), json!(params));
    let r = read_entries(s, role, params).await;
    let mut r = r.into_response();
    r.extensions_mut().insert(Notes(vec![note]));
    Ok(r)
}

async fn read_entries(
    s: Shared,
    role: Role,
    params: HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    auth::require(role, Role::Admin, "reading the audit log")?;
    let bad = |k: &str, v: &str, what: &str| {
        ApiError::bad_request("bad_parameter", format!("{k}=`{}`: {what}", audit::cut(v)))
    };
    let mut filter = Filter {
        limit: DEFAULT_LIMIT,
        ..Filter::default()
    };
    for (k, v) in &params {
        match k.as_str() {
            "since" | "until" => {
                let ms = time::parse(v).ok_or_else(|| {
                    bad(
                        k,
                        v,
                        "not an RFC 3339 instant such as 2026-12-05T02:10:07Z, or a day",
                    )
                })?;
                if k == "since" {
                    filter.since_ms = Some(ms);
                } else {
                    filter.until_ms = Some(ms);
                }
            }
            "principal" => filter.principal = Some(v.clone()),
            "action" => {
                filter.action = Some(Action::from_name(v).ok_or_else(|| {
                    let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                    bad(k, v, &format!("not an action ({})", names.join(", ")))
                })?)
            }
            "limit" => {
                filter.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad(k, v, &format!("not a number from 1 to {MAX_LIMIT}")))?
            }
            _ => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("unknown parameter `{}`", audit::cut(k)),
                )
                .with_hint("since, until, principal, action, limit"))
            }
        }
    }
    let audit = s.audit.clone();
    let entries = blocking(move || {
        audit
            .read(&filter)
            .map_err(|e| ApiError::internal(format!("reading the audit log: {e}")))
    })
    .await?;
    Ok(Json(json!({ "entries": entries })))
}

/// The action of a request its handler did not describe, for the requests
/// that are audited whatever their outcome; `None`: not audited unless
/// denied.
fn route_action(method: &axum::http::Method, route: &str) -> Option<Action> {
    use axum::http::Method;
    Some(match (method, route) {
        (&Method::PUT, "/v1/segments/{name}") => Action::SegmentCreate,
        (&Method::DELETE, "/v1/segments/{name}") => Action::SegmentDrop,
        (&Method::POST, "/v1/tables/{table}/import") => Action::Import,
        (&Method::POST, "/v1/tables/{table}/ingest") => Action::Ingest,
        (&Method::GET, "/v1/tables/{table}/profiles/{id}") => Action::ProfileRead,
        (&Method::GET, "/v1/segments/{name}/ids") => Action::Export,
        (&Method::GET, "/v1/audit") => Action::AuditRead,
        (&Method::POST, "/v1/keys") => Action::KeyCreate,
        (&Method::DELETE, "/v1/keys/{name}") => Action::KeyDelete,
        _ => return None,
    })
}

/// The target of a request its handler did not describe, from its path:
/// `{"table", "id"}` or `{"segment"}` on those routes, else `{"path"}`.
fn route_target(route: &str, path: &str) -> Value {
    let parts: Vec<&str> = path.split('/').collect();
    let part = |i: usize| parts.get(i).map(|p| audit::cut(p));
    if route.starts_with("/v1/tables/{table}") {
        let mut t = json!({ "table": part(3) });
        if route.ends_with("{id}") {
            t["id"] = json!(part(5));
        }
        t
    } else if route.starts_with("/v1/segments/{name}") {
        json!({ "segment": part(3) })
    } else if route == "/v1/keys/{name}" {
        json!({ "key": part(3) })
    } else {
        json!({ "path": audit::cut(path) })
    }
}

/// `response` with `note`, the audit entry of its request.
pub(crate) fn noted(mut response: Response, note: Note) -> Response {
    response.extensions_mut().insert(Notes(vec![note]));
    response
}

/// What the `observe` middleware knows of a request.
pub(crate) struct Seen<'a> {
    pub(crate) principal: Option<&'a Principal>,
    pub(crate) peer: SocketAddr,
    pub(crate) method: &'a axum::http::Method,
    pub(crate) route: &'a str,
    pub(crate) path: &'a str,
}

/// Writes the entries of a request answered with `response` (the notes
/// its handler left, else its route's action, else an `access` entry if it
/// was denied) and fsyncs them; if they cannot be written, the answer
/// becomes 503 `audit_failed`.
pub(crate) async fn record(s: &Shared, seen: Seen<'_>, response: Response) -> Response {
    let status = response.status();
    let outcome = if status.is_success() || status.is_redirection() {
        Outcome::Ok
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Outcome::Denied
    } else {
        Outcome::Error
    };
    let mut notes = response
        .extensions()
        .get::<Notes>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    if notes.is_empty() {
        let target = route_target(seen.route, seen.path);
        match route_action(seen.method, seen.route) {
            Some(a) => notes.push(Note::new(a, target, json!({}))),
            None if outcome == Outcome::Denied => {
                notes.push(Note::new(Action::Access, target, json!({})))
            }
            None => return response,
        }
    }
    let at = time::format_ms(time::unix_ms(std::time::SystemTime::now()));
    let error = response
        .extensions()
        .get::<ErrorCode>()
        .map(|c| c.0.to_owned());
    let entries: Vec<Entry> = notes
        .into_iter()
        .map(|n| Entry {
            at: at.clone(),
            principal: seen.principal.map_or("-", |p| &p.name).to_owned(),
            role: seen.principal.map(|p| p.role.to_string()),
            peer: seen.peer.to_string(),
            action: n.action,
            target: n.target,
            detail: n.detail,
            outcome,
            status: status.as_u16(),
            error: error.clone(),
        })
        .collect();
    let audit = s.audit.clone();
    // Nobody authenticated: written, but not fsynced one by one (a flood
    // of bad tokens must not become a flood of fsyncs).
    let durable = seen.principal.is_some();
    let written = tokio::task::spawn_blocking(move || {
        entries.iter().try_for_each(|e| {
            if durable {
                audit.record(e)
            } else {
                audit.record_unsynced(e)
            }
        })
    })
    .await;
    match written {
        Ok(Ok(())) => response,
        Ok(Err(e)) => {
            tracing::error!("{e}");
            audit_failed()
        }
        Err(e) => {
            tracing::error!("writing the audit log: {e}");
            audit_failed()
        }
    }
}

fn audit_failed() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_failed",
        "the audit log could not be written, so this request is not acknowledged \
         (it may have taken effect); see the server's log",
    )
    .into_response()
}
