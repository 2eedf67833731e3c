//! WHERE clause -> the engine's [`Expr`], with two-valued set semantics
//! (DESIGN.md): comparisons never match a null, `NOT` is the complement in
//! the table.

use segdb_engine::date::{format_iso_day, Day};
use segdb_engine::{CmpOp, DayRange, Expr, FieldDef, FieldKind, ID_COLUMN};

use super::{bind_day, segment_ref, SegmentBody, TableScope};
use crate::ast::{self, ExprKind, Ident, Literal, Predicate, Span, Value, Window};
use crate::error::{snippet, ErrorKind, QueryError, Warning};
use crate::{limits, suggest};

mod campaign;
mod tag;
mod window;

pub(super) use tag::TagRows;

/// At most this many warnings per statement (each may compute a "did you
/// mean" over thousands of values).
const MAX_WARNINGS: usize = 10;

/// Binds the WHERE clause of one SELECT (or segment definition).
pub(super) struct FilterBinder<'s, 'a> {
    scope: &'s TableScope<'a>,
    as_of: Day,
    depth: usize,
    warnings: Vec<Warning>,
    /// The segments being expanded, outermost first (and the segment being
    /// defined, if any): meeting one of them again is a cycle.
    expanding: Vec<String>,
    /// How many of `expanding` are not expansions but the segment being
    /// defined (0 or 1).
    own: usize,
    /// Whether this binder binds the statement's own text (not a segment's).
    direct: bool,
    /// Segments expanded so far in this statement.
    expansions: usize,
    /// The segments the text names itself, each once.
    uses: Vec<String>,
    /// The tags being expanded, outermost first (and the tag being
    /// defined, if any): meeting one of them again is a cycle.
    tags_expanding: Vec<String>,
    /// The tags the text names itself, each once.
    tag_uses: Vec<String>,
}

impl<'s, 'a> FilterBinder<'s, 'a> {
    pub fn new(scope: &'s TableScope<'a>, as_of: Day) -> Self {
        FilterBinder {
            scope,
            as_of,
            depth: 0,
            warnings: Vec::new(),
            expanding: Vec::new(),
            own: 0,
            direct: true,
            expansions: 0,
            uses: Vec::new(),
            tags_expanding: Vec::new(),
            tag_uses: Vec::new(),
        }
    }

    /// A binder for the text of a segment or tag this one expands, in
    /// `scope`: it shares the expansions (taken from this binder; give
    /// them back after) and warns of nothing (warnings about a
    /// definition's own text were given when it was made, and would point
    /// into text the user did not write here).
    fn nested<'t, 'b>(&mut self, scope: &'t TableScope<'b>) -> FilterBinder<'t, 'b> {
        FilterBinder {
            scope,
            as_of: self.as_of,
            depth: self.depth,
            warnings: Vec::new(),
            expanding: std::mem::take(&mut self.expanding),
            own: self.own,
            direct: false,
            expansions: self.expansions,
            uses: Vec::new(),
            tags_expanding: std::mem::take(&mut self.tags_expanding),
            tag_uses: Vec::new(),
        }
    }

    /// Binds the definition of tag `name`: reaching it again is a cycle.
    pub fn defining_tag(&mut self, name: &str) {
        self.tags_expanding.push(name.to_owned());
    }

    /// The tags the text names, and the warnings.
    pub fn into_tag_uses_and_warnings(self) -> (Vec<String>, Vec<Warning>) {
        (self.tag_uses, self.warnings)
    }

    /// Binds the definition of segment `name`: reaching it again is a cycle.
    pub fn defining(&mut self, name: &str) {
        self.expanding.push(name.to_owned());
        self.own = 1;
    }

    pub fn into_warnings(self) -> Vec<Warning> {
        self.warnings
    }

    /// The segments the text names, and the warnings.
    pub fn into_uses_and_warnings(self) -> (Vec<String>, Vec<Warning>) {
        (self.uses, self.warnings)
    }

