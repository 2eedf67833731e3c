//! What a statement is, for roles, refusals and `/metrics`.

use segdb_query_lang::ast::StatementKind;
use segdb_query_lang::ProcedureRole;

use super::super::auth::Role;

/// The role a statement needs; a CALL needs the role its procedure
/// declares (an unknown procedure: read, and the binder refuses it).
pub fn required_role(kind: &StatementKind) -> Role {
    required_role_with(kind, |name| {
        crate::procedures::find(name).map(|p| p.signature.role())
    })
}

/// [`required_role`] with the procedures' roles from `procedure_role`.
pub(crate) fn required_role_with(
    kind: &StatementKind,
    procedure_role: impl Fn(&str) -> Option<ProcedureRole>,
) -> Role {
    match kind {
        StatementKind::Select(_)
        | StatementKind::Explain(_)
        | StatementKind::ShowTables
        | StatementKind::ShowFields(_)
        | StatementKind::ShowSegments
        | StatementKind::ShowTags
        | StatementKind::ShowCampaigns
        | StatementKind::Insight(_)
        | StatementKind::Compare(_) => Role::Read,
        StatementKind::Call(c) => procedure_role(&c.name.name).map_or(Role::Read, Role::from),
        StatementKind::CreateTable(_)
        | StatementKind::AlterTable(_)
        | StatementKind::AlterField(_)
        | StatementKind::DropTable(_)
        | StatementKind::CreateSegment(_)
        | StatementKind::DropSegment(_)
        | StatementKind::CreateTag(_)
        | StatementKind::DropTag(_) => Role::Admin,
        StatementKind::CreateCampaign(_) | StatementKind::DropCampaign(_) => Role::Write,
    }
}

/// Whether every statement only reads (and so may run on the query pool:
/// see `query_pool`): those a read role may run, but CALLs, since
/// procedures may write.
pub(crate) fn reads_only(stmts: &[segdb_query_lang::ast::Statement]) -> bool {
    stmts.iter().all(|st| {
        !matches!(st.kind, StatementKind::Call(_))
            && required_role_with(&st.kind, |_| None) == Role::Read
    })
}

/// A statement as a 403 names it: "a DROP TABLE statement", "CALL
/// `segment_ids`".
pub(crate) fn statement_what(kind: &StatementKind) -> String {
    match kind {
        StatementKind::Call(c) => format!("CALL `{}`", c.name.name),
        _ => format!(
            "a {} statement",
            kind_name(kind).replace('_', " ").to_uppercase()
        ),
    }
}

/// The statement's kind, as `/metrics` counts it.
pub fn kind_name(kind: &StatementKind) -> &'static str {
    match kind {
        StatementKind::Select(_) => "select",
        StatementKind::Explain(_) => "explain",
        StatementKind::ShowTables => "show_tables",
        StatementKind::ShowFields(_) => "show_fields",
        StatementKind::CreateTable(_) => "create_table",
        StatementKind::AlterTable(_) => "alter_table",
        StatementKind::AlterField(_) => "alter_field",
        StatementKind::DropTable(_) => "drop_table",
        StatementKind::CreateSegment(_) => "create_segment",
        StatementKind::DropSegment(_) => "drop_segment",
        StatementKind::ShowSegments => "show_segments",
        StatementKind::CreateTag(_) => "create_tag",
        StatementKind::DropTag(_) => "drop_tag",
        StatementKind::ShowTags => "show_tags",
        StatementKind::ShowCampaigns => "show_campaigns",
        StatementKind::CreateCampaign(_) => "create_campaign",
        StatementKind::DropCampaign(_) => "drop_campaign",
        StatementKind::Call(_) => "call",
        StatementKind::Insight(_) => "insight",
        StatementKind::Compare(_) => "compare",
    }
}

#[cfg(test)]
mod tests {
    use super::reads_only;

    fn reads(text: &str) -> bool {
        reads_only(&segdb_query_lang::parse(text).unwrap())
    }

    #[test]
    fn only_statements_that_read_go_to_the_query_pool() {
        assert!(reads("SELECT COUNT(*) FROM users WHERE age > 3"));
        assert!(reads(
            "EXPLAIN SELECT COUNT(*) FROM users; SHOW TABLES; SHOW SEGMENTS; INSIGHT gender FROM users"
        ));
        assert!(reads(
            "COMPARE gender FROM users WHERE age > 3 VERSUS age < 3"
        ));
        assert!(!reads(
            "SELECT COUNT(*) FROM users; CREATE SEGMENT s AS SELECT FROM users WHERE age > 3"
        ));
        assert!(!reads("CALL profile('users', 'u1')"));
        assert!(!reads("DROP TAG t"));
    }
}
