//! Bound statements -> a compact S-expression, for EXPLAIN and golden
//! tests: `(AND (= city 'c000') (count search 2026-11-16..2026-11-22 > 3))`.

use std::fmt::{self, Display, Formatter};

use segdb_engine::date::format_iso_day;
use segdb_engine::{DayRange, Expr, FieldDef};

use crate::ast::SortOrder;
use crate::bind::{
    Aggregate, BoundCompare, BoundInsight, BoundSegment, BoundSelect, InsightSpec, Projection,
    Statement,
};
use crate::print::{write_name, write_param_name};

/// Shows an engine [`Expr`] as an S-expression.
///
/// `(AND …)`, `(OR …)`, `(NOT x)`, `ALL`, `NOTHING`; `(= f 'v')` for a
/// value, `(IN f 'a' 'b')`, `(HAS-ALL f …)`, `(NONE-OF f …)`,
/// `(NOT-NULL f)`, `(= flag true)`, `(> age 30)`, `(BETWEEN age 25 35)`,
/// `(count e 2026-11-16..2026-11-22 > 3)`, `(ROWS 1 2)`, `(SNAPSHOT s)`.
#[derive(Debug, Clone, Copy)]
pub struct ExplainExpr<'a>(pub &'a Expr);

fn write_values(f: &mut Formatter<'_>, head: &str, field: &str, values: &[String]) -> fmt::Result {
    write!(f, "({head} ")?;
    write_name(f, field)?;
    for v in values {
        write!(f, " '{}'", v.replace('\'', "''"))?;
    }
    f.write_str(")")
}

fn write_days(f: &mut Formatter<'_>, days: &DayRange) -> fmt::Result {
    write!(
        f,
        "{}..{}",
        format_iso_day(days.first),
        format_iso_day(days.last)
    )
}

impl Display for ExplainExpr<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Expr::All => f.write_str("ALL"),
            Expr::Nothing => f.write_str("NOTHING"),
            Expr::And(xs) | Expr::Or(xs) => {
                let head = if matches!(self.0, Expr::And(_)) {
                    "AND"
                } else {
                    "OR"
                };
                write!(f, "({head}")?;
                for x in xs {
                    write!(f, " {}", ExplainExpr(x))?;
                }
                f.write_str(")")
            }
            Expr::Not(x) => write!(f, "(NOT {})", ExplainExpr(x)),
            Expr::Value { field, value } => {
                write_values(f, "=", field, std::slice::from_ref(value))
            }
            Expr::AnyValue { field, values } => write_values(f, "IN", field, values),
            Expr::AllValues { field, values } => write_values(f, "HAS-ALL", field, values),
            Expr::NoneOfValues { field, values } => write_values(f, "NONE-OF", field, values),
            Expr::NotNull { field } => {
                f.write_str("(NOT-NULL ")?;
                write_name(f, field)?;
                f.write_str(")")
            }
            Expr::Bool { field, value } => {
                f.write_str("(= ")?;
                write_name(f, field)?;
                write!(f, " {value})")
            }
            Expr::IntCmp { field, op, value } => {
                write!(f, "({} ", op.as_str())?;
                write_name(f, field)?;
                write!(f, " {value})")
            }
            Expr::IntBetween { field, lo, hi } => {
                f.write_str("(BETWEEN ")?;
                write_name(f, field)?;
                write!(f, " {lo} {hi})")
            }
            Expr::EventCount { field, days, op, n } => {
                f.write_str("(count ")?;
                write_name(f, field)?;
                f.write_str(" ")?;
                write_days(f, days)?;
                write!(f, " {} {n})", op.as_str())
            }
            Expr::EventBetween {
                field,
                days,
                lo,
                hi,
            } => {
                f.write_str("(count ")?;
                write_name(f, field)?;
                f.write_str(" ")?;
                write_days(f, days)?;
                write!(f, " BETWEEN {lo} {hi})")
            }
            Expr::Snapshot(rows) => {
                f.write_str("(SNAPSHOT ")?;
                write_name(f, rows.name())?;
                f.write_str(")")
            }
            // Shown as what it caches: the cache changes no answer.
            Expr::Cached(inner) => write!(f, "{}", ExplainExpr(inner)),
            Expr::Evaluated(e) => write!(f, "(EVALUATED {})", e.len()),
            Expr::RowSet(set) => {
                f.write_str("(SET ")?;
                write_name(f, set.label())?;
                write!(f, " {})", set.len())
            }
            Expr::Rows(rows) => {
                f.write_str("(ROWS")?;
                for r in rows {
                    write!(f, " {r}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// An aggregate in the compact form: `SUM(age)`, `QUANTILE(age, 0.9)`.
struct ExplainAggregate<'a>(&'a Aggregate);

impl Display for ExplainAggregate<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (func, field) = match self.0 {
            Aggregate::Count => return f.write_str("COUNT(*)"),
            Aggregate::Sum(field) => ("SUM", field),
            Aggregate::Avg(field) => ("AVG", field),
            Aggregate::Min(field) => ("MIN", field),
            Aggregate::Max(field) => ("MAX", field),
            Aggregate::Quantile(field, q) => {
                f.write_str("QUANTILE(")?;
                write_name(f, field)?;
                return write!(f, ", {q})");
            }
        };
        write!(f, "{func}(")?;
        write_name(f, field)?;
        f.write_str(")")
    }
}

