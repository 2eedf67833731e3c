//! EXPLAIN: a compiled plan (see `plan/`) as a tree of labelled nodes,
//! each with an estimate of the rows it matches (`plan/estimate.rs` says
//! how each estimate is made).

use std::fmt::Write as _;

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::date::civil_from_day;
use segdb_storage_format::part::{TAG_NOT_NULL, TAG_TRUE, TAG_VALUE};

use crate::error::Result;
use crate::expr::{CmpOp, Expr};
use crate::plan::estimate::Estimator;
use crate::plan::{compile, compile_planned, Node};
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

    /// The most rows `expr` can match, never fewer than it does, read from
    /// headers and directories only: what a stream of its rows may reserve
    /// before it starts (see `Estimator::upper_bound`).
    pub fn upper_bound(&self, expr: &Expr) -> Result<u64> {
        let plan = compile(self, expr)?;
        self.estimator(&plan)
            .and_then(|e| e.upper_bound(&plan.root))
            .map_err(|e| self.name_error(e))
    }
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
            Node::Set(_, label) => {
                out.push_str(label);
                Ok(())
            }
            Node::Cached(rows) => write!(out, "cached rows ({})", rows.rows),
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

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
