//! Insight: who is in a segment. For each asked field, the segment's
//! distribution next to the whole table's: value counts and TGI (ENUM, SET,
//! BOOL), statistics, exact quantiles and a histogram (INT), activity over a
//! window (EVENT).
//!
//! The segment is evaluated once into its non-empty chunks (dense words,
//! 8 KiB each); every field then reads its bitmaps against those chunks on
//! the worker pool. Table-wide counts come from Roaring headers (values)
//! or from the same walks over every row (INT buckets), and the latter are
//! cached in the table snapshot, which never changes.

mod compare;
mod derived;
mod ints;
mod top;
mod values;

pub use compare::{CompareKey, CompareOptions, ComparedField, ComparedRow, Comparison};
pub(crate) use ints::DerivedCache;
pub use ints::{auto_width, histogram_layout, set_values_in_memory, values_in_memory, MAX_BUCKETS};

use std::sync::Arc;

use rayon::prelude::*;
use segdb_storage_format::dense::{self, Words};

use crate::error::{EngineError, Result};
use crate::eval::IntStats;
use crate::expr::{DayRange, Expr};
use crate::plan::compile_planned;
use crate::schema::FieldKind;
use crate::table::Table;

/// What to compute.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightOptions {
    /// The fields, in the order to report them; empty: every field but TEXT
    /// and the system fields (EVENT fields too).
    pub fields: Vec<String>,
    /// Keep the `k` values with most rows per ENUM/SET field and sum the
    /// rest as "other".
    pub top: Option<usize>,
    /// Histogram bucket width of INT fields; `None`: automatic (at most 20
    /// buckets of a width 1, 2 or 5 times a power of ten).
    pub bucket_width: Option<i64>,
    /// Bucket widths of particular INT fields (`("age", 5)`), before
    /// `bucket_width`.
    pub bucket_widths: Vec<(String, i64)>,
    /// Quantiles of INT fields, each in `0.0..=1.0`.
    pub quantiles: Vec<f64>,
    /// The window of EVENT fields.
    pub window: DayRange,
}

impl InsightOptions {
    /// The default quantiles: p25, p50, p75, p90, p99.
    pub const QUANTILES: [f64; 5] = [0.25, 0.5, 0.75, 0.9, 0.99];

    /// The bucket width asked for INT field `field`, if any.
    pub fn width_of(&self, field: &str) -> Option<i64> {
        self.bucket_widths
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, w)| *w)
            .or(self.bucket_width)
    }
}

/// One value of an ENUM, SET or BOOL field (or the sum of the values left
/// out by `top`): rows in the segment and in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCount {
    /// The value (`true`/`false` for BOOL).
    pub value: String,
    /// Rows of the segment holding it.
    pub count: u64,
    /// Rows of the table holding it.
    pub table_count: u64,
}

/// One histogram bucket of an INT field: values in `lo..hi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Smallest value of the bucket.
    pub lo: i64,
    /// One past the largest value (exclusive; `i64::MAX` is inclusive for
    /// the last bucket of a field reaching it).
    pub hi: i64,
    /// Rows of the segment in it.
    pub count: u64,
    /// Rows of the table in it.
    pub table_count: u64,
}

/// One day of an EVENT field over the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDayTotal {
    /// The day.
    pub day: i32,
    /// Rows of the segment with a count that day.
    pub rows: u64,
    /// The sum of their counts.
    pub total: u64,
}

/// What insight found for one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldInsight {
    /// ENUM, SET or BOOL.
    Values {
        /// Rows of the segment with any value.
        covered: u64,
        /// Rows of the table with any value.
        table_covered: u64,
        /// Values with at least one row in the segment, by count
        /// (descending, then value).
        values: Vec<ValueCount>,
        /// The values left out by `top`, summed (`value` is `other`).
        other: Option<ValueCount>,
    },
    /// INT.
    Int {
        /// Count of non-null values, sum, min and max over the segment.
        stats: IntStats,
        /// `(q, value)`: the smallest value with at least `q` of the
        /// segment's non-null values at or below it (nearest rank).
        quantiles: Vec<(f64, i64)>,
        /// Equal-width buckets from the segment's minimum to its maximum.
        buckets: Vec<Bucket>,
    },
    /// EVENT, over the window.
    Event {
        /// Rows of the segment with a count on some day of the window.
        active_rows: u64,
        /// The sum of their counts.
        total: u64,
        /// Per day of the window with a count, in day order.
        days: Vec<EventDayTotal>,
    },
}

