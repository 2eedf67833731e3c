//! Top-N values of a field in a segment without counting every value:
//! values are counted in batches in decreasing order of their table-wide
//! row count (read from Roaring headers), and counting stops once the
//! next value's table-wide count, an upper bound of its count in the
//! segment, is below the N-th best count found.

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::dense;
use segdb_storage_format::part::TAG_VALUE;

use super::sum_chunks;
use crate::error::Result;
use crate::expr::Expr;
use crate::schema::FieldKind;
use crate::table::Table;

impl Table {
    /// The `n` values of ENUM, SET or BOOL `field` held by most rows
    /// matching `expr`, by count (descending) then value; values held by
    /// no such row are left out. The same as the first `n` of
    /// [`Table::group_count`] sorted that way.
    pub fn group_count_top(
        &self,
        expr: &Expr,
        field: &str,
        n: usize,
    ) -> Result<Vec<(String, u64)>> {
        let (fi, def) = self.field(field)?;
        if def.kind == FieldKind::Bool || n == 0 {
            let mut all = self.group_count(expr, field)?;
            all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            all.truncate(n);
            return Ok(all);
        }
        if !matches!(def.kind, FieldKind::Enum | FieldKind::Set) {
            // group_count gives the error for the kind.
            return self.group_count(expr, field);
        }
        let f = fi as u32;
        let values = self.value_dict(fi).values();
        // Per value id: its bitmap in each shard, and its table-wide count.
        let views: Vec<Vec<_>> = (0..values.len() as u32)
            .map(|v| {
                (0..self.num_shards())
                    .map(|s| match self.part(s) {
                        Some(p) => Ok(p.bitmap(BlockKey::new(f, TAG_VALUE, v, 0))?),
                        None => Ok(None),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let mut order: Vec<(u64, usize)> = views
            .iter()
            .enumerate()
            .map(|(v, vs)| (vs.iter().flatten().map(|x| x.cardinality()).sum(), v))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let seg = self.segment_chunks(expr)?;
        let mut found: Vec<(String, u64)> = Vec::new();
        let batch = n.max(16);
        let mut next = 0;
        while next < order.len() {
            // The n-th best count so far bounds what a later value can add.
            if found.len() >= n {
                let mut counts: Vec<u64> = found.iter().map(|(_, c)| *c).collect();
                counts.sort_unstable_by(|a, b| b.cmp(a));
                if order[next].0 < counts[n - 1] {
                    break;
                }
            }
            let ids: Vec<usize> = order[next..(next + batch).min(order.len())]
                .iter()
                .map(|&(_, v)| v)
                .collect();
            next += ids.len();
            let counts = sum_chunks(
                &seg,
                |c| {
                    Ok(ids
                        .iter()
                        .map(|&v| {
                            views[v][c.shard as usize]
                                .as_ref()
                                .and_then(|x| x.container(c.key))
                                .map_or(0, |cont| dense::and_count_with(&c.words, cont))
                        })
                        .collect::<Vec<u64>>())
                },
                |mut a, b| {
                    if a.is_empty() {
                        return b;
                    }
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            )?;
            for (k, &v) in ids.iter().enumerate() {
                let c = counts.get(k).copied().unwrap_or(0);
                if c > 0 {
                    found.push((values[v].clone(), c));
                }
            }
        }
        found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        found.truncate(n);
        Ok(found)
    }
}
