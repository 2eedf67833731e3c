//! `/v1/keys`: admins make, list, show and revoke API keys. A key's secret
//! is in the answer that makes it and nowhere else (the store keeps a
//! salted hash).

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use super::audit_route::noted;
use super::auth::{self, Principal, Role, LOCAL_PRINCIPAL};
use super::body::read_body;
use super::config::check_principal_name;
use super::key_store::{format_timestamp, parse_timestamp, ApiKey, KeyError};
use super::{blocking, ApiError, Shared};
use crate::audit::{Action, Note};
use crate::permissions::Limits;

/// A key as the API shows it: never its secret or hash.
fn key_json(k: &ApiKey, now: u64) -> Value {
    json!({
        "name": k.name,
        "role": k.role.to_string(),
        "created_at": format_timestamp(k.created_at),
        "created_by": k.created_by,
        "expires_at": k.expires_at.map(format_timestamp),
        "expired": k.expires_at.is_some_and(|at| now >= at),
        "secret_hint": format!("…{}", k.secret_hint),
        "allowed_fields": k.limits.allowed_fields,
        "allowed_categories": k.limits.allowed_categories,
    })
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> ApiError {
        match e {
            KeyError::NameTaken(m) => ApiError::new(StatusCode::CONFLICT, "key_exists", m),
            KeyError::Unknown(_) => ApiError::not_found("unknown_key", e.to_string()),
            KeyError::Io(m) => ApiError::internal(m),
        }
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad_parameter", message).with_hint(
        r#"{"name": "ana-export", "role": "read", "expires_at": "2026-12-31T00:00:00Z"}"#,
    )
}

/// A checked `POST /v1/keys` body.
struct KeyRequest {
    name: String,
    role: Role,
    expires_at: Option<u64>,
    limits: Limits,
}

/// A list of strings, or absent (`null` too).
fn string_list(m: &mut Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, ApiError> {
    match m.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(bad(format!(
                    "`{field}` must be a list of strings; it holds {}",
                    short(&other.to_string())
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(bad(format!(
            "`{field}` must be a list of strings, not {}",
            short(&other.to_string())
        ))),
    }
}

/// The fields of a `POST /v1/keys` body, checked one by one so that an
/// error names the field at fault.
fn parse_request(bytes: &[u8], now: u64) -> Result<KeyRequest, ApiError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("bad_json", format!("the body is not JSON: {e}"))
            .with_hint(r#"{"name": "ana-export", "role": "read"}"#)
    })?;
    let Value::Object(mut m) = v else {
        return Err(bad(
            "the body is a JSON object with `name`, `role` and optionally `expires_at`",
        ));
    };
    let string = |m: &mut Map<String, Value>, field: &str| -> Result<Option<String>, ApiError> {
        match m.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad(format!("`{field}` must be a string, not {other}"))),
        }
    };
    let name = string(&mut m, "name")?.ok_or_else(|| bad("`name` is missing"))?;
    check_principal_name(&name).map_err(|_| {
        bad(format!(
            "`name`: `{}` is not 1–64 letters, digits, _ - . @",
            short(&name)
        ))
    })?;
    let role = string(&mut m, "role")?
        .ok_or_else(|| bad("`role` is missing (read, write or admin)"))?
        .parse::<Role>()
        .map_err(|e| bad(format!("`role`: {e}")))?;
    let expires_at = match string(&mut m, "expires_at")? {
        None => None,
        Some(t) => {
            let at = parse_timestamp(&t).map_err(|e| bad(format!("`expires_at`: {e}")))?;
            if at <= now {
                return Err(bad(format!(
                    "`expires_at` {} is not in the future (now is {})",
                    format_timestamp(at),
                    format_timestamp(now)
                )));
            }
            Some(at)
        }
    };
    let limits = Limits {
        allowed_fields: string_list(&mut m, "allowed_fields")?,
        allowed_categories: string_list(&mut m, "allowed_categories")?,
    };
    limits.validate().map_err(bad)?;
    if role == Role::Admin && limits.is_limited() {
        return Err(bad(
            "an admin key is never limited: give it the read or write role, or drop `allowed_fields` and `allowed_categories`",
        ));
    }
    if let Some(field) = m.keys().next() {
        return Err(bad(format!(
            "unknown field `{}`; a key has `name`, `role`, `expires_at`, `allowed_fields` and `allowed_categories`",
            short(field)
        )));
    }
    Ok(KeyRequest {
        name,
        role,
        expires_at,
        limits,
    })
}

