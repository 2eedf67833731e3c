//! INSIGHT and COMPARE as tables of rows, from [`Table::insight`].
//!
//! INSIGHT answers `field, value, count, share, table_count, table_share,
//! tgi`: one row per value of each ENUM, SET and BOOL field (as the engine
//! orders them, then `other` when TOP left values out), per histogram
//! bucket of each INT field (`[lo,hi)`), and per day of the window with
//! activity of each EVENT field named (`2026-11-20`; count = rows active
//! that day; the table columns are null).
//!
//! COMPARE answers `field, value, count_a, share_a, count_b, share_b,
//! difference, tgi` for two segments, joined by (field, value). Values are
//! counted in full for both and TOP is applied to the joined list (by
//! `count_a`), so that `other` sums the same values on both sides; INT
//! buckets are laid out once over both segments' values.

use std::collections::{BTreeMap, HashMap};

use segdb_engine::date::format_iso_day;
use segdb_engine::insight::{
    histogram_layout, share, tgi, FieldInsight, Insight, InsightOptions, MAX_BUCKETS,
};
use segdb_engine::{EngineError, Expr, FieldKind, Store, Table};
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
        let found = table.insight(&stmt.filter, &options(spec, spec.fields.clone(), spec.top))?;
        insight_rows(&found, &mut rows);
    }
    Ok(ResultSet {
        columns: INSIGHT_COLUMNS.map(String::from).to_vec(),
        rows,
    })
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

/// One joined row of COMPARE before shares: value, count in A, in B.
type Joined = (String, u64, u64);

