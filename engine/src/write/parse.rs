//! JSON lines to a typed [`Batch`], checked against a table's schema.

use std::cell::RefCell;

use rustc_hash::{FxHashMap, FxHashSet};
use segdb_storage_format::date::{format_iso_day, parse_iso_day, parse_rfc3339, today, Day};
use serde_json::{Map, Value};

use super::op::{Batch, Op, SetValue};
use crate::error::Result;
use crate::import::parse::{bad, key_at, not_json, suggest, Bad};
use crate::live::DEFAULT_MAX_FIELD_VALUES;
use crate::schema::{FieldKind, Schema, MAX_VALUE_LEN};
use crate::table::Table;
use crate::MAX_DAY_COUNT;

/// The `source_name` of the `BadInput` errors of [`parse_batch`].
pub const INGEST_SOURCE: &str = "ingest batch";

/// Longest external id accepted, in bytes (as in imports).
const MAX_ID_LEN: usize = segdb_storage_format::dictionary::MAX_ID_LEN;

/// The keys a line may hold.
const KEYS: [&str; 10] = [
    "id", "set", "add", "remove", "clear", "event", "delete", "day", "at", "count",
];
const OPERATIONS: [&str; 6] = ["set", "add", "remove", "clear", "event", "delete"];

/// Parses a batch of operations, one JSON object per line (empty lines are
/// skipped but counted), against `schema`:
///
/// - `{"id":"u1","set":{"city":"c001","age":31}}`: ENUM (a non-empty
///   string), BOOL (`true`/`false`/`0`/`1`), INT (a 64-bit integer) and TEXT
///   (a string) fields; `null` is refused (use `clear`).
/// - `{"id":"u1","add":{"interests":["i03"]}}` and `remove`: SET fields,
///   each with a non-empty list of non-empty strings.
/// - `{"id":"u1","clear":["contract_end_days"]}`: any fields.
/// - `{"id":"u1","event":"search","day":"2026-11-22","count":2}`: an EVENT
///   field, an ISO day and a positive count (1 if left out). The day may
///   be given as the event's time instead, `"at":"2026-11-22T10:00:00Z"`
///   (RFC 3339; its UTC day counts), or both if they agree; with neither,
///   the day is today's (UTC, the server's clock).
/// - `{"id":"u9","delete":true}`.
///
/// Every line holds `id` (a non-empty string of at most 1,024 bytes) and
/// exactly one operation. The first bad line fails the whole batch with
/// `EngineError::BadInput` naming its 1-based line number, the key at fault
/// and the reason (with a "did you mean" for an unknown field or key).
/// The returned batch has no idempotency key; the caller sets it.
///
/// ENUM and SET values are at most [`MAX_VALUE_LEN`] bytes, and a line
/// adds at most [`DEFAULT_MAX_FIELD_VALUES`] values to a SET.
pub fn parse_batch(schema: &Schema, text: &str) -> Result<Batch> {
    parse(schema, None, DEFAULT_MAX_FIELD_VALUES, text)
}

/// The values a batch adds to one field (of an open ENUM or SET field):
/// what an ingest answer warns of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewValues {
    /// The field.
    pub field: String,
    /// The values, sorted.
    pub values: Vec<String>,
}

/// [`parse_batch_for`], also returning the values the batch adds to the
/// table's fields, by field in schema order.
pub fn parse_batch_noting(
    table: &Table,
    text: &str,
    max_field_values: u32,
) -> Result<(Batch, Vec<NewValues>)> {
    let (batch, new) = parse_noting(table.schema(), Some(table), max_field_values, text)?;
    Ok((batch, new))
}

/// [`parse_batch`] against `table`, with `max_field_values` (the store's
/// [`crate::LiveOptions::max_field_values`]): a line adds at most that
/// many values to a SET, and the first line whose new values would give a
/// field more distinct values than that fails the batch, naming the line
/// and the field. Counted against `table`, the snapshot the batch is
/// checked with; batches checked at once each count only their own new
/// values.
pub fn parse_batch_for(table: &Table, text: &str, max_field_values: u32) -> Result<Batch> {
    parse(table.schema(), Some(table), max_field_values, text)
}

