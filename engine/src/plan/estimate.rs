//! Row estimates of a compiled plan, read from headers and directories
//! only, the parts in parallel (each block read is checked once, on first
//! use, as for a query):
//! - a stored bitmap (a value, not-null, BOOL true) sums the container
//!   cardinalities of its Roaring headers over the parts: exact;
//! - an INT range takes, per part, the not-null count times the chance that
//!   a value falls in the range if the bits of `value - base` were
//!   independent, each set with the frequency its slice's cardinality
//!   gives: exact when a part holds one value, a guess otherwise;
//! - an EVENT window adds the days' active-row counts (an upper bound of
//!   the rows with any event in it) and takes what the comparison allows:
//!   at most those rows if a count of 0 does not match, at most the rows
//!   without events if only 0 matches, every row if both do;
//! - `AND` is the least of its operands, `OR` their sum (at most every
//!   row), `NOT` the rows of the table less its operand's.
//!
//! The planner orders `AND` operands by them (`order.rs`) and EXPLAIN shows
//! them (`explain.rs`).

use rayon::prelude::*;
use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{
    bias_day, Part, EVENT_ACTIVE, SHARD_ROWS, TAG_EVENT, TAG_INT_SLICE, TAG_NOT_NULL,
};

use super::{Node, Plan};
use crate::error::Result;
use crate::expr::CmpOp;
use crate::table::Table;

/// The least parts an estimate hands to one task (see
/// [`Table::map_parts`]): 10 parts (10M rows) stay on the calling thread,
/// where spreading them cost more than it saved (W1 0.65 -> 0.72 ms).
const PARTS_PER_TASK: usize = 16;

impl Table {
    pub(crate) fn estimator<'a>(&'a self, plan: &'a Plan) -> Result<Estimator<'a>> {
        Ok(Estimator {
            table: self,
            plan,
            leaf_rows: self.leaf_rows(plan)?,
        })
    }

    /// The rows of each stored bitmap the plan reads, summed over the
    /// parts. Per part, the leaves are looked up in key order, each search
    /// starting where the one before it ended.
    pub(crate) fn leaf_rows(&self, plan: &Plan) -> Result<Vec<u64>> {
        let mut order: Vec<usize> = (0..plan.leaves.len()).collect();
        order.sort_unstable_by_key(|&i| plan.leaves[i]);
        let per_part = self.map_parts(|part| {
            let mut rows = vec![0u64; plan.leaves.len()];
            let mut at = 0;
            for &i in &order {
                let key = plan.leaves[i];
                at = seek(part, at, key);
                if at < part.num_blocks() && part.key(at) == key {
                    rows[i] += part.bitmap_at(at)?.cardinality();
                }
            }
            Ok(rows)
        })?;
        let mut rows = vec![0u64; plan.leaves.len()];
        for part in per_part {
            for (r, p) in rows.iter_mut().zip(part) {
                *r += p;
            }
        }
        Ok(rows)
    }

    /// `f` of every shard's part, the answers in shard order. The parts
    /// go in parallel, [`PARTS_PER_TASK`] or more to a task: each costs a
    /// few cache misses per block it reads (W1's plan took about 1 ms over
    /// 96 parts on one thread), and a task handed to another thread costs
    /// its wake-up.
    pub(crate) fn map_parts<T: Send>(
        &self,
        f: impl Fn(&Part) -> Result<T> + Sync + Send,
    ) -> Result<Vec<T>> {
        let per_shard = self.map_shards(|s| self.part(s).map(|p| f(p)).transpose())?;
        Ok(per_shard.into_iter().flatten().collect())
    }

    /// `f` of every shard number, in parallel as [`Table::map_parts`], the
    /// answers in shard order.
    pub(crate) fn map_shards<T: Send>(
        &self,
        f: impl Fn(usize) -> Result<T> + Sync + Send,
    ) -> Result<Vec<T>> {
        (0..self.num_shards())
            .into_par_iter()
            .with_min_len(PARTS_PER_TASK)
            .map(f)
            .collect()
    }

    /// Rows of shard `s`.
    pub(crate) fn shard_rows(&self, s: usize) -> u64 {
        let start = s as u64 * u64::from(SHARD_ROWS);
        self.num_rows
            .saturating_sub(start)
            .min(u64::from(SHARD_ROWS))
    }
}

pub(crate) struct Estimator<'a> {
    pub(crate) table: &'a Table,
    pub(crate) plan: &'a Plan,
    /// The rows of each leaf (see [`Table::leaf_rows`]).
    pub(crate) leaf_rows: Vec<u64>,
}

