//! The fields a statement touches, for permission checks: every field it
//! names (WHERE, GROUP BY, the select list, INSIGHT and COMPARE field lists
//! and filters, EXPLAIN's query, CREATE SEGMENT's definition) and every
//! field of every segment it reaches, through `IN SEGMENT` and segment
//! arguments of CALL, recursively through the segments' own definitions
//! (a snapshot's too: the expression it was evaluated from), and the
//! fields a campaign's audience and templates read, through its groups
//! (`sent(c)`, …: [`CampaignRef::fields`](crate::CampaignRef)).
//!
//! It works on the syntax tree, not the bound statement, so that each use
//! keeps the place it is written (a field reached through a segment is
//! placed at the segment's name): the server checks the uses before it
//! binds or runs anything. Names that do not resolve (an unknown table or
//! segment) are left out; binding reports them.

use std::collections::HashSet;

use crate::ast::{self, ExprKind, Ident, Predicate, SelectItemKind, Span, StatementKind, Value};
use crate::bind::Catalog;
use crate::procedure::ParamType;
use segdb_engine::ID_COLUMN;

/// One field a statement touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldUse {
    /// The field's table.
    pub table: String,
    /// The field's name, as written (it may not exist).
    pub field: String,
    /// Where the statement names it, or names the segment it comes through.
    pub span: Span,
    /// The segment the statement names that leads to the field, if the
    /// field is not written in the statement itself.
    pub segment: Option<String>,
    /// The campaign whose group (`sent(c)`, …) leads to the field: one its
    /// audience or templates read.
    pub campaign: Option<String>,
}

/// Every field `stmt` touches, in the order written (a segment's fields
/// where the segment is named). A field may appear more than once.
pub fn fields_used(stmt: &ast::Statement, catalog: &dyn Catalog) -> Vec<FieldUse> {
    let mut w = Walker {
        catalog,
        uses: Vec::new(),
    };
    match &stmt.kind {
        StatementKind::Select(select) | StatementKind::Explain(select) => {
            let table = &select.table.name;
            for item in &select.items {
                match &item.kind {
                    SelectItemKind::CountStar => {}
                    SelectItemKind::Aggregate { field, .. }
                    | SelectItemKind::Quantile { field, .. }
                    | SelectItemKind::Field(field) => w.field(table, field),
                }
            }
            if let Some(group) = &select.group_by {
                w.field(table, group);
            }
            if let Some(filter) = &select.filter {
                w.expr(table, filter, None);
            }
        }
        StatementKind::CreateSegment(create) => {
            w.expr(&create.table.name, &create.filter, None);
        }
        StatementKind::Insight(insight) => {
            let table = &insight.table.name;
            for f in &insight.fields {
                w.field(table, f);
            }
            if let Some(filter) = &insight.filter {
                w.expr(table, filter, None);
            }
        }
        StatementKind::Compare(compare) => {
            let table = &compare.table.name;
            for f in &compare.fields {
                w.field(table, f);
            }
            w.expr(table, &compare.a, None);
            w.expr(table, &compare.b, None);
        }
        StatementKind::Call(call) => w.call(call),
        StatementKind::CreateCampaign(create) => {
            if let crate::ast::CampaignAudience::Where(e) = &create.audience {
                w.expr(&create.table.name, e, None);
            }
            if let Some(goal) = &create.goal {
                w.field(&create.table.name, &goal.event);
            }
        }
        StatementKind::CreateTag(create) => {
            for cond in create.def.conditions() {
                w.expr(&create.table.name, cond, None);
            }
        }
        StatementKind::CreateTable(_)
        | StatementKind::DropTag(_)
        | StatementKind::ShowTags
        | StatementKind::AlterTable(_)
        | StatementKind::AlterField(_)
        | StatementKind::DropTable(_)
        | StatementKind::ShowTables
        | StatementKind::ShowFields(_)
        | StatementKind::DropSegment(_)
        | StatementKind::ShowSegments
        | StatementKind::ShowCampaigns => {}
        StatementKind::DropCampaign(name) => w.campaign(&name.name, name.span),
    }
    w.uses
}

/// Every field the segment `name` is defined with, recursively through the
/// segments its definition uses, each placed at `span` (default: none) and
/// attributed to `name`. Empty for an unknown segment or an uploaded id
/// list.
pub fn segment_fields(name: &str, catalog: &dyn Catalog) -> Vec<FieldUse> {
    let mut w = Walker {
        catalog,
        uses: Vec::new(),
    };
    w.segment(name, Span::default(), name, &mut HashSet::new());
    w.uses
}

struct Walker<'c> {
    catalog: &'c dyn Catalog,
    uses: Vec<FieldUse>,
}

