//! Insight and comparison of a field whose values are expressions rather
//! than stored bitmaps: a derived tag (`lifecycle`, whose value `active`
//! is the rows of one bound expression). Each value's rows are evaluated
//! once into chunks: their count is the value's table count, and their
//! intersection with the segment's chunks its count in the segment.

use std::collections::HashMap;

use segdb_storage_format::dense::{self, Words};

use super::compare::{join_plain, ComparedRow};
use super::{FieldInsight, ValueCount};
use crate::error::Result;
use crate::expr::Expr;
use crate::table::Table;

impl Table {
    /// Value counts of a field given as `(value, rows)` pairs, the values
    /// disjoint (a row holds one at most), over the rows matching `expr`:
    /// what [`Table::insight`] reports for an ENUM field (values with rows
    /// in the segment, by count then value; `top` keeps `k` and sums the
    /// rest as `other`). `covered` is the rows holding some value.
    pub fn insight_exprs(
        &self,
        expr: &Expr,
        values: &[(String, Expr)],
        top: Option<usize>,
    ) -> Result<FieldInsight> {
        self.insight_exprs_unnamed(expr, values, top)
            .map_err(|e| self.name_error(e))
    }

    fn insight_exprs_unnamed(
        &self,
        expr: &Expr,
        values: &[(String, Expr)],
        top: Option<usize>,
    ) -> Result<FieldInsight> {
        let seg: HashMap<(u32, u16), Box<Words>> = self
            .segment_chunks(expr)?
            .into_iter()
            .map(|c| ((c.shard, c.key), c.words))
            .collect();
        let mut counts = Vec::with_capacity(values.len());
        for (value, rows) in values {
            crate::cancel::check()?;
            let (mut count, mut table_count) = (0u64, 0u64);
            for c in self.segment_chunks(rows)? {
                table_count += c.count;
                if let Some(s) = seg.get(&(c.shard, c.key)) {
                    count += dense::and_count(s, &c.words);
                }
            }
            counts.push(ValueCount {
                value: value.clone(),
                count,
                table_count,
            });
        }
        let covered = counts.iter().map(|v| v.count).sum();
        let table_covered = counts.iter().map(|v| v.table_count).sum();
        counts.retain(|v| v.count > 0);
        counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let other = match top {
            Some(k) if counts.len() > k => {
                let rest = counts.split_off(k);
                Some(ValueCount {
                    value: "other".into(),
                    count: rest.iter().map(|v| v.count).sum(),
                    table_count: rest.iter().map(|v| v.table_count).sum(),
                })
            }
            _ => None,
        };
        Ok(FieldInsight::Values {
            covered,
            table_covered,
            values: counts,
            other,
        })
    }

    /// The rows of segments `a` and `b` holding each value of a field
    /// given as `(value, rows)` pairs, joined as [`Table::compare`] joins
    /// an ENUM field's (by `count_a`, then `count_b`, then value; `top`
    /// keeps `k` and sums the rest of both sides as `Other`).
    pub fn compare_exprs(
        &self,
        a: &Expr,
        b: &Expr,
        values: &[(String, Expr)],
        top: Option<usize>,
    ) -> Result<Vec<ComparedRow>> {
        let ia = self.insight_exprs(a, values, None)?;
        let ib = self.insight_exprs(b, values, None)?;
        Ok(join_plain(&ia, &ib, top))
    }
}
