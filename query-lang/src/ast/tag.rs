//! Derived tags: `CREATE [OR REPLACE] TAG name ON table AS definition`.

use super::{Expr, Ident, Literal, Span};

/// `CREATE [OR REPLACE] TAG name ON table AS definition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTag {
    /// The tag's name.
    pub name: Ident,
    /// `OR REPLACE`: an existing tag of that name is replaced.
    pub or_replace: bool,
    /// The table after ON.
    pub table: Ident,
    /// What follows AS.
    pub def: TagDef,
}

/// A tag's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagDef {
    /// A condition: a BOOL tag, true where it holds.
    Bool(Expr),
    /// `CASE WHEN c THEN 'v' … [ELSE 'w'] END`: an ENUM-like tag whose
    /// value is that of the first WHEN that holds (else ELSE's, else null).
    Case(CaseDef),
}

/// `CASE WHEN c THEN 'v' … [ELSE 'w'] END`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseDef {
    /// The WHEN conditions and their THEN values, in order (one or more).
    pub whens: Vec<(Expr, Literal)>,
    /// The ELSE value.
    pub otherwise: Option<Literal>,
    /// Where `CASE … END` is written.
    pub span: Span,
}

impl TagDef {
    /// Where the definition is written.
    pub fn span(&self) -> Span {
        match self {
            TagDef::Bool(e) => e.span,
            TagDef::Case(c) => c.span,
        }
    }

    /// The conditions of the definition, in order.
    pub fn conditions(&self) -> Vec<&Expr> {
        match self {
            TagDef::Bool(e) => vec![e],
            TagDef::Case(c) => c.whens.iter().map(|(e, _)| e).collect(),
        }
    }
}

impl Expr {
    /// The names the expression's conditions are on (fields or tags,
    /// EVENT fields of `count(…)` and `did(…)` included), each once, in the
    /// order written; not those of the segments and tags it names in turn.
    /// What keeps a tag a dynamic segment names from being dropped.
    pub fn names(&self) -> Vec<String> {
        use super::{ExprKind, Predicate};
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![self];
        while let Some(e) = todo.pop() {
            let p = match &e.kind {
                ExprKind::And(xs) | ExprKind::Or(xs) => {
                    todo.extend(xs.iter().rev());
                    continue;
                }
                ExprKind::Not(x) => {
                    todo.push(x);
                    continue;
                }
                ExprKind::Predicate(p) => p,
            };
            let name = match p.as_ref() {
                Predicate::Field(f)
                | Predicate::Compare { field: f, .. }
                | Predicate::Between { field: f, .. }
                | Predicate::In { field: f, .. }
                | Predicate::Has { field: f, .. }
                | Predicate::HasAny { field: f, .. }
                | Predicate::HasAll { field: f, .. }
                | Predicate::IsNull { field: f, .. }
                | Predicate::EventCount { event: f, .. }
                | Predicate::EventBetween { event: f, .. }
                | Predicate::Did { event: f, .. } => f,
                Predicate::InSegment(_) | Predicate::Campaign(_) => continue,
            };
            if !out.contains(&name.name) {
                out.push(name.name.clone());
            }
        }
        out
    }
}