impl Walker<'_> {
    fn field(&mut self, table: &str, ident: &Ident) {
        if let Some(tag) = self.tag_of(table, &ident.name) {
            self.tag(
                &ident.name,
                &tag,
                ident.span,
                &ident.name,
                &mut HashSet::new(),
            );
            return;
        }
        if ident.name != ID_COLUMN {
            self.uses.push(FieldUse {
                table: table.to_owned(),
                field: ident.name.clone(),
                span: ident.span,
                segment: None,
                campaign: None,
            });
        }
    }

    /// The fields of `expr` over `table`. `via` is `(span, segment)` when
    /// the expression is a segment's definition reached from the
    /// statement: its uses are placed there.
    fn expr(&mut self, table: &str, expr: &ast::Expr, via: Option<(Span, &str)>) {
        self.expr_in(table, expr, via, &mut HashSet::new());
    }

    fn expr_in(
        &mut self,
        table: &str,
        expr: &ast::Expr,
        via: Option<(Span, &str)>,
        seen: &mut HashSet<String>,
    ) {
        // An explicit stack: trees are at most MAX_DEPTH deep, but a walk
        // without recursion needs no proof of that.
        let mut stack = vec![expr];
        while let Some(e) = stack.pop() {
            let p = match &e.kind {
                ExprKind::And(xs) | ExprKind::Or(xs) => {
                    stack.extend(xs.iter().rev());
                    continue;
                }
                ExprKind::Not(x) => {
                    stack.push(x);
                    continue;
                }
                ExprKind::Predicate(p) => p,
            };
            let ident = match p.as_ref() {
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
                // A campaign's group reads no field itself, but reaches
                // what its audience and templates read.
                Predicate::Campaign(c) => {
                    let name = &c.campaign;
                    if let Some(r) = self.catalog.campaign(&name.name) {
                        let (span, segment) = match via {
                            Some((span, top)) => (span, Some(top.to_owned())),
                            None => (name.span, None),
                        };
                        for field in r.fields {
                            self.uses.push(FieldUse {
                                table: r.table.clone(),
                                field,
                                span,
                                segment: segment.clone(),
                                campaign: Some(name.name.clone()),
                            });
                        }
                    }
                    continue;
                }
                Predicate::InSegment(s) => {
                    let (span, top) = via.unwrap_or((s.span, &s.name));
                    self.segment(&s.name, span, top, seen);
                    continue;
                }
            };
            if let Some(tag) = self.tag_of(table, &ident.name) {
                let (span, top) = via.unwrap_or((ident.span, &ident.name));
                self.tag(&ident.name, &tag, span, top, seen);
                continue;
            }
            match via {
                None => self.field(table, ident),
                Some((span, segment)) if ident.name != ID_COLUMN => self.uses.push(FieldUse {
                    table: table.to_owned(),
                    field: ident.name.clone(),
                    span,
                    segment: Some(segment.to_owned()),
                    campaign: None,
                }),
                Some(_) => {}
            }
        }
    }

    /// The fields of segment `name`'s definition, placed at `span` and
    /// attributed to `top`; each segment is walked once per statement (a
    /// snapshot may name itself).
    fn segment(&mut self, name: &str, span: Span, top: &str, seen: &mut HashSet<String>) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        let Some((table, Some(text))) = self.catalog.segment_source(name) else {
            return;
        };
        // A stored definition parsed when it was made; one that no longer
        // parses has no fields to report (using it fails to bind).
        let Ok(expr) = crate::parse::parse_expr(&text) else {
            return;
        };
        self.expr_in(&table, &expr, Some((span, top)), seen);
    }

    /// The tag `name` names over `table`, if it is no field of the table.
    fn tag_of(&self, table: &str, name: &str) -> Option<crate::bind::TagRef> {
        let schema = self.catalog.schema(table)?;
        if schema.field(name).is_some() {
            return None;
        }
        self.catalog.tag(name).filter(|t| t.table == table)
    }

    /// The fields of tag `name`'s definition, placed at `span` and
    /// attributed to `top` (as a segment's are); each tag is walked once
    /// per statement.
    fn tag(
        &mut self,
        name: &str,
        tag: &crate::bind::TagRef,
        span: Span,
        top: &str,
        seen: &mut HashSet<String>,
    ) {
        if !seen.insert(format!("tag {name}")) {
            return;
        }
        let Ok(def) = crate::parse::parse_tag_definition(&tag.text) else {
            return;
        };
        for cond in def.conditions() {
            self.expr_in(&tag.table, cond, Some((span, top)), seen);
        }
    }

    /// The fields campaign `name` reads, placed at `span`.
    fn campaign(&mut self, name: &str, span: Span) {
        if let Some(r) = self.catalog.campaign(name) {
            for field in r.fields {
                self.uses.push(FieldUse {
                    table: r.table.clone(),
                    field,
                    span,
                    segment: None,
                    campaign: Some(name.to_owned()),
                });
            }
        }
    }

    /// The segments a CALL names in arguments of type SEGMENT.
    fn call(&mut self, call: &ast::Call) {
        let Some(sig) = self.catalog.procedure(&call.name.name) else {
            return;
        };
        let mut positional = 0;
        for arg in &call.args {
            let param = match &arg.name {
                Some(n) => sig.params.iter().find(|p| p.name == n.name),
                None => {
                    positional += 1;
                    sig.params.get(positional - 1)
                }
            };
            if let (Some(p), Value::Str(name)) = (param, &arg.value.value) {
                if p.ty == ParamType::Segment {
                    self.segment(name, arg.value.span, name, &mut HashSet::new());
                }
                if p.ty == ParamType::Campaign {
                    self.campaign(name, arg.value.span);
                }
            }
        }
    }
}
