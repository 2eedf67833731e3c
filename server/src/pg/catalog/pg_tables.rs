//! The pg_catalog and information_schema queries clients send to list
//! tables and columns, answered from segdb's catalog: psql's `\dt` (and
//! `\d`), the three queries of `\d table` that carry its columns, and
//! `information_schema.tables` / `.columns`. Each table gets an oid
//! (16384 + its place in name order) for the queries that follow. Any
//! other catalog query (the constraints, policies, statistics and
//! publications `\d table` asks after its columns, and most of what GUI
//! tools ask) answers no rows: segdb has none of those objects.

use serde_json::{json, Value};

use super::super::run::{Outcome, Rows};
use super::super::types::{Column, Kind};
use super::super::Session;
use crate::http::{ApiError, Shared};

const FIRST_OID: usize = 16_384;

/// Tables with their fields (name, kind).
pub type Tables = Vec<(String, Vec<(String, &'static str)>)>;

/// The tables `session` sees, in name order, each with its fields (name,
/// kind) that it may see.
fn tables(s: &Shared, session: &Session) -> Tables {
    let access = session.principal.access();
    let mut names = s.store.table_names();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let table = s.store.table(&name).ok()?;
            let fields = table
                .schema()
                .fields
                .iter()
                .filter(|f| access.shows(&name, f))
                .map(|f| (f.name.clone(), f.kind.as_str()))
                .collect();
            Some((name, fields))
        })
        .collect()
}

pub fn rows(columns: &[(&str, Kind)], rows: Vec<Vec<Value>>) -> Outcome {
    Outcome::Rows {
        columns: columns.iter().map(|(n, k)| Column::new(*n, *k)).collect(),
        rows: Rows::Done(rows),
    }
}

/// The quoted literal after `marker` in `lower`: `'…'`.
pub fn literal_after<'a>(lower: &'a str, marker: &str) -> Option<&'a str> {
    let at = lower.find(marker)? + marker.len();
    let rest = lower[at..].trim_start().strip_prefix('\'')?;
    Some(&rest[..rest.find('\'')?])
}

/// The table whose oid the query names after `marker`.
fn oid_after(lower: &str, marker: &str) -> Option<usize> {
    literal_after(lower, marker)?
        .parse::<usize>()
        .ok()?
        .checked_sub(FIRST_OID)
}

