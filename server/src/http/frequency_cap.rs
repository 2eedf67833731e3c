//! `/v1/tables/{table}/frequency_cap`: the table-wide frequency cap of
//! marketing campaigns ("at most `max` messages per user in `days` days",
//! across every campaign on the table). Read by any reader, set and
//! removed by an admin; each change is in the audit log. The rule and its
//! storage are the `segdb-campaigns` crate's (`set_table_cap`); a run
//! applies the cap in force when it starts.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use segdb_campaigns::definition::Cap;
use serde_json::{json, Value};

use super::audit_route::noted;
use super::auth::{self, Principal, Role};
use super::body::read_body;
use super::{blocking, ApiError, Shared};
use crate::audit::{self, Action, Note};
use crate::campaigns::actor;

const EXAMPLE: &str = r#"{"max": 2, "days": 7}"#;

fn cap_json(table: &str, cap: Option<Cap>) -> Value {
    json!({
        "table": table,
        "cap": cap.map(|c| json!({ "max": c.max, "days": c.days })),
    })
}

/// `GET /v1/tables/{table}/frequency_cap`: `{"table", "cap": {"max",
/// "days"} | null}`.
pub async fn get(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Path(table): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::require(role, Role::Read, "reading a table's frequency cap")?;
    s.store.table(&table)?;
    Ok(Json(cap_json(&table, s.campaigns.store.table_cap(&table))))
}

/// Reads `{"max": n, "days": d}`, naming what is wrong.
fn parse_cap(bytes: &[u8]) -> Result<Cap, ApiError> {
    let cap: Cap = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("bad_json", format!("the body is not a frequency cap: {e}"))
            .at(e.line(), e.column())
            .with_hint(format!("for example {EXAMPLE}"))
    })?;
    Ok(cap)
}

/// `PUT /v1/tables/{table}/frequency_cap` (admin): sets the cap.
pub async fn put(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(
        principal.role,
        Role::Admin,
        "setting a table's frequency cap",
    )?;
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let cap = parse_cap(&bytes)?;
    change(s, principal, table, Some(cap)).await
}

/// `DELETE /v1/tables/{table}/frequency_cap` (admin): removes the cap.
pub async fn delete(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    auth::require(
        principal.role,
        Role::Admin,
        "removing a table's frequency cap",
    )?;
    change(s, principal, table, None).await
}

async fn change(
    s: Shared,
    principal: Principal,
    table: String,
    cap: Option<Cap>,
) -> Result<Response, ApiError> {
    let st = s.clone();
    let t = table.clone();
    let before = s.campaigns.store.table_cap(&table);
    let r = blocking(move || {
        let who = actor(&principal.name, principal.role);
        st.campaigns
            .store
            .set_table_cap(&st.store, &t, cap, &who)
            .map_err(ApiError::from)
    })
    .await;
    let show = |c: Option<Cap>| c.map(|c| json!({ "max": c.max, "days": c.days }));
    let note = Note::new(
        Action::Campaign,
        json!({ "table": audit::cut(&table) }),
        json!({ "transition": "frequency_cap", "from": show(before), "to": show(cap) }),
    );
    Ok(match r {
        Ok(()) => noted(Json(cap_json(&table, cap)).into_response(), note),
        Err(e) => noted(e.into_response(), note),
    })
}
