//! The order in which an `AND`'s operands run: by kind, then by estimated
//! rows, so that the running set an `AND` passes down shrinks fastest and a
//! chunk where it empties stops early. Every query's plan goes through
//! [`compile_planned`]; EXPLAIN shows the order it chose.

use super::estimate::Estimator;
use super::{compile, Node, Plan};
use crate::error::Result;
use crate::expr::Expr;
use crate::table::Table;

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
        Node::All
        | Node::Nothing
        | Node::Leaf(_)
        | Node::Rows(_)
        | Node::Set(..)
        | Node::Cached(_)
        | Node::Snapshot(_) => 0,
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

impl Estimator<'_> {
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
}
