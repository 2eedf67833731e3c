//! [`ClearSpans`]: spans set to zero, so that trees parsed from different
//! texts compare equal (the print/parse round trip).

use super::*;

/// Resetting every span to `0..0`, to compare trees by what they say
/// rather than where (e.g. `parse(print(ast)) == ast`).
pub trait ClearSpans {
    /// Sets every span in `self` to `Span::default()`.
    fn clear_spans(&mut self);
}

impl ClearSpans for Span {
    fn clear_spans(&mut self) {
        *self = Span::default();
    }
}

impl ClearSpans for Ident {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl ClearSpans for Literal {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl ClearSpans for IntLit {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl ClearSpans for NumLit {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl ClearSpans for InsightClauses {
    fn clear_spans(&mut self) {
        self.top.clear_spans();
        self.width.clear_spans();
        self.as_of.clear_spans();
    }
}

impl ClearSpans for DateLit {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl<T: ClearSpans> ClearSpans for Vec<T> {
    fn clear_spans(&mut self) {
        self.iter_mut().for_each(ClearSpans::clear_spans);
    }
}

impl<T: ClearSpans> ClearSpans for Option<T> {
    fn clear_spans(&mut self) {
        if let Some(x) = self {
            x.clear_spans();
        }
    }
}

impl ClearSpans for Window {
    fn clear_spans(&mut self) {
        match self {
            Window::Last { days, span } => {
                days.clear_spans();
                span.clear_spans();
            }
            Window::Range { first, last } => {
                first.clear_spans();
                last.clear_spans();
            }
        }
    }
}

impl ClearSpans for Expr {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
        match &mut self.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => xs.clear_spans(),
            ExprKind::Not(x) => x.clear_spans(),
            ExprKind::Predicate(p) => p.clear_spans(),
        }
    }
}

impl ClearSpans for Predicate {
    fn clear_spans(&mut self) {
        match self {
            Predicate::Field(field) | Predicate::IsNull { field, .. } => field.clear_spans(),
            Predicate::InSegment(name) => name.clear_spans(),
            Predicate::Campaign(c) => {
                c.campaign.clear_spans();
                if let Some(v) = &mut c.variant {
                    v.clear_spans();
                }
                if let Some(r) = &mut c.run {
                    r.clear_spans();
                }
            }
            Predicate::Compare {
                field,
                op_span,
                value,
                ..
            } => {
                field.clear_spans();
                op_span.clear_spans();
                value.clear_spans();
            }
            Predicate::Between { field, lo, hi } => {
                field.clear_spans();
                lo.clear_spans();
                hi.clear_spans();
            }
            Predicate::Has { field, value } => {
                field.clear_spans();
                value.clear_spans();
            }
            Predicate::In { field, values, .. }
            | Predicate::HasAny { field, values }
            | Predicate::HasAll { field, values } => {
                field.clear_spans();
                values.clear_spans();
            }
            Predicate::EventCount {
                event,
                window,
                op_span,
                n,
                ..
            } => {
                event.clear_spans();
                window.clear_spans();
                op_span.clear_spans();
                n.clear_spans();
            }
            Predicate::EventBetween {
                event,
                window,
                lo,
                hi,
            } => {
                event.clear_spans();
                window.clear_spans();
                lo.clear_spans();
                hi.clear_spans();
            }
            Predicate::Did { event, window } => {
                event.clear_spans();
                window.clear_spans();
            }
        }
    }
}

impl ClearSpans for SelectItem {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
        match &mut self.kind {
            SelectItemKind::CountStar => {}
            SelectItemKind::Aggregate { field, .. } | SelectItemKind::Field(field) => {
                field.clear_spans()
            }
            SelectItemKind::Quantile { field, q } => {
                field.clear_spans();
                q.clear_spans();
            }
        }
    }
}

impl ClearSpans for OrderBy {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl ClearSpans for Limit {
    fn clear_spans(&mut self) {
        self.limit.clear_spans();
        self.offset.clear_spans();
    }
}

impl ClearSpans for FieldDecl {
    fn clear_spans(&mut self) {
        self.name.clear_spans();
        self.closed.clear_spans();
        self.sensitive.clear_spans();
        self.category.clear_spans();
        self.span.clear_spans();
    }
}

impl ClearSpans for Select {
    fn clear_spans(&mut self) {
        self.items.clear_spans();
        self.table.clear_spans();
        self.filter.clear_spans();
        self.group_by.clear_spans();
        self.order_by.clear_spans();
        self.limit.clear_spans();
        self.as_of.clear_spans();
    }
}

impl ClearSpans for Statement {
    /// Clears the spans; the source text is kept.
    fn clear_spans(&mut self) {
        self.span.clear_spans();
        match &mut self.kind {
            StatementKind::Select(s) | StatementKind::Explain(s) => s.clear_spans(),
            StatementKind::CreateTable(c) => {
                c.name.clear_spans();
                c.fields.clear_spans();
            }
            StatementKind::AlterField(a) => {
                a.table.clear_spans();
                a.field.clear_spans();
                for (_, v) in &mut a.set {
                    v.clear_spans();
                }
            }
            StatementKind::AlterTable(a) => {
                a.table.clear_spans();
                a.field.clear_spans();
            }
            StatementKind::DropTable(name)
            | StatementKind::ShowFields(name)
            | StatementKind::DropSegment(name)
            | StatementKind::DropTag(name)
            | StatementKind::DropCampaign(name) => name.clear_spans(),
            StatementKind::CreateTag(c) => {
                c.name.clear_spans();
                c.table.clear_spans();
                match &mut c.def {
                    super::TagDef::Bool(e) => e.clear_spans(),
                    super::TagDef::Case(case) => {
                        case.span.clear_spans();
                        for (cond, value) in &mut case.whens {
                            cond.clear_spans();
                            value.clear_spans();
                        }
                        case.otherwise.clear_spans();
                    }
                }
            }
            StatementKind::CreateCampaign(c) => c.clear_spans(),
            StatementKind::ShowTables
            | StatementKind::ShowSegments
            | StatementKind::ShowTags
            | StatementKind::ShowCampaigns => {}
            StatementKind::CreateSegment(c) => {
                c.name.clear_spans();
                c.table.clear_spans();
                c.filter.clear_spans();
            }
            StatementKind::Insight(i) => {
                i.fields.clear_spans();
                i.table.clear_spans();
                i.filter.clear_spans();
                i.clauses.clear_spans();
            }
            StatementKind::Compare(c) => {
                c.fields.clear_spans();
                c.table.clear_spans();
                c.a.clear_spans();
                c.b.clear_spans();
                c.clauses.clear_spans();
            }
            StatementKind::Call(c) => {
                c.name.clear_spans();
                c.args_span.clear_spans();
                for a in &mut c.args {
                    a.name.clear_spans();
                    a.value.clear_spans();
                }
            }
        }
    }
}

impl ClearSpans for StrLit {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl ClearSpans for Settings {
    fn clear_spans(&mut self) {
        self.kind.clear_spans();
        for s in &mut self.settings {
            s.name.clear_spans();
            match &mut s.value {
                SettingValue::Literal(l) => l.clear_spans(),
                SettingValue::Number(n) => n.clear_spans(),
            }
        }
    }
}

impl ClearSpans for CreateCampaign {
    fn clear_spans(&mut self) {
        self.name.clear_spans();
        self.table.clear_spans();
        match &mut self.audience {
            CampaignAudience::Where(e) => e.clear_spans(),
            CampaignAudience::Segment(s) => s.clear_spans(),
        }
        self.channel.clear_spans();
        for v in &mut self.variants {
            v.name.clear_spans();
            v.weight.clear_spans();
            v.template.clear_spans();
        }
        self.holdout.clear_spans();
        self.split.clear_spans();
        if let Some(cap) = &mut self.cap {
            cap.max.clear_spans();
            cap.days.clear_spans();
        }
        self.priority.clear_spans();
        if let Some((_, span)) = &mut self.kind {
            span.clear_spans();
        }
        match &mut self.schedule {
            ScheduleClause::Now(s) => s.clear_spans(),
            ScheduleClause::At(t) | ScheduleClause::Daily(t) => t.clear_spans(),
            ScheduleClause::OnEvent(t) => {
                t.event.clear_spans();
                if let Some((b, d)) = &mut t.and_not {
                    b.clear_spans();
                    d.n.clear_spans();
                    d.span.clear_spans();
                }
                if let Some(d) = &mut t.reentry {
                    d.n.clear_spans();
                    d.span.clear_spans();
                }
                if let Some(e) = &mut t.condition {
                    e.clear_spans();
                }
            }
        }
        self.approval_required.clear_spans();
        self.rate.clear_spans();
        self.allow_sensitive.clear_spans();
        if let Some(g) = &mut self.goal {
            g.event.clear_spans();
            g.days.clear_spans();
            g.span.clear_spans();
        }
    }
}
