//! The aggregates of one SELECT over a segment (`COUNT(*)`, `SUM`, `AVG`,
//! `MIN`, `MAX` and `QUANTILE` of INT fields), computed together:
//! `COUNT(*)` and the statistics of every INT field named in one pass over
//! the segment's chunks (the segment is evaluated once, however many
//! aggregates ask), and the quantiles of each field in one binary search
//! for all of its `q`s.

use segdb_storage_format::dense;

use crate::error::{EngineError, Result};
use crate::eval::shard::{int_ctx, IntCtx};
use crate::eval::{chunk_int_stats, IntStats};
use crate::expr::Expr;
use crate::plan::compile_planned;
use crate::schema::FieldKind;
use crate::table::Table;

/// One aggregate of a select list.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// `COUNT(*)`
    Count,
    /// `SUM(f)` of an INT field.
    Sum(String),
    /// `AVG(f)` of an INT field.
    Avg(String),
    /// `MIN(f)` of an INT field.
    Min(String),
    /// `MAX(f)` of an INT field.
    Max(String),
    /// `QUANTILE(f, q)` of an INT field, `q` in `0.0..=1.0`: the smallest
    /// value with at least `q` of the non-null values at or below it
    /// (nearest rank).
    Quantile(String, f64),
}

/// The value of one [`Aggregate`]; `None` where the segment has no value
/// of the field (SQL's null).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggregateValue {
    /// Rows of the segment.
    Count(u64),
    /// The exact sum (a sum of 64-bit values may pass `i64`).
    Sum(Option<i128>),
    /// The mean.
    Avg(Option<f64>),
    /// The smallest value.
    Min(Option<i64>),
    /// The largest value.
    Max(Option<i64>),
    /// The quantile.
    Quantile(Option<i64>),
}

impl Table {
    /// The value of each of `aggs` over the rows matching `expr`, in order.
    /// The segment is evaluated once for `COUNT(*)` and every `SUM`, `AVG`,
    /// `MIN` and `MAX` together; `QUANTILE`s are found per field, all of a
    /// field's `q`s at once. Fails on an unknown or non-INT field or a `q`
    /// outside `0..=1`, before anything is evaluated.
    pub fn aggregates(&self, expr: &Expr, aggs: &[Aggregate]) -> Result<Vec<AggregateValue>> {
        // The INT fields whose statistics are asked, each once.
        let mut stat_fields: Vec<(&str, usize)> = Vec::new();
        let mut quantile_fields: Vec<&str> = Vec::new();
        for a in aggs {
            let (name, quantile) = match a {
                Aggregate::Count => continue,
                Aggregate::Sum(f) | Aggregate::Avg(f) | Aggregate::Min(f) | Aggregate::Max(f) => {
                    (f.as_str(), None)
                }
                Aggregate::Quantile(f, q) => (f.as_str(), Some(*q)),
            };
            let (fi, def) = self.field(name)?;
            if def.kind != FieldKind::Int {
                return Err(EngineError::WrongKind {
                    field: name.to_owned(),
                    kind: def.kind.as_str(),
                    what: "SUM, AVG, MIN, MAX and QUANTILE need an INT field".into(),
                });
            }
            match quantile {
                Some(q) if !(0.0..=1.0).contains(&q) => {
                    return Err(EngineError::InvalidArgument(format!(
                        "quantile {q} is not between 0 and 1"
                    )))
                }
                Some(_) if !quantile_fields.contains(&name) => quantile_fields.push(name),
                Some(_) => {}
                None if !stat_fields.iter().any(|(f, _)| *f == name) => {
                    stat_fields.push((name, fi))
                }
                None => {}
            }
        }
        let (count, stats) = self.count_and_stats(expr, &stat_fields)?;
        // Per field with quantiles: its `q`s in order of appearance, and
        // what they came to.
        let mut quantiles: Vec<(&str, Vec<(f64, i64)>)> = Vec::new();
        for f in quantile_fields {
            let qs: Vec<f64> = aggs
                .iter()
                .filter_map(|a| match a {
                    Aggregate::Quantile(g, q) if g == f => Some(*q),
                    _ => None,
                })
                .collect();
            quantiles.push((f, self.int_quantiles(expr, f, &qs)?));
        }
        let stats_of = |f: &str| {
            let i = stat_fields.iter().position(|(g, _)| *g == f);
            i.map_or_else(IntStats::default, |i| stats[i])
        };
        let quantile_of = |f: &str, q: f64| {
            quantiles
                .iter()
                .find(|(g, _)| *g == f)
                .and_then(|(_, found)| found.iter().find(|(p, _)| *p == q))
                .map(|&(_, v)| v)
        };
        Ok(aggs
            .iter()
            .map(|a| match a {
                Aggregate::Count => AggregateValue::Count(count),
                Aggregate::Sum(f) => {
                    let s = stats_of(f);
                    AggregateValue::Sum((s.count > 0).then_some(s.sum))
                }
                Aggregate::Avg(f) => AggregateValue::Avg(stats_of(f).avg()),
                Aggregate::Min(f) => AggregateValue::Min(stats_of(f).min),
                Aggregate::Max(f) => AggregateValue::Max(stats_of(f).max),
                Aggregate::Quantile(f, q) => AggregateValue::Quantile(quantile_of(f, *q)),
            })
            .collect())
    }

    /// The rows matching `expr` and the statistics of each INT field of
    /// `fields` (name, index) over them, in one pass over the chunks.
    fn count_and_stats(
        &self,
        expr: &Expr,
        fields: &[(&str, usize)],
    ) -> Result<(u64, Vec<IntStats>)> {
        let plan = compile_planned(self, expr)?;
        // By shard, then field.
        let ints: Vec<Vec<Option<IntCtx<'_>>>> = (0..self.num_shards())
            .map(|s| {
                fields
                    .iter()
                    .map(|&(_, fi)| self.part(s).map(|p| int_ctx(p, fi as u32)).transpose())
                    .collect::<Result<_>>()
            })
            .collect::<Result<_>>()
            .map_err(|e| self.name_error(e))?;
        let identity = || (0u64, vec![IntStats::default(); fields.len()]);
        self.fold_chunks(
            &plan,
            identity,
            |ctx, key, seg, s| {
                let count = dense::count(seg);
                let mut stats = vec![IntStats::default(); fields.len()];
                if count > 0 {
                    for (out, int) in stats.iter_mut().zip(&ints[ctx.shard as usize]) {
                        if let Some(int) = int {
                            *out = chunk_int_stats(int, key, seg, s);
                        }
                    }
                }
                Ok((count, stats))
            },
            |(ca, sa), (cb, sb)| {
                let merged = sa.into_iter().zip(sb).map(|(a, b)| a.merge(b)).collect();
                (ca + cb, merged)
            },
        )
    }
}