/// `COMPARE …`.
pub fn compare(store: &Store, stmt: &BoundCompare) -> Result<ResultSet, ExecError> {
    let spec = &stmt.spec;
    let table = store.table(&spec.table)?;
    let (rows_a, rows_b) = (table.count(&stmt.a)?, table.count(&stmt.b)?);
    // Per field, in the asked order: its joined rows.
    let mut per_field: HashMap<String, Vec<Joined>> = HashMap::new();

    // ENUM, SET, BOOL and EVENT fields: one insight per segment, every value.
    let plain: Vec<String> = spec
        .fields
        .iter()
        .filter(|f| kind_of(&table, f) != Some(FieldKind::Int))
        .cloned()
        .collect();
    if !plain.is_empty() {
        let opts = options(spec, plain, None);
        let a = table.insight(&stmt.a, &opts)?;
        let b = table.insight(&stmt.b, &opts)?;
        for (ra, rb) in a.fields.iter().zip(&b.fields) {
            let joined = join_plain(&ra.insight, &rb.insight, spec.top);
            per_field.insert(ra.field.clone(), joined);
        }
    }
    // INT fields: buckets laid out over both segments' values.
    for field in spec
        .fields
        .iter()
        .filter(|f| kind_of(&table, f) == Some(FieldKind::Int))
    {
        let joined = join_int(&table, stmt, field)?;
        per_field.insert(field.clone(), joined);
    }

    let mut rows = Vec::new();
    for field in &spec.fields {
        for (value, count_a, count_b) in per_field.remove(field).unwrap_or_default() {
            let (share_a, share_b) = (share(count_a, rows_a), share(count_b, rows_b));
            rows.push(vec![
                json!(field),
                json!(value),
                json!(count_a),
                json!(share_a),
                json!(count_b),
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

fn kind_of(table: &Table, field: &str) -> Option<FieldKind> {
    table.schema().field(field).map(|f| f.kind)
}

/// Values of both segments joined: by `count_a` (descending), then
/// `count_b` (descending), then value; with `top`, the first `k` and an
/// `other` row summing the rest on both sides. EVENT days in day order.
fn join_plain(a: &FieldInsight, b: &FieldInsight, top: Option<usize>) -> Vec<Joined> {
    match (a, b) {
        (FieldInsight::Values { values: va, .. }, FieldInsight::Values { values: vb, .. }) => {
            let mut counts: HashMap<&str, (u64, u64)> = HashMap::new();
            for v in va {
                counts.entry(&v.value).or_default().0 += v.count;
            }
            for v in vb {
                counts.entry(&v.value).or_default().1 += v.count;
            }
            let mut joined: Vec<Joined> = counts
                .into_iter()
                .map(|(v, (ca, cb))| (v.to_string(), ca, cb))
                .collect();
            joined.sort_by(|x, y| {
                y.1.cmp(&x.1)
                    .then_with(|| y.2.cmp(&x.2))
                    .then_with(|| x.0.cmp(&y.0))
            });
            if let Some(k) = top.filter(|&k| joined.len() > k) {
                let rest = joined.split_off(k);
                joined.push((
                    "other".to_string(),
                    rest.iter().map(|r| r.1).sum(),
                    rest.iter().map(|r| r.2).sum(),
                ));
            }
            joined
        }
        (FieldInsight::Event { days: da, .. }, FieldInsight::Event { days: db, .. }) => {
            let mut days: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
            for d in da {
                days.entry(d.day).or_default().0 += d.rows;
            }
            for d in db {
                days.entry(d.day).or_default().1 += d.rows;
            }
            days.into_iter()
                .map(|(day, (ca, cb))| (format_iso_day(day), ca, cb))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// An INT field's buckets for both segments: one layout from the smaller
/// minimum to the larger maximum of the two (WIDTH, else automatic), each
/// segment's histogram taken with that width and added into it.
fn join_int(table: &Table, stmt: &BoundCompare, field: &str) -> Result<Vec<Joined>, ExecError> {
    let (sa, sb) = (
        table.int_stats(&stmt.a, field)?,
        table.int_stats(&stmt.b, field)?,
    );
    let min = sa.min.into_iter().chain(sb.min).min();
    let max = sa.max.into_iter().chain(sb.max).max();
    let (Some(min), Some(max)) = (min, max) else {
        return Ok(Vec::new());
    };
    let width = stmt.spec.bucket_width;
    let (first, w, n) = histogram_layout(min, max, width).map_err(|n| {
        EngineError::InvalidArgument(format!(
            "a bucket width of {} makes {n} buckets of `{field}` (at most {MAX_BUCKETS})",
            width.unwrap_or(0)
        ))
    })?;
    let mut spec = stmt.spec.clone();
    spec.bucket_width = Some(w);
    let opts = options(&spec, vec![field.to_string()], None);
    let mut counts = vec![(0u64, 0u64); n];
    let mut aligned = true;
    'sides: for (segment, side) in [(&stmt.a, 0), (&stmt.b, 1)] {
        let found = table.insight(segment, &opts)?;
        let Some(FieldInsight::Int { buckets, .. }) = found.fields.first().map(|r| &r.insight)
        else {
            continue;
        };
        for bucket in buckets {
            // Each segment's buckets start at its minimum rounded down to a
            // multiple of the width: on the layout's grid, except where that
            // rounding would pass below i64::MIN (the layout then starts at
            // the minimum itself).
            let offset = i128::from(bucket.lo) - i128::from(first);
            let slot = usize::try_from(offset.div_euclid(i128::from(w)))
                .ok()
                .and_then(|i| counts.get_mut(i));
            match slot {
                Some(slot) if offset.rem_euclid(i128::from(w)) == 0 => {
                    if side == 0 {
                        slot.0 += bucket.count;
                    } else {
                        slot.1 += bucket.count;
                    }
                }
                _ => {
                    aligned = false;
                    break 'sides;
                }
            }
        }
    }
    if !aligned {
        // Off the grid: count each bucket of the layout in each segment.
        for (i, slot) in counts.iter_mut().enumerate() {
            let lo = i128::from(first) + i128::from(w) * i as i128;
            let hi = (lo + i128::from(w) - 1).min(i128::from(i64::MAX));
            let within = Expr::IntBetween {
                field: field.to_string(),
                lo: lo as i64,
                hi: hi as i64,
            };
            let count =
                |segment: &Expr| table.count(&Expr::And(vec![segment.clone(), within.clone()]));
            *slot = (count(&stmt.a)?, count(&stmt.b)?);
        }
    }
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, (ca, cb))| {
            let lo = i128::from(first) + i128::from(w) * i as i128;
            let hi = (lo + i128::from(w)).min(i128::from(i64::MAX));
            (bucket_label(lo as i64, hi as i64), ca, cb)
        })
        .collect())
}
