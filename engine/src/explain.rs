//! EXPLAIN: a compiled plan (see `eval/plan.rs`) as a tree of labelled
//! nodes, each with an estimate of the rows it matches.
//!
//! Estimates read no container, only headers and directories, so they cost
//! microseconds whatever the table's size (each block read is checked once,
//! on first use, as for a query):
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

use std::fmt::Write as _;

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::date::civil_from_day;
use segdb_storage_format::part::{
    bias_day, Part, EVENT_ACTIVE, SHARD_ROWS, TAG_EVENT, TAG_INT_SLICE, TAG_NOT_NULL, TAG_TRUE,
    TAG_VALUE,
};

use crate::error::Result;
use crate::eval::plan::{compile, Node, Plan};
use crate::expr::{CmpOp, Expr};
use crate::schema::FieldKind;
use crate::table::Table;

/// One node of an explained plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanNode {
    /// What the node computes: `AND`, `OR`, `NOT`, `ALL`, `NOTHING`, or a
    /// predicate such as `city = 'c000'`, `age BETWEEN 25 AND 35`,
    /// `count(search, 2026-11-16..2026-11-22) > 3`.
    pub label: String,
    /// The rows it is estimated to match.
    pub estimated_rows: u64,
    /// Its operands (empty for a predicate).
    pub children: Vec<PlanNode>,
}

impl PlanNode {
    /// Calls `f(depth, node)` for this node (depth 0) and every node below
    /// it, parents before children, children in order.
    pub fn walk(&self, f: &mut impl FnMut(usize, &PlanNode)) {
        fn go(n: &PlanNode, depth: usize, f: &mut impl FnMut(usize, &PlanNode)) {
            f(depth, n);
            for c in &n.children {
                go(c, depth + 1, f);
            }
        }
        go(self, 0, f);
    }
}

/// Compiles `expr` and orders the operands of every `AND` that has two or
/// more positive operands by estimated rows, smallest first (`NOT`s stay
/// last, subtracted from the running set): the set an `AND` passes down
/// then shrinks fastest, and a chunk where it empties stops early.
pub(crate) fn compile_planned(table: &Table, expr: &Expr) -> Result<Plan> {
    let mut plan = compile(table, expr)?;
    if !needs_ordering(&plan.root) {
        return Ok(plan);
    }
    let leaf_rows = table.leaf_rows(&plan)?;
    let mut root = std::mem::replace(&mut plan.root, Node::All);
    let ordered = Estimator {
        table,
        plan: &plan,
        leaf_rows,
    }
    .order(&mut root);
    plan.root = root;
    ordered.map(|_| plan)
}

/// How an operand of an `AND` ranks before its estimate: stored bitmaps
/// and id lists cost one pass; INT ranges and nested operators a few; EVENT
/// windows cost a step per count entry but only for the running set's
/// rows; a `NOT` is subtracted at the end.
fn cost_class(n: &Node) -> u8 {
    match n {
        Node::All | Node::Nothing | Node::Leaf(_) | Node::Rows(_) | Node::Snapshot(_) => 0,
        Node::IntRange { .. } | Node::And(_) | Node::Or(_) => 1,
        Node::Event { .. } => 2,
        Node::Not(_) => 3,
    }
}

fn needs_ordering(n: &Node) -> bool {
    match n {
        Node::And(xs) => {
            xs.iter().filter(|x| !matches!(x, Node::Not(_))).count() >= 2
                || xs.iter().any(needs_ordering)
        }
        Node::Or(xs) => xs.iter().any(needs_ordering),
        Node::Not(x) => needs_ordering(x),
        _ => false,
    }
}

impl Table {
    /// The plan `expr` compiles to (operands of ANDs in the order they run),
    /// as a tree with estimated row counts. Fails as [`Table::count`] would
    /// (unknown field, wrong kind); reads headers only.
    pub fn explain(&self, expr: &Expr) -> Result<PlanNode> {
        let plan = compile_planned(self, expr)?;
        self.estimator(&plan)
            .and_then(|e| e.node(&plan.root))
            .map_err(|e| self.name_error(e))
    }

    /// The estimated rows of `expr`: the root of [`Table::explain`],
    /// without building the tree (what a planner needs).
    pub fn estimate(&self, expr: &Expr) -> Result<u64> {
        let plan = compile(self, expr)?;
        self.estimator(&plan)
            .and_then(|e| e.rows(&plan.root))
            .map_err(|e| self.name_error(e))
    }

    fn estimator<'a>(&'a self, plan: &'a Plan) -> Result<Estimator<'a>> {
        Ok(Estimator {
            table: self,
            plan,
            leaf_rows: self.leaf_rows(plan)?,
        })
    }

