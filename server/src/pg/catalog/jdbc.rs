//! The catalog queries of pgjdbc's `DatabaseMetaData` (the Postgres JDBC
//! driver, 42.x, which DBeaver lists schemas, tables and columns with),
//! recognised by the shape pgjdbc writes them in and answered from
//! segdb's catalog, their LIKE patterns applied:
//!
//! - `getSchemas`: `SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG
//!   FROM pg_catalog.pg_namespace …`: `public`.
//! - `getTables`: `SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,
//!   c.relname AS TABLE_NAME, … WHERE … n.nspname LIKE '…' AND c.relname
//!   LIKE '…' AND (false OR (c.relkind = 'r' AND n.nspname !~ '^pg_' …))`:
//!   the tables (when the TABLE type is asked for).
//! - `getColumns`: `SELECT * FROM (SELECT n.nspname, c.relname, a.attname,
//!   a.atttypid, … row_number() OVER (PARTITION BY a.attrelid ORDER BY
//!   a.attnum) AS attnum …) c WHERE true AND attname LIKE '…'`: each
//!   field, with the type segdb answers it as (INT int8, BOOL bool, ENUM
//!   and TEXT text, SET text[], EVENT int8).
//! - `getTypeInfo`: `SELECT t.typname,t.oid FROM pg_catalog.pg_type t …`:
//!   those types.
//!
//! getPrimaryKeys, getIndexInfo, getImportedKeys and the rest ask after
//! pg_index and pg_constraint: no rows (segdb has no keys or indexes).

use serde_json::{json, Value};

use super::super::run::Outcome;
use super::super::types::Kind;
use super::pg_tables::{literal_after, rows, Tables};

/// segdb's field kinds as Postgres types: (oid, name).
fn pg_type(kind: &str) -> (i64, &'static str) {
    match kind {
        "INT" | "EVENT" => (20, "int8"),
        "BOOL" => (16, "bool"),
        "SET" => (1009, "_text"),
        _ => (25, "text"),
    }
}

/// SQL's LIKE: `%` any run, `_` any one character, `\` escapes.
fn like(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some('_') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&p[2..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(&p, &s)
}

/// Whether the LIKE after `marker` (if any) matches `name`.
fn matches(lower: &str, marker: &str, name: &str) -> bool {
    literal_after(lower, marker).is_none_or(|p| like(p, &name.to_ascii_lowercase()))
}

/// pgjdbc's answer to `lower`, if it is one of its metadata queries.
pub fn answer(tables: &Tables, lower: &str) -> Option<Outcome> {
    let text = |s: &str| json!(s);
    if lower.contains("as table_schem, null as table_catalog from pg_catalog.pg_namespace") {
        let cols = [("table_schem", Kind::Text), ("table_catalog", Kind::Text)];
        return Some(rows(&cols, vec![vec![text("public"), Value::Null]]));
    }
    if lower.contains("as table_schem, c.relname as table_name") {
        // The TABLE type's clause (42.5: `c.relkind = 'r' AND n.nspname
        // !~ '^pg_' …`; later: `c.relkind IN ('r','p') …`); without it
        // (views, indexes, system tables asked for) no table is one.
        let wants_tables = [
            "c.relkind = 'r' and n.nspname !~",
            "c.relkind = 'p' and n.nspname !~",
            "c.relkind in ('r','p') and n.nspname !~",
        ]
        .iter()
        .any(|w| lower.contains(w));
        let out = tables
            .iter()
            .filter(|(name, _)| {
                wants_tables
                    && matches(lower, "n.nspname like", "public")
                    && matches(lower, "c.relname like", name)
            })
            .map(|(name, _)| {
                let mut row = vec![Value::Null, text("public"), text(name), text("TABLE")];
                row.push(Value::Null);
                row.extend(std::iter::repeat_n(text(""), 5));
                row
            })
            .collect();
        let names = [
            "table_cat",
            "table_schem",
            "table_name",
            "table_type",
            "remarks",
            "type_cat",
            "type_schem",
            "type_name",
            "self_referencing_col_name",
            "ref_generation",
        ];
        let cols: Vec<(&str, Kind)> = names.iter().map(|n| (*n, Kind::Text)).collect();
        return Some(rows(&cols, out));
    }
    if lower.contains("row_number() over (partition by a.attrelid order by a.attnum) as attnum") {
        let schema_ok = matches(lower, "n.nspname like", "public");
        let out = tables
            .iter()
            .filter(|(name, _)| schema_ok && matches(lower, "c.relname like", name))
            .flat_map(|(table, fields)| {
                fields
                    .iter()
                    .enumerate()
                    .filter(|(_, (f, _))| matches(lower, "attname like", f))
                    .map(move |(i, (field, kind))| {
                        let (oid, _) = pg_type(kind);
                        vec![
                            text("public"),
                            text(table),
                            text(field),
                            json!(oid),
                            json!(false),
                            json!(-1),
                            json!(if oid == 20 { 8 } else { -1 }),
                            json!(-1),
                            json!(i + 1),
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            json!(0),
                            text("b"),
                        ]
                    })
            })
            .collect();
        let cols = [
            ("nspname", Kind::Text),
            ("relname", Kind::Text),
            ("attname", Kind::Text),
            ("atttypid", Kind::Int8),
            ("attnotnull", Kind::Bool),
            ("atttypmod", Kind::Int8),
            ("attlen", Kind::Int8),
            ("typtypmod", Kind::Int8),
            ("attnum", Kind::Int8),
            ("attidentity", Kind::Text),
            ("attgenerated", Kind::Text),
            ("adsrc", Kind::Text),
            ("description", Kind::Text),
            ("typbasetype", Kind::Int8),
            ("typtype", Kind::Text),
        ];
        return Some(rows(&cols, out));
    }
    if lower.contains("select t.typname,t.oid from pg_catalog.pg_type t") {
        let out = [
            (16, "bool"),
            (20, "int8"),
            (25, "text"),
            (701, "float8"),
            (1009, "_text"),
            (1082, "date"),
        ]
        .iter()
        .map(|(oid, name)| vec![text(name), json!(oid)])
        .collect();
        let cols = [("typname", Kind::Text), ("oid", Kind::Int8)];
        return Some(rows(&cols, out));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("%", "users"));
        assert!(like("us_rs", "users"));
        assert!(like("u%s", "users"));
        assert!(!like("u%x", "users"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
    }
}
