//! Segment routes: `GET /v1/segments`, `PUT /v1/segments/{name}` (a
//! definition, or an uploaded list of external ids making a SNAPSHOT
//! segment), `DELETE /v1/segments/{name}` and the streamed export
//! `GET /v1/segments/{name}/ids` (CSV, or portable Roaring bytes).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use segdb_engine::{date, EngineError, Expr, SegmentDef, SegmentInfo};
use serde_json::{json, Value};

use super::api_error::ApiError;
use super::audit_route::noted;
use super::auth::{self, Principal, Role};
use super::body::{body_timeout, read_body, too_large, BodyReader};
use super::id_list::{read_ids, IdFormat};
use super::query::{stream_ids, wants};
use super::{blocking, RowCount, Shared};
use crate::audit::{self, Action, Note};
use crate::exec;

fn info_json(s: &SegmentInfo) -> Value {
    json!({
        "name": s.name,
        "table": s.table,
        "kind": s.kind.as_str(),
        "definition": s.text,
        "uses": s.uses,
        "rows": s.rows,
        "bytes": s.bytes,
    })
}

/// `GET /v1/segments`: every segment.
pub async fn list(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "listing segments")?;
    // Segments defined with a field the principal may not use are left
    // out: their definitions and sizes tell of that field.
    let access = principal.access();
    let catalog = s.catalog();
    let segments: Vec<Value> = s
        .store
        .segments()
        .iter()
        .filter(|seg| access.check_segment(&seg.name, &catalog).is_ok())
        .map(info_json)
        .collect();
    Ok(Json(json!({ "segments": segments })))
}

/// `DELETE /v1/segments/{name}`.
pub async fn delete(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    auth::require(role, Role::Admin, "dropping a segment")?;
    let st = s.clone();
    let n = name.clone();
    blocking(move || Ok(crate::exec::campaigns::drop_segment(&st.store, &n)?)).await?;
    let note = Note::new(Action::SegmentDrop, json!({ "segment": name }), json!({}));
    Ok(noted(
        Json(json!({ "dropped": name })).into_response(),
        note,
    ))
}

/// `PUT /v1/segments/{name}`: creates or replaces a segment.
/// - JSON `{"definition": "SELECT FROM t WHERE …", "snapshot": false}`: a
///   segment defined in the language (dynamic unless `snapshot`).
/// - `text/csv` or `text/plain` with `?table=t`: a list of external ids
///   (read as [`super::id_list`] says: RFC 4180 CSV, or one id per line
///   exactly as given), making a SNAPSHOT segment; ids the table does not
///   have are reported (`unknown_ids`, the first 100 in `unknown`), not
///   silently dropped.
pub async fn put(
    State(s): State<Shared>,
    Extension(role): Extension<Role>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth::require(role, Role::Admin, "defining a segment")?;
    let action = if s.store.segment(&name).is_some() {
        Action::SegmentReplace
    } else {
        Action::SegmentCreate
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request("bad_json", format!("the body is not valid JSON: {e}"))
        })?;
        let Some(definition) = v.get("definition").and_then(Value::as_str) else {
            return Err(ApiError::bad_request(
                "bad_json",
                "the JSON body needs a string field `definition`",
            )
            .with_hint(
                r#"{"definition": "SELECT FROM users WHERE city = 'c000'", "snapshot": false}"#,
            ));
        };
        let snapshot = match v.get("snapshot") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "bad_json",
                    "`snapshot` must be true or false",
                ))
            }
        };
        let definition_text = definition.to_owned();
        let permit = s.query_slot().await?;
        let st = s.clone();
        let running = s.start_query();
        let cancel = running.cancel().clone();
        let info = blocking(move || {
            let _permit = permit;
            // The definition is bound on its own: an error's line and
            // column are in it, and it is one statement.
            cancel.scope(|| {
                let stmt = segdb_query_lang::bind_segment_definition(
                    &st.catalog(),
                    &name,
                    &definition_text,
                    snapshot,
                    date::today(),
                )?;
                exec::run_statement(&st.store, stmt)
            })?;
            st.store
                .segment(&name)
                .ok_or_else(|| ApiError::internal("the segment vanished after its creation"))
        })
        .await?;
        drop(running);
        let note = Note::new(
            action,
            json!({ "segment": info.name, "table": info.table }),
            json!({ "definition": audit::cut(definition), "snapshot": snapshot }),
        );
        return Ok(noted(Json(info_json(&info)).into_response(), note));
    }
    // A list of ids.
    let table_name = match params.get("table") {
        Some(t) => t.clone(),
        None => {
            let names = s.store.table_names();
            match names.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        "an uploaded id list needs ?table=NAME",
                    ))
                }
            }
        }
    };
    let table = s.store.table(&table_name)?;
    let limit = s.config.max_import_bytes;
    let idle = s.config.body_read_timeout;
    let format = IdFormat::of(ct);
    let (reader, stats) = BodyReader::spawn(body, limit, idle);
    let st = s.clone();
    let (info, unknown_ids, unknown) = blocking(move || {
        let mut rows = Vec::new();
        let mut unknown = Vec::new();
        let mut unknown_ids = 0u64;
        let io_error = |e: std::io::Error| {
            if stats.too_large.load(Ordering::Relaxed) {
                too_large(limit)
            } else if stats.timed_out.load(Ordering::Relaxed) {
                body_timeout(idle)
            } else {
                ApiError::bad_request("bad_body", format!("reading the id list: {e}"))
            }
        };
        // Looked up a batch at a time (`Table::rows_of`).
        let mut batch = IdBatch::default();
        let mut resolve = |batch: &mut IdBatch| -> Result<(), ApiError> {
            let ids = batch.ids();
            for (id, row) in ids.iter().zip(table.rows_of(&ids)?) {
                match row {
                    Some(r) => rows.push(r),
                    None => {
                        unknown_ids += 1;
                        if unknown.len() < 100 {
                            unknown.push((*id).to_owned());
                        }
                    }
                }
            }
            batch.clear();
            Ok(())
        };
        read_ids(reader, format, io_error, |id| {
            batch.push(id);
            if batch.len() == IdBatch::LEN {
                resolve(&mut batch)?;
            }
            Ok(())
        })?;
        resolve(&mut batch)?;
        rows.sort_unstable();
        rows.dedup();
        let info = st.store.create_segment(
            &name,
            &table_name,
            SegmentDef::Snapshot { rows, text: None },
            true,
        )?;
        Ok((info, unknown_ids, unknown))
    })
    .await?;
    let mut v = info_json(&info);
    v["unknown_ids"] = json!(unknown_ids);
    v["unknown"] = json!(unknown);
    let note = Note::new(
        action,
        json!({ "segment": info.name, "table": info.table }),
        json!({ "id_list": true, "rows": info.rows, "unknown_ids": unknown_ids }),
    );
    Ok(noted(Json(v).into_response(), note))
}