impl Estimator<'_> {
    pub(crate) fn field_name(&self, field: u32) -> &str {
        self.table
            .schema
            .fields
            .get(field as usize)
            .map_or("?", |f| f.name.as_str())
    }

    /// The estimate of a node from its operands' (`AND`, `OR`, `NOT`).
    pub(crate) fn combine(&self, n: &Node, operands: impl Iterator<Item = u64>) -> u64 {
        let rows = self.table.num_rows;
        match n {
            Node::And(_) => operands.min().unwrap_or(rows),
            Node::Or(_) => operands.fold(0u64, u64::saturating_add).min(rows),
            _ => rows.saturating_sub(operands.sum()),
        }
    }

    /// The operands of an `AND`, `OR` or `NOT` (none for the others).
    pub(crate) fn operands(n: &Node) -> &[Node] {
        match n {
            Node::And(xs) | Node::Or(xs) => xs,
            Node::Not(x) => std::slice::from_ref(x.as_ref()),
            _ => &[],
        }
    }

    /// The estimated rows of `n`.
    pub(crate) fn rows(&self, n: &Node) -> Result<u64> {
        if let Node::And(_) | Node::Or(_) | Node::Not(_) = n {
            let mut error = None;
            let estimates = Self::operands(n)
                .iter()
                .map_while(|x| self.rows(x).map_err(|e| error = Some(e)).ok());
            let estimate = self.combine(n, estimates);
            return match error {
                Some(e) => Err(e),
                None => Ok(estimate),
            };
        }
        self.predicate_rows(n)
    }

    /// The estimated rows of a node that is not `AND`, `OR` or `NOT`.
    pub(crate) fn predicate_rows(&self, n: &Node) -> Result<u64> {
        let rows = self.table.num_rows;
        let estimate = match n {
            Node::All => rows,
            Node::Leaf(i) => self.leaf_rows[*i],
            Node::IntRange { field, lo, hi } => {
                // Summed in shard order, so that the estimate is the same
                // from run to run.
                let per_part = self
                    .table
                    .map_parts(|part| int_estimate(part, *field, *lo, *hi))?;
                per_part.iter().sum::<f64>().round() as u64
            }
            Node::Event {
                field,
                first,
                last,
                op,
                n,
            } => {
                let per_shard = self.table.map_shards(|s| {
                    let part = self.table.part(s).map(|p| p.as_ref());
                    let shard_rows = self.table.shard_rows(s);
                    event_estimate(part, shard_rows, *field, (*first, *last), *op, *n)
                })?;
                per_shard.iter().sum()
            }
            Node::Rows(ids) => ids.len() as u64,
            Node::Set(ids, _) => ids.len() as u64,
            Node::Cached(rows) => rows.rows,
            Node::Snapshot(i) => self.plan.snapshots[*i].num_rows(),
            Node::Nothing | Node::And(_) | Node::Or(_) | Node::Not(_) => 0,
        };
        Ok(estimate.min(rows))
    }
}

impl Estimator<'_> {
    /// The most rows `n` can match (never fewer than it does): a stored
    /// bitmap's rows and explicit rows exactly, an INT range its field's
    /// not-null rows, an EVENT window the bound its estimate already is;
    /// `AND` the least of its operands, `OR` their sum, `NOT` every row.
    /// What an export reserves from its principal's limit before it
    /// streams (a bound too small would let ids out uncharged).
    pub(crate) fn upper_bound(&self, n: &Node) -> Result<u64> {
        let rows = self.table.num_rows;
        let bound = match n {
            Node::And(xs) => {
                let mut least = rows;
                for x in xs {
                    least = least.min(self.upper_bound(x)?);
                    if least == 0 {
                        break;
                    }
                }
                least
            }
            Node::Or(xs) => {
                let mut sum = 0u64;
                for x in xs {
                    sum = sum.saturating_add(self.upper_bound(x)?);
                    if sum >= rows {
                        break;
                    }
                }
                sum
            }
            Node::Not(_) => rows,
            Node::IntRange { field, lo, hi } => {
                let per_part = self
                    .table
                    .map_parts(|part| int_bound(part, *field, *lo, *hi))?;
                per_part.iter().sum()
            }
            // Exact (stored bitmaps, explicit rows, snapshots, cached rows)
            // or, for EVENT windows, already a bound.
            Node::All
            | Node::Nothing
            | Node::Leaf(_)
            | Node::Event { .. }
            | Node::Rows(_)
            | Node::Set(..)
            | Node::Cached(_)
            | Node::Snapshot(_) => self.predicate_rows(n)?,
        };
        Ok(bound.min(rows))
    }
}

