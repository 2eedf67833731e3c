//! Table routes: `GET /v1/tables`, `GET /v1/tables/{t}`, `GET
//! /v1/tables/{t}/fields` (the field catalog), the streamed
//! `POST /v1/tables/{t}/import` and `GET /v1/tables/{t}/profiles/{id}`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use segdb_engine::{date, DayRange, ImportFormat, ImportOptions, OnError};
use serde_json::{json, Value};

use super::api_error::ApiError;
use super::audit_route::noted;
use super::auth::{self, Principal, Role};
use super::body::Spool;
use super::{blocking, elapsed_ms, RowCount, Shared};
use crate::audit::{Action, Note};
use crate::permissions::ImportCheckError;

/// `GET /v1/tables`: every table's name, rows, fields (those the
/// principal sees: a limited one, only those it may use) and bytes.
pub async fn list(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "listing tables")?;
    let access = principal.access();
    let tables: Vec<Value> = s
        .store
        .table_names()
        .into_iter()
        .filter_map(|n| s.store.table(&n).ok())
        .map(|t| {
            json!({
                "name": t.name(),
                "rows": t.num_rows(),
                "fields": t.schema().fields.iter().filter(|f| access.shows(t.name(), f)).count(),
                "bytes": t.bytes_on_disk(),
            })
        })
        .collect();
    Ok(Json(json!({ "tables": tables })))
}

/// The catalog entries of `table`'s fields that the principal sees (a
/// limited one: the fields it may use, and among their users the segments,
/// campaigns and tags it may see), computed off the async threads (a TEXT
/// field's coverage reads its column).
async fn catalog_entries(
    s: &Shared,
    principal: &Principal,
    table: &str,
) -> Result<(std::sync::Arc<segdb_engine::Table>, Vec<Value>), ApiError> {
    let t = s.store.table(table)?;
    let access = principal.access();
    let (s, t2, name) = (s.clone(), t.clone(), table.to_owned());
    let entries = blocking(move || {
        let catalog = s.catalog();
        let mut entries = crate::exec::catalog::entries(&s.store, &t2, |f| access.shows(&name, f))?;
        for e in &mut entries {
            if let Some(Value::Array(users)) = e.get_mut("tags") {
                users.retain(|u| {
                    u.as_str()
                        .is_some_and(|n| access.may_use_tag(&name, n, &catalog))
                });
            }
            for (key, segment) in [("segments", true), ("campaigns", false)] {
                if let Some(Value::Array(users)) = e.get_mut(key) {
                    users.retain(|u| {
                        u.as_str().is_some_and(|n| {
                            if segment {
                                access.check_segment(n, &catalog).is_ok()
                            } else {
                                access.check_campaign(n, &catalog).is_ok()
                            }
                        })
                    });
                }
            }
        }
        Ok(entries)
    })
    .await?;
    Ok((t, entries))
}

/// `GET /v1/tables/{t}`: rows, shards, bytes and the schema, each field
/// with its catalog entry ([`crate::exec::catalog::entry`]).
pub async fn describe(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "describing a table")?;
    let (t, fields) = catalog_entries(&s, &principal, &table).await?;
    Ok(Json(json!({
        "name": t.name(),
        "rows": t.num_rows(),
        "shards": t.num_shards(),
        "bytes": t.bytes_on_disk(),
        "fields": fields,
    })))
}

/// `GET /v1/tables/{t}/fields?search=…`: the catalog entries of the fields
/// whose name, description, category or owner holds `search`
/// (case-insensitively; without it, every field the principal sees).
pub async fn fields(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "listing a table's fields")?;
    if let Some(other) = params.keys().find(|k| k.as_str() != "search") {
        return Err(
            ApiError::bad_request("bad_parameter", format!("unknown parameter `{other}`"))
                .with_hint("GET /v1/tables/{t}/fields takes only ?search=text"),
        );
    }
    let search = params.get("search").map(String::as_str).unwrap_or("");
    let (t, mut fields) = catalog_entries(&s, &principal, &table).await?;
    fields.retain(|e| crate::exec::catalog::matches(e, search));
    Ok(Json(json!({
        "table": t.name(),
        "rows": t.num_rows(),
        "search": search,
        "fields": fields,
    })))
}