fn write_limit(f: &mut Formatter<'_>, limit: Option<u64>, offset: u64) -> fmt::Result {
    if let Some(limit) = limit {
        write!(f, " limit {limit}")?;
    }
    if offset > 0 {
        write!(f, " offset {offset}")?;
    }
    Ok(())
}

impl Display for Projection {
    /// `count`, `(ids limit 10 offset 5)`, `(aggregates COUNT(*) SUM(income))`,
    /// `(group-by city desc limit 10)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Projection::Count => f.write_str("count"),
            Projection::Ids { limit, offset } => {
                f.write_str("(ids")?;
                write_limit(f, *limit, *offset)?;
                f.write_str(")")
            }
            Projection::Aggregates(aggregates) => {
                f.write_str("(aggregates")?;
                for a in aggregates {
                    write!(f, " {}", ExplainAggregate(a))?;
                }
                f.write_str(")")
            }
            Projection::GroupByTag {
                tag,
                groups,
                order,
                limit,
                offset,
            } => {
                f.write_str("(group-by-tag ")?;
                write_name(f, tag)?;
                for (value, rows) in groups {
                    write!(
                        f,
                        " ('{}' {})",
                        value.replace('\'', "''"),
                        ExplainExpr(rows)
                    )?;
                }
                match order {
                    Some(SortOrder::Asc) => f.write_str(" asc")?,
                    Some(SortOrder::Desc) => f.write_str(" desc")?,
                    None => {}
                }
                write_limit(f, *limit, *offset)?;
                f.write_str(")")
            }
            Projection::GroupBy {
                field,
                order,
                limit,
                offset,
            } => {
                f.write_str("(group-by ")?;
                write_name(f, field)?;
                match order {
                    Some(SortOrder::Asc) => f.write_str(" asc")?,
                    Some(SortOrder::Desc) => f.write_str(" desc")?,
                    None => {}
                }
                write_limit(f, *limit, *offset)?;
                f.write_str(")")
            }
        }
    }
}

impl Display for BoundSelect {
    /// `(select users 2026-11-22 count (= city 'c000'))`: table, day,
    /// projection, filter.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("(select ")?;
        write_name(f, &self.table)?;
        write!(
            f,
            " {} {} {})",
            format_iso_day(self.as_of),
            self.projection,
            ExplainExpr(&self.filter)
        )
    }
}

impl Display for BoundSegment {
    /// `(create-segment bj users dynamic (uses a b) (= city 'c000'))`:
    /// `create-or-replace-segment` with OR REPLACE, `snapshot` for a
    /// snapshot (then with its day), the segments the text names, the
    /// bound expression.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let head = if self.replace {
            "(create-or-replace-segment "
        } else {
            "(create-segment "
        };
        f.write_str(head)?;
        write_name(f, &self.name)?;
        f.write_str(" ")?;
        write_name(f, &self.table)?;
        if self.snapshot {
            write!(f, " snapshot {}", format_iso_day(self.as_of))?;
        } else {
            f.write_str(" dynamic")?;
        }
        if !self.uses.is_empty() {
            f.write_str(" (uses")?;
            for u in &self.uses {
                f.write_str(" ")?;
                write_name(f, u)?;
            }
            f.write_str(")")?;
        }
        write!(f, " {})", ExplainExpr(&self.filter))
    }
}

impl Display for InsightSpec {
    /// `users 2026-11-22 (fields a b) (tag b ('v' …) …) (top 5) (width 10) (window 2026-10-24 2026-11-22)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_name(f, &self.table)?;
        write!(f, " {} (fields", format_iso_day(self.as_of))?;
        for field in &self.fields {
            f.write_str(" ")?;
            write_name(f, field)?;
        }
        f.write_str(")")?;
        for tag in &self.tags {
            f.write_str(" (tag ")?;
            write_name(f, &tag.name)?;
            for (value, rows) in &tag.values {
                write!(
                    f,
                    " ('{}' {})",
                    value.replace('\'', "''"),
                    ExplainExpr(rows)
                )?;
            }
            f.write_str(")")?;
        }
        if let Some(top) = self.top {
            write!(f, " (top {top})")?;
        }
        if let Some(width) = self.bucket_width {
            write!(f, " (width {width})")?;
        }
        write!(
            f,
            " (window {} {})",
            format_iso_day(self.window.first),
            format_iso_day(self.window.last)
        )
    }
}

impl Display for BoundInsight {
    /// `(insight users 2026-11-22 (fields …) … (= city 'c000'))`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "(insight {} {})", self.spec, ExplainExpr(&self.filter))
    }
}