/// The answer to a catalog query `text` (`lower`: the same in lowercase).
pub fn answer(
    s: &Shared,
    session: &Session,
    _text: &str,
    lower: &str,
) -> Option<Result<Vec<Outcome>, ApiError>> {
    let tables = tables(s, session);
    if let Some(o) = super::jdbc::answer(&tables, lower) {
        return Some(Ok(vec![o]));
    }
    let owner = json!("segdb");
    // psql `\dt`, `\d`: Schema, Name, Type, Owner.
    if lower.contains("c.relkind in (") && lower.contains("as \"schema\"") {
        let out = tables
            .iter()
            .map(|(name, _)| vec![json!("public"), json!(name), json!("table"), owner.clone()])
            .collect();
        let cols = [
            ("Schema", Kind::Text),
            ("Name", Kind::Text),
            ("Type", Kind::Text),
            ("Owner", Kind::Text),
        ];
        return Some(Ok(vec![rows(&cols, out)]));
    }
    // `\d name`, first: the oid of each table matching `^(name)$`.
    if let Some(pattern) = literal_after(lower, "c.relname operator(pg_catalog.~)") {
        let name = pattern
            .trim_start_matches("^(")
            .trim_end_matches(")$")
            .replace("\\.", ".");
        let out = tables
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| t.to_ascii_lowercase() == name)
            .map(|(i, (t, _))| {
                vec![
                    json!((FIRST_OID + i).to_string()),
                    json!("public"),
                    json!(t),
                ]
            })
            .collect();
        let cols = [
            ("oid", Kind::Text),
            ("nspname", Kind::Text),
            ("relname", Kind::Text),
        ];
        return Some(Ok(vec![rows(&cols, out)]));
    }
    // `\d name`, then: the table's kind and flags (psql 15's 15 columns).
    if lower.contains("c.relchecks, c.relkind") {
        let found = oid_after(lower, "where c.oid =").filter(|&i| i < tables.len());
        let f = json!(false);
        let out = found
            .map(|_| {
                vec![
                    json!(0),
                    json!("r"),
                    f.clone(),
                    f.clone(),
                    f.clone(),
                    f.clone(),
                    f.clone(),
                    f.clone(),
                    f.clone(),
                    json!(""),
                    json!("0"),
                    json!(""),
                    json!("p"),
                    json!("d"),
                    json!("segdb"),
                ]
            })
            .into_iter()
            .collect();
        let names = [
            "relchecks",
            "relkind",
            "relhasindex",
            "relhasrules",
            "relhastriggers",
            "relrowsecurity",
            "relforcerowsecurity",
            "relhasoids",
            "relispartition",
            "reloptions",
            "reltablespace",
            "reloftype",
            "relpersistence",
            "relreplident",
            "amname",
        ];
        let kinds = [
            Kind::Int8,
            Kind::Text,
            Kind::Bool,
            Kind::Bool,
            Kind::Bool,
            Kind::Bool,
            Kind::Bool,
            Kind::Bool,
            Kind::Bool,
            Kind::Text,
            Kind::Text,
            Kind::Text,
            Kind::Text,
            Kind::Text,
            Kind::Text,
        ];
        let cols: Vec<(&str, Kind)> = names.into_iter().zip(kinds).collect();
        return Some(Ok(vec![rows(&cols, out)]));
    }
    // `\d name`, then: its columns (name, type, default, not null,
    // collation, identity, generated).
    if lower.contains("from pg_catalog.pg_attribute a") {
        let found = oid_after(lower, "a.attrelid =").and_then(|i| tables.get(i));
        let out = found
            .map(|(_, fields)| {
                fields
                    .iter()
                    .map(|(name, kind)| {
                        vec![
                            json!(name),
                            json!(kind),
                            Value::Null,
                            json!(false),
                            Value::Null,
                            json!(""),
                            json!(""),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cols = [
            ("attname", Kind::Text),
            ("format_type", Kind::Text),
            ("pg_get_expr", Kind::Text),
            ("attnotnull", Kind::Bool),
            ("attcollation", Kind::Text),
            ("attidentity", Kind::Text),
            ("attgenerated", Kind::Text),
        ];
        return Some(Ok(vec![rows(&cols, out)]));
    }
    if lower.contains("from information_schema.tables") {
        let out = tables
            .iter()
            .map(|(name, _)| {
                vec![
                    json!("segdb"),
                    json!("public"),
                    json!(name),
                    json!("BASE TABLE"),
                ]
            })
            .collect();
        let cols = [
            ("table_catalog", Kind::Text),
            ("table_schema", Kind::Text),
            ("table_name", Kind::Text),
            ("table_type", Kind::Text),
        ];
        return Some(Ok(vec![rows(&cols, out)]));
    }
    if lower.contains("from information_schema.columns") {
        let only = literal_after(lower, "table_name =");
        let out = tables
            .iter()
            .filter(|(t, _)| only.is_none_or(|o| t.to_ascii_lowercase() == o))
            .flat_map(|(table, fields)| {
                fields.iter().enumerate().map(move |(i, (name, kind))| {
                    vec![
                        json!("segdb"),
                        json!("public"),
                        json!(table),
                        json!(name),
                        json!(i + 1),
                        json!(kind),
                        json!("YES"),
                    ]
                })
            })
            .collect();
        let cols = [
            ("table_catalog", Kind::Text),
            ("table_schema", Kind::Text),
            ("table_name", Kind::Text),
            ("column_name", Kind::Text),
            ("ordinal_position", Kind::Int8),
            ("data_type", Kind::Text),
            ("is_nullable", Kind::Text),
        ];
        return Some(Ok(vec![rows(&cols, out)]));
    }
    // Anything else of the catalog: no rows.
    Some(Ok(vec![rows(&[("?column?", Kind::Text)], Vec::new())]))
}
