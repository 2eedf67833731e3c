//! `SELECT f, COUNT(*) … GROUP BY f`: the checks of the grouped field (a
//! field of kind ENUM, SET or BOOL, or a derived tag).

use super::*;

/// Checks `SELECT field, COUNT(*) … GROUP BY field`.
pub(super) fn bind_group_by(
    select: &ast::Select,
    field: &Ident,
    scope: &TableScope<'_>,
) -> Result<(), QueryError> {
    if field.name == ID_COLUMN {
        return Err(scope
            .type_error(
                format!("rows cannot be grouped by `{ID_COLUMN}`: every row has its own"),
                field.span,
            )
            .with_hint("to list ids write SELECT user_id FROM … WHERE …"));
    }
    let Some(group) = &select.group_by else {
        return Err(scope
            .type_error(
                format!("`SELECT {field}, COUNT(*)` needs GROUP BY {field}"),
                field.span,
            )
            .with_hint(format!("add GROUP BY {field} after the WHERE clause")));
    };
    if group.name != field.name {
        return Err(scope
            .type_error(
                format!("GROUP BY {group} does not match the selected field {field}"),
                group.span,
            )
            .with_hint(format!("write SELECT {group}, COUNT(*) … GROUP BY {group}")));
    }
    if tag::is_tag(scope, field) {
        return Ok(());
    }
    let def = scope.field(field)?;
    match def.kind {
        FieldKind::Enum | FieldKind::Set | FieldKind::Bool => Ok(()),
        kind => Err(scope
            .type_error(
                format!(
                    "GROUP BY applies to ENUM, SET and BOOL fields; `{}` is {}",
                    def.name,
                    kind.as_str()
                ),
                group.span,
            )
            .with_hint_opt(
                (kind == FieldKind::Int)
                    .then(|| format!("aggregate INT fields instead: SELECT AVG({field}) …")),
            )),
    }
}