/// `GET /v1/segments/{name}/ids`: the external ids of the segment's rows as
/// streamed CSV (`?limit=`, `?offset=`), or with `Accept:
/// application/x-roaring` its row ids as one portable Roaring bitmap.
pub async fn ids(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(principal.role, Role::Read, "exporting a segment")?;
    let num = |k: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request("bad_parameter", format!("{k}=`{v}` is not a number"))
                })
            })
            .transpose()
    };
    let (limit, offset) = (num("limit")?, num("offset")?.unwrap_or(0));
    if s.store.segment(&name).is_none() {
        return Err(ApiError::not_found(
            "unknown_segment",
            format!("unknown segment `{name}`"),
        ));
    }
    // A segment defined with a field the principal may not use is not
    // exported to it. Bound against the catalog as the principal sees it,
    // so a definition replaced since the check cannot reach one either.
    let access = principal.access();
    let catalog = s.catalog();
    access.check_segment(&name, &catalog)?;
    let (table, expr) =
        segdb_query_lang::bind_segment(&name, &access.catalog(&catalog), date::today())?;
    let table = s.store.table(&table)?;
    let permit = s.query_slot().await?;
    let running = s.start_query();
    let roaring = wants(&headers, "application/x-roaring");
    let format = if roaring { "roaring" } else { "csv" };
    let target = json!({ "segment": name, "table": table.name() });
    // A CSV stream starts at once if the principal's export bucket holds
    // as many ids as the segment could match (`Table::upper_bound`, read
    // from headers; reserved, and what is not sent is given back at the
    // end); else, and for a bitmap, the ids are counted first and charged
    // exactly (or refused) before any leaves.
    let reservation = if roaring {
        None
    } else if !s.export_limit.is_on() {
        // Nothing to read: the table's rows.
        let who = &principal.name;
        s.export_limit
            .reserve_stream(who, &table, &expr, offset, limit)?
    } else {
        let (st, t, e, who) = (
            s.clone(),
            table.clone(),
            expr.clone(),
            principal.name.clone(),
        );
        let cancel = running.cancel().clone();
        blocking(move || {
            Ok(cancel.scope(|| st.export_limit.reserve_stream(&who, &t, &e, offset, limit))?)
        })
        .await?
    };
    let mut expr = expr;
    let note = if let Some(bound) = reservation {
        Note::new(
            Action::Export,
            target,
            json!({ "rows_at_most": bound, "format": format }),
        )
    } else {
        // Evaluated once: the count, then the stream or the bitmap, read
        // from the same rows.
        let (t, e) = (table.clone(), expr.clone());
        let cancel = running.cancel().clone();
        let rows = blocking(move || Ok(cancel.scope(|| t.evaluate(&e))?)).await?;
        let count = rows.len();
        expr = Expr::Evaluated(rows);
        let rows = if roaring {
            count
        } else {
            count.saturating_sub(offset).min(limit.unwrap_or(u64::MAX))
        };
        let note = Note::new(
            Action::Export,
            target,
            json!({ "rows": rows, "format": format }),
        );
        if let Err(e) = s.export_limit.charge(&principal.name, rows) {
            return Ok(noted(e.into_response(), note));
        }
        note
    };
    if roaring {
        let st = s.clone();
        let cancel = running.cancel().clone();
        let (bytes, n) = blocking(move || {
            let _permit = permit;
            let (bytes, n) = cancel.scope(|| -> Result<_, EngineError> {
                Ok((table.rows_roaring(&expr)?, table.count(&expr)?))
            })?;
            st.metrics.rows_returned.fetch_add(n, Ordering::Relaxed);
            Ok((bytes, n))
        })
        .await?;
        drop(running);
        let mut r = ([(header::CONTENT_TYPE, "application/x-roaring")], bytes).into_response();
        r.extensions_mut().insert(RowCount(n));
        return Ok(noted(r, note));
    }
    let st = s.clone();
    let to_give_back = reservation.unwrap_or(0);
    let refund = move |sent: u64| {
        st.export_limit
            .refund(&principal.name, to_give_back.saturating_sub(sent))
    };
    Ok(noted(
        stream_ids(s, permit, running, table, expr, offset, limit, refund),
        note,
    ))
}

/// Ids of an uploaded list waiting to be looked up together.
#[derive(Default)]
struct IdBatch {
    text: String,
    ends: Vec<usize>,
}

impl IdBatch {
    /// Ids looked up at a time.
    const LEN: usize = 4096;

    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn ids(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let id = &self.text[start..end];
                start = end;
                id
            })
            .collect()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}
