//! Syntax tree -> text: `Display` for the AST prints valid segdb text in a
//! canonical form (keywords in capitals, one space between tokens, the
//! fewest parentheses), such that `parse(print(ast)) == ast` up to spans.
//! `And` and `Or` need two operands or more to print back to themselves.

use std::fmt::{self, Display, Formatter};

use crate::ast::{
    AlterField, AlterTable, Arg, Call, Compare, CreateSegment, CreateTable, DateLit, Expr,
    ExprKind, FieldDecl, Ident, Insight, InsightClauses, IntLit, Literal, NumLit, Predicate,
    Select, SelectItem, SelectItemKind, SortOrder, Statement, StatementKind, Value, Window,
};
use crate::parse::is_reserved;

mod campaign;

/// Writes `text` in single quotes, doubling the quotes inside.
pub(crate) fn write_quoted(f: &mut Formatter<'_>, text: &str, quote: char) -> fmt::Result {
    let doubled: String = [quote, quote].iter().collect();
    write!(f, "{quote}{}{quote}", text.replace(quote, &doubled))
}

/// Writes a name as the language reads it: bare if it is a plain word and
/// not reserved, else in double quotes.
pub(crate) fn write_name(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_reserved(name);
    if plain {
        f.write_str(name)
    } else {
        write_quoted(f, name, '"')
    }
}

/// Writes a parameter's name: before `=>` a plain word needs no quotes,
/// even a reserved one (`limit => 10`).
pub(crate) fn write_param_name(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        f.write_str(name)
    } else {
        write_quoted(f, name, '"')
    }
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_name(f, &self.name)
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_quoted(f, s, '\''),
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl Display for IntLit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

impl Display for NumLit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Display for DateLit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_quoted(f, &self.text, '\'')
    }
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last { days, .. } if days.value == 1 => write!(f, "last 1 day"),
            Window::Last { days, .. } => write!(f, "last {days} days"),
            Window::Range { first, last } => write!(f, "{first}..{last}"),
        }
    }
}

/// Binding strength: OR 1, AND 2, NOT 3, a predicate 4.
fn precedence(expr: &Expr) -> u8 {
    match expr.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Not(_) => 3,
        _ => 4,
    }
}

/// Writes `expr`, in parentheses if it binds less tightly than `min`.
fn write_operand(f: &mut Formatter<'_>, expr: &Expr, min: u8) -> fmt::Result {
    if precedence(expr) < min {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_values(f: &mut Formatter<'_>, values: &[Literal]) -> fmt::Result {
    f.write_str("(")?;
    write_list(f, values, ", ")?;
    f.write_str(")")
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let (sep, min) = match self.kind {
                    ExprKind::And(_) => (" AND ", 3),
                    _ => (" OR ", 2),
                };
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write_operand(f, x, min)?;
                }
                Ok(())
            }
            ExprKind::Not(x) => {
                f.write_str("NOT ")?;
                write_operand(f, x, 3)
            }
            ExprKind::Predicate(p) => p.fmt(f),
        }
    }
}