fn parse(schema: &Schema, table: Option<&Table>, max_values: u32, text: &str) -> Result<Batch> {
    Ok(parse_noting(schema, table, max_values, text)?.0)
}

fn parse_noting(
    schema: &Schema,
    table: Option<&Table>,
    max_values: u32,
    text: &str,
) -> Result<(Batch, Vec<NewValues>)> {
    // System fields are not the user's to write: they are unknown here.
    let fields: FxHashMap<&str, (u32, FieldKind)> = schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.is_system())
        .map(|(i, f)| (f.name.as_str(), (i as u32, f.kind)))
        .collect();
    let parser = Parser {
        schema,
        fields,
        table,
        max_values,
        new_values: RefCell::default(),
    };
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let op = parser
            .parse_line(line)
            .map_err(|b| key_at(b, line).into_error(INGEST_SOURCE, i as u64 + 1))?;
        ops.push(op);
    }
    let mut new: Vec<(u32, FxHashSet<String>)> =
        parser.new_values.into_inner().into_iter().collect();
    new.sort_by_key(|(f, _)| *f);
    let new = new
        .into_iter()
        .map(|(f, values)| {
            let mut values: Vec<String> = values.into_iter().collect();
            values.sort();
            NewValues {
                field: schema.fields[f as usize].name.clone(),
                values,
            }
        })
        .collect();
    Ok((
        Batch {
            idempotency_key: None,
            ops,
        },
        new,
    ))
}

struct Parser<'a> {
    schema: &'a Schema,
    fields: FxHashMap<&'a str, (u32, FieldKind)>,
    /// The table whose values count toward `max_values`, if checked.
    table: Option<&'a Table>,
    max_values: u32,
    /// Per field, the values this batch adds to the table.
    new_values: RefCell<FxHashMap<u32, FxHashSet<String>>>,
}

/// A JSON value shortened for an error message.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

