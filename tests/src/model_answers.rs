//! The model's answers to what the engine computes for the server: the
//! aggregates of a SELECT, GROUP BY in its order and page, and COMPARE.
//! Each is a plain scan of the rows, sharing nothing with the engine but
//! the histogram layout (`histogram_layout`, the definition of the
//! buckets).

use std::collections::BTreeMap;

use segdb_engine::insight::{
    histogram_layout, CompareKey, CompareOptions, ComparedField, ComparedRow, Comparison,
};
use segdb_engine::{Aggregate, AggregateValue, Expr, FieldKind, GroupOrder};

use crate::model::{MValue, Model};

impl Model {
    /// The INT values of `field` over the rows matching `e`, sorted.
    fn int_values(&self, e: &Expr, field: &str) -> Vec<i64> {
        let f = self.schema.field_index(field).expect("known field");
        let mut v: Vec<i64> = self
            .rows_matching(e)
            .into_iter()
            .filter_map(|r| match self.rows[r as usize][f] {
                MValue::Int(x) => Some(x),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The value of one aggregate over the rows matching `e`.
    pub fn aggregate(&self, e: &Expr, a: &Aggregate) -> AggregateValue {
        match a {
            Aggregate::Count => AggregateValue::Count(self.rows_matching(e).len() as u64),
            Aggregate::Sum(f) => {
                let v = self.int_values(e, f);
                AggregateValue::Sum((!v.is_empty()).then(|| v.iter().map(|&x| i128::from(x)).sum()))
            }
            Aggregate::Avg(f) => {
                let v = self.int_values(e, f);
                let sum: i128 = v.iter().map(|&x| i128::from(x)).sum();
                AggregateValue::Avg((!v.is_empty()).then(|| sum as f64 / v.len() as f64))
            }
            Aggregate::Min(f) => AggregateValue::Min(self.int_values(e, f).first().copied()),
            Aggregate::Max(f) => AggregateValue::Max(self.int_values(e, f).last().copied()),
            Aggregate::Quantile(f, q) => {
                let v = self.int_values(e, f);
                AggregateValue::Quantile((!v.is_empty()).then(|| {
                    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
                    v[rank - 1]
                }))
            }
        }
    }

    /// GROUP BY `field` over the rows matching `e`: every value with a row,
    /// sorted by `order`, the page `offset`, `limit`.
    pub fn group_by(
        &self,
        e: &Expr,
        field: &str,
        order: GroupOrder,
        offset: u64,
        limit: Option<u64>,
    ) -> Vec<(String, u64)> {
        let mut groups: Vec<(String, u64)> = self.group_count(e, field).into_iter().collect();
        match order {
            GroupOrder::Value => {}
            GroupOrder::CountAsc => groups.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))),
            GroupOrder::CountDesc => groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0))),
        }
        groups
            .into_iter()
            .skip(offset as usize)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .collect()
    }

    /// Rows matching `e` active on each day of the window, for EVENT field
    /// `fi` (days without one left out).
    fn active_days(&self, e: &Expr, fi: usize, opts: &CompareOptions) -> BTreeMap<i32, u64> {
        let mut days = BTreeMap::new();
        for r in self.rows_matching(e) {
            if let Some(d) = self.events.get(&(r, fi)) {
                for (&day, &c) in d.range(opts.window.first..=opts.window.last) {
                    if c > 0 {
                        *days.entry(day).or_insert(0) += 1;
                    }
                }
            }
        }
        days
    }
}

/// The model's COMPARE of `a` and `b`; `Err` where the engine must refuse
/// (a histogram past `MAX_BUCKETS`).
pub fn model_compare(
    model: &Model,
    a: &Expr,
    b: &Expr,
    opts: &CompareOptions,
) -> Result<Comparison, String> {
    let row = |key, count_a, count_b| ComparedRow {
        key,
        count_a,
        count_b,
    };
    let mut fields = Vec::new();
    for name in &opts.fields {
        let fi = model.schema.field_index(name).expect("known field");
        let rows = match model.schema.fields[fi].kind {
            FieldKind::Enum | FieldKind::Set | FieldKind::Bool => {
                let (ga, gb) = (model.group_count(a, name), model.group_count(b, name));
                let mut joined: Vec<(String, u64, u64)> = ga
                    .keys()
                    .chain(gb.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|v| {
                        let get = |g: &BTreeMap<String, u64>| g.get(v).copied().unwrap_or(0);
                        (v.clone(), get(&ga), get(&gb))
                    })
                    .collect();
                joined.sort_by(|x, y| y.1.cmp(&x.1).then(y.2.cmp(&x.2)).then(x.0.cmp(&y.0)));
                let mut other = None;
                if let Some(k) = opts.top.filter(|&k| joined.len() > k) {
                    let rest = joined.split_off(k);
                    other = Some(row(
                        CompareKey::Other,
                        rest.iter().map(|r| r.1).sum(),
                        rest.iter().map(|r| r.2).sum(),
                    ));
                }
                joined
                    .into_iter()
                    .map(|(v, ca, cb)| row(CompareKey::Value(v), ca, cb))
                    .chain(other)
                    .collect()
            }
            FieldKind::Event => {
                let (da, db) = (
                    model.active_days(a, fi, opts),
                    model.active_days(b, fi, opts),
                );
                let days: std::collections::BTreeSet<i32> =
                    da.keys().chain(db.keys()).copied().collect();
                days.into_iter()
                    .map(|d| {
                        let get = |m: &BTreeMap<i32, u64>| m.get(&d).copied().unwrap_or(0);
                        row(CompareKey::Day(d), get(&da), get(&db))
                    })
                    .collect()
            }
            FieldKind::Int => {
                let (va, vb) = (model.int_values(a, name), model.int_values(b, name));
                let min = va.first().into_iter().chain(vb.first()).min().copied();
                let max = va.last().into_iter().chain(vb.last()).max().copied();
                match (min, max) {
                    (Some(min), Some(max)) => {
                        let (first, w, n) = histogram_layout(min, max, opts.bucket_width)
                            .map_err(|n| format!("{n} buckets of {name}"))?;
                        let within = |v: &[i64], lo: i128, hi: i128| {
                            v.iter()
                                .filter(|&&x| (lo..hi).contains(&i128::from(x)))
                                .count() as u64
                        };
                        (0..n)
                            .map(|i| {
                                let lo = i128::from(first) + i128::from(w) * i as i128;
                                let hi = lo + i128::from(w);
                                row(
                                    CompareKey::Bucket {
                                        lo: lo as i64,
                                        hi: hi.min(i128::from(i64::MAX)) as i64,
                                    },
                                    within(&va, lo, hi),
                                    within(&vb, lo, hi),
                                )
                            })
                            .collect()
                    }
                    _ => Vec::new(),
                }
            }
            FieldKind::Text => return Err(format!("{name} is TEXT")),
        };
        fields.push(ComparedField {
            field: name.clone(),
            rows,
        });
    }
    Ok(Comparison {
        rows_a: model.rows_matching(a).len() as u64,
        rows_b: model.rows_matching(b).len() as u64,
        fields,
    })
}
