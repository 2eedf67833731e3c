//! One row's profile as the API and `CALL profile` show it: every field,
//! EVENT counts per day over a window, the value of each derived tag of
//! the table on the window's last day (the first WHEN that holds for the
//! row, found with `Table::row_matches`), and the named segments the row
//! is in. A SENSITIVE field the caller may not use is redacted; a limited
//! caller (see [`crate::permissions`]) sees neither the fields nor the
//! segments it may not use.

use segdb_engine::{date, DayRange, ProfileValue, SegmentKind, Store};
use segdb_query_lang::{bind_segment, bind_tag};
use serde_json::{json, Map, Value};

use crate::exec::{Access, ExecError, StoreCatalog};

/// A profile, shaped for JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileView {
    /// The row id.
    pub row: u32,
    /// The external id.
    pub id: String,
    /// `(field, kind, value)` in schema order.
    pub fields: Vec<(String, &'static str, Value)>,
    /// Fields shown as `[redacted]`.
    pub redacted: Vec<String>,
    /// `(tag, value)` of the table's derived tags, by name: the value on
    /// the window's last day (`null`: none; `true`/`false` for a BOOL
    /// tag; `[redacted]` over a field the caller may not use).
    pub tags: Vec<(String, Value)>,
    /// `(segment, kind)` of the segments of the table holding the row.
    pub segments: Vec<(String, SegmentKind)>,
    /// The window of the EVENT counts.
    pub window: DayRange,
}

/// The profile of `id` in `table` (`None`: no such id).
pub fn profile(
    store: &Store,
    table: &str,
    id: &str,
    window: DayRange,
    access: &Access,
) -> Result<Option<ProfileView>, ExecError> {
    let t = store.table(table)?;
    let Some(p) = t.profile(id, window)? else {
        return Ok(None);
    };
    let mut redacted = Vec::new();
    let fields = p
        .fields
        .iter()
        // The engine's profile lists the user fields, in schema order.
        .zip(t.schema().user_fields())
        // A limited principal sees only the fields it may use.
        .filter(|(_, def)| access.shows(table, def))
        .map(|((name, value), def)| {
            let v = match value {
                _ if !access.may_use(table, def) => {
                    redacted.push(name.clone());
                    json!("[redacted]")
                }
                ProfileValue::Null => Value::Null,
                ProfileValue::Enum(v) | ProfileValue::Text(v) => json!(v),
                ProfileValue::Set(vs) => json!(vs),
                ProfileValue::Bool(b) => json!(b),
                ProfileValue::Int(i) => json!(i),
                ProfileValue::Events(days) => {
                    let total: u64 = days.iter().map(|(_, c)| c).sum();
                    let per_day: Map<String, Value> = days
                        .iter()
                        .map(|(d, c)| (date::format_iso_day(*d), json!(c)))
                        .collect();
                    json!({"total": total, "days": per_day})
                }
            };
            (name.clone(), def.kind.as_str(), v)
        })
        .collect();
    let catalog = StoreCatalog::new(store);
    let mut tags = Vec::new();
    for tag in store.tags() {
        if tag.table != table {
            continue;
        }
        // Bound against the fields the caller may use: a tag over another
        // field would tell what the row holds in it.
        let value = match bind_tag(&tag.name, &access.catalog(&catalog), window.last) {
            Ok(bound) => {
                let mut value = Value::Null;
                for (v, rows) in &bound.values {
                    if t.row_matches(p.row, rows)? {
                        value = if bound.is_bool {
                            json!(v == "true")
                        } else {
                            json!(v)
                        };
                        break;
                    }
                }
                value
            }
            // A limited caller is not shown it; another is told it is
            // there (over a SENSITIVE field), as a SENSITIVE field is.
            Err(_) if access.is_limited() => continue,
            Err(_) if bind_tag(&tag.name, &catalog, window.last).is_ok() => {
                redacted.push(tag.name.clone());
                json!("[redacted]")
            }
            // A definition that no longer binds has no value.
            Err(_) => Value::Null,
        };
        tags.push((tag.name, value));
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let mut segments = Vec::new();
    for s in store.segments() {
        // Membership of a segment the principal may not use would tell
        // what the row holds in a field it may not use.
        if s.table != table || access.check_segment(&s.name, &catalog).is_err() {
            continue;
        }
        let (_, expr) = bind_segment(&s.name, &catalog, window.last)?;
        if t.row_matches(p.row, &expr)? {
            segments.push((s.name, s.kind));
        }
    }
    Ok(Some(ProfileView {
        row: p.row,
        id: p.external_id,
        fields,
        redacted,
        tags,
        segments,
        window,
    }))
}

impl ProfileView {
    /// `{"id", "row", "window", "fields": {name: value}, "derived",
    /// "redacted", "segments": [{"name", "kind"}]}`: the derived tags'
    /// values stand in `fields` after the stored fields, and `derived`
    /// names them.
    pub fn to_json(&self, table: &str) -> Value {
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .map(|(n, _, v)| (n.clone(), v.clone()))
            .chain(self.tags.iter().map(|(n, v)| (n.clone(), v.clone())))
            .collect();
        let derived: Vec<&str> = self.tags.iter().map(|(n, _)| n.as_str()).collect();
        json!({
            "table": table,
            "id": self.id,
            "row": self.row,
            "window": {
                "first": date::format_iso_day(self.window.first),
                "last": date::format_iso_day(self.window.last),
            },
            "fields": fields,
            "derived": derived,
            "redacted": self.redacted,
            "segments": self.segments.iter().map(|(n, k)| json!({"name": n, "kind": k.as_str()})).collect::<Vec<_>>(),
        })
    }
}

/// The `campaigns` part of a profile's answer: the runs that held the
/// user, newest first (`{"campaign", "state", "run", "run_day", "group",
/// "holdout", "sent", "sent_day", "effects"}`), and `campaign_runs`:
/// `{"read", "total", "limit"}` (only the newest `limit` runs of the
/// table's campaigns are read).
pub fn campaigns_json(view: &segdb_campaigns::UserView, limit: usize) -> (Value, Value) {
    use segdb_campaigns::UserGroup;
    let runs: Vec<Value> = view
        .runs
        .iter()
        .map(|r| {
            let group = match &r.group {
                UserGroup::Variant { name, .. } => name.as_str(),
                UserGroup::Holdout => "holdout",
                UserGroup::Capped => "capped",
                UserGroup::Waiting => "waiting",
            };
            json!({
                "campaign": r.campaign,
                "state": r.state.as_str(),
                "run": r.run,
                "run_day": date::format_iso_day(r.run_day),
                "group": group,
                "holdout": r.group == UserGroup::Holdout,
                "sent": r.sent_day.is_some(),
                "sent_day": r.sent_day.map(date::format_iso_day),
                "effects": r.effects.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    (
        json!(runs),
        json!({"read": view.runs_read, "total": view.runs_total, "limit": limit}),
    )
}
