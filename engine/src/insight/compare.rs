//! COMPARE: two segments side by side, joined by (field, value). Values
//! are counted in full for both segments and TOP is applied to the joined
//! list (by the count in A), so that `other` sums the same values on both
//! sides; an INT field's buckets are laid out once over both segments'
//! values, so that a bucket means the same range in A and in B.

use std::collections::{BTreeMap, HashMap};

use super::{histogram_layout, FieldInsight, InsightOptions, MAX_BUCKETS};
use crate::error::{EngineError, Result};
use crate::expr::{DayRange, Expr};
use crate::schema::FieldKind;
use crate::table::Table;

/// What to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// The fields, in the order to report them (none: no field). None may
    /// be TEXT.
    pub fields: Vec<String>,
    /// Keep the `k` values with most rows in A per ENUM, SET or BOOL field
    /// and sum the rest, on both sides, as [`CompareKey::Other`].
    pub top: Option<usize>,
    /// Histogram bucket width of INT fields; `None`: automatic over both
    /// segments' values.
    pub bucket_width: Option<i64>,
    /// The window of EVENT fields.
    pub window: DayRange,
}

/// What a compared row counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareKey {
    /// Rows holding an ENUM, SET or BOOL value (`"true"`, `"false"`).
    Value(String),
    /// The values TOP left out, summed.
    Other,
    /// Rows of an INT field in `lo..hi` (`hi` exclusive, at most
    /// `i64::MAX`, which the last bucket then includes).
    Bucket {
        /// The first value.
        lo: i64,
        /// The end.
        hi: i64,
    },
    /// Rows with an event of an EVENT field on that day.
    Day(i32),
}

/// One row of a comparison: what it counts, in A and in B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedRow {
    /// What is counted.
    pub key: CompareKey,
    /// Rows of A.
    pub count_a: u64,
    /// Rows of B.
    pub count_b: u64,
}

/// One field of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedField {
    /// The field.
    pub field: String,
    /// Values by `count_a`, then `count_b` (both descending), then value,
    /// with `Other` last; buckets from the lowest; days in order.
    pub rows: Vec<ComparedRow>,
}

/// Two segments compared (see [`Table::compare`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Rows of A.
    pub rows_a: u64,
    /// Rows of B.
    pub rows_b: u64,
    /// The fields, in the order asked.
    pub fields: Vec<ComparedField>,
}

impl Table {
    /// Compares the segments `a` and `b` over `opts.fields`: per ENUM, SET
    /// and BOOL field the rows holding each value in either (TOP applied to
    /// the joined list), per INT field the rows in each bucket of one layout
    /// over both segments' values (`InvalidArgument` past
    /// [`MAX_BUCKETS`]), per EVENT field the rows active on each day of the
    /// window with activity in either.
    pub fn compare(&self, a: &Expr, b: &Expr, opts: &CompareOptions) -> Result<Comparison> {
        let (rows_a, rows_b) = (self.count(a)?, self.count(b)?);
        let mut kinds = Vec::with_capacity(opts.fields.len());
        for f in &opts.fields {
            kinds.push(self.field(f)?.1.kind);
        }
        let insight_opts = |fields: Vec<String>, bucket_width: Option<i64>| InsightOptions {
            fields,
            top: None,
            bucket_width,
            bucket_widths: Vec::new(),
            quantiles: Vec::new(),
            window: opts.window,
        };
        let mut per_field: HashMap<&str, Vec<ComparedRow>> = HashMap::new();
        // ENUM, SET, BOOL and EVENT fields: one insight per segment, every
        // value.
        let plain: Vec<String> = opts
            .fields
            .iter()
            .zip(&kinds)
            .filter(|(_, k)| **k != FieldKind::Int)
            .map(|(f, _)| f.clone())
            .collect();
        if !plain.is_empty() {
            let o = insight_opts(plain, None);
            let (ia, ib) = (self.insight(a, &o)?, self.insight(b, &o)?);
            for (ra, rb) in ia.fields.iter().zip(&ib.fields) {
                let field = opts.fields.iter().find(|f| **f == ra.field);
                if let Some(field) = field {
                    per_field.insert(field, join_plain(&ra.insight, &rb.insight, opts.top));
                }
            }
        }
        // INT fields: buckets laid out over both segments' values.
        for (f, _) in opts
            .fields
            .iter()
            .zip(&kinds)
            .filter(|(_, k)| **k == FieldKind::Int)
        {
            let rows = self.join_int(a, b, f, opts.bucket_width, &insight_opts)?;
            per_field.insert(f, rows);
        }
        let fields = opts
            .fields
            .iter()
            .map(|f| ComparedField {
                field: f.clone(),
                rows: per_field.remove(f.as_str()).unwrap_or_default(),
            })
            .collect();
        Ok(Comparison {
            rows_a,
            rows_b,
            fields,
        })
    }

