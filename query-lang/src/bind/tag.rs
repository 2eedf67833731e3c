//! Derived tags: `CREATE [OR REPLACE] TAG`, and what a tag is to the
//! binder. A tag is the text of its definition, kept by the store; every
//! statement that names it binds that text again on its own day and
//! against the data it reads (see `filter/tag.rs`), so a tag is always
//! current and needs no evaluation path of its own in the engine.

use super::*;
use crate::ast::{TagDef, Value};

/// A derived tag as the binder sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRef {
    /// The table whose rows it describes.
    pub table: String,
    /// Its definition's canonical text (what followed `AS`).
    pub text: String,
}

/// A bound `CREATE [OR REPLACE] TAG`.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundTag {
    /// The tag's name.
    pub name: String,
    /// Its table (it exists, and has no field of that name).
    pub table: String,
    /// `OR REPLACE`.
    pub replace: bool,
    /// The definition in canonical text: what the store keeps.
    pub text: String,
    /// The tags the definition names, each once, in the order written.
    pub uses: Vec<String>,
    /// Its values in definition order (THEN values, then ELSE's), or
    /// `None` for a BOOL tag.
    pub values: Option<Vec<String>>,
    /// Things that are allowed but likely mistakes.
    pub warnings: Vec<Warning>,
}

/// The values a definition gives, each once, in the order written (THEN
/// values, then ELSE's); `None` for a BOOL tag (a condition).
pub fn tag_values(def: &TagDef) -> Option<Vec<String>> {
    let TagDef::Case(case) = def else {
        return None;
    };
    let mut out: Vec<String> = Vec::new();
    let thens = case.whens.iter().map(|(_, v)| v);
    for v in thens.chain(case.otherwise.as_ref()) {
        if let Value::Str(s) = &v.value {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
    }
    Some(out)
}

pub(super) fn bind_create_tag(
    create: &ast::CreateTag,
    source: &str,
    catalog: &dyn Catalog,
    today: Day,
) -> Result<Statement, QueryError> {
    let name = &create.name;
    if !segment::valid_segment_name(&name.name) || name.name == ID_COLUMN {
        return Err(schema_error(
            format!(
                "tag name {} must be letters, digits and `_`, not starting with a digit \
                 (and not `{ID_COLUMN}`)",
                snippet(&name.name)
            ),
            name.span,
            source,
        ));
    }
    let schema = table_schema(&create.table, source, catalog)?;
    if schema.field(&name.name).is_some() {
        return Err(schema_error(
            format!(
                "table {} has a field {}: a tag cannot take its name",
                snippet(&create.table.name),
                snippet(&name.name)
            ),
            name.span,
            source,
        )
        .with_hint("choose another name for the tag"));
    }
    if catalog.tag(&name.name).is_some() && !create.or_replace {
        return Err(QueryError::new(
            ErrorKind::AlreadyExists(format!("tag `{}` already exists", name.name)),
            name.span,
            source,
        )
        .with_hint(format!(
            "to change it write CREATE OR REPLACE TAG {name} …, or DROP TAG {name} first"
        )));
    }
    let scope = TableScope {
        catalog,
        table: &create.table.name,
        schema,
        source,
    };
    let mut binder = FilterBinder::new(&scope, today);
    binder.defining_tag(&name.name);
    for cond in create.def.conditions() {
        binder.bind(cond)?;
    }
    let (uses, warnings) = binder.into_tag_uses_and_warnings();
    Ok(Statement::CreateTag(BoundTag {
        name: name.name.clone(),
        table: create.table.name.clone(),
        replace: create.or_replace,
        text: create.def.to_string(),
        uses,
        values: tag_values(&create.def),
        warnings,
    }))
}

pub(super) fn bind_drop_tag(
    name: &Ident,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<Statement, QueryError> {
    if catalog.tag(&name.name).is_none() {
        let names = catalog.tag_names();
        let hint = suggest::nearest(&name.name, names.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`?"));
        return Err(QueryError::new(
            ErrorKind::UnknownTag {
                tag: name.name.clone(),
            },
            name.span,
            source,
        )
        .with_hint_opt(hint));
    }
    Ok(Statement::DropTag {
        name: name.name.clone(),
    })
}

/// Whether `ident` names a derived tag of the scope's table (and no field).
pub(super) fn is_tag(scope: &TableScope<'_>, ident: &Ident) -> bool {
    scope.schema.field(&ident.name).is_none()
        && scope
            .catalog
            .tag(&ident.name)
            .is_some_and(|t| t.table == scope.table)
}

/// The groups of `GROUP BY tag`, bound on `as_of`: each value and its
/// rows (`false` and `true` for a BOOL tag; rows with no value are in no
/// group, as for a field); `None` if `ident` names no tag.
pub(super) fn tag_groups(
    ident: &Ident,
    scope: &TableScope<'_>,
    as_of: Day,
) -> Result<Option<Vec<(String, Expr)>>, QueryError> {
    if !is_tag(scope, ident) {
        return Ok(None);
    }
    let Some(tag) = scope.catalog.tag(&ident.name) else {
        return Ok(None);
    };
    let rows = FilterBinder::new(scope, as_of).tag_rows(ident, tag)?;
    Ok(Some(match rows {
        filter::TagRows::Bool(e) => vec![
            ("false".to_owned(), Expr::Not(Box::new(e.clone()))),
            ("true".to_owned(), e),
        ],
        filter::TagRows::Values { values, .. } => values,
    }))
}

/// The derived tag `name` bound on `as_of`: each value and its rows
/// (`true` and `false` for a BOOL tag), what a profile shows of a row and
/// a campaign template renders. The error of an unknown tag or of a
/// definition that no longer binds is placed on the name.
pub fn bind_tag(name: &str, catalog: &dyn Catalog, as_of: Day) -> Result<TagField, QueryError> {
    let text = ast::Ident {
        name: name.to_owned(),
        span: Span::default(),
    }
    .to_string();
    let ident = Ident {
        name: name.to_owned(),
        span: Span::new(0, text.len()),
    };
    let unknown = || {
        QueryError::new(
            ErrorKind::UnknownTag {
                tag: name.to_owned(),
            },
            ident.span,
            &text,
        )
    };
    let tag = catalog.tag(name).ok_or_else(unknown)?;
    let schema = catalog.schema(&tag.table).ok_or_else(|| {
        QueryError::new(
            ErrorKind::UnknownTable {
                table: tag.table.clone(),
            },
            ident.span,
            &text,
        )
    })?;
    let scope = TableScope {
        catalog,
        table: &tag.table,
        schema,
        source: &text,
    };
    insight::tag_field(&ident, &scope, as_of)?.ok_or_else(unknown)
}
