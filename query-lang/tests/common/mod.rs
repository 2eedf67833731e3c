//! A catalog with the `users` table of ../shared/bench/DATASET.md, for the
//! tests of this crate.
#![allow(dead_code)]

use segdb_engine::date::{parse_iso_day, Day};
use segdb_engine::{FieldDef, FieldKind, Schema};
use segdb_query_lang::Catalog;

/// The data set's "today".
pub fn today() -> Day {
    parse_iso_day("2026-11-22").expect("a valid date")
}

/// `users` (the data set's schema, plus `name TEXT SENSITIVE`) and an
/// empty `houses`.
pub struct TestCatalog;

pub fn users_schema() -> Schema {
    use FieldKind::*;
    let mut fields = vec![
        FieldDef::new("gender", Enum),
        FieldDef::new("age", Int),
        FieldDef::new("city", Enum),
        FieldDef::new("district", Enum),
        FieldDef::new("education", Enum),
        FieldDef::new("os", Enum),
        FieldDef::new("member_level", Int),
        FieldDef::new("product", Enum),
        FieldDef::new("income", Int),
        FieldDef::new("ltv", Int),
        FieldDef::new("last_login_days", Int),
        FieldDef::new("contract_end_days", Int),
        FieldDef::new("is_owner", Bool),
        FieldDef::new("is_tenant", Bool),
    ];
    fields.extend((0..10).map(|i| FieldDef::new(format!("flag_{i}"), Bool)));
    fields.push(FieldDef::new("interests", Set));
    for event in ["search", "view", "favorite", "book"] {
        fields.push(FieldDef::new(event, Event));
    }
    fields.push(FieldDef {
        name: "name".into(),
        kind: Text,
        sensitive: true,
    });
    Schema { fields }
}

impl Catalog for TestCatalog {
    fn schema(&self, table: &str) -> Option<Schema> {
        match table {
            "users" => Some(users_schema()),
            "houses" => Some(Schema {
                fields: vec![FieldDef::new("rooms", FieldKind::Int)],
            }),
            _ => None,
        }
    }

    fn table_names(&self) -> Vec<String> {
        vec!["users".into(), "houses".into()]
    }

    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        if table != "users" {
            return Vec::new();
        }
        let range = |prefix: &str, n: usize, width: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i:0width$}")).collect()
        };
        let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect();
        match field {
            "gender" => words(&["m", "f", "u"]),
            "city" => range("c", 300, 3),
            "district" => range("d", 2000, 4),
            "education" => words(&["primary", "middle", "high", "bachelor", "master", "phd"]),
            "os" => words(&["ios", "android", "other"]),
            "product" => range("p", 8, 1),
            "interests" => range("i", 40, 2),
            _ => Vec::new(),
        }
    }

    /// `u` + 9 digits is row id = the number; anything else is unknown.
    fn resolve_ids(&self, _table: &str, ids: &[String]) -> Vec<u32> {
        ids.iter()
            .filter_map(|id| {
                let digits = id.strip_prefix('u')?;
                (digits.len() == 9).then_some(())?;
                digits.parse().ok()
            })
            .collect()
    }
}