/// Insight of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldReport {
    /// The field's name.
    pub field: String,
    /// Its kind.
    pub kind: FieldKind,
    /// What was found.
    pub insight: FieldInsight,
}

/// Insight of a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Insight {
    /// Rows in the segment.
    pub segment_rows: u64,
    /// Rows in the table.
    pub table_rows: u64,
    /// One report per asked field, in the asked order.
    pub fields: Vec<FieldReport>,
}

/// `part / whole`, 0 when the whole is empty.
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// TGI: the share in the segment over the share in the table, times 100;
/// `None` when the table share is 0.
pub fn tgi(count: u64, segment_rows: u64, table_count: u64, table_rows: u64) -> Option<f64> {
    let t = share(table_count, table_rows);
    (t > 0.0).then(|| share(count, segment_rows) / t * 100.0)
}

/// A non-empty chunk of the segment.
pub(crate) struct SegChunk {
    pub shard: u32,
    pub key: u16,
    pub words: Box<Words>,
    pub count: u64,
}

/// The most ENUM/SET values and INT histogram buckets one insight counts
/// (a field costs its values, or the 1,000 buckets a histogram may have, plus one).
pub const MAX_INSIGHT_VALUES: u64 = 1 << 18;

impl Table {
    /// Insight of the rows matching `expr` (see [`InsightOptions`]).
    ///
    /// Refused (`InvalidArgument`) when the fields asked have more than
    /// [`MAX_INSIGHT_VALUES`] values and histogram buckets in all.
    pub fn insight(&self, expr: &Expr, opts: &InsightOptions) -> Result<Insight> {
        self.insight_unnamed(expr, opts)
            .map_err(|e| self.name_error(e))
    }

