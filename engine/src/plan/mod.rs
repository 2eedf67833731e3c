//! Compiling an [`Expr`] against a table: names become field indices and
//! value ids, every stored bitmap the expression reads becomes a numbered
//! leaf, and the predicates become the nodes that the chunk evaluator runs.
//!
//! `estimate.rs` estimates a plan's rows from headers, and `order.rs`
//! orders each `AND`'s operands by them ([`compile_planned`], which every
//! query uses). Evaluation (`eval/`), insight and EXPLAIN all depend on
//! this module; it depends on none of them.

pub(crate) mod estimate;
mod order;

pub(crate) use order::compile_planned;

use segdb_storage_format::block_file::BlockKey;
use segdb_storage_format::part::{TAG_NOT_NULL, TAG_TRUE, TAG_VALUE};

use crate::error::{EngineError, Result};
use crate::expr::{CmpOp, Expr};
use crate::schema::FieldKind;
use crate::segment::SnapshotRows;
use crate::table::Table;

/// A compiled expression node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    All,
    Nothing,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A stored bitmap: index into `Plan::leaves`.
    Leaf(usize),
    /// Rows of an INT field whose value is in `lo..=hi` (inclusive).
    IntRange {
        field: u32,
        lo: i64,
        hi: i64,
    },
    /// Rows whose event count over the window satisfies `op n`.
    Event {
        field: u32,
        first: i32,
        last: i32,
        op: CmpOp,
        n: i64,
    },
    /// Explicit row ids, sorted and distinct.
    Rows(Vec<u32>),
    /// A snapshot segment's rows: index into `Plan::snapshots`.
    Snapshot(usize),
    /// A named set of rows (sorted, distinct, shared) and its label.
    Set(std::sync::Arc<[u32]>, std::sync::Arc<str>),
    /// The cached rows of an `Expr::Cached`, as dense chunks.
    Cached(std::sync::Arc<crate::expr_cache::DenseRows>),
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub root: Node,
    pub leaves: Vec<BlockKey>,
    /// The snapshot segments the plan reads, each once.
    pub snapshots: Vec<SnapshotRows>,
}

pub(crate) fn compile(table: &Table, expr: &Expr) -> Result<Plan> {
    let mut c = Compiler {
        table,
        leaves: Vec::new(),
        snapshots: Vec::new(),
    };
    let root = simplify(c.node(expr)?);
    Ok(Plan {
        root,
        leaves: c.leaves,
        snapshots: c.snapshots,
    })
}

struct Compiler<'a> {
    table: &'a Table,
    leaves: Vec<BlockKey>,
    snapshots: Vec<SnapshotRows>,
}

fn kind_error(field: &str, kind: FieldKind, what: &str) -> EngineError {
    EngineError::WrongKind {
        field: field.to_owned(),
        kind: kind.as_str(),
        what: what.to_owned(),
    }
}

