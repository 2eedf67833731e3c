//! The field catalog: per field its kind, catalog entries (description,
//! category, owner, source), coverage, number of values, when it was last
//! written, and the dynamic segments, derived tags and campaigns that use
//! it. `SHOW
//! FIELDS`, `GET /v1/tables/{t}` and `GET /v1/tables/{t}/fields` all read
//! it from here.

use std::collections::BTreeMap;

use segdb_campaigns::CampaignStore;
use segdb_engine::{FieldDef, FieldKind, SegmentKind, Store, Table};
use serde_json::{json, Value};

use super::{ExecError, ResultSet, StoreCatalog};

/// The columns of `SHOW FIELDS`: those it had before the catalog, then the
/// catalog's.
pub const COLUMNS: [&str; 15] = [
    "field",
    "kind",
    "sensitive",
    "category",
    "values",
    "closed",
    "description",
    "owner",
    "source",
    "coverage",
    "rows_with_value",
    "last_written",
    "segments",
    "campaigns",
    "tags",
];

/// Who uses each field of a table: dynamic segments (directly or through
/// the segments they use), derived tags (their definitions, directly or
/// through the tags and segments they use) and campaigns (audience, goal,
/// templates), each list in the store's order.
#[derive(Debug, Default)]
pub struct UsedBy {
    segments: BTreeMap<String, Vec<String>>,
    campaigns: BTreeMap<String, Vec<String>>,
    tags: BTreeMap<String, Vec<String>>,
}

impl UsedBy {
    /// The users of `table`'s fields. Campaigns are read from the catalog
    /// file in the store's directory (the commit point of every campaign
    /// change).
    pub fn of(store: &Store, table: &str) -> Result<UsedBy, ExecError> {
        let catalog = StoreCatalog::new(store);
        let mut by = UsedBy::default();
        let add = |map: &mut BTreeMap<String, Vec<String>>, field: String, user: &str| {
            let users = map.entry(field).or_default();
            if !users.iter().any(|u| u == user) {
                users.push(user.to_owned());
            }
        };
        for s in store.segments() {
            if s.kind != SegmentKind::Dynamic || s.table != table {
                continue;
            }
            for u in segdb_query_lang::segment_fields(&s.name, &catalog) {
                if u.table == table {
                    add(&mut by.segments, u.field, &s.name);
                }
            }
        }
        for t in store.tags() {
            if t.table != table {
                continue;
            }
            for f in segdb_campaigns::fields::tag_fields(table, &t.name, &catalog) {
                add(&mut by.tags, f, &t.name);
            }
        }
        let campaigns = CampaignStore::open_read_only(store.dir())
            .map_err(|e| ExecError::DataCorruption(e.to_string()))?
            .map(|c| c.list())
            .unwrap_or_default();
        for c in campaigns.iter().filter(|c| c.def.table == table) {
            for f in segdb_campaigns::fields::fields_read(&c.def, &catalog) {
                add(&mut by.campaigns, f, &c.def.name);
            }
        }
        Ok(by)
    }

    fn segments(&self, field: &str) -> &[String] {
        self.segments.get(field).map_or(&[], Vec::as_slice)
    }

    fn campaigns(&self, field: &str) -> &[String] {
        self.campaigns.get(field).map_or(&[], Vec::as_slice)
    }

    /// The derived tags whose definitions read `field`, by name.
    pub fn tags(&self, field: &str) -> &[String] {
        self.tags.get(field).map_or(&[], Vec::as_slice)
    }
}

/// The catalog entry of `f` in `table` as a JSON object: `name`, `kind`,
/// `sensitive`, `category`, for ENUM and SET `values` (their number) and
/// `closed`, then `description`, `owner`, `source`, `coverage` (the share
/// of rows with a value, null for a table without rows),
/// `rows_with_value`, `last_written` (ISO time or null), `segments`,
/// `campaigns`, `tags`.
pub fn entry(table: &Table, f: &FieldDef, used: &UsedBy) -> Result<Value, ExecError> {
    let with_value = table.rows_with_value(&f.name)?;
    let rows = table.num_rows();
    let c = &f.catalog;
    let mut v = json!({
        "name": f.name,
        "kind": f.kind.as_str(),
        "sensitive": f.sensitive,
        "category": f.category,
    });
    if matches!(f.kind, FieldKind::Enum | FieldKind::Set) {
        v["values"] = json!(table.field_values(&f.name).len());
        v["closed"] = json!(f.closed);
    }
    v["description"] = json!(c.description);
    v["owner"] = json!(c.owner);
    v["source"] = json!(c.source.as_str());
    v["coverage"] = if rows == 0 {
        Value::Null
    } else {
        json!(with_value as f64 / rows as f64)
    };
    v["rows_with_value"] = json!(with_value);
    v["last_written"] = json!(c
        .last_written_ms
        .map(|ms| crate::audit::time::format_ms(i64::try_from(ms).unwrap_or(i64::MAX))));
    v["segments"] = json!(used.segments(&f.name));
    v["campaigns"] = json!(used.campaigns(&f.name));
    v["tags"] = json!(used.tags(&f.name));
    Ok(v)
}

/// The entries of `table`'s user fields that `keep` keeps, in schema order.
pub fn entries(
    store: &Store,
    table: &Table,
    keep: impl Fn(&FieldDef) -> bool,
) -> Result<Vec<Value>, ExecError> {
    let used = UsedBy::of(store, table.name())?;
    table
        .schema()
        .user_fields()
        .filter(|f| keep(f))
        .map(|f| entry(table, f, &used))
        .collect()
}

/// Whether entry `e` matches `search`: a case-insensitive substring of its
/// name, description, category or owner (an empty search matches all).
pub fn matches(e: &Value, search: &str) -> bool {
    let needle = search.to_lowercase();
    ["name", "description", "category", "owner"]
        .iter()
        .filter_map(|k| e.get(*k).and_then(Value::as_str))
        .any(|s| s.to_lowercase().contains(&needle))
}

/// `SHOW FIELDS FROM t`: one row per user field, [`COLUMNS`].
pub fn show_fields(store: &Store, table: &Table) -> Result<ResultSet, ExecError> {
    let rows = entries(store, table, |_| true)?
        .into_iter()
        .map(|e| {
            let mut row: Vec<Value> = COLUMNS
                .iter()
                .map(|c| e.get(if *c == "field" { "name" } else { c }).cloned())
                .map(Option::unwrap_or_default)
                .collect();
            if row[4].is_null() {
                row[5] = Value::Null;
            }
            row
        })
        .collect();
    Ok(ResultSet {
        columns: COLUMNS.map(String::from).to_vec(),
        rows,
    })
}
