//! `POST /v1/campaigns/{name}/effects`: the delivery system reports what
//! users did with a campaign's messages (JSON lines), and `GET
//! /v1/campaigns/{name}/report`. Parsing, attribution, storage and the
//! report's figures are the `segdb-campaigns` crate's
//! (`effects`, `report`); here the request is read and answered.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use segdb_campaigns::effects::{self, IntakeError};
use serde_json::json;

use super::api_error::ApiError;
use super::audit_route::noted;
use super::auth::{self, Principal, Role};
use super::body::read_body;
use super::ingest::idempotency_key;
use super::{blocking, RowCount, Shared};
use crate::audit::{self, Action, Note};

/// `POST /v1/campaigns/{name}/effects`: a batch of effects, all or
/// nothing, durable before the answer, idempotent with `Idempotency-Key`:
/// `{"campaign", "received", "attributed", "unattributed", "duplicate"}`.
pub async fn intake(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(
        principal.role,
        Role::Write,
        "reporting a campaign's effects",
    )?;
    let key = idempotency_key(&headers)?;
    let audit_key = key.clone();
    // Fail fast, before reading the body, if there is no such campaign.
    s.campaigns.store.get(&name)?;
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let st = s.clone();
    let n = name.clone();
    let answer = blocking(move || {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            ApiError::bad_request("bad_body", format!("the effects are not UTF-8: {e}"))
        })?;
        effects::intake(
            &st.store,
            &st.campaigns.store,
            Some(&st.campaigns.delivery.log),
            &n,
            text,
            key.as_deref(),
            st.campaigns.clock.now(),
        )
        .map_err(|e| match e {
            IntakeError::Line(l) => ApiError::bad_request(
                "bad_effect",
                format!("line {}: {}", l.line, l.message),
            )
            .at(l.line, 1)
            .with_hint(
                "a line is {\"id\": \"u1\", \"effect\": \"clicked\", \"at\": \"2026-12-03T10:00:00Z\"} \
                 (effects: delivered, opened, clicked, converted, unsubscribed, uninstalled)",
            ),
            IntakeError::Campaign(e) => ApiError::from(e),
        })
    })
    .await?;
    if !answer.duplicate {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &s.campaigns.counters;
        c.effects_attributed.fetch_add(answer.attributed, Relaxed);
        c.effects_unattributed
            .fetch_add(answer.unattributed, Relaxed);
    }
    let body = json!({
        "campaign": name,
        "received": answer.received,
        "attributed": answer.attributed,
        "unattributed": answer.unattributed,
        "duplicate": answer.duplicate,
    });
    let mut r = Json(body).into_response();
    r.extensions_mut().insert(RowCount(answer.received));
    let note = Note::new(
        Action::Ingest,
        json!({ "campaign": name }),
        json!({
            "idempotency_key": audit_key.as_deref().map(audit::cut),
            "effects": answer.received,
            "attributed": answer.attributed,
            "unattributed": answer.unattributed,
            "duplicate": answer.duplicate,
        }),
    );
    Ok(noted(r, note))
}

/// `GET /v1/campaigns/{name}/report`: per run, each variant's and the
/// hold-out's users reached, effects, rates, goal and uplift, and per-day
/// events (`segdb_campaigns::report`), with every batch recorded so far.
pub async fn report(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::require(principal.role, Role::Read, "reading campaign reports")?;
    let st = s.clone();
    let body = blocking(move || {
        principal
            .access()
            .check_campaign(&name, &st.catalog())
            .map_err(|f| ApiError::from(crate::exec::ExecError::from(f)))?;
        let today = segdb_campaigns::effects::day_of(st.campaigns.clock.now());
        let r = segdb_campaigns::report::report(
            &st.store,
            &st.campaigns.store,
            Some(&st.campaigns.delivery.log),
            &name,
            today,
        )?;
        serde_json::to_value(&r).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(Json(body))
}
