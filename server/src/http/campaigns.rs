//! `/v1/campaigns`: create, list, show, approve, start, pause, resume,
//! cancel and delete campaigns. Every rule is the `segdb-campaigns`
//! crate's (validation, roles, transitions); here the request is read, the
//! principal becomes the crate's actor, a limited key's fields are
//! checked, and each change is noted for the audit log.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use segdb_campaigns::lifecycle::{Action as CampaignAction, State as CampaignState};
use segdb_campaigns::store::{Campaign, HistoryEntry, RunRecord};
use segdb_campaigns::template::{self, Piece};
use segdb_campaigns::{Audience, CampaignDef, CampaignError, StartedRun};
use serde_json::{json, Value};

use super::api_error::ErrorCode;
use super::audit_route::noted;
use super::auth::{self, Principal, Role};
use super::body::read_body;
use super::{blocking, ApiError, Shared};
use crate::audit::{self, time, Action, Note};
use crate::campaigns::{actor, run_detail};

/// An example definition, for hints.
const EXAMPLE: &str = r#"{"name": "spring", "table": "users", "audience": {"where": "city = 'c000'"}, "channel": {"webhook": {"url": "http://127.0.0.1:9000/hook"}}, "variants": [{"name": "a", "weight": 1, "template": "Hi {city}"}], "schedule": "now"}"#;

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> ApiError {
        match e {
            CampaignError::Invalid(d) => {
                let mut a = ApiError::bad_request(d.code, d.to_string());
                if let Some(at) = &d.at {
                    let (line, column) = line_column(&at.text, at.start);
                    a = a.at(line, column);
                }
                match &d.hint {
                    Some(h) => a.with_hint(h.clone()),
                    None => a,
                }
            }
            CampaignError::Conflict(t) => {
                ApiError::new(StatusCode::CONFLICT, "illegal_transition", t.to_string())
            }
            CampaignError::Forbidden(f) => ApiError::forbidden(&f.to_string()),
            CampaignError::NotFound(n) => ApiError::not_found(
                "unknown_campaign",
                format!("no campaign named `{}`", audit::cut(&n)),
            )
            .with_hint("GET /v1/campaigns lists the campaigns"),
            CampaignError::AlreadyExists(n) => ApiError::new(
                StatusCode::CONFLICT,
                "campaign_exists",
                format!("a campaign named `{n}` exists already"),
            )
            .with_hint("pick another name, or DELETE the old campaign first"),
            e @ CampaignError::Corrupt { .. } => ApiError::data_corruption(e.to_string()),
            // An unknown table, damage in the store…: the engine's mapping.
            CampaignError::Engine(e) => ApiError::from(e),
            e => ApiError::internal(e.to_string()),
        }
    }
}

/// Line and column (from 1, in characters) of byte `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// A campaign error as a response: an illegal transition's body also
/// carries the campaign's current `state`.
fn error_response(e: CampaignError) -> Response {
    if let CampaignError::Conflict(t) = &e {
        let body = json!({
            "error": {
                "code": "illegal_transition",
                "message": t.to_string(),
                "state": t.current.as_str(),
                "hint": "GET /v1/campaigns/{name} shows the state and history",
            },
        });
        let mut r = (StatusCode::CONFLICT, Json(body)).into_response();
        r.extensions_mut().insert(ErrorCode("illegal_transition"));
        return r;
    }
    ApiError::from(e).into_response()
}

fn at(secs: i64) -> String {
    time::format_ms(secs.saturating_mul(1000))
}

fn history_json(h: &HistoryEntry) -> Value {
    let mut v = json!({
        "at": at(h.at),
        "actor": h.actor.name,
        "role": h.actor.role.as_str(),
        "action": h.action.map_or("create", |a| a.as_str()),
        "from": h.from.map(|s| s.as_str()),
        "to": h.to.as_str(),
    });
    if let Some(r) = &h.reason {
        v["reason"] = json!(r);
    }
    v
}

fn run_json(def: &CampaignDef, r: &RunRecord) -> Value {
    // Sent and failed are the delivery log's: `describe` adds them
    // (`with_delivery`).
    let variants: Vec<Value> = def
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| json!({ "name": v.name, "assigned": r.assigned(i) }))
        .collect();
    let mut out = json!({
        "run": r.number,
        "started_at": at(r.started_at),
        "finished_at": r.finished_at.map(at),
        "audience": r.audience,
        "holdout": r.holdout,
        "capped": r.capped,
        "variants": variants,
    });
    if let Some(race) = &r.race {
        out["race"] = json!({
            "rest": race.rest,
            "deadline": at(race.deadline),
            "decision": race.decision,
        });
    }
    out
}

