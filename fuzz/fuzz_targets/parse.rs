//! Any bytes through the query language: `parse`, then `bind` against a
//! catalog with the data set's `users` table. Whatever the input, nothing
//! panics; every error renders with a line, a column and a stable code;
//! every statement that parses prints to text that parses back to the same
//! tree, and binds or fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segdb_engine::{FieldDef, FieldKind, Schema};
use segdb_query_lang::ast::ClearSpans;
use segdb_query_lang::{
    bind, parse, ArgValue, Catalog, Param, ParamType, QueryError, SegmentBody, SegmentRef,
    Signature,
};

/// 2026-11-22, the data set's "today".
const TODAY: i32 = 20_779;

/// The error codes the language has (`ErrorKind::code`).
const CODES: &[&str] = &[
    "syntax_error",
    "unknown_table",
    "unknown_field",
    "type_error",
    "invalid_schema",
    "limit_exceeded",
    "unsupported",
    "unknown_segment",
    "unknown_campaign",
    "segment_cycle",
    "already_exists",
    "in_use",
    "unknown_procedure",
    "invalid_argument",
];

/// `users` (the data set's fields, a few of each kind) and an empty
/// `houses`; segments `bj` and `bj_ios` (which uses `bj`); the procedure
/// `segment_ids(segment, limit => 100)`.
struct TestCatalog;

impl Catalog for TestCatalog {
    fn schema(&self, table: &str) -> Option<Schema> {
        use FieldKind::*;
        let fields = match table {
            "users" => vec![
                FieldDef::new("gender", Enum),
                FieldDef::new("age", Int),
                FieldDef::new("city", Enum),
                FieldDef::new("is_owner", Bool),
                FieldDef::new("interests", Set),
                FieldDef::new("search", Event),
                FieldDef {
                    name: "name".into(),
                    kind: Text,
                    sensitive: true,
                    category: None,
                    closed: false,
                },
            ],
            "houses" => vec![FieldDef::new("rooms", Int)],
            _ => return None,
        };
        Some(Schema { fields })
    }

    fn table_names(&self) -> Vec<String> {
        vec!["users".into(), "houses".into()]
    }

    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        let values: &[&str] = match (table, field) {
            ("users", "gender") => &["m", "f", "u"],
            ("users", "city") => &["c000", "c001", "c002"],
            ("users", "interests") => &["i00", "i01", "i05"],
            _ => &[],
        };
        values.iter().map(|v| v.to_string()).collect()
    }

    fn resolve_ids(
        &self,
        _table: &str,
        ids: &[String],
    ) -> Result<Vec<u32>, segdb_query_lang::CatalogError> {
        Ok(ids
            .iter()
            .filter_map(|id| id.strip_prefix('u')?.parse().ok())
            .collect())
    }

    fn segment(&self, name: &str) -> Option<SegmentRef> {
        let (text, uses) = match name {
            "bj" => ("city = 'c000' AND age < 30", vec![]),
            "bj_ios" => ("IN SEGMENT bj AND NOT is_owner", vec!["bj".to_string()]),
            _ => return None,
        };
        Some(SegmentRef {
            table: "users".into(),
            body: SegmentBody::Dynamic(text.into()),
            uses,
        })
    }

    fn segment_names(&self) -> Vec<String> {
        vec!["bj".into(), "bj_ios".into()]
    }

    fn procedure(&self, name: &str) -> Option<Signature> {
        (name == "segment_ids").then(|| {
            Signature::new(
                "segment_ids",
                vec![
                    Param::required("segment", ParamType::Segment),
                    Param::optional("limit", ParamType::Count, ArgValue::Int(100)),
                ],
                "ids",
            )
        })
    }

    fn procedure_names(&self) -> Vec<String> {
        vec!["segment_ids".into()]
    }
}

fn check_error(e: &QueryError, text: &str) {
    let rendered = e.to_string();
    assert!(rendered.starts_with("error: "), "{rendered}");
    assert!(e.line() >= 1 && e.column() >= 1, "{rendered}");
    assert!(CODES.contains(&e.code()), "unknown code {}", e.code());
    assert!(e.span().start <= text.len(), "{rendered}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let statements = match parse(&text) {
        Ok(statements) => statements,
        Err(e) => return check_error(&e, &text),
    };
    for stmt in &statements {
        let printed = stmt.to_string();
        let again = match parse(&printed) {
            Ok(again) => again,
            Err(e) => panic!("{text:?} prints as {printed:?}, which fails:\n{e}"),
        };
        assert_eq!(again.len(), 1, "{printed:?}");
        let (mut a, mut b) = (stmt.clone(), again[0].clone());
        a.clear_spans();
        b.clear_spans();
        assert_eq!(a.kind, b.kind, "{text:?} prints as {printed:?}");
        match bind(stmt, &TestCatalog, TODAY) {
            Ok(bound) => {
                let _ = bound.to_string();
            }
            Err(e) => check_error(&e, &text),
        }
    }
});
