//! INSIGHT and COMPARE as tables of rows, from [`Table::insight`].
//!
//! INSIGHT answers `field, value, count, share, table_count, table_share,
//! tgi`: one row per value of each ENUM, SET and BOOL field (as the engine
//! orders them, then `other` when TOP left values out), per histogram
//! bucket of each INT field (`[lo,hi)`), and per day of the window with
//! activity of each EVENT field named (`2026-11-20`; count = rows active
//! that day; the table columns are null).
//!
//! A derived tag in the list is reported like an ENUM field (a BOOL tag
//! like a BOOL field): its values are the tag's bound expressions, counted
//! by [`Table::insight_exprs`] and [`Table::compare_exprs`], and its rows
//! stand where the list names it.
//!
//! COMPARE answers `field, value, count_a, share_a, count_b, share_b,
//! difference, tgi` for two segments, one row per row of
//! [`Table::compare`] (which joins them by field and value).

use segdb_engine::date::format_iso_day;
use segdb_engine::insight::{
    share, tgi, CompareKey, CompareOptions, ComparedField, FieldInsight, FieldReport, Insight,
    InsightOptions,
};
use segdb_engine::{FieldKind, Store};
use segdb_query_lang::{BoundCompare, BoundInsight, InsightSpec};
use serde_json::{json, Value};

use super::{ExecError, ResultSet};

/// The columns of an INSIGHT answer.
pub const INSIGHT_COLUMNS: [&str; 7] = [
    "field",
    "value",
    "count",
    "share",
    "table_count",
    "table_share",
    "tgi",
];

/// The columns of a COMPARE answer.
pub const COMPARE_COLUMNS: [&str; 8] = [
    "field",
    "value",
    "count_a",
    "share_a",
    "count_b",
    "share_b",
    "difference",
    "tgi",
];

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// A histogram bucket as a value: `[lo,hi)`.
pub fn bucket_label(lo: i64, hi: i64) -> String {
    format!("[{lo},{hi})")
}

fn options(spec: &InsightSpec, fields: Vec<String>, top: Option<usize>) -> InsightOptions {
    InsightOptions {
        fields,
        top,
        bucket_width: spec.bucket_width,
        bucket_widths: Vec::new(),
        quantiles: Vec::new(),
        window: spec.window,
    }
}

/// `INSIGHT …`.
pub fn insight(store: &Store, stmt: &BoundInsight) -> Result<ResultSet, ExecError> {
    let spec = &stmt.spec;
    let table = store.table(&spec.table)?;
    let mut rows = Vec::new();
    // No field to report (a table of TEXT and EVENT fields only): no rows;
    // an empty list would ask the engine for every field.
    if !spec.fields.is_empty() {
        let stored = stored_fields(spec);
        let mut found = if stored.is_empty() {
            Insight {
                segment_rows: table.count(&stmt.filter)?,
                table_rows: table.num_rows(),
                fields: Vec::new(),
            }
        } else {
            table.insight(&stmt.filter, &options(spec, stored, spec.top))?
        };
        for tag in &spec.tags {
            found.fields.push(FieldReport {
                field: tag.name.clone(),
                kind: if tag.is_bool {
                    FieldKind::Bool
                } else {
                    FieldKind::Enum
                },
                insight: table.insight_exprs(&stmt.filter, &tag.values, spec.top)?,
            });
        }
        found.fields.sort_by_key(|r| position(spec, &r.field));
        insight_rows(&found, &mut rows);
    }
    Ok(ResultSet {
        columns: INSIGHT_COLUMNS.map(String::from).to_vec(),
        rows,
    })
}

/// The stored fields of the list (its derived tags left out), in order.
fn stored_fields(spec: &InsightSpec) -> Vec<String> {
    spec.fields
        .iter()
        .filter(|f| !spec.tags.iter().any(|t| t.name == **f))
        .cloned()
        .collect()
}

/// Where the list names `field`.
fn position(spec: &InsightSpec, field: &str) -> usize {
    spec.fields
        .iter()
        .position(|f| f == field)
        .unwrap_or(usize::MAX)
}

fn insight_rows(found: &Insight, rows: &mut Vec<Vec<Value>>) {
    let (seg, all) = (found.segment_rows, found.table_rows);
    let row = |field: &str, value: String, count: u64, table_count: u64| {
        vec![
            json!(field),
            json!(value),
            json!(count),
            json!(share(count, seg)),
            json!(table_count),
            json!(share(table_count, all)),
            opt_f64(tgi(count, seg, table_count, all)),
        ]
    };
    for report in &found.fields {
        let field = report.field.as_str();
        match &report.insight {
            FieldInsight::Values { values, other, .. } => {
                for v in values.iter().chain(other) {
                    rows.push(row(field, v.value.clone(), v.count, v.table_count));
                }
            }
            FieldInsight::Int { buckets, .. } => {
                for b in buckets {
                    rows.push(row(field, bucket_label(b.lo, b.hi), b.count, b.table_count));
                }
            }
            FieldInsight::Event { days, .. } => {
                for d in days {
                    rows.push(vec![
                        json!(field),
                        json!(format_iso_day(d.day)),
                        json!(d.rows),
                        json!(share(d.rows, seg)),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                    ]);
                }
            }
        }
    }
}

/// `COMPARE …`.
pub fn compare(store: &Store, stmt: &BoundCompare) -> Result<ResultSet, ExecError> {
    let spec = &stmt.spec;
    let table = store.table(&spec.table)?;
    let mut found = table.compare(
        &stmt.a,
        &stmt.b,
        &CompareOptions {
            fields: stored_fields(spec),
            top: spec.top,
            bucket_width: spec.bucket_width,
            window: spec.window,
        },
    )?;
    for tag in &spec.tags {
        found.fields.push(ComparedField {
            field: tag.name.clone(),
            rows: table.compare_exprs(&stmt.a, &stmt.b, &tag.values, spec.top)?,
        });
    }
    found.fields.sort_by_key(|f| position(spec, &f.field));
    let (rows_a, rows_b) = (found.rows_a, found.rows_b);
    let mut rows = Vec::new();
    for f in &found.fields {
        for r in &f.rows {
            let value = match &r.key {
                CompareKey::Value(v) => v.clone(),
                CompareKey::Other => "other".to_string(),
                CompareKey::Bucket { lo, hi } => bucket_label(*lo, *hi),
                CompareKey::Day(d) => format_iso_day(*d),
            };
            let (share_a, share_b) = (share(r.count_a, rows_a), share(r.count_b, rows_b));
            rows.push(vec![
                json!(f.field),
                json!(value),
                json!(r.count_a),
                json!(share_a),
                json!(r.count_b),
                json!(share_b),
                json!(share_a - share_b),
                opt_f64((share_b > 0.0).then(|| share_a / share_b * 100.0)),
            ]);
        }
    }
    Ok(ResultSet {
        columns: COMPARE_COLUMNS.map(String::from).to_vec(),
        rows,
    })
}