impl Compiler<'_> {
    fn leaf(&mut self, key: BlockKey) -> Node {
        let i = match self.leaves.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.leaves.push(key);
                self.leaves.len() - 1
            }
        };
        Node::Leaf(i)
    }

    fn value_leaves(&mut self, field: &str, values: &[String]) -> Result<Vec<Node>> {
        let (i, def) = self.table.field(field)?;
        if !matches!(def.kind, FieldKind::Enum | FieldKind::Set) {
            return Err(kind_error(
                field,
                def.kind,
                "only ENUM and SET fields have values",
            ));
        }
        let dict = self.table.value_dict(i);
        let mut out = Vec::new();
        for v in values {
            match dict.id(v) {
                Some(id) => out.push(self.leaf(BlockKey::new(i as u32, TAG_VALUE, id, 0))),
                None => out.push(Node::Nothing),
            }
        }
        Ok(out)
    }

    fn not_null(&mut self, field: &str) -> Result<Node> {
        let (i, def) = self.table.field(field)?;
        match def.kind {
            FieldKind::Enum | FieldKind::Set | FieldKind::Bool | FieldKind::Int => {
                Ok(self.leaf(BlockKey::new(i as u32, TAG_NOT_NULL, 0, 0)))
            }
            k => Err(kind_error(
                field,
                k,
                "has no null test (EVENT counts are never null; TEXT is not indexed)",
            )),
        }
    }

    fn int_field(&self, field: &str) -> Result<u32> {
        let (i, def) = self.table.field(field)?;
        if def.kind != FieldKind::Int {
            return Err(kind_error(
                field,
                def.kind,
                "numeric comparisons need an INT field",
            ));
        }
        Ok(i as u32)
    }

    fn event_field(&self, field: &str) -> Result<u32> {
        let (i, def) = self.table.field(field)?;
        if def.kind != FieldKind::Event {
            return Err(kind_error(
                field,
                def.kind,
                "count() and did() need an EVENT field",
            ));
        }
        Ok(i as u32)
    }

    fn node(&mut self, e: &Expr) -> Result<Node> {
        Ok(match e {
            Expr::All => Node::All,
            Expr::Nothing => Node::Nothing,
            Expr::And(xs) => Node::And(xs.iter().map(|x| self.node(x)).collect::<Result<_>>()?),
            Expr::Or(xs) => Node::Or(xs.iter().map(|x| self.node(x)).collect::<Result<_>>()?),
            Expr::Not(x) => Node::Not(Box::new(self.node(x)?)),
            Expr::Value { field, value } => self
                .value_leaves(field, std::slice::from_ref(value))?
                .remove(0),
            Expr::AnyValue { field, values } => Node::Or(self.value_leaves(field, values)?),
            Expr::AllValues { field, values } => {
                let mut xs = vec![self.not_null(field)?];
                xs.extend(self.value_leaves(field, values)?);
                Node::And(xs)
            }
            Expr::NoneOfValues { field, values } => {
                let nn = self.not_null(field)?;
                let any = Node::Or(self.value_leaves(field, values)?);
                Node::And(vec![nn, Node::Not(Box::new(any))])
            }
            Expr::NotNull { field } => self.not_null(field)?,
            Expr::Bool { field, value } => {
                let (i, def) = self.table.field(field)?;
                if def.kind != FieldKind::Bool {
                    return Err(kind_error(field, def.kind, "is not a BOOL"));
                }
                let t = self.leaf(BlockKey::new(i as u32, TAG_TRUE, 0, 0));
                if *value {
                    t
                } else {
                    let nn = self.leaf(BlockKey::new(i as u32, TAG_NOT_NULL, 0, 0));
                    Node::And(vec![nn, Node::Not(Box::new(t))])
                }
            }
            Expr::IntCmp { field, op, value } => {
                let f = self.int_field(field)?;
                let v = *value;
                let range = |lo, hi| Node::IntRange { field: f, lo, hi };
                match op {
                    CmpOp::Eq => range(v, v),
                    CmpOp::Ne => Node::Or(vec![
                        if v > i64::MIN {
                            range(i64::MIN, v - 1)
                        } else {
                            Node::Nothing
                        },
                        if v < i64::MAX {
                            range(v + 1, i64::MAX)
                        } else {
                            Node::Nothing
                        },
                    ]),
                    CmpOp::Lt if v == i64::MIN => Node::Nothing,
                    CmpOp::Lt => range(i64::MIN, v - 1),
                    CmpOp::Le => range(i64::MIN, v),
                    CmpOp::Gt if v == i64::MAX => Node::Nothing,
                    CmpOp::Gt => range(v + 1, i64::MAX),
                    CmpOp::Ge => range(v, i64::MAX),
                }
            }
            Expr::IntBetween { field, lo, hi } => {
                let f = self.int_field(field)?;
                if lo > hi {
                    Node::Nothing
                } else {
                    Node::IntRange {
                        field: f,
                        lo: *lo,
                        hi: *hi,
                    }
                }
            }
            Expr::EventCount { field, days, op, n } => Node::Event {
                field: self.event_field(field)?,
                first: days.first,
                last: days.last,
                op: *op,
                n: *n,
            },
            // Both ends: the second is evaluated within the rows of the first.
            Expr::EventBetween {
                field,
                days,
                lo,
                hi,
            } => {
                let field = self.event_field(field)?;
                let end = |op, n| Node::Event {
                    field,
                    first: days.first,
                    last: days.last,
                    op,
                    n,
                };
                if lo > hi {
                    Node::Nothing
                } else {
                    Node::And(vec![end(CmpOp::Ge, *lo), end(CmpOp::Le, *hi)])
                }
            }
            Expr::Rows(rows) => {
                let mut rows: Vec<u32> = rows
                    .iter()
                    .copied()
                    .filter(|&r| u64::from(r) < self.table.num_rows())
                    .collect();
                rows.sort_unstable();
                rows.dedup();
                Node::Rows(rows)
            }
            Expr::Snapshot(rows) => {
                if rows.table() != self.table.name() {
                    return Err(EngineError::InvalidSegment(format!(
                        "segment `{}` holds rows of table `{}`, not of `{}`",
                        rows.name(),
                        rows.table(),
                        self.table.name()
                    )));
                }
                let i = match self.snapshots.iter().position(|s| s == rows) {
                    Some(i) => i,
                    None => {
                        self.snapshots.push(rows.clone());
                        self.snapshots.len() - 1
                    }
                };
                Node::Snapshot(i)
            }
            Expr::Cached(inner) => match crate::expr_cache::key(inner) {
                None => self.node(inner)?,
                Some(key) => {
                    let rows = match self.table.cached.get(&key) {
                        Some(rows) => rows,
                        None => {
                            let mut dense = crate::expr_cache::DenseRows::default();
                            for c in self.table.segment_chunks(inner)? {
                                dense.rows += c.count;
                                dense.chunks.insert((c.shard, c.key), c.words);
                            }
                            let rows = std::sync::Arc::new(dense);
                            self.table.cached.put(key, std::sync::Arc::clone(&rows));
                            rows
                        }
                    };
                    Node::Cached(rows)
                }
            },
            Expr::Evaluated(e) => {
                if e.table() != self.table.name() {
                    return Err(EngineError::InvalidSegment(format!(
                        "evaluated rows of table `{}` used on `{}`",
                        e.table(),
                        self.table.name()
                    )));
                }
                Node::Cached(std::sync::Arc::clone(&e.rows))
            }
            Expr::RowSet(set) => {
                if set.table() != self.table.name() {
                    return Err(EngineError::InvalidSegment(format!(
                        "`{}` holds rows of table `{}`, not of `{}`",
                        set.label(),
                        set.table(),
                        self.table.name()
                    )));
                }
                // Rows past the table's end (none, for a campaign's
                // groups) match nothing; cut them so the estimate is exact.
                let rows = set.shared();
                let end = rows.partition_point(|&r| u64::from(r) < self.table.num_rows());
                let rows = if end == rows.len() {
                    rows
                } else {
                    std::sync::Arc::from(&rows[..end])
                };
                Node::Set(rows, std::sync::Arc::from(set.label()))
            }
        })
    }
}