/// The first entry of `f` at or after `from` whose key is not less than
/// `key`: a galloping search, quick when the key is near `from`.
pub(crate) fn seek(f: &Part, from: usize, key: BlockKey) -> usize {
    let n = f.num_blocks();
    let (mut lo, mut step) = (from, 1);
    loop {
        let probe = lo.saturating_add(step - 1);
        if probe >= n || f.key(probe) >= key {
            break;
        }
        lo = probe + 1;
        step *= 2;
    }
    let hi = lo.saturating_add(step - 1).min(n);
    // The answer is in lo..=hi: the first entry not less than `key`.
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if f.key(mid) < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `P(X <= c)` for `X = sum of b_j 2^j` with independent bits, `b_j` set
/// with probability `p[j]`; `c` in `-1..2^bits`.
fn cdf(p: &[f64], c: i128) -> f64 {
    if c < 0 {
        return 0.0;
    }
    let (mut below, mut equal) = (0.0, 1.0);
    for (j, &pj) in p.iter().enumerate().rev() {
        if (c >> j) & 1 == 1 {
            below += equal * (1.0 - pj);
            equal *= pj;
        } else {
            equal *= 1.0 - pj;
        }
    }
    below + equal
}

/// The estimated rows of one part whose INT `field` is in `lo..=hi`.
fn int_estimate(part: &Part, field: u32, lo: i64, hi: i64) -> Result<f64> {
    let Some(meta) = part.int_meta(field)? else {
        return Ok(0.0);
    };
    let not_null = match part.bitmap(BlockKey::new(field, TAG_NOT_NULL, 0, 0))? {
        Some(b) => b.cardinality(),
        None => 0,
    };
    if not_null == 0 {
        return Ok(0.0);
    }
    let bits = meta.bits.min(64);
    let top: i128 = (1i128 << bits) - 1;
    let lo = (i128::from(lo) - i128::from(meta.base)).max(0);
    let hi = (i128::from(hi) - i128::from(meta.base)).min(top);
    if lo > hi {
        return Ok(0.0);
    }
    // The slices are consecutive blocks (an empty one may be left out):
    // one search, then a walk.
    let f = part;
    let mut i = f.lower_bound(BlockKey::new(field, TAG_INT_SLICE, 0, 0));
    let mut p = [0.0; 64];
    for (j, pj) in (0..bits).zip(p.iter_mut()) {
        let mut set = 0;
        if i < f.num_blocks() && f.key(i) == BlockKey::new(field, TAG_INT_SLICE, j, 0) {
            set = part.bitmap_at(i)?.cardinality();
            i += 1;
        }
        *pj = (set as f64 / not_null as f64).clamp(0.0, 1.0);
    }
    let p = &p[..bits as usize];
    let fraction = (cdf(p, hi) - cdf(p, lo - 1)).clamp(0.0, 1.0);
    Ok(not_null as f64 * fraction)
}

/// The most rows of one part whose INT `field` can be in `lo..=hi`: its
/// not-null rows, or none if the range misses every value the part's
/// slices can hold.
fn int_bound(part: &Part, field: u32, lo: i64, hi: i64) -> Result<u64> {
    let Some(meta) = part.int_meta(field)? else {
        return Ok(0);
    };
    let top: i128 = (1i128 << meta.bits.min(64)) - 1;
    let lo = (i128::from(lo) - i128::from(meta.base)).max(0);
    let hi = (i128::from(hi) - i128::from(meta.base)).min(top);
    if lo > hi {
        return Ok(0);
    }
    let not_null = part.bitmap(BlockKey::new(field, TAG_NOT_NULL, 0, 0))?;
    Ok(not_null.map_or(0, |b| b.cardinality()))
}

/// The estimated rows of one shard (`part`, if it has one, holding
/// `shard_rows` rows) whose count of `field` over `days` satisfies `op n`.
fn event_estimate(
    part: Option<&Part>,
    shard_rows: u64,
    field: u32,
    (first, last): (i32, i32),
    op: CmpOp,
    n: i64,
) -> Result<u64> {
    let zero_matches = op.holds(0, n);
    // Whether some count of 1 or more satisfies `op n`.
    let positive_matches = match op {
        CmpOp::Eq | CmpOp::Le => n >= 1,
        CmpOp::Lt => n > 1,
        CmpOp::Ne | CmpOp::Gt | CmpOp::Ge => true,
    };
    let (mut sum, mut most) = (0u64, 0u64);
    if let Some(part) = part.filter(|_| first <= last) {
        let f = part;
        let mut i = f.lower_bound(BlockKey::new(field, TAG_EVENT, bias_day(first), 0));
        while i < f.num_blocks() {
            let k = f.key(i);
            if k.field != field || k.tag != TAG_EVENT || k.key > bias_day(last) {
                break;
            }
            if k.aux == EVENT_ACTIVE {
                let active = part.bitmap_at(i)?.cardinality();
                sum += active;
                most = most.max(active);
            }
            i += 1;
        }
    }
    let active = sum.min(shard_rows);
    Ok(match (zero_matches, positive_matches) {
        (false, false) => 0,
        (false, true) => active,
        (true, false) => shard_rows.saturating_sub(most),
        (true, true) => shard_rows,
    })
}
