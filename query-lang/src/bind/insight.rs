//! INSIGHT and COMPARE bound to a table: the fields (none TEXT), TOP,
//! WIDTH, the day and the window of EVENT fields, the segments.

use std::collections::HashSet;

use segdb_engine::date::Day;
use segdb_engine::{DayRange, Expr, FieldKind, ID_COLUMN};

use super::filter::{FilterBinder, TagRows};
use super::tag::is_tag;
use super::{bind_day, table_schema, Catalog, TableScope};
use crate::ast::{self, Ident, InsightClauses};
use crate::error::{QueryError, Warning};

/// The days of the window of EVENT fields: the 30 days ending on the
/// statement's day.
pub const INSIGHT_WINDOW_DAYS: i32 = 30;

/// What INSIGHT and COMPARE report, and on what day.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightSpec {
    /// The table.
    pub table: String,
    /// The fields, in the order to report them: those named, or every
    /// ENUM, SET, BOOL and INT field of the table in schema order then
    /// every derived tag of the table that binds, by name (possibly none).
    /// None is TEXT. A name in `tags` is a derived tag, the others stored
    /// fields.
    pub fields: Vec<String>,
    /// The derived tags among `fields`, each bound on `as_of`.
    pub tags: Vec<TagField>,
    /// `TOP k`: values kept per ENUM, SET or BOOL field (k ≥ 1).
    pub top: Option<usize>,
    /// `WIDTH w`: histogram bucket width of INT fields (w ≥ 1); `None`:
    /// automatic.
    pub bucket_width: Option<i64>,
    /// The day it is evaluated on: its AS OF date, else today.
    pub as_of: Day,
    /// The window of EVENT fields: the 30 days ending on `as_of`.
    pub window: DayRange,
}

/// A derived tag in the field list of INSIGHT or COMPARE: its values
/// counted like an ENUM field's (a BOOL tag like a BOOL field).
#[derive(Debug, Clone, PartialEq)]
pub struct TagField {
    /// The tag's name.
    pub name: String,
    /// Whether it is a BOOL tag (values `true` and `false`).
    pub is_bool: bool,
    /// Each value and its rows, bound on the statement's day; the values
    /// are disjoint (a row has one value at most).
    pub values: Vec<(String, Expr)>,
}

/// A bound INSIGHT.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundInsight {
    /// What to report.
    pub spec: InsightSpec,
    /// The segment (`Expr::All` without WHERE).
    pub filter: Expr,
    /// Things that are allowed but likely mistakes.
    pub warnings: Vec<Warning>,
}

/// A bound COMPARE.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundCompare {
    /// What to report.
    pub spec: InsightSpec,
    /// Segment A (before VERSUS).
    pub a: Expr,
    /// Segment B (after VERSUS).
    pub b: Expr,
    /// Things that are allowed but likely mistakes.
    pub warnings: Vec<Warning>,
}