    /// The rows of each stored bitmap the plan reads, summed over the
    /// parts. Per part, the leaves are looked up in key order, each search
    /// starting where the one before it ended.
    fn leaf_rows(&self, plan: &Plan) -> Result<Vec<u64>> {
        let mut order: Vec<usize> = (0..plan.leaves.len()).collect();
        order.sort_unstable_by_key(|&i| plan.leaves[i]);
        let mut rows = vec![0u64; plan.leaves.len()];
        for part in (0..self.num_shards()).filter_map(|s| self.part(s)) {
            let f = part;
            let mut at = 0;
            for &i in &order {
                let key = plan.leaves[i];
                at = seek(f, at, key);
                if at < f.num_blocks() && f.key(at) == key {
                    rows[i] += part.bitmap_at(at)?.cardinality();
                }
            }
        }
        Ok(rows)
    }

    /// Rows of shard `s`.
    fn shard_rows(&self, s: usize) -> u64 {
        let start = s as u64 * u64::from(SHARD_ROWS);
        self.num_rows
            .saturating_sub(start)
            .min(u64::from(SHARD_ROWS))
    }
}

struct Estimator<'a> {
    table: &'a Table,
    plan: &'a Plan,
    /// The rows of each leaf (see [`Table::leaf_rows`]).
    leaf_rows: Vec<u64>,
}

/// Writes `'text'` with quotes doubled.
fn write_quoted(out: &mut String, text: &str) {
    out.push('\'');
    for (i, part) in text.split('\'').enumerate() {
        if i > 0 {
            out.push_str("''");
        }
        out.push_str(part);
    }
    out.push('\'');
}