/// The import format of a request: `?format=csv|jsonl|events`, else the
/// Content-Type (`text/csv`, `application/x-ndjson`, `application/jsonl`).
fn import_format(
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<ImportFormat, ApiError> {
    if let Some(f) = params.get("format") {
        return match f.as_str() {
            "csv" => Ok(ImportFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(ImportFormat::JsonLines),
            "events" => Ok(ImportFormat::Events),
            other => Err(ApiError::bad_request(
                "bad_parameter",
                format!("unknown import format `{other}`"),
            )
            .with_hint("format=csv, format=jsonl or format=events")),
        };
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/csv");
    if ct.contains("ndjson") || ct.contains("jsonl") || ct.contains("json") {
        Ok(ImportFormat::JsonLines)
    } else {
        Ok(ImportFormat::Csv)
    }
}

/// `POST /v1/tables/{t}/import`: a CSV or JSON-lines body (or events with
/// `?format=events`), streamed into the engine's import as it arrives;
/// `?on_error=skip` skips bad lines (they are listed), else the first bad
/// line rejects the whole import with 400 and nothing changes.
pub async fn import(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(table): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(principal.role, Role::Write, "importing")?;
    let access = principal.access();
    let format = import_format(&params, &headers)?;
    let on_error = match params.get("on_error").map(String::as_str) {
        None | Some("abort") => OnError::Abort,
        Some("skip") => OnError::Skip,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("unknown on_error `{other}` (abort or skip)"),
            ))
        }
    };
    if let Some(unknown) = params.keys().find(|k| *k != "format" && *k != "on_error") {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("unknown parameter `{unknown}`"),
        )
        .with_hint("import takes format= and on_error="));
    }
    // Fail fast, before reading the body, if the table does not exist.
    s.store.table(&table)?;
    let audit_table = table.clone();
    let audit_format = match params.get("format") {
        Some(f) => f.clone(),
        None => headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/csv")
            .to_owned(),
    };
    let start = Instant::now();
    let limit = s.config.max_import_bytes;
    s.metrics.imports_running.fetch_add(1, Ordering::Relaxed);
    // Ends the count however the request ends (a client gone mid-body
    // drops this handler).
    let _running = super::Decrement(&s.metrics.imports_running);
    // The body is spooled to a file first: the import (which pauses every
    // other write of the store) starts only once the client has sent it
    // all, so a slow or stalled client holds no lock.
    let m = s.clone();
    let spool = Spool::write(
        body,
        s.store.dir(),
        limit,
        s.config.body_read_timeout,
        move |n| {
            m.metrics.import_bytes.fetch_add(n, Ordering::Relaxed);
        },
    )
    .await
    .inspect_err(|_| {
        s.metrics.imports_failed.fetch_add(1, Ordering::Relaxed);
    })?;
    let st = s.clone();
    let result = blocking(move || {
        let m = &st.metrics;
        let last_lines = std::sync::atomic::AtomicU64::new(0);
        let progress = |p: segdb_engine::import::ImportProgress| {
            let before = last_lines.swap(p.lines, Ordering::Relaxed);
            m.import_lines
                .fetch_add(p.lines.saturating_sub(before), Ordering::Relaxed);
        };
        let opts = ImportOptions {
            on_error,
            source_name: "<body>".into(),
            progress: Some(&progress),
            ..ImportOptions::default()
        };
        let open = || {
            spool
                .open()
                .map_err(|e| ApiError::internal(format!("reading the spooled body: {e}")))
        };
        // Before anything changes: a field the principal may not use is
        // refused, and the import does not run.
        let schema = st.store.table(&table)?.schema().clone();
        access
            .check_import(&table, &schema, format, open()?)
            .map_err(|e| match e {
                ImportCheckError::Forbidden(f) => ApiError::from(f),
                ImportCheckError::Io(e) => ApiError::bad_request(
                    "bad_body",
                    format!("the body could not be read to check its fields: {e}"),
                ),
            })?;
        let file = open()?;
        let r = st.store.import(&table, format, file, &opts);
        drop(spool);
        if let Ok(report) = &r {
            let before = last_lines.load(Ordering::Relaxed);
            m.import_lines
                .fetch_add(report.lines.saturating_sub(before), Ordering::Relaxed);
        }
        r.map_err(ApiError::from)
    })
    .await;
    let report = result.inspect_err(|_| {
        s.metrics.imports_failed.fetch_add(1, Ordering::Relaxed);
    })?;
    s.metrics
        .import_new_rows
        .fetch_add(report.new_rows, Ordering::Relaxed);
    let mut r = Json(json!({
        "lines": report.lines,
        "applied": report.applied,
        "new_rows": report.new_rows,
        "skipped": report.skipped,
        "errors": report.errors,
        "bytes": report.bytes,
        "rows": report.num_rows,
        "elapsed_ms": elapsed_ms(start),
    }))
    .into_response();
    r.extensions_mut().insert(RowCount(report.applied));
    let note = Note::new(
        Action::Import,
        json!({ "table": audit_table }),
        json!({
            "format": audit_format,
            "lines": report.lines,
            "applied": report.applied,
            "new_rows": report.new_rows,
            "skipped": report.skipped,
            "bytes": report.bytes,
        }),
    );
    Ok(noted(r, note))
}

