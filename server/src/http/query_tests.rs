//! The role a statement needs, CALLs by their procedure's declaration.

use super::*;
use crate::http::auth::Role;
use segdb_query_lang::{parse, ProcedureRole};

fn kind(text: &str) -> StatementKind {
    parse(text).unwrap().remove(0).kind
}

#[test]
fn a_call_needs_the_role_its_procedure_declares() {
    let call = kind("CALL touch_rows('promo', day => '2026-11-22')");
    for (declared, needed) in [
        (ProcedureRole::Read, Role::Read),
        (ProcedureRole::Write, Role::Write),
        (ProcedureRole::Admin, Role::Admin),
    ] {
        let role = required_role_with(&call, |name| (name == "touch_rows").then_some(declared));
        assert_eq!(role, needed);
    }
    // The 403 names the procedure and the role it needs.
    let role = required_role_with(&call, |_| Some(ProcedureRole::Write));
    let err = auth::require(Role::Read, role, &statement_what(&call)).unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(
        err.message(),
        "CALL `touch_rows` needs the write role; this token has the read role"
    );
    assert!(auth::require(Role::Write, role, &statement_what(&call)).is_ok());
    // An unknown procedure needs nothing more: the binder refuses it.
    assert_eq!(required_role_with(&call, |_| None), Role::Read);
}

#[test]
fn the_registered_procedures_need_what_they_declare() {
    for p in crate::procedures::registry() {
        let call = kind(&format!("CALL {}()", p.signature.name));
        assert_eq!(
            required_role(&call),
            Role::from(p.signature.role()),
            "{}",
            p.signature.name
        );
    }
}

#[test]
fn other_statements_keep_their_roles() {
    for (text, role) in [
        ("SELECT COUNT(*) FROM users", Role::Read),
        ("INSIGHT FROM users", Role::Read),
        ("SHOW TABLES", Role::Read),
        ("DROP TABLE users", Role::Admin),
        (
            "CREATE SEGMENT s AS SELECT FROM users WHERE is_owner",
            Role::Admin,
        ),
    ] {
        assert_eq!(required_role(&kind(text)), role, "{text}");
    }
    assert_eq!(
        statement_what(&kind("DROP TABLE users")),
        "a DROP TABLE statement"
    );
}
