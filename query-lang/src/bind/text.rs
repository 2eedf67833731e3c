//! Texts that are not whole statements, bound on their own: a bare WHERE
//! expression ([`bind_filter`]) and a segment's definition
//! ([`bind_segment_definition`]). Spans, and so an error's line, column
//! and caret, are in the caller's text, not in a statement wrapped around
//! it; and the text is one expression or one definition, never a way to
//! slip in a second statement.

use super::*;

/// A WHERE expression bound on its own (see [`bind_filter`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundFilter {
    /// The rows it keeps (`Expr::All` for a blank text).
    pub filter: Expr,
    /// Things that are allowed but likely mistakes, with lines and columns
    /// in the text.
    pub warnings: Vec<Warning>,
}

/// Parses `text`, a bare WHERE expression (`city = 'c000' AND age > 30`),
/// and binds it against `table` on the day `today` (what `last N days`
/// counts back from). A text of only whitespace and comments keeps every
/// row. An error's line and column are in `text`.
pub fn bind_filter(
    catalog: &dyn Catalog,
    table: &str,
    text: &str,
    today: Day,
) -> Result<BoundFilter, QueryError> {
    let ident = Ident {
        name: table.to_owned(),
        span: Span::default(),
    };
    let schema = table_schema(&ident, text, catalog)?;
    let Some(expr) = crate::parse::parse_filter(text)? else {
        return Ok(BoundFilter {
            filter: Expr::All,
            warnings: Vec::new(),
        });
    };
    let scope = TableScope {
        catalog,
        table,
        schema,
        source: text,
    };
    let mut binder = FilterBinder::new(&scope, today);
    let filter = binder.bind(&expr)?;
    Ok(BoundFilter {
        filter,
        warnings: binder.into_warnings(),
    })
}

/// Binds `definition` (`SELECT FROM t WHERE …`, as `CREATE SEGMENT … AS`
/// takes it) as `CREATE OR REPLACE SEGMENT name [SNAPSHOT] AS definition`.
/// An error's line and column are in `definition`; an error about `name`
/// (not in the text) points at its start.
pub fn bind_segment_definition(
    catalog: &dyn Catalog,
    name: &str,
    definition: &str,
    snapshot: bool,
    today: Day,
) -> Result<Statement, QueryError> {
    let (table, filter) = crate::parse::parse_segment_select(definition)?;
    let create = ast::CreateSegment {
        name: Ident {
            name: name.to_owned(),
            span: Span::default(),
        },
        or_replace: true,
        snapshot,
        table,
        filter,
    };
    bind_create_segment(&create, definition, catalog, today)
}
