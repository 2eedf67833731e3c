//! The fields a campaign reads: those its audience names (its WHERE, or
//! the segment it names, recursively through segments) and those its
//! templates fill in. A principal that may not use one of them may not
//! reach the campaign either: its groups (`sent(c)`, …) and its counts
//! would tell what the field holds (the server's permission check).

use segdb_query_lang::{fields_used, parse_filter_statement, segment_fields, Catalog};

use crate::definition::{Audience, CampaignDef};
use crate::template::{self, Piece};

/// Every field of `def.table` that `def` reads, each once, in the order
/// met (audience, goal, templates). Names that do not resolve are left in: the
/// caller looks them up in the table's schema. A WHERE that no longer
/// parses reads nothing (it could not run either).
pub fn fields_read(def: &CampaignDef, catalog: &dyn Catalog) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |table: &str, field: String| {
        if table == def.table && !out.contains(&field) {
            out.push(field);
        }
    };
    match &def.audience {
        Audience::Where(text) => {
            if let Ok(Some(stmt)) = parse_filter_statement(&def.table, text) {
                for u in fields_used(&stmt, catalog) {
                    add(&u.table, u.field);
                }
            }
        }
        Audience::Segment(name) => {
            for u in segment_fields(name, catalog) {
                add(&u.table, u.field);
            }
        }
    }
    if let Some(Ok(goal)) = def.goal.as_deref().map(crate::goal::Goal::parse) {
        add(&def.table, goal.event);
    }
    for v in &def.variants {
        let Ok(t) = template::parse(&v.template) else {
            continue;
        };
        for p in t.pieces {
            match p {
                Piece::Field { name, .. } => {
                    // A derived tag reads the fields of its definition.
                    for f in tag_fields(&def.table, &name, catalog) {
                        add(&def.table, f);
                    }
                    add(&def.table, name)
                }
                Piece::Count { event, .. } => add(&def.table, event),
                Piece::Text(_) => {}
            }
        }
    }
    out
}

/// The fields derived tag `name` of `table` reads (recursively through
/// the tags and segments of its definition); none if `name` is no tag of
/// the table.
pub fn tag_fields(table: &str, name: &str, catalog: &dyn Catalog) -> Vec<String> {
    if catalog.tag(name).is_none_or(|t| t.table != table) {
        return Vec::new();
    }
    let quoted = segdb_query_lang::ast::Ident {
        name: name.to_owned(),
        span: Default::default(),
    }
    .to_string();
    match parse_filter_statement(table, &quoted) {
        Ok(Some(stmt)) => fields_used(&stmt, catalog)
            .into_iter()
            .filter(|u| u.table == table && u.field != name)
            .map(|u| u.field)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoCatalog;

    impl Catalog for NoCatalog {
        fn schema(&self, _: &str) -> Option<segdb_engine::Schema> {
            None
        }
        fn table_names(&self) -> Vec<String> {
            Vec::new()
        }
        fn field_values(&self, _: &str, _: &str) -> Vec<String> {
            Vec::new()
        }
        fn resolve_ids(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<Vec<u32>, segdb_query_lang::CatalogError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn audience_and_templates_each_field_once() {
        let def: CampaignDef = serde_json::from_value(serde_json::json!({
            "name": "c", "table": "users",
            "audience": {"where": "city = 'c000' AND (age > 30 OR city = 'c001')"},
            "channel": {"file": {"dir": "/tmp/x", "format": "jsonl"}},
            "variants": [
                {"name": "a", "weight": 1, "template": "Hi {city}, {income}"},
                {"name": "b", "weight": 1, "template": "{count(search, last 7 days)}"}
            ],
            "schedule": "now",
            "goal": "did(book, 7 days after send)"
        }))
        .unwrap();
        assert_eq!(
            fields_read(&def, &NoCatalog),
            ["city", "age", "book", "income", "search"]
        );
    }
}