impl Parser<'_> {
    /// Checks a value an ENUM `set` or a SET `add` brings to field `f`.
    fn check_value(&self, f: u32, name: &str, v: &str) -> Result<(), Bad> {
        if v.len() > MAX_VALUE_LEN {
            return Err(bad(
                name,
                format!(
                    "a value of {} bytes; values have at most {MAX_VALUE_LEN}",
                    v.len()
                ),
            ));
        }
        let Some(t) = self.table else {
            return Ok(());
        };
        let dict = t.value_dict(f as usize);
        if dict.id(v).is_some() {
            return Ok(());
        }
        if self.schema.fields.get(f as usize).is_some_and(|d| d.closed) {
            let hint = suggest(v, dict.values().iter().map(String::as_str));
            return Err(bad(
                name,
                format!(
                    "{} is not a value of `{name}`, a CLOSED field: ingest adds no values to it",
                    show(&Value::String(v.to_owned()))
                ),
            )
            .hinted(hint.or_else(|| {
                Some(format!(
                    "its values come from imports; it has {} (SHOW FIELDS FROM the table lists them)",
                    dict.len()
                ))
            })));
        }
        let mut new = self.new_values.borrow_mut();
        let set = new.entry(f).or_default();
        if !set.contains(v) {
            if dict.len() + set.len() >= self.max_values as usize {
                return Err(bad(
                    name,
                    format!(
                        "new value {} would give the field more than {} distinct values \
                         (max_field_values); it has {}",
                        show(&Value::String(v.to_owned())),
                        self.max_values,
                        dict.len() + set.len()
                    ),
                ));
            }
            set.insert(v.to_owned());
        }
        Ok(())
    }

    fn parse_line(&self, line: &str) -> Result<Op, Bad> {
        let v: Value = serde_json::from_str(line).map_err(|e| not_json(&e))?;
        let Value::Object(obj) = v else {
            return Err(bad("-", "a line must be a JSON object"));
        };
        for k in obj.keys() {
            if !KEYS.contains(&k.as_str()) {
                let hint = suggest(k, KEYS.into_iter());
                return Err(bad(k, "unknown key").hinted(hint));
            }
        }
        let id = match obj.get("id") {
            None => return Err(bad("id", "missing: every line names its row's external id")),
            Some(Value::String(s)) if s.is_empty() => return Err(bad("id", "empty external id")),
            Some(Value::String(s)) if s.len() > MAX_ID_LEN => {
                return Err(bad(
                    "id",
                    format!("external id longer than {MAX_ID_LEN} bytes"),
                ))
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(bad("id", format!("{} is not a string", show(other)))),
        };
        let found: Vec<&str> = OPERATIONS
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let op = match found.as_slice() {
            [op] => *op,
            [] => return Err(bad(
                "-",
                "no operation: expected one of `set`, `add`, `remove`, `clear`, `event`, `delete`",
            )),
            [a, b, ..] => {
                return Err(bad(
                    b,
                    format!("one operation per line: found `{a}` and `{b}`"),
                ))
            }
        };
        if op != "event" {
            for k in ["day", "at", "count"] {
                if obj.contains_key(k) {
                    return Err(bad(k, format!("`{k}` belongs to an `event` operation")));
                }
            }
        }
        let body = &obj[op];
        match op {
            "set" => self.parse_set(id, op, body),
            "add" | "remove" => {
                let values = self.parse_set_values(op, body)?;
                Ok(if op == "add" {
                    Op::Add { id, values }
                } else {
                    Op::Remove { id, values }
                })
            }
            "clear" => self.parse_clear(id, body),
            "event" => self.parse_event(id, body, &obj),
            _ => match body {
                Value::Bool(true) => Ok(Op::Delete { id }),
                other => Err(bad(
                    "delete",
                    format!("must be `true`, found {}", show(other)),
                )),
            },
        }
    }

    fn field(&self, name: &str) -> Result<(u32, FieldKind), Bad> {
        self.fields.get(name).copied().ok_or_else(|| {
            let hint = suggest(name, self.schema.user_fields().map(|f| f.name.as_str()));
            bad(name, "unknown field").hinted(hint)
        })
    }

    fn object<'v>(&self, op: &str, body: &'v Value) -> Result<&'v Map<String, Value>, Bad> {
        match body {
            Value::Object(m) if m.is_empty() => Err(bad(op, "names no field")),
            Value::Object(m) => Ok(m),
            other => Err(bad(
                op,
                format!("must be an object of fields, found {}", show(other)),
            )),
        }
    }

    fn parse_set(&self, id: String, op: &str, body: &Value) -> Result<Op, Bad> {
        let mut values = Vec::new();
        for (name, v) in self.object(op, body)? {
            let (f, kind) = self.field(name)?;
            let value = match (kind, v) {
                (FieldKind::Set, _) => {
                    return Err(bad(name, "is a SET field: use `add` or `remove`"))
                }
                (FieldKind::Event, _) => {
                    return Err(bad(name, "is an EVENT field: use an `event` operation"))
                }
                (_, Value::Null) => return Err(bad(name, "null: use `clear` to clear a field")),
                (FieldKind::Enum, Value::String(s)) if !s.is_empty() => {
                    self.check_value(f, name, s)?;
                    SetValue::Enum(s.clone())
                }
                (FieldKind::Bool, Value::Bool(b)) => SetValue::Bool(*b),
                (FieldKind::Bool, Value::Number(n)) if matches!(n.as_u64(), Some(0 | 1)) => {
                    SetValue::Bool(n.as_u64() == Some(1))
                }
                (FieldKind::Int, Value::Number(n)) => match n.as_i64() {
                    Some(x) => SetValue::Int(x),
                    None => return Err(bad(name, format!("{n} is not a 64-bit integer"))),
                },
                (FieldKind::Text, Value::String(s)) => SetValue::Text(s.clone()),
                (kind, v) => {
                    let expected = match kind {
                        FieldKind::Enum => "a non-empty string",
                        FieldKind::Bool => "true, false, 0 or 1",
                        FieldKind::Int => "an integer",
                        _ => "a string",
                    };
                    return Err(bad(
                        name,
                        format!(
                            "{} is not a valid {} value ({expected})",
                            show(v),
                            kind.as_str()
                        ),
                    ));
                }
            };
            values.push((f, value));
        }
        Ok(Op::Set { id, values })
    }

    fn parse_set_values(&self, op: &str, body: &Value) -> Result<Vec<(u32, Vec<String>)>, Bad> {
        let mut out = Vec::new();
        for (name, v) in self.object(op, body)? {
            let (f, kind) = self.field(name)?;
            if kind != FieldKind::Set {
                return Err(bad(
                    name,
                    format!(
                        "is {}: `{op}` applies to SET fields{}",
                        kind.as_str(),
                        if kind == FieldKind::Event {
                            "; use an `event` operation"
                        } else {
                            "; use `set`"
                        }
                    ),
                ));
            }
            let Value::Array(items) = v else {
                return Err(bad(
                    name,
                    format!("must be a list of values, found {}", show(v)),
                ));
            };
            if items.is_empty() {
                return Err(bad(name, "an empty list of values"));
            }
            if items.len() > self.max_values as usize {
                return Err(bad(
                    name,
                    format!(
                        "{} values in one line; a line lists at most {} (max_field_values)",
                        items.len(),
                        self.max_values
                    ),
                ));
            }
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() => {
                        if op == "add" {
                            self.check_value(f, name, s)?;
                        }
                        values.push(s.clone())
                    }
                    other => {
                        return Err(bad(
                            name,
                            format!(
                                "SET values must be non-empty strings, found {}",
                                show(other)
                            ),
                        ))
                    }
                }
            }
            out.push((f, values));
        }
        Ok(out)
    }

    fn parse_clear(&self, id: String, body: &Value) -> Result<Op, Bad> {
        let Value::Array(items) = body else {
            return Err(bad(
                "clear",
                format!("must be a list of field names, found {}", show(body)),
            ));
        };
        if items.is_empty() {
            return Err(bad("clear", "names no field"));
        }
        let mut fields = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(name) = item else {
                return Err(bad(
                    "clear",
                    format!("field names are strings, found {}", show(item)),
                ));
            };
            fields.push(self.field(name)?.0);
        }
        Ok(Op::Clear { id, fields })
    }

    fn parse_event(&self, id: String, body: &Value, obj: &Map<String, Value>) -> Result<Op, Bad> {
        let Value::String(name) = body else {
            return Err(bad(
                "event",
                format!("must name an EVENT field, found {}", show(body)),
            ));
        };
        let (field, kind) = self.field(name)?;
        if kind != FieldKind::Event {
            return Err(bad(
                name,
                format!("is {}, not an EVENT field", kind.as_str()),
            ));
        }
        let day = match obj.get("day") {
            None => None,
            Some(Value::String(s)) => Some(
                parse_iso_day(s)
                    .ok_or_else(|| bad("day", format!("`{s}` is not a date (YYYY-MM-DD)")))?,
            ),
            Some(other) => {
                return Err(bad(
                    "day",
                    format!("{} is not a date (a string YYYY-MM-DD)", show(other)),
                ))
            }
        };
        let at_day = match obj.get("at") {
            None => None,
            Some(Value::String(s)) => {
                let secs = parse_rfc3339(s).map_err(|_| {
                    bad(
                        "at",
                        format!("`{s}` is not an RFC 3339 time such as 2026-11-22T10:00:00Z"),
                    )
                })?;
                Some(secs.div_euclid(86_400) as Day)
            }
            Some(other) => {
                return Err(bad(
                    "at",
                    format!(
                        "{} is not a time (a string such as 2026-11-22T10:00:00Z)",
                        show(other)
                    ),
                ))
            }
        };
        let day = match (day, at_day) {
            (Some(d), Some(a)) if d != a => {
                return Err(bad(
                    "day",
                    format!(
                        "`{}` is not the day of `at` ({}): give one, or both alike",
                        format_iso_day(d),
                        format_iso_day(a)
                    ),
                ))
            }
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => today(),
        };
        let count = match obj.get("count") {
            None => 1,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(c) if c > MAX_DAY_COUNT => {
                    return Err(bad(
                        "count",
                        format!("{n} is past the limit of {MAX_DAY_COUNT} events a day"),
                    ))
                }
                Some(c) if c > 0 => c,
                _ => return Err(bad("count", format!("{n} is not a positive integer"))),
            },
            Some(other) => {
                return Err(bad(
                    "count",
                    format!("{} is not a positive integer", show(other)),
                ))
            }
        };
        Ok(Op::Event {
            id,
            field,
            day,
            count,
        })
    }
}
