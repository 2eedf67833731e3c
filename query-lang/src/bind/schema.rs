//! Binding of schema statements: CREATE TABLE and ALTER TABLE … ADD, and
//! the field declarations they hold.

use super::*;
use segdb_engine::{is_system_name, CatalogChange, FieldSource, SYSTEM_FIELD_PREFIX};

pub(super) fn schema_error(message: String, span: Span, source: &str) -> QueryError {
    QueryError::new(ErrorKind::InvalidSchema(message), span, source)
}

/// One field declaration: not `user_id` nor a system name; a category that is a plain name.
/// SENSITIVE is allowed on every kind.
fn bind_field_decl(decl: &ast::FieldDecl, source: &str) -> Result<FieldDef, QueryError> {
    let name = &decl.name;
    if name.name == ID_COLUMN {
        return Err(schema_error(
            format!("`{ID_COLUMN}` is reserved for the external id of every table"),
            name.span,
            source,
        )
        .with_hint("every table has user_id already; choose another name"));
    }
    if is_system_name(&name.name) {
        return Err(schema_error(
            format!(
                "field name {} is reserved: names beginning with `{SYSTEM_FIELD_PREFIX}` are the store's own (system) fields",
                snippet(&name.name)
            ),
            name.span,
            source,
        )
        .with_hint("field names are letters, digits and `_`"));
    }
    let kind = match decl.kind {
        KindName::Enum => FieldKind::Enum,
        KindName::Set => FieldKind::Set,
        KindName::Bool => FieldKind::Bool,
        KindName::Int => FieldKind::Int,
        KindName::Event => FieldKind::Event,
        KindName::Text => FieldKind::Text,
    };
    if let Some(c) = &decl.category {
        if !segment::valid_segment_name(&c.name) {
            return Err(schema_error(
                format!(
                    "category {} must be letters, digits and `_`, not starting with a digit, at most 128 bytes",
                    snippet(&c.name)
                ),
                c.span,
                source,
            ));
        }
    }
    if let (Some(span), false) = (
        decl.closed,
        matches!(kind, FieldKind::Enum | FieldKind::Set),
    ) {
        return Err(schema_error(
            format!(
                "CLOSED applies to ENUM and SET fields (a fixed list of values); `{}` is {}",
                name.name,
                kind.as_str()
            ),
            span,
            source,
        ));
    }
    Ok(FieldDef {
        name: name.name.clone(),
        kind,
        sensitive: decl.sensitive.is_some(),
        category: decl.category.as_ref().map(|c| c.name.clone()),
        closed: decl.closed.is_some(),
        catalog: Default::default(),
    })
}

pub(super) fn bind_create_table(
    create: &ast::CreateTable,
    source: &str,
) -> Result<Statement, QueryError> {
    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(create.fields.len());
    for decl in &create.fields {
        let field = bind_field_decl(decl, source)?;
        if !seen.insert(decl.name.name.as_str()) {
            return Err(schema_error(
                format!("field {} is declared twice", snippet(&decl.name.name)),
                decl.name.span,
                source,
            ));
        }
        fields.push(field);
    }
    Ok(Statement::CreateTable {
        name: create.name.name.clone(),
        schema: Schema { fields },
    })
}

pub(super) fn bind_alter_table(
    alter: &ast::AlterTable,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<Statement, QueryError> {
    let schema = table_schema(&alter.table, source, catalog)?;
    let field = bind_field_decl(&alter.field, source)?;
    if let Some(old) = schema.field(&field.name) {
        return Err(schema_error(
            format!(
                "table {} has a field {} already ({})",
                snippet(&alter.table.name),
                snippet(&field.name),
                old.kind.as_str()
            ),
            alter.field.name.span,
            source,
        ));
    }
    if catalog
        .tag(&field.name)
        .is_some_and(|t| t.table == alter.table.name)
    {
        return Err(schema_error(
            format!(
                "table {} has a derived tag {}: a field cannot take its name",
                snippet(&alter.table.name),
                snippet(&field.name)
            ),
            alter.field.name.span,
            source,
        )
        .with_hint(format!(
            "choose another name, or DROP TAG {} first",
            field.name
        )));
    }
    Ok(Statement::AlterTableAdd {
        table: alter.table.name.clone(),
        field,
    })
}

/// The longest text a catalog entry (description, category, owner) may
/// have, in bytes: entries live in the manifest.
pub const MAX_CATALOG_TEXT: usize = 1_000;

pub(super) fn bind_alter_field(
    alter: &ast::AlterField,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<Statement, QueryError> {
    let schema = table_schema(&alter.table, source, catalog)?;
    let scope = super::TableScope {
        catalog,
        table: &alter.table.name,
        schema,
        source,
    };
    if alter.field.name == ID_COLUMN {
        return Err(scope.id_column_error(&alter.field, "ALTER FIELD"));
    }
    let def = scope.field(&alter.field)?;
    let mut change = CatalogChange::default();
    for (item, value) in &alter.set {
        let text = &value.text;
        if text.len() > MAX_CATALOG_TEXT {
            return Err(schema_error(
                format!(
                    "{} is {} bytes; a catalog entry has at most {MAX_CATALOG_TEXT}",
                    item.keyword(),
                    text.len()
                ),
                value.span,
                source,
            ));
        }
        match item {
            ast::CatalogItem::Description => change.description = Some(text.clone()),
            ast::CatalogItem::Owner => change.owner = Some(text.clone()),
            ast::CatalogItem::Category => {
                if !text.is_empty() && !segment::valid_segment_name(text) {
                    return Err(schema_error(
                        format!(
                            "category {} must be letters, digits and `_`, not starting with a digit, at most 128 bytes",
                            snippet(text)
                        ),
                        value.span,
                        source,
                    ));
                }
                change.category = Some(text.clone());
            }
            ast::CatalogItem::Source => {
                let names: Vec<&str> = FieldSource::ALL
                    .into_iter()
                    .filter(|s| *s != FieldSource::Derived)
                    .map(FieldSource::as_str)
                    .collect();
                let s = FieldSource::parse(text).ok_or_else(|| {
                    schema_error(
                        format!("unknown source {}", snippet(text)),
                        value.span,
                        source,
                    )
                    .with_hint(format!("a source is one of {}", names.join(", ")))
                })?;
                let was = def.catalog.source;
                if s == FieldSource::Derived && was != FieldSource::Derived {
                    return Err(schema_error(
                        format!("field {} cannot be made derived", snippet(&def.name)),
                        value.span,
                        source,
                    )
                    .with_hint(
                        "a derived field is made by the rule that computes it (CREATE TAG)",
                    ));
                }
                if was == FieldSource::Derived && s != FieldSource::Derived {
                    return Err(schema_error(
                        format!(
                            "field {} is derived: its source is its rule",
                            snippet(&def.name)
                        ),
                        value.span,
                        source,
                    ));
                }
                change.source = Some(s);
            }
        }
    }
    Ok(Statement::AlterField {
        table: alter.table.name.clone(),
        field: def.name.clone(),
        change,
    })
}