/// `GET /v1/tables/{t}/profiles/{id}`: every field of one row; EVENT
/// counts per day over `?days=N` days (30 by default) ending `?as_of=`
/// (today by default). SENSITIVE fields are redacted unless the role is
/// admin. `campaigns`: the runs that held the row, of the campaigns the
/// principal may read (see [`crate::profile::campaigns_json`]).
pub async fn profile(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path((table, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth::require(principal.role, Role::Read, "reading a profile")?;
    let days: i32 = match params.get("days") {
        None => 30,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| (1..=3660).contains(d))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "bad_parameter",
                    format!("days=`{d}` is not a number from 1 to 3660"),
                )
            })?,
    };
    let last = match params.get("as_of") {
        None => date::today(),
        Some(d) => date::parse_iso_day(d).ok_or_else(|| {
            ApiError::bad_request(
                "bad_parameter",
                format!("as_of=`{d}` is not a date (YYYY-MM-DD)"),
            )
        })?,
    };
    let window = DayRange {
        first: last - (days - 1),
        last,
    };
    let note = Note::new(
        Action::ProfileRead,
        json!({ "table": table, "id": id }),
        json!({ "days": days }),
    );
    let permit = s.query_slot().await?;
    let st = s.clone();
    let access = principal.access();
    let v = super::query_pool::read(move || {
        let _permit = permit;
        let p =
            crate::profile::profile(&st.store, &table, &id, window, &access)?.ok_or_else(|| {
                ApiError::not_found(
                    "unknown_id",
                    format!("table `{table}` has no row with id `{id}`"),
                )
            })?;
        let mut v = p.to_json(&table);
        // The campaigns the principal may read (as `GET /v1/campaigns`
        // lists them) that held this row.
        let catalog = st.catalog();
        let t = st.store.table(&table)?;
        let limit = segdb_campaigns::USER_VIEW_RUNS;
        let view = st.campaigns.store.user_view(
            Some(&st.campaigns.delivery.log),
            &t,
            p.row,
            segdb_campaigns::effects::day_of(st.campaigns.clock.now()),
            limit,
            |c| access.check_campaign(&c.def.name, &catalog).is_ok(),
        )?;
        let (runs, read) = crate::profile::campaigns_json(&view, limit);
        v["campaigns"] = runs;
        v["campaign_runs"] = read;
        Ok::<_, ApiError>(v)
    })
    .await?;
    s.metrics.rows_returned.fetch_add(1, Ordering::Relaxed);
    let mut r = Json(v).into_response();
    r.extensions_mut().insert(RowCount(1));
    Ok(noted(r, note))
}
