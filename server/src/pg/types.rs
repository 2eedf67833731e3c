//! segdb's answers as Postgres rows: each column's type (`int8`,
//! `float8`, `bool`, `text`, `date`, `text[]`) and each value in the text
//! or binary format the client asked for.
//!
//! A SELECT's columns are typed from its projection (COUNT, SUM, MIN, MAX
//! and QUANTILE are `int8`, AVG `float8`, ids and group values `text`),
//! so a Describe answers before anything runs. Other answers (SHOW,
//! INSIGHT, CALL, EXPLAIN) are typed from their values: a column of
//! integers is `int8`, of numbers `float8`, of booleans `bool`, of arrays
//! (SET values) `text[]`, of `YYYY-MM-DD` strings `date`, else `text`.

use bytes::{BufMut, BytesMut};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;
use segdb_engine::Aggregate;
use segdb_query_lang::Projection;
use serde_json::Value;

use crate::exec::ResultSet;
use crate::http::ApiError;

/// A column's Postgres type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `int8`.
    Int8,
    /// `float8`.
    Float8,
    /// `bool`.
    Bool,
    /// `text`.
    Text,
    /// `date`.
    Date,
    /// `text[]`.
    TextArray,
}

impl Kind {
    fn pg(self) -> Type {
        match self {
            Kind::Int8 => Type::INT8,
            Kind::Float8 => Type::FLOAT8,
            Kind::Bool => Type::BOOL,
            Kind::Text => Type::TEXT,
            Kind::Date => Type::DATE,
            Kind::TextArray => Type::TEXT_ARRAY,
        }
    }
}

/// A column of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: Kind,
}

impl Column {
    /// A column named `name` of type `kind`.
    pub fn new(name: impl Into<String>, kind: Kind) -> Column {
        Column {
            name: name.into(),
            kind,
        }
    }
}

/// The columns of a SELECT with `projection`.
pub fn select_columns(projection: &Projection) -> Vec<Column> {
    match projection {
        Projection::Count => vec![Column::new("count", Kind::Int8)],
        Projection::Ids { .. } => vec![Column::new(segdb_engine::ID_COLUMN, Kind::Text)],
        Projection::Aggregates(aggs) => aggs
            .iter()
            .map(|a| match a {
                Aggregate::Count => Column::new("count", Kind::Int8),
                Aggregate::Sum(f) => Column::new(format!("sum({f})"), Kind::Int8),
                Aggregate::Avg(f) => Column::new(format!("avg({f})"), Kind::Float8),
                Aggregate::Min(f) => Column::new(format!("min({f})"), Kind::Int8),
                Aggregate::Max(f) => Column::new(format!("max({f})"), Kind::Int8),
                Aggregate::Quantile(f, q) => Column::new(format!("quantile({f}, {q})"), Kind::Int8),
            })
            .collect(),
        Projection::GroupBy { field, .. } => vec![
            Column::new(field.clone(), Kind::Text),
            Column::new("count", Kind::Int8),
        ],
        Projection::GroupByTag { tag, .. } => vec![
            Column::new(tag.clone(), Kind::Text),
            Column::new("count", Kind::Int8),
        ],
    }
}

/// The columns of `r`, typed from its values.
pub fn infer_columns(r: &ResultSet) -> Vec<Column> {
    r.columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut kind: Option<Kind> = None;
            for v in r.rows.iter().filter_map(|row| row.get(i)) {
                let k = match v {
                    Value::Null => continue,
                    Value::Number(n) if n.is_i64() => Kind::Int8,
                    Value::Number(_) => Kind::Float8,
                    Value::Bool(_) => Kind::Bool,
                    Value::Array(_) => Kind::TextArray,
                    Value::String(s) if is_date(s) => Kind::Date,
                    _ => Kind::Text,
                };
                kind = Some(match (kind, k) {
                    (None, k) => k,
                    (Some(a), b) if a == b => a,
                    (Some(Kind::Int8 | Kind::Float8), Kind::Int8 | Kind::Float8) => Kind::Float8,
                    _ => Kind::Text,
                });
            }
            Column::new(name.clone(), kind.unwrap_or(Kind::Text))
        })
        .collect()
}

/// `YYYY-MM-DD`, a real day.
fn is_date(s: &str) -> bool {
    s.len() == 10 && days_since_2000(s).is_some()
}

/// Days from 2000-01-01 (Postgres's epoch) to the day `s`.
fn days_since_2000(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let day = segdb_storage_format::date::parse_iso_day(s)?;
    Some(day as i32 - 10_957)
}

/// The field descriptions of `columns`, each in the format `format`
/// gives it (text when `None`).
pub fn fields(columns: &[Column], format: Option<&Format>) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = format.map_or(FieldFormat::Text, |f| f.format_for(i));
            FieldInfo::new(c.name.clone(), None, None, c.kind.pg(), f)
        })
        .collect()
}