/// A campaign as the API shows it.
pub fn campaign_json(c: &Campaign) -> Value {
    json!({
        "name": c.def.name,
        "id": c.id,
        "table": c.def.table,
        "state": c.state.as_str(),
        "kind": c.def.kind,
        "priority": c.def.priority,
        "created_by": c.created_by.name,
        "created_at": at(c.created_at),
        "next_run_at": segdb_campaigns::schedule::next_run_at(c).map(at),
        "definition": c.def,
        "history": c.history.iter().map(history_json).collect::<Vec<_>>(),
        "runs": c.runs.iter().map(|r| run_json(&c.def, r)).collect::<Vec<_>>(),
    })
}

fn summary_json(c: &Campaign) -> Value {
    json!({
        "name": c.def.name,
        "table": c.def.table,
        "state": c.state.as_str(),
        "kind": c.def.kind,
        "priority": c.def.priority,
        "created_by": c.created_by.name,
        "next_run_at": segdb_campaigns::schedule::next_run_at(c).map(at),
        "runs": c.runs.len(),
    })
}

/// `Ok` if `principal` may use every field the campaign's audience,
/// templates and goal name (a SENSITIVE one only if it is allowed them). Text
/// that does not parse, or an unknown table, is left to the crate's
/// validation to refuse with its position.
pub(crate) fn check_fields(
    s: &Shared,
    principal: &Principal,
    def: &CampaignDef,
) -> Result<(), ApiError> {
    let access = principal.access();
    let catalog = s.catalog();
    let Ok(table) = s.store.table(&def.table) else {
        return Ok(());
    };
    match &def.audience {
        Audience::Segment(name) => access.check_segment(name, &catalog)?,
        Audience::Where(text) => {
            if let Ok(Some(stmt)) = segdb_query_lang::parse_filter_statement(&def.table, text) {
                access.check_statement(&stmt, &catalog)?;
            }
        }
    }
    for v in &def.variants {
        let Ok(t) = template::parse(&v.template) else {
            continue;
        };
        let names = t.pieces.iter().filter_map(|p| match p {
            Piece::Field { name, .. } => Some(name.as_str()),
            Piece::Count { event, .. } => Some(event.as_str()),
            Piece::Text(_) => None,
        });
        access.check_fields(&def.table, table.schema(), names)?;
        // A derived tag shows what the fields of its definition hold.
        for p in &t.pieces {
            if let Piece::Field { name, .. } = p {
                let fields = segdb_campaigns::fields::tag_fields(&def.table, name, &catalog);
                access.check_fields(
                    &def.table,
                    table.schema(),
                    fields.iter().map(String::as_str),
                )?;
            }
        }
    }
    if let Some(Ok(goal)) = def.goal.as_deref().map(segdb_campaigns::goal::Goal::parse) {
        access.check_fields(&def.table, table.schema(), [goal.event.as_str()])?;
    }
    Ok(())
}

/// `POST /v1/campaigns`: 201 with the stored campaign (a draft).
pub async fn create(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(principal.role, Role::Write, "creating a campaign")?;
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let def: CampaignDef = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("the body is not a campaign definition: {e}"),
        )
        .at(e.line(), e.column())
        .with_hint(EXAMPLE)
    })?;
    let name = def.name.clone();
    let st = s.clone();
    let created = blocking(move || {
        check_fields(&st, &principal, &def)?;
        let who = actor(&principal.name, principal.role);
        let now = st.campaigns.clock.now();
        st.campaigns
            .store
            .create(&st.store, def, &who, now)
            .map_err(ApiError::from)
    })
    .await;
    let note = |detail: Value| {
        Note::new(
            Action::Campaign,
            json!({ "campaign": audit::cut(&name) }),
            detail,
        )
    };
    match created {
        Ok(c) => Ok(noted(
            (StatusCode::CREATED, Json(campaign_json(&c))).into_response(),
            note(json!({ "transition": "create", "to": c.state.as_str() })),
        )),
        Err(e) => Ok(noted(
            e.into_response(),
            note(json!({ "transition": "create" })),
        )),
    }
}

