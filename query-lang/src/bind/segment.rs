//! Binding of segments: `IN SEGMENT` references (with cycle detection),
//! `CREATE SEGMENT`, and the rows of a segment by name.

use super::*;

pub(super) fn in_use(message: String, span: Span, source: &str) -> QueryError {
    QueryError::new(ErrorKind::InUse(message), span, source)
}

/// "segment `a`" or "segments `a`, `b`".
pub(super) fn listing(names: &[String]) -> String {
    let s = if names.len() == 1 { "" } else { "s" };
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("segment{s} {}", names.join(", "))
}

/// The segment `name` names, or an "unknown segment" error with the
/// nearest name.
pub(crate) fn segment_ref(
    name: &Ident,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<SegmentRef, QueryError> {
    if let Some(segment) = catalog.segment(&name.name) {
        return Ok(segment);
    }
    let names = catalog.segment_names();
    let hint = suggest::nearest(&name.name, names.iter().map(String::as_str))
        .map(|n| format!("did you mean `{n}`?"));
    Err(QueryError::new(
        ErrorKind::UnknownSegment {
            segment: name.name.clone(),
        },
        name.span,
        source,
    )
    .with_hint_opt(hint))
}

/// The rows of the segment `name` as an expression over its table (a
/// dynamic segment's text bound on `today`, segments it uses expanded; a
/// snapshot's stored rows): what a procedure or an export of the segment
/// evaluates. Returns the table and the expression.
pub fn bind_segment(
    name: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<(String, Expr), QueryError> {
    // The expression `IN SEGMENT name` built as a tree, not parsed from
    // text; the text (the name quoted as the language needs it) is only
    // what an error shows.
    let prefix = "IN SEGMENT ";
    let quoted = ast::Ident {
        name: name.to_owned(),
        span: Span::default(),
    }
    .to_string();
    let text = format!("{prefix}{quoted}");
    let ident = &ast::Ident {
        name: name.to_owned(),
        span: Span::new(prefix.len(), text.len()),
    };
    let expr = ast::Expr {
        kind: ast::ExprKind::Predicate(Box::new(ast::Predicate::InSegment(ident.clone()))),
        span: Span::new(0, text.len()),
    };
    let segment = segment_ref(ident, &text, catalog)?;
    let schema = catalog.schema(&segment.table).ok_or_else(|| {
        QueryError::new(
            ErrorKind::UnknownTable {
                table: segment.table.clone(),
            },
            ident.span,
            &text,
        )
    })?;
    let scope = TableScope {
        catalog,
        table: &segment.table,
        schema,
        source: &text,
    };
    let filter = FilterBinder::new(&scope, today).bind(&expr)?;
    Ok((segment.table.clone(), filter))
}

/// Whether a segment name is one the store accepts: letters, digits and
/// `_`, not starting with a digit, at most 128 bytes.
pub(super) fn valid_segment_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

pub(super) fn bind_create_segment(
    create: &ast::CreateSegment,
    source: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<Statement, QueryError> {
    let name = &create.name;
    if !valid_segment_name(&name.name) {
        return Err(schema_error(
            format!(
                "segment name {} must be letters, digits and `_`, not starting with a digit",
                snippet(&name.name)
            ),
            name.span,
            source,
        ));
    }
    if catalog.segment(&name.name).is_some() && !create.or_replace {
        return Err(QueryError::new(
            ErrorKind::AlreadyExists(format!("segment `{}` already exists", name.name)),
            name.span,
            source,
        )
        .with_hint(format!(
            "to change it write CREATE OR REPLACE SEGMENT {name} …, or DROP SEGMENT {name} first"
        )));
    }
    let schema = table_schema(&create.table, source, catalog)?;
    let scope = TableScope {
        catalog,
        table: &create.table.name,
        schema,
        source,
    };
    let mut binder = FilterBinder::new(&scope, today);
    if !create.snapshot {
        // A dynamic segment that reached itself would expand forever; a
        // snapshot may narrow its own old rows.
        binder.defining(&name.name);
    }
    let filter = binder.bind(&create.filter)?;
    let (uses, warnings) = binder.into_uses_and_warnings();
    Ok(Statement::CreateSegment(BoundSegment {
        name: name.name.clone(),
        table: create.table.name.clone(),
        replace: create.or_replace,
        snapshot: create.snapshot,
        text: create.filter.to_string(),
        uses,
        filter,
        as_of: today,
        warnings,
    }))
}
