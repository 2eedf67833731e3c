//! `POST /v1/insight`: who is in a segment, as nested JSON for charts.
//!
//! Request: `{"table": "users", "where": "city = 'c000'", "fields":
//! ["gender", "age"], "top": 10, "bucket_width": 5, "quantiles": [0.5],
//! "as_of": "2026-11-22", "days": 30}` — every key but `table` optional
//! (no `where`: every row; no `fields`: every field but TEXT, then every
//! derived tag of the table; quantiles p25, p50, p75, p90, p99; EVENT
//! fields over the `days` days ending `as_of`, today by default). A
//! derived tag in `fields` is reported like an ENUM field (a BOOL tag
//! like a BOOL field), bound as the INSIGHT statement binds it. The
//! answer's shape is in the README.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::{Extension, Json};
use segdb_engine::insight::{
    share, tgi, FieldInsight, FieldReport, Insight, InsightOptions, ValueCount,
};
use segdb_engine::{date, DayRange, Expr, FieldKind};
use segdb_query_lang::ast::{Ident, Span};
use segdb_query_lang::{Statement, TagField};
use serde_json::{json, Value};

use super::api_error::ApiError;
use super::auth::{self, Principal, Role};
use super::body::read_body;
use super::{elapsed_ms, Shared};
use crate::permissions::FieldAccess;

mod request;

/// Binds `filter` (an expression of the language; none or blank: every
/// row) against `table`; an error's line and column are in `filter`.
fn bind_filter(
    s: &Shared,
    access: &FieldAccess,
    table: &str,
    filter: Option<&str>,
    as_of: i32,
) -> Result<Expr, ApiError> {
    let text = filter.unwrap_or("");
    let catalog = s.catalog();
    // Its fields are checked as a written statement's, at their places in
    // `filter`; then it is bound as the principal sees the table.
    if let Some(stmt) = segdb_query_lang::parse_filter_statement(table, text)? {
        access.check_statement(&stmt, &catalog)?;
    }
    let bound = segdb_query_lang::bind_filter(&access.catalog(&catalog), table, text, as_of)?;
    Ok(bound.filter)
}

/// The derived tags a request reports: those of `table` named in `named`
/// (every one the principal can use when `named` is empty), bound on
/// `as_of` through an INSIGHT statement, as the language binds them.
fn bind_tags(
    s: &Shared,
    access: &FieldAccess,
    table: &str,
    named: &[String],
    as_of: i32,
) -> Result<Vec<TagField>, ApiError> {
    let tags: Vec<&String> = named
        .iter()
        .filter(|f| s.store.tag(f).is_some_and(|t| t.table == table))
        .collect();
    if !named.is_empty() && tags.is_empty() {
        return Ok(Vec::new());
    }
    let quote = |name: &str| {
        Ident {
            name: name.to_owned(),
            span: Span::default(),
        }
        .to_string()
    };
    let list: Vec<String> = tags.iter().map(|t| quote(t)).collect();
    let text = format!(
        "INSIGHT {} FROM {} AS OF '{}'",
        list.join(", "),
        quote(table),
        date::format_iso_day(as_of)
    );
    let catalog = s.catalog();
    let bound = segdb_query_lang::parse_and_bind(&text, &access.catalog(&catalog), as_of)?;
    Ok(match bound.into_iter().next() {
        Some(Statement::Insight(b)) => b.spec.tags,
        _ => Vec::new(),
    })
}

fn value_json(v: &ValueCount, segment_rows: u64, table_rows: u64) -> Value {
    json!({
        "value": v.value,
        "count": v.count,
        "share": share(v.count, segment_rows),
        "table_count": v.table_count,
        "table_share": share(v.table_count, table_rows),
        "tgi": tgi(v.count, segment_rows, v.table_count, table_rows),
    })
}

