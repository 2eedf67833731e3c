//! Derived tags in WHERE: a tag's definition is bound here and now, as
//! bitmap expressions over its table, and a predicate on the tag becomes
//! an expression over those. For `CASE WHEN c1 THEN v1 WHEN c2 THEN v2 …
//! ELSE e END`, value `vk`'s rows are `ck AND NOT (c1 OR … OR ck-1)` (the
//! first WHEN that holds wins), ELSE's are `NOT (c1 OR … OR cn)`, and
//! without ELSE those rows are null. A BOOL tag is its condition.

use segdb_engine::Expr;

use super::FilterBinder;
use crate::ast::{self, CmpOp, Ident, Predicate, Span, TagDef, Value};
use crate::bind::{TableScope, TagRef};
use crate::error::{snippet, ErrorKind, QueryError};
use crate::{limits, suggest};

/// A tag's rows, bound.
pub(crate) enum TagRows {
    /// A BOOL tag: the rows where it is true (the others are false).
    Bool(Expr),
    /// A tag with values: each value's rows, in definition order, and the
    /// rows with no value.
    Values {
        /// `(value, rows)`, each value once.
        values: Vec<(String, Expr)>,
        /// The rows no WHEN holds for, when there is no ELSE.
        null: Expr,
    },
}

/// `OR` of `xs`: no rows for none, the one for one.
fn any(mut xs: Vec<Expr>) -> Expr {
    match xs.len() {
        0 => Expr::Nothing,
        1 => xs.pop().unwrap_or(Expr::Nothing),
        _ => Expr::Or(xs),
    }
}

fn not(x: Expr) -> Expr {
    Expr::Not(Box::new(x))
}

/// The field a predicate names, if it names one.
pub(super) fn predicate_field(p: &Predicate) -> Option<&Ident> {
    match p {
        Predicate::Field(f)
        | Predicate::Compare { field: f, .. }
        | Predicate::Between { field: f, .. }
        | Predicate::In { field: f, .. }
        | Predicate::Has { field: f, .. }
        | Predicate::HasAny { field: f, .. }
        | Predicate::HasAll { field: f, .. }
        | Predicate::IsNull { field: f, .. } => Some(f),
        _ => None,
    }
}

impl FilterBinder<'_, '_> {
    /// The tag `ident` names, if it is no field of the table but a tag.
    pub(super) fn tag_named(&self, ident: &Ident) -> Option<TagRef> {
        if self.scope.schema.field(&ident.name).is_some() {
            return None;
        }
        self.scope.catalog.tag(&ident.name)
    }

    /// A predicate on tag `tag`, named by `ident`.
    pub(super) fn bind_tag_predicate(
        &mut self,
        ident: &Ident,
        tag: TagRef,
        predicate: &Predicate,
        span: Span,
    ) -> Result<Expr, QueryError> {
        let rows = self.tag_rows(ident, tag)?;
        match (rows, predicate) {
            (TagRows::Bool(e), Predicate::Field(_)) => Ok(e),
            (
                TagRows::Bool(e),
                Predicate::Compare {
                    op: op @ (CmpOp::Eq | CmpOp::Ne),
                    value:
                        ast::Literal {
                            value: Value::Bool(b),
                            ..
                        },
                    ..
                },
            ) => Ok(if (*op == CmpOp::Eq) == *b { e } else { not(e) }),
            (TagRows::Bool(_), Predicate::IsNull { negated, .. }) => {
                Ok(if *negated { Expr::All } else { Expr::Nothing })
            }
            (TagRows::Bool(_), _) => Err(self
                .type_error(
                    format!(
                        "{} is a BOOL tag: use it as a condition by itself",
                        snippet(&ident.name)
                    ),
                    span,
                )
                .with_hint(format!("write {ident} or NOT {ident}"))),
            (TagRows::Values { values, null }, p) => {
                self.bind_tag_values(ident, values, null, p, span)
            }
        }
    }

    fn bind_tag_values(
        &mut self,
        ident: &Ident,
        mut values: Vec<(String, Expr)>,
        null: Expr,
        p: &Predicate,
        span: Span,
    ) -> Result<Expr, QueryError> {
        // The values a predicate names, checked against the tag's.
        let pick = |lits: &[ast::Literal]| -> Result<Vec<bool>, QueryError> {
            let mut chosen = vec![false; values.len()];
            for lit in lits {
                let Value::Str(text) = &lit.value else {
                    return Err(self.type_error(
                        format!("tag {}'s values are text", snippet(&ident.name)),
                        lit.span,
                    ));
                };
                match values.iter().position(|(v, _)| v == text) {
                    Some(i) => chosen[i] = true,
                    None => {
                        let names = values.iter().map(|(v, _)| v.as_str());
                        let hint = suggest::nearest(text, names)
                            .map(|v| format!("did you mean '{v}'?"))
                            .unwrap_or_else(|| {
                                let all: Vec<String> =
                                    values.iter().map(|(v, _)| format!("'{v}'")).collect();
                                format!("its values are {}", all.join(", "))
                            });
                        return Err(self
                            .type_error(
                                format!(
                                    "tag {} has no value {}",
                                    snippet(&ident.name),
                                    snippet(text)
                                ),
                                lit.span,
                            )
                            .with_hint(hint));
                    }
                }
            }
            Ok(chosen)
        };
        let chosen = match p {
            Predicate::Compare {
                op: CmpOp::Eq,
                value,
                ..
            } => pick(std::slice::from_ref(value))?,
            Predicate::Compare {
                op: CmpOp::Ne,
                value,
                ..
            } => pick(std::slice::from_ref(value))?
                .into_iter()
                .map(|c| !c)
                .collect(),
            Predicate::In {
                negated, values, ..
            } => pick(values)?.into_iter().map(|c| c != *negated).collect(),
            Predicate::IsNull { negated, .. } => {
                return Ok(if *negated { not(null) } else { null });
            }
            _ => {
                let first = values.first().map(|(v, _)| v.as_str()).unwrap_or("v");
                return Err(self
                    .type_error(
                        format!(
                            "{} is a tag with values: compare it with =, !=, IN or IS NULL",
                            snippet(&ident.name)
                        ),
                        span,
                    )
                    .with_hint(format!("write {ident} = '{first}'")));
            }
        };
        let mut keep = chosen.into_iter();
        values.retain(|_| keep.next().unwrap_or(false));
        Ok(any(values.into_iter().map(|(_, e)| e).collect()))
    }