pub(super) fn bind_insight(
    insight: &ast::Insight,
    source: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<BoundInsight, QueryError> {
    let schema = table_schema(&insight.table, source, catalog)?;
    let scope = TableScope {
        catalog,
        table: &insight.table.name,
        schema,
        source,
    };
    let spec = bind_spec(&insight.fields, &insight.clauses, &scope, today)?;
    let mut binder = FilterBinder::new(&scope, spec.as_of);
    let filter = match &insight.filter {
        Some(expr) => binder.bind(expr)?,
        None => Expr::All,
    };
    Ok(BoundInsight {
        spec,
        filter,
        warnings: binder.into_warnings(),
    })
}

pub(super) fn bind_compare(
    compare: &ast::Compare,
    source: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<BoundCompare, QueryError> {
    let schema = table_schema(&compare.table, source, catalog)?;
    let scope = TableScope {
        catalog,
        table: &compare.table.name,
        schema,
        source,
    };
    let spec = bind_spec(&compare.fields, &compare.clauses, &scope, today)?;
    let mut binder = FilterBinder::new(&scope, spec.as_of);
    let a = binder.bind(&compare.a)?;
    let b = binder.bind(&compare.b)?;
    Ok(BoundCompare {
        spec,
        a,
        b,
        warnings: binder.into_warnings(),
    })
}

fn bind_spec(
    fields: &[Ident],
    clauses: &InsightClauses,
    scope: &TableScope<'_>,
    today: Day,
) -> Result<InsightSpec, QueryError> {
    let as_of = match &clauses.as_of {
        Some(date) => bind_day(date, scope.source)?,
        None => today,
    };
    let mut tags = Vec::new();
    let names = if fields.is_empty() {
        let mut names: Vec<String> = scope
            .schema
            .user_fields()
            .filter(|f| {
                matches!(
                    f.kind,
                    FieldKind::Enum | FieldKind::Set | FieldKind::Bool | FieldKind::Int
                )
            })
            .map(|f| f.name.clone())
            .collect();
        // Every field includes the derived tags: those of the table that
        // bind here (a limited key's catalog refuses a tag over a field it
        // may not use; a broken definition is left out, not an error).
        let mut tag_names = scope.catalog.tag_names();
        tag_names.sort();
        for name in tag_names {
            let ident = Ident {
                name,
                span: Default::default(),
            };
            if !is_tag(scope, &ident) {
                continue;
            }
            if let Ok(Some(tag)) = tag_field(&ident, scope, as_of) {
                names.push(tag.name.clone());
                tags.push(tag);
            }
        }
        names
    } else {
        let mut seen = HashSet::new();
        let mut names = Vec::with_capacity(fields.len());
        for ident in fields {
            if ident.name == ID_COLUMN {
                return Err(scope.id_column_error(ident, "INSIGHT or COMPARE"));
            }
            if !seen.insert(ident.name.as_str()) {
                return Err(scope
                    .type_error(format!("field `{}` is named twice", ident.name), ident.span)
                    .with_hint("name each field once"));
            }
            if let Some(tag) = tag_field(ident, scope, as_of)? {
                names.push(tag.name.clone());
                tags.push(tag);
                continue;
            }
            let def = scope
                .field(ident)
                .map_err(|e| with_tag_hint(e, ident, scope))?;
            if def.kind == FieldKind::Text {
                return Err(scope
                    .type_error(
                        format!(
                            "insight covers ENUM, SET, BOOL, INT and EVENT fields; `{}` is TEXT",
                            def.name
                        ),
                        ident.span,
                    )
                    .with_hint("a TEXT field has no values to count; leave it out"));
            }
            names.push(def.name.clone());
        }
        names
    };
    let top = match &clauses.top {
        Some(k) => Some(
            usize::try_from(k.value)
                .ok()
                .filter(|&k| k >= 1)
                .ok_or_else(|| {
                    scope
                        .type_error(
                            format!("TOP must be 1 or more, found `{}`", k.value),
                            k.span,
                        )
                        .with_hint("leave TOP out to keep every value")
                })?,
        ),
        None => None,
    };
    let bucket_width = match &clauses.width {
        Some(w) if w.value < 1 => {
            return Err(scope
                .type_error(
                    format!("WIDTH must be 1 or more, found `{}`", w.value),
                    w.span,
                )
                .with_hint("leave WIDTH out for automatic buckets"))
        }
        Some(w) => Some(w.value),
        None => None,
    };
    Ok(InsightSpec {
        table: scope.table.to_string(),
        fields: names,
        tags,
        top,
        bucket_width,
        as_of,
        window: DayRange {
            first: as_of.saturating_sub(INSIGHT_WINDOW_DAYS - 1),
            last: as_of,
        },
    })
}

/// The derived tag `ident` names, bound on `as_of` as an insight field;
/// `None` if it names no tag of the table.
pub(super) fn tag_field(
    ident: &Ident,
    scope: &TableScope<'_>,
    as_of: Day,
) -> Result<Option<TagField>, QueryError> {
    if !is_tag(scope, ident) {
        return Ok(None);
    }
    let Some(tag) = scope.catalog.tag(&ident.name) else {
        return Ok(None);
    };
    let rows = FilterBinder::new(scope, as_of).tag_rows(ident, tag)?;
    let (is_bool, values) = match rows {
        TagRows::Bool(e) => (
            true,
            vec![
                ("true".to_owned(), e.clone()),
                ("false".to_owned(), Expr::Not(Box::new(e))),
            ],
        ),
        TagRows::Values { values, .. } => (false, values),
    };
    Ok(Some(TagField {
        name: ident.name.clone(),
        is_bool,
        values,
    }))
}

/// An unknown field's error, with "did you mean" among the table's fields
/// and derived tags when the fields alone suggested nothing.
fn with_tag_hint(e: QueryError, ident: &Ident, scope: &TableScope<'_>) -> QueryError {
    if e.hint().is_some() {
        return e;
    }
    let tags: Vec<String> = scope
        .catalog
        .tag_names()
        .into_iter()
        .filter(|t| scope.catalog.tag(t).is_some_and(|t| t.table == scope.table))
        .collect();
    let hint = crate::suggest::nearest(&ident.name, tags.iter().map(String::as_str))
        .map(|t| format!("did you mean the tag `{t}`?"));
    e.with_hint_opt(hint)
}