impl Display for Predicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Field(field) => write!(f, "{field}"),
            Predicate::Compare {
                field, op, value, ..
            } => write!(f, "{field} {} {value}", op.as_str()),
            Predicate::Between { field, lo, hi } => write!(f, "{field} BETWEEN {lo} AND {hi}"),
            Predicate::In {
                field,
                negated,
                values,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{field} {not}IN ")?;
                write_values(f, values)
            }
            Predicate::Has { field, value } => write!(f, "{field} HAS {value}"),
            Predicate::HasAny { field, values } => {
                write!(f, "{field} HAS ANY ")?;
                write_values(f, values)
            }
            Predicate::HasAll { field, values } => {
                write!(f, "{field} HAS ALL ")?;
                write_values(f, values)
            }
            Predicate::IsNull { field, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{field} IS {not}NULL")
            }
            Predicate::EventCount {
                event,
                window,
                op,
                n,
                ..
            } => write!(f, "count({event}, {window}) {} {n}", op.as_str()),
            Predicate::EventBetween {
                event,
                window,
                lo,
                hi,
            } => write!(f, "count({event}, {window}) BETWEEN {lo} AND {hi}"),
            Predicate::Did { event, window } => write!(f, "did({event}, {window})"),
            Predicate::InSegment(name) => write!(f, "IN SEGMENT {name}"),
            Predicate::Campaign(c) => {
                write!(f, "{}({}", c.group.function(), c.campaign)?;
                if let Some(v) = &c.variant {
                    write!(f, ", {v}")?;
                }
                if let Some(r) = &c.run {
                    write!(f, ", run => {r}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SelectItemKind::CountStar => f.write_str("COUNT(*)"),
            SelectItemKind::Aggregate { func, field } => write!(f, "{}({field})", func.as_str()),
            SelectItemKind::Quantile { field, q } => write!(f, "QUANTILE({field}, {q})"),
            SelectItemKind::Field(field) => write!(f, "{field}"),
        }
    }
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        write_list(f, &self.items, ", ")?;
        write!(f, " FROM {}", self.table)?;
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        if let Some(field) = &self.group_by {
            write!(f, " GROUP BY {field}")?;
        }
        if let Some(order_by) = &self.order_by {
            let order = match order_by.order {
                SortOrder::Asc => "ASC",
                SortOrder::Desc => "DESC",
            };
            write!(f, " ORDER BY COUNT(*) {order}")?;
        }
        if let Some(limit) = &self.limit {
            write!(f, " LIMIT {}", limit.limit)?;
            if let Some(offset) = &limit.offset {
                write!(f, " OFFSET {offset}")?;
            }
        }
        if let Some(day) = &self.as_of {
            write!(f, " AS OF {day}")?;
        }
        Ok(())
    }
}

impl Display for FieldDecl {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.kind.as_str())?;
        if self.closed.is_some() {
            f.write_str(" CLOSED")?;
        }
        if self.sensitive.is_some() {
            f.write_str(" SENSITIVE")?;
        }
        if let Some(category) = &self.category {
            write!(f, " CATEGORY {category}")?;
        }
        Ok(())
    }
}

impl Display for CreateTable {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE TABLE {} (", self.name)?;
        write_list(f, &self.fields, ", ")?;
        f.write_str(")")
    }
}

impl Display for AlterTable {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER TABLE {} ADD {}", self.table, self.field)
    }
}

impl Display for AlterField {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER TABLE {} ALTER FIELD {} SET",
            self.table, self.field
        )?;
        for (item, value) in &self.set {
            write!(f, " {} {value}", item.keyword())?;
        }
        Ok(())
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StatementKind::AlterField(alter) => alter.fmt(f),
            StatementKind::Select(select) => select.fmt(f),
            StatementKind::CreateTable(create) => create.fmt(f),
            StatementKind::AlterTable(alter) => alter.fmt(f),
            StatementKind::DropTable(name) => write!(f, "DROP TABLE {name}"),
            StatementKind::ShowTables => f.write_str("SHOW TABLES"),
            StatementKind::ShowFields(name) => write!(f, "SHOW FIELDS FROM {name}"),
            StatementKind::Explain(select) => write!(f, "EXPLAIN {select}"),
            StatementKind::CreateSegment(create) => create.fmt(f),
            StatementKind::DropSegment(name) => write!(f, "DROP SEGMENT {name}"),
            StatementKind::ShowSegments => f.write_str("SHOW SEGMENTS"),
            StatementKind::ShowCampaigns => f.write_str("SHOW CAMPAIGNS"),
            StatementKind::CreateTag(create) => create.fmt(f),
            StatementKind::DropTag(name) => write!(f, "DROP TAG {name}"),
            StatementKind::ShowTags => f.write_str("SHOW TAGS"),
            StatementKind::CreateCampaign(create) => create.fmt(f),
            StatementKind::DropCampaign(name) => write!(f, "DROP CAMPAIGN {name}"),
            StatementKind::Call(call) => call.fmt(f),
            StatementKind::Insight(insight) => insight.fmt(f),
            StatementKind::Compare(compare) => compare.fmt(f),
        }
    }
}

impl Display for crate::ast::CreateTag {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let replace = if self.or_replace { " OR REPLACE" } else { "" };
        write!(
            f,
            "CREATE{replace} TAG {} ON {} AS {}",
            self.name, self.table, self.def
        )
    }
}