/// `GET /v1/campaigns`: every campaign, in creation order, in short.
/// A principal limited to some fields sees only the campaigns that read
/// none of the others.
pub async fn list(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "reading campaigns")?;
    let access = principal.access();
    let catalog = s.catalog();
    let list: Vec<Value> = s
        .campaigns
        .store
        .list()
        .iter()
        .filter(|c| access.check_campaign(&c.def.name, &catalog).is_ok())
        .map(summary_json)
        .collect();
    Ok(Json(json!({ "campaigns": list })))
}

/// 403 `forbidden_field` if `principal` may not use a field campaign
/// `name` reads (its audience or templates): a limited key may not read,
/// start or delete it.
fn check_reach(s: &Shared, principal: &Principal, name: &str) -> Result<(), ApiError> {
    principal
        .access()
        .check_campaign(name, &s.catalog())
        .map_err(|f| ApiError::from(crate::exec::ExecError::from(f)))
}

/// `GET /v1/campaigns/{name}`: definition, state, history and runs.
pub async fn describe(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "reading campaigns")?;
    let st = s.clone();
    let body = blocking(move || {
        check_reach(&st, &principal, &name)?;
        let c = st.campaigns.store.get(&name)?;
        let mut body = campaign_json(&c);
        with_delivery(&st, &c, &mut body)?;
        Ok(body)
    })
    .await?;
    Ok(Json(body))
}

/// Adds to each run of `body` (a [`campaign_json`]) what its delivery
/// has recorded: `sent` and `failed` for the run and per variant, and the
/// refused batches (`failures`: status, the answer's first bytes, users).
fn with_delivery(s: &Shared, c: &Campaign, body: &mut Value) -> Result<(), CampaignError> {
    let progress = s.campaigns.delivery.progress(&s.campaigns.store, c)?;
    if matches!(c.def.schedule, segdb_campaigns::Schedule::OnEvent(_)) {
        // A trigger's timers waiting for their deadline.
        body["pending_timers"] = s.campaigns.triggers.set.pending(Some(c.id)).into();
    }
    let Some(runs) = body["runs"].as_array_mut() else {
        return Ok(());
    };
    for (run, p) in runs.iter_mut().zip(progress) {
        run["sent"] = p["sent"].clone();
        run["failed"] = p["failed"].clone();
        run["failures"] = p["failures"].clone();
        if let Some(vs) = run["variants"].as_array_mut() {
            for (v, pv) in vs
                .iter_mut()
                .zip(p["variants"].as_array().into_iter().flatten())
            {
                v["sent"] = pv["sent"].clone();
                v["failed"] = pv["failed"].clone();
            }
        }
    }
    Ok(())
}

/// `DELETE /v1/campaigns/{name}`.
pub async fn delete(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    // The role first, so a reader learns nothing of the segments using it.
    if let Err(e) = auth::require(principal.role, Role::Write, "deleting a campaign")
        .and_then(|()| check_reach(&s, &principal, &name))
    {
        return e.into_response();
    }
    let st = s.clone();
    let n = name.clone();
    let r = blocking(move || {
        let who = actor(&principal.name, principal.role);
        let users =
            crate::exec::campaigns::users_of_campaign(&st.store, &st.campaigns.store.list(), &n);
        if !users.is_empty() {
            return Ok(Err(users));
        }
        Ok(Ok(st.campaigns.store.delete(&n, &who)))
    })
    .await;
    s.campaigns.changed();
    let target = json!({ "campaign": audit::cut(&name) });
    let r = match r {
        Ok(Err(users)) => {
            return noted(
                in_use(&name, &users),
                Note::new(Action::Campaign, target, json!({ "transition": "delete" })),
            )
        }
        Ok(Ok(r)) => Ok(r),
        Err(e) => Err(e),
    };
    match r {
        Ok(Ok(c)) => noted(
            Json(json!({ "deleted": c.def.name, "runs": c.runs.len() })).into_response(),
            Note::new(
                Action::Campaign,
                target,
                json!({ "transition": "delete", "from": c.state.as_str(), "runs": c.runs.len() }),
            ),
        ),
        Ok(Err(e)) => noted(
            error_response(e),
            Note::new(Action::Campaign, target, json!({ "transition": "delete" })),
        ),
        Err(e) => e.into_response(),
    }
}