    /// The rows of tag `tag` (named by `ident`): its definition bound here,
    /// on this statement's day.
    pub(crate) fn tag_rows(&mut self, ident: &Ident, tag: TagRef) -> Result<TagRows, QueryError> {
        let scope = self.scope;
        if tag.table != scope.table {
            return Err(self.type_error(
                format!(
                    "tag {} describes rows of table {}, not of {}",
                    snippet(&ident.name),
                    snippet(&tag.table),
                    snippet(scope.table)
                ),
                ident.span,
            ));
        }
        if self.direct && !self.tag_uses.contains(&ident.name) {
            self.tag_uses.push(ident.name.clone());
        }
        if let Some(at) = self.tags_expanding.iter().position(|s| *s == ident.name) {
            let mut path: Vec<&str> = self.tags_expanding[at..]
                .iter()
                .map(String::as_str)
                .collect();
            path.push(&ident.name);
            return Err(QueryError::new(
                ErrorKind::TagCycle(format!("a tag cannot use itself: {}", path.join(" -> "))),
                ident.span,
                scope.source,
            ));
        }
        self.expansions += 1;
        if self.tags_expanding.len() >= limits::MAX_SEGMENT_NESTING {
            return Err(self.limit(
                ident,
                "the nesting of tags in tags",
                limits::MAX_SEGMENT_NESTING,
            ));
        }
        if self.expansions > limits::MAX_SEGMENT_EXPANSIONS {
            return Err(self.limit(
                ident,
                "the number of segments and tags expanded in one statement",
                limits::MAX_SEGMENT_EXPANSIONS,
            ));
        }
        let def = crate::parse::parse_tag_definition(&tag.text)
            .map_err(|e| self.relocate_tag(ident, e))?;
        let inner_scope = TableScope {
            catalog: scope.catalog,
            table: scope.table,
            schema: scope.schema.clone(),
            source: &tag.text,
        };
        let mut inner = self.nested(&inner_scope);
        inner.tags_expanding.push(ident.name.clone());
        let bound: Result<Vec<Expr>, QueryError> = def
            .conditions()
            .into_iter()
            .map(|c| inner.bind(c))
            .collect();
        inner.tags_expanding.pop();
        self.expanding = std::mem::take(&mut inner.expanding);
        self.tags_expanding = std::mem::take(&mut inner.tags_expanding);
        self.expansions = inner.expansions;
        let conds = bound.map_err(|e| self.relocate_tag(ident, e))?;
        // Each value's rows are cached per table snapshot (the engine
        // evaluates them once for the snapshot and day, see `Expr::Cached`).
        let cached = |e: Expr| match e {
            Expr::Nothing | Expr::All => e,
            e => Expr::Cached(Box::new(e)),
        };
        Ok(match def {
            TagDef::Bool(_) => {
                TagRows::Bool(cached(conds.into_iter().next().unwrap_or(Expr::Nothing)))
            }
            TagDef::Case(case) => {
                let mut values: Vec<(String, Vec<Expr>)> = Vec::new();
                let mut add = |v: &ast::Literal, rows: Expr| {
                    let Value::Str(v) = &v.value else { return };
                    match values.iter_mut().find(|(x, _)| x == v) {
                        Some((_, xs)) => xs.push(rows),
                        None => values.push((v.clone(), vec![rows])),
                    }
                };
                for (k, ((_, then), c)) in case.whens.iter().zip(&conds).enumerate() {
                    let rows = if k == 0 {
                        c.clone()
                    } else {
                        Expr::And(vec![c.clone(), not(any(conds[..k].to_vec()))])
                    };
                    add(then, rows);
                }
                let none = not(any(conds.clone()));
                let null = match &case.otherwise {
                    Some(v) => {
                        add(v, none);
                        Expr::Nothing
                    }
                    None => none,
                };
                TagRows::Values {
                    values: values
                        .into_iter()
                        .map(|(v, xs)| (v, cached(any(xs))))
                        .collect(),
                    null: cached(null),
                }
            }
        })
    }

    /// An error met while binding the definition of tag `ident`, moved to
    /// where this text names the tag.
    fn relocate_tag(&self, ident: &Ident, e: QueryError) -> QueryError {
        let source = self.scope.source;
        match e.kind() {
            ErrorKind::TagCycle(_)
            | ErrorKind::SegmentCycle(_)
            | ErrorKind::LimitExceeded { .. } => {
                QueryError::new(e.kind().clone(), ident.span, source).with_hint_opt(e.hint())
            }
            _ => QueryError::new(
                ErrorKind::Type(format!(
                    "the definition of tag {} no longer binds: {}",
                    snippet(&ident.name),
                    e.message()
                )),
                ident.span,
                source,
            )
            .with_hint(format!(
                "replace it: CREATE OR REPLACE TAG {ident} ON … AS …"
            )),
        }
    }
}