impl Display for crate::ast::TagDef {
    /// The canonical text a tag's definition is stored as.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            crate::ast::TagDef::Bool(e) => e.fmt(f),
            crate::ast::TagDef::Case(c) => {
                f.write_str("CASE")?;
                for (cond, value) in &c.whens {
                    write!(f, " WHEN {cond} THEN {value}")?;
                }
                if let Some(value) = &c.otherwise {
                    write!(f, " ELSE {value}")?;
                }
                f.write_str(" END")
            }
        }
    }
}

impl Display for CreateSegment {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let replace = if self.or_replace { " OR REPLACE" } else { "" };
        let snapshot = if self.snapshot { " SNAPSHOT" } else { "" };
        write!(
            f,
            "CREATE{replace} SEGMENT {}{snapshot} AS SELECT FROM {} WHERE {}",
            self.name, self.table, self.filter
        )
    }
}

/// ` a, b FROM t` or ` FROM t` (no list: every field).
fn write_fields_from(f: &mut Formatter<'_>, fields: &[Ident], table: &Ident) -> fmt::Result {
    if !fields.is_empty() {
        f.write_str(" ")?;
        write_list(f, fields, ", ")?;
    }
    write!(f, " FROM {table}")
}

impl Display for InsightClauses {
    /// ` TOP k WIDTH w AS OF 'date'`, each when given.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(top) = &self.top {
            write!(f, " TOP {top}")?;
        }
        if let Some(width) = &self.width {
            write!(f, " WIDTH {width}")?;
        }
        if let Some(day) = &self.as_of {
            write!(f, " AS OF {day}")?;
        }
        Ok(())
    }
}

impl Display for Insight {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("INSIGHT")?;
        write_fields_from(f, &self.fields, &self.table)?;
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        self.clauses.fmt(f)
    }
}

impl Display for Compare {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("COMPARE")?;
        write_fields_from(f, &self.fields, &self.table)?;
        write!(f, " WHERE {} VERSUS {}{}", self.a, self.b, self.clauses)
    }
}

impl Display for Arg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            write_param_name(f, &name.name)?;
            f.write_str(" => ")?;
        }
        write!(f, "{}", self.value)
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "CALL {}(", self.name)?;
        write_list(f, &self.args, ", ")?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::ClearSpans;
    use crate::parse::{parse, parse_expr};

    fn canonical(text: &str) -> String {
        parse_expr(text).unwrap().to_string()
    }

    #[test]
    fn parentheses_only_where_needed() {
        assert_eq!(canonical("a AND (b OR c)"), "a AND (b OR c)");
        assert_eq!(canonical("(a AND b) OR c"), "a AND b OR c");
        assert_eq!(canonical("a AND (b AND c)"), "a AND (b AND c)");
        assert_eq!(canonical("NOT (a OR b)"), "NOT (a OR b)");
        assert_eq!(canonical("NOT NOT a"), "NOT NOT a");
        assert_eq!(canonical("NOT IN SEGMENT s"), "NOT IN SEGMENT s");
    }

    #[test]
    fn names_and_strings_are_quoted_when_needed() {
        assert_eq!(
            canonical(r#""select" = 'it''s' AND "a b" IN (-1, true)"#),
            r#""select" = 'it''s' AND "a b" IN (-1, true)"#
        );
        assert_eq!(
            canonical("count(e, last 1 days) >= 2"),
            "count(e, last 1 day) >= 2"
        );
    }

    #[test]
    fn statements_round_trip() {
        let text = "select city, count(*) from users where is_owner group by city \
                    order by count(*) desc limit 10 offset 5 as of '2026-11-22';\
                    create table t (a ENUM, \"b c\" TEXT SENSITIVE)";
        let mut first = parse(text).unwrap();
        let printed: Vec<String> = first.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            printed,
            [
                "SELECT city, COUNT(*) FROM users WHERE is_owner GROUP BY city \
                 ORDER BY COUNT(*) DESC LIMIT 10 OFFSET 5 AS OF '2026-11-22'",
                "CREATE TABLE t (a ENUM, \"b c\" TEXT SENSITIVE)"
            ]
        );
        let mut again = parse(&printed.join(";")).unwrap();
        first.iter_mut().for_each(ClearSpans::clear_spans);
        again.iter_mut().for_each(ClearSpans::clear_spans);
        let kinds =
            |v: &Vec<crate::ast::Statement>| v.iter().map(|s| s.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&first), kinds(&again));
    }
}
