//! `CREATE [OR REPLACE] TAG`, `DROP TAG` and `SHOW TAGS`. A tag is its
//! definition's text in the store's manifest: creating one writes no row
//! (instant on any table); every statement naming it binds the text again
//! (see query-lang `bind/filter/tag.rs`).

use segdb_engine::Store;
use segdb_query_lang::BoundTag;
use serde_json::{json, Value};

use super::{campaigns, one_row, ExecError, ResultSet};

/// `CREATE [OR REPLACE] TAG`: the definition is stored; nothing is
/// evaluated.
pub fn create_tag(store: &Store, tag: BoundTag) -> Result<ResultSet, ExecError> {
    let info = store.create_tag(&tag.name, &tag.table, &tag.text, tag.uses, tag.replace)?;
    Ok(one_row(
        &["tag", "table", "kind", "values"],
        vec![
            json!(info.name),
            json!(info.table),
            json!(kind(&tag.values)),
            values_cell(&tag.values),
        ],
    ))
}

fn kind(values: &Option<Vec<String>>) -> &'static str {
    if values.is_some() {
        "ENUM"
    } else {
        "BOOL"
    }
}

fn values_cell(values: &Option<Vec<String>>) -> Value {
    values.as_ref().map_or(Value::Null, |v| json!(v))
}

/// `SHOW TAGS`: name, table, kind (ENUM for a CASE, BOOL for a
/// condition), definition and values, by name.
pub fn show_tags(store: &Store) -> ResultSet {
    let rows = store
        .tags()
        .into_iter()
        .map(|t| {
            let values = segdb_query_lang::parse_tag_definition(&t.text)
                .ok()
                .and_then(|d| segdb_query_lang::tag_values(&d));
            vec![
                json!(t.name),
                json!(t.table),
                json!(kind(&values)),
                json!(t.text),
                values_cell(&values),
            ]
        })
        .collect();
    ResultSet {
        columns: ["tag", "table", "kind", "definition", "values"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

/// Who uses a tag, each list by name in the store's order.
#[derive(Debug, Default)]
pub struct TagUsers {
    /// Other tags whose definition names it.
    pub tags: Vec<String>,
    /// Dynamic segments of its table whose text names it.
    pub segments: Vec<String>,
    /// Campaigns whose audience WHERE or templates name it.
    pub campaigns: Vec<String>,
}

/// What keeps tag `name` from being dropped, in words (see [`tag_users`]).
pub fn users_of_tag(store: &Store, name: &str) -> Result<Vec<String>, ExecError> {
    let u = tag_users(store, name)?;
    let mut out: Vec<String> = u.tags.iter().map(|t| format!("tag `{t}`")).collect();
    out.extend(u.segments.iter().map(|s| format!("segment `{s}`")));
    out.extend(u.campaigns.iter().map(|c| format!("campaign `{c}`")));
    Ok(out)
}

/// Who uses tag `name`: other tags whose definition names it, dynamic
/// segments of its table whose text names it, and campaigns whose
/// audience WHERE or templates name it.
pub fn tag_users(store: &Store, name: &str) -> Result<TagUsers, ExecError> {
    let mut out = TagUsers::default();
    let Some(tag) = store.tag(name) else {
        return Ok(out);
    };
    let names_it = |text: &str| {
        segdb_query_lang::parse_expr(text).is_ok_and(|e| e.names().iter().any(|n| n == name))
    };
    out.tags = store
        .tags()
        .into_iter()
        .filter(|t| t.name != name && t.uses.iter().any(|u| u == name))
        .map(|t| t.name)
        .collect();
    for s in store.segments() {
        if s.kind == segdb_engine::SegmentKind::Dynamic
            && s.table == tag.table
            && s.text.as_deref().is_some_and(names_it)
        {
            out.segments.push(s.name);
        }
    }
    for c in campaigns::list(store)? {
        if c.def.table != tag.table {
            continue;
        }
        let in_audience = match &c.def.audience {
            segdb_campaigns::Audience::Where(text) => names_it(text),
            segdb_campaigns::Audience::Segment(_) => false,
        };
        let in_template = c.def.variants.iter().any(|v| {
            segdb_campaigns::template::parse(&v.template).is_ok_and(|t| {
                t.pieces.iter().any(|p| {
                    matches!(p, segdb_campaigns::template::Piece::Field { name: n, .. } if n == name)
                })
            })
        });
        if in_audience || in_template {
            out.campaigns.push(c.def.name);
        }
    }
    Ok(out)
}

/// `DROP TAG`: refused (409 `in_use`) while a tag, dynamic segment or
/// campaign names it, since it would no longer bind.
pub fn drop_tag(store: &Store, name: &str) -> Result<ResultSet, ExecError> {
    let users = users_of_tag(store, name)?;
    if !users.is_empty() {
        let them = if users.len() == 1 { "it" } else { "them" };
        return Err(ExecError::InUse(format!(
            "tag `{name}` is used by {}: drop or replace {them} first",
            users.join(", ")
        )));
    }
    store.drop_tag(name)?;
    Ok(one_row(&["dropped"], vec![json!(name)]))
}

/// SHOW FIELDS lists the table's derived tags after its fields, each as a
/// field of its kind: ENUM (its number of values; closed, as no other
/// value can appear) or BOOL; never SENSITIVE, no category; used by the
/// segments, campaigns and tags that name it.
pub fn add_tag_fields(store: &Store, table: &str, r: &mut ResultSet) -> Result<(), ExecError> {
    for t in store.tags().into_iter().filter(|t| t.table == table) {
        let users = tag_users(store, &t.name)?;
        let values = segdb_query_lang::parse_tag_definition(&t.text)
            .ok()
            .and_then(|d| segdb_query_lang::tag_values(&d));
        let (count, closed) = match &values {
            Some(v) => (json!(v.len()), json!(true)),
            None => (Value::Null, Value::Null),
        };
        let mut row = vec![
            json!(t.name),
            json!(kind(&values)),
            json!(false),
            Value::Null,
            count,
            closed,
        ];
        // The catalog's columns: a tag's source is `derived` and its users
        // are listed; the rest is null (its coverage and writes are not
        // kept for tags).
        for c in r.columns.iter().skip(row.len()) {
            row.push(match c.as_str() {
                "source" => json!("derived"),
                "segments" => json!(users.segments),
                "campaigns" => json!(users.campaigns),
                "tags" => json!(users.tags),
                _ => Value::Null,
            });
        }
        r.rows.push(row);
    }
    Ok(())
}