    /// `IN SEGMENT name`: a snapshot's rows, or a dynamic segment's text
    /// bound here and now (so it sees the data and the day of this
    /// statement).
    fn bind_in_segment(&mut self, ident: &Ident) -> Result<Expr, QueryError> {
        let scope = self.scope;
        let segment = segment_ref(ident, scope.source, scope.catalog)?;
        if segment.table != scope.table {
            return Err(self
                .type_error(
                    format!(
                        "segment {} holds rows of table {}, not of {}",
                        snippet(&ident.name),
                        snippet(&segment.table),
                        snippet(scope.table)
                    ),
                    ident.span,
                )
                .with_hint(format!(
                    "use it in a query on its table: SELECT COUNT(*) FROM {} WHERE IN SEGMENT {ident}",
                    segment.table
                )));
        }
        if self.direct && !self.uses.contains(&ident.name) {
            self.uses.push(ident.name.clone());
        }
        if let Some(at) = self.expanding.iter().position(|s| *s == ident.name) {
            let mut path: Vec<&str> = self.expanding[at..].iter().map(String::as_str).collect();
            path.push(&ident.name);
            return Err(QueryError::new(
                ErrorKind::SegmentCycle(format!(
                    "a segment cannot use itself: {}",
                    path.join(" -> ")
                )),
                ident.span,
                scope.source,
            ));
        }
        self.expansions += 1;
        let nested = self.expanding.len().saturating_sub(self.own);
        if nested >= limits::MAX_SEGMENT_NESTING {
            return Err(self.limit(
                ident,
                "the nesting of segments in segments",
                limits::MAX_SEGMENT_NESTING,
            ));
        }
        if self.expansions > limits::MAX_SEGMENT_EXPANSIONS {
            return Err(self.limit(
                ident,
                "the number of segments expanded in one statement",
                limits::MAX_SEGMENT_EXPANSIONS,
            ));
        }
        let text = match segment.body {
            SegmentBody::Snapshot(rows) => return Ok(rows),
            SegmentBody::Dynamic(text) => text,
        };
        let parsed = crate::parse::parse_expr(&text).map_err(|e| self.relocate(ident, e))?;
        let inner_scope = TableScope {
            catalog: scope.catalog,
            table: scope.table,
            schema: scope.schema.clone(),
            source: &text,
        };
        let mut inner = self.nested(&inner_scope);
        inner.expanding.push(ident.name.clone());
        let bound = inner.bind(&parsed);
        inner.expanding.pop();
        self.expanding = std::mem::take(&mut inner.expanding);
        self.tags_expanding = std::mem::take(&mut inner.tags_expanding);
        self.expansions = inner.expansions;
        bound.map_err(|e| self.relocate(ident, e))
    }

    fn limit(&self, ident: &Ident, what: &'static str, limit: usize) -> QueryError {
        QueryError::new(
            ErrorKind::LimitExceeded { what, limit },
            ident.span,
            self.scope.source,
        )
    }

    /// An error met while binding the text of segment `ident`, moved to
    /// where this text names the segment.
    fn relocate(&self, ident: &Ident, e: QueryError) -> QueryError {
        let source = self.scope.source;
        match e.kind() {
            ErrorKind::SegmentCycle(_) | ErrorKind::LimitExceeded { .. } => {
                QueryError::new(e.kind().clone(), ident.span, source).with_hint_opt(e.hint())
            }
            _ => QueryError::new(
                ErrorKind::Type(format!(
                    "the definition of segment {} no longer binds: {}",
                    snippet(&ident.name),
                    e.message()
                )),
                ident.span,
                source,
            )
            .with_hint(format!(
                "replace it: CREATE OR REPLACE SEGMENT {ident} AS SELECT FROM … WHERE …"
            )),
        }
    }

    /// Binds `expr`; nested ANDs (and ORs) become one flat `And` (`Or`).
    /// The recursive path (this and `bind_flat`) keeps its frames small;
    /// predicates are bound in [`FilterBinder::bind_predicate`].
    pub fn bind(&mut self, expr: &ast::Expr) -> Result<Expr, QueryError> {
        // The parser caps nesting; a tree built by hand may be deeper.
        if self.depth >= limits::MAX_TREE_DEPTH {
            return Err(self.too_deep(expr.span));
        }
        self.depth += 1;
        let bound = match &expr.kind {
            ExprKind::And(xs) => self.bind_flat(xs, true).map(Expr::And),
            ExprKind::Or(xs) => self.bind_flat(xs, false).map(Expr::Or),
            ExprKind::Not(x) => self.bind(x).map(|x| Expr::Not(Box::new(x))),
            ExprKind::Predicate(p) => self.bind_predicate(p, expr.span),
        };
        self.depth -= 1;
        bound
    }