impl Display for BoundCompare {
    /// `(compare users 2026-11-22 (fields …) … a b)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(compare {} {} {})",
            self.spec,
            ExplainExpr(&self.a),
            ExplainExpr(&self.b)
        )
    }
}

fn write_field(f: &mut Formatter<'_>, field: &FieldDef) -> fmt::Result {
    f.write_str("(")?;
    write_name(f, &field.name)?;
    write!(f, " {}", field.kind.as_str())?;
    if field.closed {
        f.write_str(" CLOSED")?;
    }
    if field.sensitive {
        f.write_str(" SENSITIVE")?;
    }
    if let Some(category) = &field.category {
        f.write_str(" CATEGORY ")?;
        write_name(f, category)?;
    }
    f.write_str(")")
}

impl Display for Statement {
    /// A select as [`BoundSelect`] shows it; the others as
    /// `(create-table t (a ENUM) (b TEXT SENSITIVE))`,
    /// `(alter-table-add t (c INT))`, `(drop-table t)`, `(show-tables)`,
    /// `(show-fields t)`, `(explain (select …))`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(select) => select.fmt(f),
            Statement::Insight(insight) => insight.fmt(f),
            Statement::Compare(compare) => compare.fmt(f),
            Statement::CreateTable { name, schema } => {
                f.write_str("(create-table ")?;
                write_name(f, name)?;
                for field in &schema.fields {
                    f.write_str(" ")?;
                    write_field(f, field)?;
                }
                f.write_str(")")
            }
            Statement::AlterTableAdd { table, field } => {
                f.write_str("(alter-table-add ")?;
                write_name(f, table)?;
                f.write_str(" ")?;
                write_field(f, field)?;
                f.write_str(")")
            }
            Statement::AlterField {
                table,
                field,
                change,
            } => {
                f.write_str("(alter-field ")?;
                write_name(f, table)?;
                f.write_str(" ")?;
                write_name(f, field)?;
                let texts = [
                    ("description", &change.description),
                    ("category", &change.category),
                    ("owner", &change.owner),
                ];
                for (name, v) in texts {
                    if let Some(v) = v {
                        write!(f, " ({name} ")?;
                        crate::print::write_quoted(f, v, '\'')?;
                        f.write_str(")")?;
                    }
                }
                if let Some(s) = change.source {
                    write!(f, " (source {})", s.as_str())?;
                }
                f.write_str(")")
            }
            Statement::DropTable { name } => {
                f.write_str("(drop-table ")?;
                write_name(f, name)?;
                f.write_str(")")
            }
            Statement::ShowTables => f.write_str("(show-tables)"),
            Statement::ShowFields { table } => {
                f.write_str("(show-fields ")?;
                write_name(f, table)?;
                f.write_str(")")
            }
            Statement::Explain(select) => write!(f, "(explain {select})"),
            Statement::CreateSegment(seg) => seg.fmt(f),
            Statement::DropSegment { name } => {
                f.write_str("(drop-segment ")?;
                write_name(f, name)?;
                f.write_str(")")
            }
            Statement::ShowSegments => f.write_str("(show-segments)"),
            Statement::ShowCampaigns => f.write_str("(show-campaigns)"),
            Statement::ShowTags => f.write_str("(show-tags)"),
            Statement::DropTag { name } => {
                f.write_str("(drop-tag ")?;
                write_name(f, name)?;
                f.write_str(")")
            }
            Statement::CreateTag(tag) => {
                let head = if tag.replace {
                    "(create-or-replace-tag "
                } else {
                    "(create-tag "
                };
                f.write_str(head)?;
                write_name(f, &tag.name)?;
                f.write_str(" ")?;
                write_name(f, &tag.table)?;
                match &tag.values {
                    None => f.write_str(" BOOL")?,
                    Some(values) => {
                        f.write_str(" (values")?;
                        for v in values {
                            write!(f, " '{}'", v.replace('\'', "''"))?;
                        }
                        f.write_str(")")?;
                    }
                }
                if !tag.uses.is_empty() {
                    f.write_str(" (uses")?;
                    for u in &tag.uses {
                        f.write_str(" ")?;
                        write_name(f, u)?;
                    }
                    f.write_str(")")?;
                }
                f.write_str(")")
            }
            Statement::CreateCampaign(c) => {
                f.write_str("(create-campaign ")?;
                write_name(f, &c.stmt.name.name)?;
                f.write_str(" ")?;
                write_name(f, &c.stmt.table.name)?;
                write!(
                    f,
                    " {} variants {})",
                    c.stmt.variants.len(),
                    ExplainExpr(&c.audience)
                )
            }
            Statement::DropCampaign { name } => {
                f.write_str("(drop-campaign ")?;
                write_name(f, name)?;
                f.write_str(")")
            }
            Statement::Call(call) => {
                f.write_str("(call ")?;
                write_name(f, &call.procedure)?;
                for (name, value) in &call.args {
                    f.write_str(" (")?;
                    write_param_name(f, name)?;
                    write!(f, " {value})")?;
                }
                f.write_str(")")
            }
        }
    }
}