/// The documented JSON shape of an insight.
pub fn insight_json(i: &Insight, window: DayRange) -> Value {
    let (n, tn) = (i.segment_rows, i.table_rows);
    let fields: Vec<Value> = i
        .fields
        .iter()
        .map(|f| {
            let mut v = json!({"field": f.field, "kind": f.kind.as_str()});
            match &f.insight {
                FieldInsight::Values {
                    covered,
                    table_covered,
                    values,
                    other,
                } => {
                    v["coverage"] = json!({
                        "count": covered,
                        "share": share(*covered, n),
                        "table_count": table_covered,
                        "table_share": share(*table_covered, tn),
                    });
                    v["values"] = values.iter().map(|x| value_json(x, n, tn)).collect();
                    v["other"] = other.as_ref().map_or(Value::Null, |x| value_json(x, n, tn));
                }
                FieldInsight::Int {
                    stats,
                    quantiles,
                    buckets,
                } => {
                    v["count"] = json!(stats.count);
                    v["coverage"] = json!(share(stats.count, n));
                    v["min"] = json!(stats.min);
                    v["max"] = json!(stats.max);
                    // As a string: a sum of 64-bit values may pass 2^63.
                    v["sum"] = json!(stats.sum.to_string());
                    v["avg"] = json!(stats.avg());
                    v["quantiles"] = quantiles
                        .iter()
                        .map(|(q, x)| json!({"q": q, "value": x}))
                        .collect();
                    v["histogram"] = buckets
                        .iter()
                        .map(|b| {
                            json!({
                                "lo": b.lo,
                                "hi": b.hi,
                                "count": b.count,
                                "share": share(b.count, n),
                                "table_count": b.table_count,
                                "table_share": share(b.table_count, tn),
                                "tgi": tgi(b.count, n, b.table_count, tn),
                            })
                        })
                        .collect();
                }
                FieldInsight::Event {
                    active_rows,
                    total,
                    days,
                } => {
                    v["window"] = json!({
                        "first": date::format_iso_day(window.first),
                        "last": date::format_iso_day(window.last),
                    });
                    v["active_rows"] = json!(active_rows);
                    v["active_share"] = json!(share(*active_rows, n));
                    v["total"] = json!(total);
                    v["avg_per_active_row"] = if *active_rows > 0 {
                        json!(*total as f64 / *active_rows as f64)
                    } else {
                        Value::Null
                    };
                    v["days"] = days
                        .iter()
                        .map(|d| json!({"day": date::format_iso_day(d.day), "rows": d.rows, "total": d.total}))
                        .collect();
                }
            }
            v
        })
        .collect();
    json!({
        "segment_rows": n,
        "table_rows": tn,
        "segment_share": share(n, tn),
        "fields": fields,
    })
}