/// Folds constants and flattens nested ANDs and ORs.
pub(crate) fn simplify(n: Node) -> Node {
    match n {
        Node::And(xs) => {
            let mut out = Vec::new();
            for x in xs.into_iter().map(simplify) {
                match x {
                    Node::All => {}
                    Node::Nothing => return Node::Nothing,
                    Node::And(ys) => out.extend(ys),
                    x => out.push(x),
                }
            }
            match out.len() {
                0 => Node::All,
                1 => out.pop().unwrap_or(Node::All),
                _ => {
                    // Positive operands first: a NOT subtracts from a running set.
                    out.sort_by_key(|x| matches!(x, Node::Not(_)));
                    Node::And(out)
                }
            }
        }
        Node::Or(xs) => {
            let mut out = Vec::new();
            for x in xs.into_iter().map(simplify) {
                match x {
                    Node::Nothing => {}
                    Node::All => return Node::All,
                    Node::Or(ys) => out.extend(ys),
                    x => out.push(x),
                }
            }
            match out.len() {
                0 => Node::Nothing,
                1 => out.pop().unwrap_or(Node::Nothing),
                _ => Node::Or(out),
            }
        }
        Node::Not(x) => match simplify(*x) {
            Node::All => Node::Nothing,
            Node::Nothing => Node::All,
            Node::Not(y) => *y,
            x => Node::Not(Box::new(x)),
        },
        n => n,
    }
}