/// 409 `in_use`: `users` (segments and campaigns, in words) use campaign
/// `name`'s groups.
pub(super) fn in_use_error(name: &str, users: &[String]) -> ApiError {
    let list: Vec<String> = users.iter().map(|u| audit::cut(u)).collect();
    ApiError::new(
        StatusCode::CONFLICT,
        "in_use",
        format!("campaign `{}` is used by {}", audit::cut(name), list.join(", ")),
    )
    .with_hint(
        "drop or replace those segments, or delete those campaigns, first (a SNAPSHOT keeps its rows)",
    )
}

fn in_use(name: &str, users: &[String]) -> Response {
    in_use_error(name, users).into_response()
}

/// `POST /v1/campaigns/{name}/{approve|start|pause|resume|cancel}`. A
/// campaign left scheduled is ticked at once: with schedule `now`, its run
/// has started (frozen and planned) when this answers.
pub async fn act(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let action = match action.as_str() {
        "approve" => CampaignAction::Approve,
        "start" => CampaignAction::Start,
        "pause" => CampaignAction::Pause,
        "resume" => CampaignAction::Resume,
        "cancel" => CampaignAction::Cancel,
        other => {
            return ApiError::not_found(
                "no_route",
                format!(
                    "no campaign action `{}`: approve, start, pause, resume or cancel",
                    audit::cut(other)
                ),
            )
            .into_response()
        }
    };
    if let Err(e) = check_reach(&s, &principal, &name) {
        return e.into_response();
    }
    let st = s.clone();
    let n = name.clone();
    let r = blocking(move || {
        let who = actor(&principal.name, principal.role);
        let now = st.campaigns.clock.now();
        let before = st.campaigns.store.get(&n).map(|c| c.state);
        let after = match st.campaigns.store.act(&n, action, &who, now) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let d = &st.campaigns.delivery;
        let delivered = match (action, after.state) {
            (CampaignAction::Pause, _) => {
                d.stop(&n);
                Ok(())
            }
            (CampaignAction::Cancel, _) => d.cancel(&st.campaigns.store, &n),
            (CampaignAction::Resume, CampaignState::Running) => {
                if let Some(r) = after.runs.last() {
                    d.start(&n, r.number);
                }
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = delivered {
            // The transition stands; the run's checkpoint is done again by
            // the next one.
            tracing::error!(campaign = %n, error = %e, "checkpointing a cancelled run");
        }
        let (runs, run_errors) = if after.state == CampaignState::Scheduled {
            let tick = st.campaigns.tick(&st.store, &st.audit);
            let errors: Vec<Value> = tick
                .failed
                .iter()
                .map(|(c, e)| json!({ "campaign": c, "error": e.to_string() }))
                .collect();
            (tick.runs, errors)
        } else {
            (Vec::new(), Vec::new())
        };
        st.campaigns.changed();
        let now_c = st.campaigns.store.get(&n).unwrap_or(after);
        let mut body = campaign_json(&now_c);
        if let Err(e) = with_delivery(&st, &now_c, &mut body) {
            // The transition stands; the figures are in GET.
            tracing::error!(campaign = %n, error = %e, "reading a run's delivery");
        }
        Ok(Ok((before.ok(), now_c, body, runs, run_errors)))
    })
    .await;
    let target = json!({ "campaign": audit::cut(&name) });
    match r {
        Ok(Ok((before, c, mut body, runs, run_errors))) => {
            let started: Vec<Value> = runs.iter().map(started_json).collect();
            body["runs_started"] = json!(started);
            if !run_errors.is_empty() {
                // The transition stands; these runs could not start now
                // and the scheduler tries them again.
                body["runs_failed"] = json!(run_errors);
            }
            let detail = json!({
                "transition": action.as_str(),
                "from": before.map(|b| b.as_str()),
                "to": c.state.as_str(),
                "runs_started": started,
            });
            noted(
                ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
                Note::new(Action::Campaign, target, detail),
            )
        }
        Ok(Err(e)) => noted(
            error_response(e),
            Note::new(
                Action::Campaign,
                target,
                json!({ "transition": action.as_str() }),
            ),
        ),
        Err(e) => e.into_response(),
    }
}

fn started_json(r: &StartedRun) -> Value {
    let mut v = run_detail(r);
    v["campaign"] = json!(r.name);
    v
}