    fn insight_unnamed(&self, expr: &Expr, opts: &InsightOptions) -> Result<Insight> {
        if let Some(q) = opts.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(EngineError::InvalidArgument(format!(
                "quantile {q} is not between 0 and 1"
            )));
        }
        if opts.bucket_width.is_some_and(|w| w <= 0)
            || opts.bucket_widths.iter().any(|(_, w)| *w <= 0)
        {
            return Err(EngineError::InvalidArgument(
                "a histogram bucket width must be positive".into(),
            ));
        }
        let fields: Vec<(usize, String, FieldKind)> = if opts.fields.is_empty() {
            self.schema
                .fields
                .iter()
                .enumerate()
                // No list: every field a user sees (system fields are not).
                .filter(|(_, f)| f.kind != FieldKind::Text && !f.is_system())
                .map(|(i, f)| (i, f.name.clone(), f.kind))
                .collect()
        } else {
            opts.fields
                .iter()
                .map(|name| {
                    let (i, f) = self.field(name)?;
                    if f.kind == FieldKind::Text {
                        return Err(EngineError::WrongKind {
                            field: name.clone(),
                            kind: f.kind.as_str(),
                            what: "insight covers ENUM, SET, BOOL, INT and EVENT fields".into(),
                        });
                    }
                    Ok((i, f.name.clone(), f.kind))
                })
                .collect::<Result<_>>()?
        };
        // The work and the answer grow with the values and buckets asked
        // for: bounded before anything is counted.
        let cost: u64 = fields
            .iter()
            .map(|(fi, _, kind)| match kind {
                FieldKind::Enum | FieldKind::Set => self.value_dict(*fi).len() as u64 + 1,
                FieldKind::Int => ints::MAX_BUCKETS + 1,
                _ => 1,
            })
            .sum();
        if cost > MAX_INSIGHT_VALUES {
            return Err(EngineError::InvalidArgument(format!(
                "an insight of {} fields of `{}` would count {cost} values and buckets, more \
                 than {MAX_INSIGHT_VALUES}: name fewer fields (FIELDS …)",
                fields.len(),
                self.name()
            )));
        }
        let seg = self.segment_chunks(expr)?;
        let segment_rows = seg.iter().map(|c| c.count).sum();
        let mut reports = Vec::with_capacity(fields.len());
        for (fi, name, kind) in fields {
            crate::cancel::check()?;
            let insight = match kind {
                FieldKind::Enum | FieldKind::Set | FieldKind::Bool => {
                    values::field_values(self, &seg, fi, kind, opts.top)?
                }
                FieldKind::Int => ints::field_ints(self, &seg, fi, opts)?,
                FieldKind::Event => values::field_events(self, &seg, fi, opts.window)?,
                FieldKind::Text => unreachable!("TEXT fields are refused above"),
            };
            reports.push(FieldReport {
                field: name,
                kind,
                insight,
            });
        }
        Ok(Insight {
            segment_rows,
            table_rows: self.num_rows,
            fields: reports,
        })
    }

    /// Nearest-rank quantiles of the INT field `field` over the rows
    /// matching `expr`, as [`Table::insight`] computes them, without the
    /// histogram: for each `q` (in `0.0..=1.0`), the smallest value with
    /// at least `ceil(q * n)` (at least 1) of the `n` non-null values at or
    /// below it. Empty when no row of the segment has a value.
    pub fn int_quantiles(&self, expr: &Expr, field: &str, qs: &[f64]) -> Result<Vec<(f64, i64)>> {
        self.int_quantiles_unnamed(expr, field, qs)
            .map_err(|e| self.name_error(e))
    }

    fn int_quantiles_unnamed(
        &self,
        expr: &Expr,
        field: &str,
        qs: &[f64],
    ) -> Result<Vec<(f64, i64)>> {
        if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(EngineError::InvalidArgument(format!(
                "quantile {q} is not between 0 and 1"
            )));
        }
        let (fi, f) = self.field(field)?;
        if f.kind != FieldKind::Int {
            return Err(EngineError::WrongKind {
                field: field.to_string(),
                kind: f.kind.as_str(),
                what: "quantiles apply to INT fields".into(),
            });
        }
        let seg = self.segment_chunks(expr)?;
        Ok(ints::field_quantiles(self, &seg, fi, qs)?.1)
    }

    /// The non-empty chunks of the segment `expr`, in no particular order.
    pub(crate) fn segment_chunks(&self, expr: &Expr) -> Result<Vec<SegChunk>> {
        let plan = compile_planned(self, expr)?;
        self.fold_chunks(
            &plan,
            Vec::new,
            |ctx, key, w, _| {
                let count = dense::count(w);
                Ok(if count == 0 {
                    Vec::new()
                } else {
                    vec![SegChunk {
                        shard: ctx.shard,
                        key,
                        words: Box::new(*w),
                        count,
                    }]
                })
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )
    }

    /// The every-row chunks of the table, as a segment.
    pub(crate) fn all_chunks(&self) -> Result<Arc<Vec<SegChunk>>> {
        self.segment_chunks(&Expr::All).map(Arc::new)
    }
}

/// Sums `f` over the chunks on the worker pool.
pub(crate) fn sum_chunks<T: Send + Default>(
    seg: &[SegChunk],
    f: impl Fn(&SegChunk) -> Result<T> + Sync + Send,
    add: impl Fn(T, T) -> T + Sync + Send,
) -> Result<T> {
    let cancel = crate::cancel::current();
    seg.par_iter()
        .map(|c| {
            if let Some(cancel) = &cancel {
                cancel.check()?;
            }
            f(c)
        })
        .try_reduce(T::default, |a, b| Ok(add(a, b)))
}