/// `POST /v1/insight`.
pub async fn insight(
    State(s): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    auth::require(principal.role, Role::Read, "insight")?;
    let access = principal.access();
    let start = Instant::now();
    let bytes = read_body(body, s.config.max_body_bytes, s.config.body_read_timeout).await?;
    let req = request::parse(&bytes)?;
    let as_of = match &req.as_of {
        None => date::today(),
        Some(d) => date::parse_iso_day(d).ok_or_else(|| {
            ApiError::bad_request(
                "bad_json",
                format!("as_of `{d}` is not a date (YYYY-MM-DD)"),
            )
        })?,
    };
    let days = req.days.unwrap_or(30);
    if !(1..=3660).contains(&days) {
        return Err(ApiError::bad_request(
            "bad_json",
            format!("days {days} is not from 1 to 3660"),
        ));
    }
    let window = DayRange {
        first: as_of - (days - 1),
        last: as_of,
    };
    let (bucket_width, bucket_widths) = match req.bucket_width {
        None | Some(Value::Null) => (None, Vec::new()),
        Some(Value::Number(n)) => (
            Some(n.as_i64().ok_or_else(|| {
                ApiError::bad_request("bad_json", "bucket_width must be a positive integer")
            })?),
            Vec::new(),
        ),
        Some(Value::Object(m)) => (
            None,
            m.into_iter()
                .map(|(f, w)| {
                    w.as_i64().map(|w| (f.clone(), w)).ok_or_else(|| {
                        ApiError::bad_request(
                            "bad_json",
                            format!("bucket_width of `{f}` must be a positive integer"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_json",
                "bucket_width is a number or an object of numbers by field",
            ))
        }
    };
    // The fields asked for must be ones the principal may use; none asked
    // for means every field it may use.
    let schema = s.store.table(&req.table)?.schema().clone();
    let tags = bind_tags(&s, &access, &req.table, &req.fields, as_of)?;
    let order = req.fields.clone();
    let only_tags =
        !req.fields.is_empty() && req.fields.iter().all(|f| tags.iter().any(|t| t.name == *f));
    let mut fields: Vec<String> = req
        .fields
        .into_iter()
        .filter(|f| !tags.iter().any(|t| t.name == *f))
        .collect();
    access.check_fields(&req.table, &schema, fields.iter().map(String::as_str))?;
    if fields.is_empty() && schema.fields.iter().any(|f| !access.may_use(&req.table, f)) {
        fields = schema
            .user_fields()
            .filter(|f| f.kind != FieldKind::Text && access.may_use(&req.table, f))
            .map(|f| f.name.clone())
            .collect();
        if fields.is_empty() {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden_field",
                format!(
                    "this principal may use no field of table `{}` that insight reports",
                    req.table
                ),
            ));
        }
    }
    let opts = InsightOptions {
        fields,
        top: req.top,
        bucket_width,
        bucket_widths,
        quantiles: req
            .quantiles
            .unwrap_or_else(|| InsightOptions::QUANTILES.to_vec()),
        window,
    };
    let table = req.table.clone();
    let permit = s.query_slot().await?;
    let st = s.clone();
    let running = s.start_query();
    let cancel = running.cancel().clone();
    let insight = super::query_pool::read(move || {
        let _permit = permit;
        let t = st.store.table(&req.table)?;
        let schema = t.schema();
        // A system field (`#effects`) is unknown to users.
        if let Some(f) = opts.fields.iter().find(|f| schema.user_field(f).is_none()) {
            // Suggested among the fields the principal may use only.
            let names = schema
                .user_fields()
                .filter(|d| access.may_use(&req.table, d))
                .map(|d| d.name.as_str());
            let hint =
                segdb_query_lang::did_you_mean(f, names).map(|n| format!("did you mean `{n}`?"));
            let e = ApiError::bad_request(
                "unknown_field",
                format!("unknown field `{f}` in table `{}`", req.table),
            );
            return Err(match hint {
                Some(h) => e.with_hint(h),
                None => e,
            });
        }
        let expr = bind_filter(&st, &access, &req.table, req.filter.as_deref(), as_of)?;
        cancel
            .scope(|| {
                let mut found = if only_tags {
                    Insight {
                        segment_rows: t.count(&expr)?,
                        table_rows: t.num_rows(),
                        fields: Vec::new(),
                    }
                } else {
                    t.insight(&expr, &opts)?
                };
                for tag in &tags {
                    found.fields.push(FieldReport {
                        field: tag.name.clone(),
                        kind: if tag.is_bool {
                            FieldKind::Bool
                        } else {
                            FieldKind::Enum
                        },
                        insight: t.insight_exprs(&expr, &tag.values, opts.top)?,
                    });
                }
                if !order.is_empty() {
                    found
                        .fields
                        .sort_by_key(|r| order.iter().position(|f| *f == r.field));
                }
                Ok::<_, segdb_engine::EngineError>(found)
            })
            .map_err(ApiError::from)
    })
    .await?;
    drop(running);
    s.metrics.query("insight");
    let mut v = insight_json(&insight, window);
    v["table"] = json!(table);
    v["elapsed_ms"] = json!(elapsed_ms(start));
    Ok(Json(v))
}