/// One row as a `DataRow` of `fields` (their types and formats).
pub fn encode_row(
    row: &[Value],
    columns: &[Column],
    fields: &[FieldInfo],
) -> Result<DataRow, ApiError> {
    let mut buf = BytesMut::with_capacity(16 * row.len());
    for (i, c) in columns.iter().enumerate() {
        let v = row.get(i).unwrap_or(&Value::Null);
        let binary = fields
            .get(i)
            .is_some_and(|f| f.format() == FieldFormat::Binary);
        encode_value(&mut buf, v, c, binary)?;
    }
    Ok(DataRow::new(buf, columns.len() as i16))
}

fn encode_value(buf: &mut BytesMut, v: &Value, c: &Column, binary: bool) -> Result<(), ApiError> {
    if v.is_null() {
        buf.put_i32(-1);
        return Ok(());
    }
    let at = buf.len();
    buf.put_i32(0);
    let bad = || {
        ApiError::internal(format!(
            "the value {v} of column `{}` is not of its type {:?}",
            c.name, c.kind
        ))
    };
    match c.kind {
        Kind::Int8 => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                ApiError::bad_request(
                    "out_of_range",
                    format!("the value {v} of column `{}` does not fit in int8", c.name),
                )
            })?;
            if binary {
                buf.put_i64(n);
            } else {
                buf.put_slice(itoa::Buffer::new().format(n).as_bytes());
            }
        }
        Kind::Float8 => {
            let x = v.as_f64().ok_or_else(bad)?;
            if binary {
                buf.put_f64(x);
            } else {
                buf.put_slice(float_text(x).as_bytes());
            }
        }
        Kind::Bool => {
            let b = v.as_bool().ok_or_else(bad)?;
            if binary {
                buf.put_u8(u8::from(b));
            } else {
                buf.put_u8(if b { b't' } else { b'f' });
            }
        }
        Kind::Text => match v {
            Value::String(s) => buf.put_slice(s.as_bytes()),
            other => buf.put_slice(other.to_string().as_bytes()),
        },
        Kind::Date => {
            let s = v.as_str().ok_or_else(bad)?;
            if binary {
                buf.put_i32(days_since_2000(s).ok_or_else(bad)?);
            } else {
                buf.put_slice(s.as_bytes());
            }
        }
        Kind::TextArray => {
            let items: Vec<String> = v
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if binary {
                array_binary(buf, &items);
            } else {
                buf.put_slice(array_text(&items).as_bytes());
            }
        }
    }
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// A float as Postgres writes it: the shortest exact form, `Infinity`,
/// `NaN`.
fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{x}")
    }
}

/// `{a,b,"c d"}`: an element is quoted when empty, `NULL`, or holding a
/// brace, comma, quote, backslash or space.
pub fn array_text(items: &[String]) -> String {
    let mut out = String::from("{");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let quote = s.is_empty()
            || s.eq_ignore_ascii_case("null")
            || s.chars()
                .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
        if quote {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str(s);
        }
    }
    out.push('}');
    out
}

/// A one-dimensional `text[]` in the binary format.
fn array_binary(buf: &mut BytesMut, items: &[String]) {
    buf.put_i32(i32::from(!items.is_empty()));
    buf.put_i32(0);
    buf.put_u32(Type::TEXT.oid());
    if !items.is_empty() {
        buf.put_i32(items.len() as i32);
        buf.put_i32(1);
    }
    for s in items {
        buf.put_i32(s.len() as i32);
        buf.put_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_typed_from_values() {
        let r = ResultSet {
            columns: vec!["a", "b", "c", "d", "e", "f", "g"]
                .into_iter()
                .map(String::from)
                .collect(),
            rows: vec![
                vec![
                    json!(1),
                    json!(1.5),
                    json!(true),
                    json!("x"),
                    json!(["p"]),
                    json!("2026-01-02"),
                    json!(null),
                ],
                vec![
                    json!(2),
                    json!(2),
                    json!(null),
                    json!(3),
                    json!([]),
                    json!("2026-02-28"),
                    json!(null),
                ],
            ],
        };
        let kinds: Vec<Kind> = infer_columns(&r).into_iter().map(|c| c.kind).collect();
        use Kind::*;
        assert_eq!(kinds, [Int8, Float8, Bool, Text, TextArray, Date, Text]);
    }

    #[test]
    fn arrays_and_dates_are_written_as_postgres_does() {
        let items: Vec<String> = ["a", "b c", "", "NULL", "q\"x"].map(String::from).to_vec();
        assert_eq!(array_text(&items), r#"{a,"b c","","NULL","q\"x"}"#);
        assert_eq!(days_since_2000("2000-01-01"), Some(0));
        assert_eq!(days_since_2000("1999-12-31"), Some(-1));
        assert_eq!(days_since_2000("2000-02-30"), None);
        assert_eq!(float_text(2.0), "2");
        assert_eq!(float_text(0.25), "0.25");
    }
}