/// Writes a day as `YYYY-MM-DD`.
fn write_day(out: &mut String, day: i32) {
    let (y, m, d) = civil_from_day(day);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

impl Estimator<'_> {
    fn parts(&self) -> impl Iterator<Item = &Part> {
        (0..self.table.num_shards()).filter_map(|s| self.table.part(s).map(|p| p.as_ref()))
    }

    fn field_name(&self, field: u32) -> &str {
        self.table
            .schema
            .fields
            .get(field as usize)
            .map_or("?", |f| f.name.as_str())
    }

    /// The estimate of a node from its operands' (`AND`, `OR`, `NOT`).
    fn combine(&self, n: &Node, operands: impl Iterator<Item = u64>) -> u64 {
        let rows = self.table.num_rows;
        match n {
            Node::And(_) => operands.min().unwrap_or(rows),
            Node::Or(_) => operands.fold(0u64, u64::saturating_add).min(rows),
            _ => rows.saturating_sub(operands.sum()),
        }
    }

    /// The operands of an `AND`, `OR` or `NOT` (none for the others).
    fn operands(n: &Node) -> &[Node] {
        match n {
            Node::And(xs) | Node::Or(xs) => xs,
            Node::Not(x) => std::slice::from_ref(x.as_ref()),
            _ => &[],
        }
    }

    /// The estimated rows of `n`.
    fn rows(&self, n: &Node) -> Result<u64> {
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

    /// The tree of `n`, with labels and estimates.
    fn node(&self, n: &Node) -> Result<PlanNode> {
        let children = Self::operands(n)
            .iter()
            .map(|x| self.node(x))
            .collect::<Result<Vec<_>>>()?;
        let estimated_rows = if let Node::And(_) | Node::Or(_) | Node::Not(_) = n {
            self.combine(n, children.iter().map(|c| c.estimated_rows))
        } else {
            self.predicate_rows(n)?
        };
        Ok(PlanNode {
            label: self.label(n),
            estimated_rows,
            children,
        })
    }

    /// Orders the operands of the `AND`s under `n` (see [`compile_planned`]);
    /// returns `n`'s estimate.
    fn order(&self, n: &mut Node) -> Result<u64> {
        match n {
            Node::And(xs) => {
                let mut keyed = Vec::with_capacity(xs.len());
                for x in std::mem::take(xs) {
                    let rows = self.order_operand(x)?;
                    keyed.push(rows);
                }
                // Cheap operands first, smallest first, so that the costly
                // ones (EVENT windows add counts only for the running set's
                // rows) see the smallest set; NOTs last (they subtract).
                keyed.sort_by_key(|(x, rows)| (cost_class(x), *rows));
                let estimate = self.combine(&Node::And(Vec::new()), keyed.iter().map(|(_, r)| *r));
                *xs = keyed.into_iter().map(|(x, _)| x).collect();
                Ok(estimate)
            }
            Node::Or(xs) => {
                let mut rows = Vec::with_capacity(xs.len());
                for x in xs.iter_mut() {
                    rows.push(self.order(x)?);
                }
                Ok(self.combine(n, rows.into_iter()))
            }
            Node::Not(x) => {
                let inner = self.order(x)?;
                Ok(self.table.num_rows.saturating_sub(inner))
            }
            n => self.predicate_rows(n),
        }
    }

    fn order_operand(&self, mut x: Node) -> Result<(Node, u64)> {
        let rows = self.order(&mut x)?;
        Ok((x, rows))
    }

    /// The estimated rows of a node that is not `AND`, `OR` or `NOT`.
    fn predicate_rows(&self, n: &Node) -> Result<u64> {
        let rows = self.table.num_rows;
        let estimate = match n {
            Node::All => rows,
            Node::Leaf(i) => self.leaf_rows[*i],
            Node::IntRange { field, lo, hi } => {
                let mut total = 0.0;
                for part in self.parts() {
                    total += int_estimate(part, *field, *lo, *hi)?;
                }
                total.round() as u64
            }
            Node::Event {
                field,
                first,
                last,
                op,
                n,
            } => {
                let mut total = 0u64;
                for s in 0..self.table.num_shards() {
                    let part = self.table.part(s).map(|p| p.as_ref());
                    let shard_rows = self.table.shard_rows(s);
                    total += event_estimate(part, shard_rows, *field, (*first, *last), *op, *n)?;
                }
                total
            }
            Node::Rows(ids) => ids.len() as u64,
            Node::Snapshot(i) => self.plan.snapshots[*i].num_rows(),
            Node::Nothing | Node::And(_) | Node::Or(_) | Node::Not(_) => 0,
        };
        Ok(estimate.min(rows))
    }

    /// What a node computes, as EXPLAIN shows it.
    fn label(&self, n: &Node) -> String {
        let mut out = String::with_capacity(32);
        let _ = match n {
            Node::All => write!(out, "ALL"),
            Node::Nothing => write!(out, "NOTHING"),
            Node::And(_) => write!(out, "AND"),
            Node::Or(_) => write!(out, "OR"),
            Node::Not(_) => write!(out, "NOT"),
            Node::Leaf(i) => {
                self.leaf_label(&mut out, self.plan.leaves[*i]);
                Ok(())
            }
            Node::IntRange { field, lo, hi } => {
                out.push_str(self.field_name(*field));
                match (*lo, *hi) {
                    (i64::MIN, i64::MAX) => write!(out, " IS NOT NULL"),
                    (lo, hi) if lo == hi => write!(out, " = {lo}"),
                    (i64::MIN, hi) => write!(out, " <= {hi}"),
                    (lo, i64::MAX) => write!(out, " >= {lo}"),
                    (lo, hi) => write!(out, " BETWEEN {lo} AND {hi}"),
                }
            }
            Node::Event {
                field,
                first,
                last,
                op,
                n,
            } => {
                let did = (*op, *n) == (CmpOp::Gt, 0);
                out.push_str(if did { "did(" } else { "count(" });
                out.push_str(self.field_name(*field));
                out.push_str(", ");
                write_day(&mut out, *first);
                out.push_str("..");
                write_day(&mut out, *last);
                out.push(')');
                if did {
                    Ok(())
                } else {
                    write!(out, " {} {n}", op.as_str())
                }
            }
            Node::Rows(ids) => {
                let s = if ids.len() == 1 { "" } else { "s" };
                write!(out, "user_id IN ({} id{s})", ids.len())
            }
            Node::Snapshot(i) => write!(
                out,
                "IN SEGMENT {} (snapshot)",
                self.plan.snapshots[*i].name()
            ),
        };
        out
    }

    fn leaf_label(&self, out: &mut String, key: BlockKey) {
        let Some(def) = self.table.schema.fields.get(key.field as usize) else {
            let _ = write!(out, "{key:?}");
            return;
        };
        out.push_str(&def.name);
        match key.tag {
            TAG_VALUE => {
                out.push_str(if def.kind == FieldKind::Set {
                    " HAS "
                } else {
                    " = "
                });
                let dict = self.table.value_dict(key.field as usize);
                match dict.value(key.key) {
                    Some(v) => write_quoted(out, v),
                    None => out.push('?'),
                }
            }
            TAG_NOT_NULL => out.push_str(" IS NOT NULL"),
            TAG_TRUE => out.push_str(" = true"),
            _ => {
                let _ = write!(out, " {key:?}");
            }
        }
    }
}

/// The first entry of `f` at or after `from` whose key is not less than
/// `key`: a galloping search, quick when the key is near `from`.
fn seek(f: &Part, from: usize, key: BlockKey) -> usize {
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

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