/// At most 64 characters of a client's text, for a message.
fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `POST /v1/keys`: 201 with the key and its `secret`, shown only here.
pub async fn create(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(principal.role, Role::Admin, "managing API keys")?;
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let KeyRequest {
        name,
        role,
        expires_at,
        limits,
    } = parse_request(&bytes, s.keys.now())?;
    let st = s.clone();
    let (key, secret) = blocking(move || {
        let taken = |n: &str| {
            if n == LOCAL_PRINCIPAL {
                Some(format!(
                    "`{LOCAL_PRINCIPAL}` is the name of loopback clients of a server without tokens; pick another name"
                ))
            } else if st.config.tokens.iter().any(|t| t.name == n) {
                Some(format!(
                    "`{n}` is the name of a token in the server's settings; pick another name"
                ))
            } else {
                None
            }
        };
        Ok(st
            .keys
            .create(&name, role, expires_at, limits, &principal.name, taken)?)
    })
    .await?;
    s.metrics
        .api_keys
        .store(s.keys.len() as u64, Ordering::Relaxed);
    tracing::info!(key = %key.name, role = %key.role, "API key created");
    let mut v = key_json(&key, s.keys.now());
    let note = Note::new(
        Action::KeyCreate,
        json!({ "key": key.name }),
        json!({
            "role": v["role"],
            "expires_at": v["expires_at"],
            "allowed_fields": v["allowed_fields"],
            "allowed_categories": v["allowed_categories"],
        }),
    );
    v["secret"] = json!(secret);
    Ok(noted((StatusCode::CREATED, Json(v)).into_response(), note))
}

/// `GET /v1/keys`: every key, by name.
pub async fn list(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
) -> Result<Json<Value>, ApiError> {
    auth::require(role, Role::Admin, "managing API keys")?;
    let now = s.keys.now();
    let mut keys: Vec<Value> = s.keys.snapshot().iter().map(|k| key_json(k, now)).collect();
    keys.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(json!({ "keys": keys })))
}

fn unknown(s: &Shared, name: &str) -> ApiError {
    let e = ApiError::from(KeyError::Unknown(short(name)));
    if s.config.tokens.iter().any(|t| t.name == name) {
        e.with_hint("this is a token of the server's settings (config file, SEGDB_TOKENS or --token), changed there")
    } else {
        e.with_hint("GET /v1/keys lists the keys")
    }
}

/// `GET /v1/keys/{name}`.
pub async fn describe(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::require(role, Role::Admin, "managing API keys")?;
    let key = s.keys.get(&name).ok_or_else(|| unknown(&s, &name))?;
    Ok(Json(key_json(&key, s.keys.now())))
}

/// `DELETE /v1/keys/{name}`: revoked at once; answers the key as it was.
pub async fn revoke(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    auth::require(role, Role::Admin, "managing API keys")?;
    if s.keys.get(&name).is_none() {
        return Err(unknown(&s, &name));
    }
    let st = s.clone();
    let key = blocking(move || Ok(st.keys.revoke(&name)?)).await?;
    s.metrics
        .api_keys
        .store(s.keys.len() as u64, Ordering::Relaxed);
    tracing::info!(key = %key.name, "API key revoked");
    let note = Note::new(
        Action::KeyDelete,
        json!({ "key": key.name }),
        json!({ "role": key.role.to_string() }),
    );
    Ok(noted(
        Json(json!({ "revoked": key_json(&key, s.keys.now()) })).into_response(),
        note,
    ))
}