    /// An INT field's buckets for both segments: one layout from the
    /// smaller minimum to the larger maximum of the two (`width`, else
    /// automatic), each segment's histogram taken with that width and added
    /// into it.
    fn join_int(
        &self,
        a: &Expr,
        b: &Expr,
        field: &str,
        width: Option<i64>,
        insight_opts: &dyn Fn(Vec<String>, Option<i64>) -> InsightOptions,
    ) -> Result<Vec<ComparedRow>> {
        let (sa, sb) = (self.int_stats(a, field)?, self.int_stats(b, field)?);
        let min = sa.min.into_iter().chain(sb.min).min();
        let max = sa.max.into_iter().chain(sb.max).max();
        let (Some(min), Some(max)) = (min, max) else {
            return Ok(Vec::new());
        };
        let (first, w, n) = histogram_layout(min, max, width).map_err(|n| {
            EngineError::InvalidArgument(format!(
                "a bucket width of {} makes {n} buckets of `{field}` (at most {MAX_BUCKETS})",
                width.unwrap_or(0)
            ))
        })?;
        let opts = insight_opts(vec![field.to_string()], Some(w));
        let mut counts = vec![(0u64, 0u64); n];
        let mut aligned = true;
        'sides: for (segment, side) in [(a, 0), (b, 1)] {
            let found = self.insight(segment, &opts)?;
            let Some(FieldInsight::Int { buckets, .. }) = found.fields.first().map(|r| &r.insight)
            else {
                continue;
            };
            for bucket in buckets {
                // Each segment's buckets start at its minimum rounded down
                // to a multiple of the width: on the layout's grid, except
                // where that rounding would pass below i64::MIN (the layout
                // then starts at the minimum itself).
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
                    |segment: &Expr| self.count(&Expr::And(vec![segment.clone(), within.clone()]));
                *slot = (count(a)?, count(b)?);
            }
        }
        Ok(counts
            .into_iter()
            .enumerate()
            .map(|(i, (count_a, count_b))| {
                let lo = i128::from(first) + i128::from(w) * i as i128;
                let hi = (lo + i128::from(w)).min(i128::from(i64::MAX));
                ComparedRow {
                    key: CompareKey::Bucket {
                        lo: lo as i64,
                        hi: hi as i64,
                    },
                    count_a,
                    count_b,
                }
            })
            .collect())
    }
}

/// Values of both segments joined: by `count_a` (descending), then
/// `count_b` (descending), then value; with `top`, the first `k` and an
/// `Other` row summing the rest on both sides. EVENT days in day order.
pub(super) fn join_plain(
    a: &FieldInsight,
    b: &FieldInsight,
    top: Option<usize>,
) -> Vec<ComparedRow> {
    let row = |key, count_a, count_b| ComparedRow {
        key,
        count_a,
        count_b,
    };
    match (a, b) {
        (FieldInsight::Values { values: va, .. }, FieldInsight::Values { values: vb, .. }) => {
            let mut counts: HashMap<&str, (u64, u64)> = HashMap::new();
            for v in va {
                counts.entry(&v.value).or_default().0 += v.count;
            }
            for v in vb {
                counts.entry(&v.value).or_default().1 += v.count;
            }
            let mut joined: Vec<(&str, u64, u64)> = counts
                .into_iter()
                .map(|(v, (ca, cb))| (v, ca, cb))
                .collect();
            joined.sort_by(|x, y| {
                y.1.cmp(&x.1)
                    .then_with(|| y.2.cmp(&x.2))
                    .then_with(|| x.0.cmp(y.0))
            });
            let mut other = None;
            if let Some(k) = top.filter(|&k| joined.len() > k) {
                let rest = joined.split_off(k);
                other = Some(row(
                    CompareKey::Other,
                    rest.iter().map(|r| r.1).sum(),
                    rest.iter().map(|r| r.2).sum(),
                ));
            }
            joined
                .into_iter()
                .map(|(v, ca, cb)| row(CompareKey::Value(v.to_owned()), ca, cb))
                .chain(other)
                .collect()
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
                .map(|(day, (ca, cb))| row(CompareKey::Day(day), ca, cb))
                .collect()
        }
        _ => Vec::new(),
    }
}