    fn too_deep(&self, span: Span) -> QueryError {
        QueryError::new(
            ErrorKind::LimitExceeded {
                what: "the depth of the expression tree",
                limit: limits::MAX_TREE_DEPTH,
            },
            span,
            self.scope.source,
        )
    }

    /// The operands of an AND (`and`) or OR, with nested ones spliced in.
    fn bind_flat(&mut self, xs: &[ast::Expr], and: bool) -> Result<Vec<Expr>, QueryError> {
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            match (self.bind(x)?, and) {
                (Expr::And(inner), true) | (Expr::Or(inner), false) => out.extend(inner),
                (other, _) => out.push(other),
            }
        }
        Ok(out)
    }

    /// Binds a predicate written at `span`.
    #[inline(never)]
    fn bind_predicate(&mut self, predicate: &Predicate, span: Span) -> Result<Expr, QueryError> {
        if let Some(ident) = tag::predicate_field(predicate) {
            if let Some(t) = self.tag_named(ident) {
                return self.bind_tag_predicate(ident, t, predicate, span);
            }
        }
        match predicate {
            Predicate::Field(field) => self.bind_bare(field),
            Predicate::Compare {
                field,
                op,
                op_span,
                value,
            } => self.bind_compare(field, *op, *op_span, value),
            Predicate::Between { field, lo, hi } => self.bind_between(field, lo, hi, span),
            Predicate::In {
                field,
                negated,
                values,
            } => self.bind_in(field, *negated, values),
            Predicate::Has { field, value } => {
                let def = self.set_field(field, "HAS")?;
                Ok(Expr::Value {
                    value: self.text_value(def, value)?,
                    field: def.name.clone(),
                })
            }
            Predicate::HasAny { field, values } => {
                let def = self.set_field(field, "HAS ANY")?;
                Ok(Expr::AnyValue {
                    values: self.text_values(def, values)?,
                    field: def.name.clone(),
                })
            }
            Predicate::HasAll { field, values } => {
                let def = self.set_field(field, "HAS ALL")?;
                Ok(Expr::AllValues {
                    values: self.text_values(def, values)?,
                    field: def.name.clone(),
                })
            }
            Predicate::IsNull { field, negated } => self.bind_is_null(field, *negated),
            Predicate::EventCount {
                event,
                window,
                op,
                n,
                ..
            } => {
                let field = self.event_field(event, "count(…)")?;
                let days = self.bind_event_window(&field, window)?;
                Ok(Expr::EventCount {
                    field,
                    days,
                    op: engine_op(*op),
                    n: n.value,
                })
            }
            Predicate::EventBetween {
                event,
                window,
                lo,
                hi,
            } => {
                let field = self.event_field(event, "count(…)")?;
                let days = self.bind_event_window(&field, window)?;
                if lo.value > hi.value {
                    let (lo, hi) = (lo.value, hi.value);
                    return Err(self
                        .type_error(
                            format!("inverted range: BETWEEN {lo} AND {hi} matches no rows"),
                            span,
                        )
                        .with_hint(format!("write the low end first: BETWEEN {hi} AND {lo}")));
                }
                Ok(Expr::EventBetween {
                    field,
                    days,
                    lo: lo.value,
                    hi: hi.value,
                })
            }
            Predicate::Did { event, window } => {
                let field = self.event_field(event, "did(…)")?;
                let days = self.bind_event_window(&field, window)?;
                Ok(Expr::did(field, days))
            }
            Predicate::InSegment(name) => self.bind_in_segment(name),
            Predicate::Campaign(c) => self.bind_campaign(c, span),
        }
    }

    fn field(&self, ident: &Ident) -> Result<&'s FieldDef, QueryError> {
        self.scope.field(ident)
    }

    fn type_error(&self, message: String, span: Span) -> QueryError {
        self.scope.type_error(message, span)
    }

    /// The error for an operator that does not apply to the field's kind,
    /// or for an EVENT or TEXT field used in a condition at all.
    fn misuse(&self, def: &FieldDef, what: &str, span: Span) -> QueryError {
        let message = match def.kind {
            FieldKind::Text => format!(
                "TEXT field {} is not indexed and cannot be used in WHERE",
                snippet(&def.name)
            ),
            kind => format!(
                "{what} does not apply to {} field {}",
                kind.as_str(),
                snippet(&def.name)
            ),
        };
        self.type_error(message, span).with_hint(kind_hint(def))
    }

    /// A bare field: a BOOL field is the rows where it is true.
    fn bind_bare(&self, ident: &Ident) -> Result<Expr, QueryError> {
        if ident.name == ID_COLUMN {
            return Err(self.scope.id_column_error(ident, "WHERE by itself"));
        }
        let def = self.field(ident)?;
        if def.kind == FieldKind::Bool {
            return Ok(Expr::Bool {
                field: def.name.clone(),
                value: true,
            });
        }
        let message = match def.kind {
            FieldKind::Text => return Err(self.misuse(def, "", ident.span)),
            kind => format!(
                "{} is {} field, and only a BOOL field is a condition by itself",
                snippet(&def.name),
                with_article(kind)
            ),
        };
        Err(self
            .type_error(message, ident.span)
            .with_hint(kind_hint(def)))
    }

    fn bind_compare(
        &mut self,
        ident: &Ident,
        op: ast::CmpOp,
        op_span: Span,
        value: &Literal,
    ) -> Result<Expr, QueryError> {
        let what = || format!("`{}`", op.as_str());
        if ident.name == ID_COLUMN {
            return match op {
                ast::CmpOp::Eq | ast::CmpOp::Ne => {
                    let rows = self.bind_ids(std::slice::from_ref(value))?;
                    Ok(if op == ast::CmpOp::Eq {
                        rows
                    } else {
                        Expr::Not(Box::new(rows))
                    })
                }
                _ => Err(self
                    .scope
                    .id_column_error(ident, &format!("a {} comparison", what()))
                    .with_hint("the external id takes = != IN NOT IN")),
            };
        }
        let def = self.field(ident)?;
        let field = def.name.clone();
        match (def.kind, op) {
            (FieldKind::Enum, ast::CmpOp::Eq) => Ok(Expr::Value {
                value: self.text_value(def, value)?,
                field,
            }),
            (FieldKind::Enum, ast::CmpOp::Ne) => Ok(Expr::NoneOfValues {
                values: vec![self.text_value(def, value)?],
                field,
            }),
            (FieldKind::Bool, ast::CmpOp::Eq | ast::CmpOp::Ne) => match value.value {
                Value::Bool(b) => Ok(Expr::Bool {
                    field,
                    value: b == (op == ast::CmpOp::Eq),
                }),
                _ => Err(self
                    .type_error(
                        format!(
                            "BOOL field {} takes true or false, found {}",
                            snippet(&def.name),
                            snippet(&value.to_string())
                        ),
                        value.span,
                    )
                    .with_hint(format!("write {} = true or {0} = false", def.name))),
            },
            (FieldKind::Int, _) => Ok(Expr::IntCmp {
                field,
                op: engine_op(op),
                value: self.int_value(def, value)?,
            }),
            (FieldKind::Event | FieldKind::Text, _) => Err(self.misuse(def, &what(), ident.span)),
            _ => Err(self.misuse(def, &what(), op_span)),
        }
    }

    fn bind_between(
        &self,
        ident: &Ident,
        lo: &Literal,
        hi: &Literal,
        span: Span,
    ) -> Result<Expr, QueryError> {
        if ident.name == ID_COLUMN {
            return Err(self.scope.id_column_error(ident, "BETWEEN"));
        }
        let def = self.field(ident)?;
        if def.kind != FieldKind::Int {
            return Err(self.misuse(def, "BETWEEN", ident.span));
        }
        let (lo_n, hi_n) = (self.int_value(def, lo)?, self.int_value(def, hi)?);
        if lo_n > hi_n {
            return Err(self
                .type_error(
                    format!("inverted range: BETWEEN {lo_n} AND {hi_n} matches no rows"),
                    span,
                )
                .with_hint(format!(
                    "write the low end first: BETWEEN {hi_n} AND {lo_n}"
                )));
        }
        Ok(Expr::IntBetween {
            field: def.name.clone(),
            lo: lo_n,
            hi: hi_n,
        })
    }

    fn bind_in(
        &mut self,
        ident: &Ident,
        negated: bool,
        values: &[Literal],
    ) -> Result<Expr, QueryError> {
        let what = if negated { "NOT IN" } else { "IN" };
        let wrap = |e: Expr| if negated { Expr::Not(Box::new(e)) } else { e };
        if ident.name == ID_COLUMN {
            return Ok(wrap(self.bind_ids(values)?));
        }
        let def = self.field(ident)?;
        let field = def.name.clone();
        match def.kind {
            FieldKind::Enum => {
                let values = self.text_values(def, values)?;
                Ok(if negated {
                    Expr::NoneOfValues { field, values }
                } else {
                    Expr::AnyValue { field, values }
                })
            }
            FieldKind::Int => {
                // Two-valued: NOT IN matches neither nulls nor the values.
                let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
                let mut cmps = values
                    .iter()
                    .map(|v| {
                        Ok(Expr::IntCmp {
                            field: field.clone(),
                            op,
                            value: self.int_value(def, v)?,
                        })
                    })
                    .collect::<Result<Vec<_>, QueryError>>()?;
                Ok(match (cmps.len(), negated) {
                    (1, _) => cmps.remove(0),
                    (_, true) => Expr::And(cmps),
                    (_, false) => Expr::Or(cmps),
                })
            }
            FieldKind::Set => Err(self.misuse(def, what, ident.span).with_hint(format!(
                "SET fields take HAS ANY (…): {} HAS ANY ('…', '…')",
                def.name
            ))),
            _ => Err(self.misuse(def, what, ident.span)),
        }
    }

    fn bind_is_null(&self, ident: &Ident, negated: bool) -> Result<Expr, QueryError> {
        if ident.name == ID_COLUMN {
            // Every row has an external id.
            return Ok(if negated { Expr::All } else { Expr::Nothing });
        }
        let def = self.field(ident)?;
        if matches!(def.kind, FieldKind::Event | FieldKind::Text) {
            let what = if negated { "IS NOT NULL" } else { "IS NULL" };
            return Err(self.misuse(def, what, ident.span));
        }
        let not_null = Expr::NotNull {
            field: def.name.clone(),
        };
        Ok(if negated {
            not_null
        } else {
            Expr::Not(Box::new(not_null))
        })
    }

    /// The SET field for HAS.
    fn set_field(&self, ident: &Ident, what: &str) -> Result<&'s FieldDef, QueryError> {
        if ident.name == ID_COLUMN {
            return Err(self.scope.id_column_error(ident, what));
        }
        let def = self.field(ident)?;
        match def.kind {
            FieldKind::Set => Ok(def),
            FieldKind::Enum => {
                let instead = if what == "HAS" {
                    "= '…'"
                } else {
                    "IN ('…', '…')"
                };
                Err(self.misuse(def, what, ident.span).with_hint(format!(
                    "ENUM fields hold one value: {} {instead}",
                    def.name
                )))
            }
            _ => Err(self.misuse(def, what, ident.span)),
        }
    }

    /// `user_id = '…'` or `IN (…)`: the rows of these external ids.
    fn bind_ids(&self, values: &[Literal]) -> Result<Expr, QueryError> {
        let ids = values
            .iter()
            .map(|v| match &v.value {
                Value::Str(s) => Ok(s.clone()),
                _ => Err(self
                    .type_error(
                        format!(
                            "`{ID_COLUMN}` takes external ids in single quotes, found {}",
                            snippet(&v.to_string())
                        ),
                        v.span,
                    )
                    .with_hint(format!("quote it: '{v}'"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rows = self
            .scope
            .catalog
            .resolve_ids(self.scope.table, &ids)
            .map_err(|e| {
                let span = match (values.first(), values.last()) {
                    (Some(a), Some(b)) => a.span.to(b.span),
                    _ => Span::new(0, 0),
                };
                QueryError::new(ErrorKind::Catalog(e), span, self.scope.source)
            })?;
        Ok(Expr::Rows(rows))
    }

    fn int_value(&self, def: &FieldDef, value: &Literal) -> Result<i64, QueryError> {
        match &value.value {
            Value::Int(n) => Ok(*n),
            other => {
                let hint = match other {
                    Value::Str(s) if s.trim().parse::<i64>().is_ok() => {
                        Some(format!("remove the quotes: {}", s.trim()))
                    }
                    _ => None,
                };
                Err(self
                    .type_error(
                        format!(
                            "INT field {} takes integers, found {}",
                            snippet(&def.name),
                            snippet(&value.to_string())
                        ),
                        value.span,
                    )
                    .with_hint_opt(hint))
            }
        }
    }

    fn text_values(
        &mut self,
        def: &FieldDef,
        values: &[Literal],
    ) -> Result<Vec<String>, QueryError> {
        values.iter().map(|v| self.text_value(def, v)).collect()
    }

    /// The text of a value of an ENUM or SET field. A value the catalog
    /// does not know is allowed (it matches no rows) but warned of.
    fn text_value(&mut self, def: &FieldDef, value: &Literal) -> Result<String, QueryError> {
        let Value::Str(text) = &value.value else {
            return Err(self
                .type_error(
                    format!(
                        "{} field {} takes text values in single quotes, found {}",
                        def.kind.as_str(),
                        snippet(&def.name),
                        snippet(&value.to_string())
                    ),
                    value.span,
                )
                .with_hint(format!("quote it: '{value}'")));
        };
        if self.warnings.len() < MAX_WARNINGS {
            self.check_known(def, text, value.span);
        }
        Ok(text.clone())
    }

    fn check_known(&mut self, def: &FieldDef, text: &str, span: Span) {
        let scope = self.scope;
        if scope.catalog.has_value(scope.table, &def.name, text) != Some(false) {
            return;
        }
        let list = scope.catalog.field_values(scope.table, &def.name);
        let hint = suggest::nearest(text, list.iter().map(String::as_str))
            .map(|v| format!("did you mean '{}'?", v.replace('\'', "''")));
        self.warnings.push(Warning::new(
            "unknown_value",
            format!(
                "{} field {} has no value {}; this matches no rows",
                def.kind.as_str(),
                snippet(&def.name),
                quoted_value(text)
            ),
            span,
            scope.source,
            hint,
        ));
    }
}

/// How to use a field of this kind in WHERE.
fn kind_hint(def: &FieldDef) -> String {
    let name = &def.name;
    match def.kind {
        FieldKind::Event => format!(
            "count its events over a window: count({name}, last 7 days) > 3, or did({name}, last 7 days)"
        ),
        FieldKind::Text => "TEXT fields are shown in profiles only".to_string(),
        FieldKind::Enum => format!("ENUM fields take = != IN NOT IN IS NULL: {name} = '…'"),
        FieldKind::Set => format!(
            "SET fields take HAS, HAS ANY (…), HAS ALL (…) and IS NULL: {name} HAS '…'"
        ),
        FieldKind::Bool => format!("BOOL fields are tested bare or with = true/false: {name}"),
        FieldKind::Int => format!("INT fields take = != < <= > >= BETWEEN IS NULL: {name} > 0"),
    }
}

/// "an INT", "a SET".
fn with_article(kind: FieldKind) -> String {
    let s = kind.as_str();
    let article = if matches!(kind, FieldKind::Int | FieldKind::Enum | FieldKind::Event) {
        "an"
    } else {
        "a"
    };
    format!("{article} {s}")
}

/// A value as a string literal, cut to a readable length: `'c9999'`.
fn quoted_value(text: &str) -> String {
    const MAX: usize = 40;
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MAX).collect();
    let more = if chars.next().is_some() { "…" } else { "" };
    format!("'{}{more}'", head.replace('\'', "''"))
}

fn engine_op(op: ast::CmpOp) -> CmpOp {
    match op {
        ast::CmpOp::Eq => CmpOp::Eq,
        ast::CmpOp::Ne => CmpOp::Ne,
        ast::CmpOp::Lt => CmpOp::Lt,
        ast::CmpOp::Le => CmpOp::Le,
        ast::CmpOp::Gt => CmpOp::Gt,
        ast::CmpOp::Ge => CmpOp::Ge,
    }
}
