//! `GROUP BY f` with its order, offset and limit: the counts of a segment's
//! rows per value of an ENUM, SET or BOOL field, in the order the query
//! asked, cut to the page it asked for.

use crate::error::Result;
use crate::expr::Expr;
use crate::table::Table;

/// How groups are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOrder {
    /// By value text (bytes, ascending; `false` before `true`): what a
    /// GROUP BY without ORDER BY gives, never the order in which values
    /// were first seen.
    Value,
    /// By count, smallest first, then by value text.
    CountAsc,
    /// By count, largest first, then by value text.
    CountDesc,
}

impl Table {
    /// `(value, rows)` for each value of the ENUM, SET or BOOL `field` held
    /// by a row matching `expr` (values without a row left out), ordered by
    /// `order`, the first `offset` skipped and at most `limit` kept. The top
    /// of [`GroupOrder::CountDesc`] with a limit is found without counting
    /// every value ([`Table::group_count_top`]).
    pub fn group_by(
        &self,
        expr: &Expr,
        field: &str,
        order: GroupOrder,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<(String, u64)>> {
        let groups = match (order, limit) {
            (GroupOrder::CountDesc, Some(l)) => {
                let top = offset.saturating_add(l).min(usize::MAX as u64) as usize;
                self.group_count_top(expr, field, top)?
            }
            _ => self.group_count(expr, field)?,
        };
        Ok(page(groups, order, offset, limit))
    }

    /// `(value, rows)` for each `(value, rows of the value)` of `groups`
    /// with a row matching `expr`, ordered and cut as [`Table::group_by`]
    /// does: GROUP BY a derived tag, whose values are expressions (one
    /// count each) rather than a stored field.
    pub fn group_by_exprs(
        &self,
        expr: &Expr,
        groups: &[(String, Expr)],
        order: GroupOrder,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<(String, u64)>> {
        let mut counts = Vec::with_capacity(groups.len());
        for (value, rows) in groups {
            let n = self.count(&Expr::And(vec![expr.clone(), rows.clone()]))?;
            if n > 0 {
                counts.push((value.clone(), n));
            }
        }
        Ok(page(counts, order, offset, limit))
    }
}

/// `groups` in `order`, the first `offset` skipped and at most `limit`
/// kept.
fn page(
    mut groups: Vec<(String, u64)>,
    order: GroupOrder,
    offset: u64,
    limit: Option<u64>,
) -> Vec<(String, u64)> {
    match order {
        GroupOrder::CountDesc => groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))),
        GroupOrder::CountAsc => groups.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0))),
        GroupOrder::Value => groups.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    groups.into_iter().skip(offset).take(limit).collect()
}
