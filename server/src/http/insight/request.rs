//! The body of `POST /v1/insight`, read key by key so that a mistake is
//! said in the API's words ("`top` must be a positive integer, found
//! \"10\""), never in Rust's ("expected usize"), and an unknown key gets a
//! "did you mean".

use serde_json::{Map, Value};

use super::super::api_error::ApiError;

/// What the body asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Request {
    pub table: String,
    pub filter: Option<String>,
    pub fields: Vec<String>,
    pub top: Option<usize>,
    /// One width for every INT field, or `{"age": 5, …}`.
    pub bucket_width: Option<Value>,
    pub quantiles: Option<Vec<f64>>,
    pub as_of: Option<String>,
    pub days: Option<i32>,
}

const KEYS: [&str; 8] = [
    "table",
    "where",
    "fields",
    "top",
    "bucket_width",
    "quantiles",
    "as_of",
    "days",
];

const EXAMPLE: &str =
    r#"{"table": "users", "where": "city = 'c000'", "fields": ["gender", "age"]}"#;

fn bad(message: String) -> ApiError {
    ApiError::bad_request("bad_json", message).with_hint(format!("for example {EXAMPLE}"))
}

/// A JSON value in a few words: `"10"`, `-3`, an array, …
fn show(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        other => {
            let text = other.to_string();
            if text.chars().count() > 40 {
                format!("{}…", text.chars().take(40).collect::<String>())
            } else {
                text
            }
        }
    }
}

fn wrong(key: &str, what: &str, v: &Value) -> ApiError {
    bad(format!("`{key}` must be {what}, found {}", show(v)))
}

fn string(key: &str, v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(wrong(key, "a string", other)),
    }
}

fn integer<T: TryFrom<i64>>(key: &str, what: &str, v: &Value) -> Result<Option<T>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64().map(T::try_from) {
            Some(Ok(x)) => Ok(Some(x)),
            _ => Err(wrong(key, what, v)),
        },
        other => Err(wrong(key, what, other)),
    }
}

/// Reads the body: JSON, an object, known keys of the right types.
pub fn parse(bytes: &[u8]) -> Result<Request, ApiError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let why = text.rfind(" at line ").map_or(&text[..], |at| &text[..at]);
        bad(format!("the body is not JSON: {why}")).at(e.line(), e.column().max(1))
    })?;
    let Value::Object(obj) = v else {
        return Err(wrong("the body", "a JSON object", &v));
    };
    read(&obj)
}

fn read(obj: &Map<String, Value>) -> Result<Request, ApiError> {
    let mut r = Request::default();
    for (key, v) in obj {
        match key.as_str() {
            "table" => {
                r.table = string(key, v)?.ok_or_else(|| wrong(key, "a table name", v))?;
            }
            "where" => r.filter = string(key, v)?,
            "fields" => {
                r.fields = match v {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items
                        .iter()
                        .map(|f| match f {
                            Value::String(s) => Ok(s.clone()),
                            other => Err(wrong("fields", "an array of field names", other)),
                        })
                        .collect::<Result<_, _>>()?,
                    other => return Err(wrong(key, "an array of field names", other)),
                }
            }
            "top" => {
                r.top = integer::<usize>(key, "a positive integer", v)?;
                if r.top == Some(0) {
                    return Err(wrong(key, "a positive integer", v));
                }
            }
            "bucket_width" => r.bucket_width = Some(v.clone()),
            "quantiles" => {
                r.quantiles = match v {
                    Value::Null => None,
                    Value::Array(items) => Some(
                        items
                            .iter()
                            .map(|q| {
                                q.as_f64().ok_or_else(|| {
                                    wrong("quantiles", "an array of numbers from 0 to 1", q)
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    other => return Err(wrong(key, "an array of numbers from 0 to 1", other)),
                }
            }
            "as_of" => r.as_of = string(key, v)?,
            "days" => r.days = integer::<i32>(key, "a number of days from 1 to 3660", v)?,
            unknown => {
                let hint = segdb_query_lang::did_you_mean(unknown, KEYS)
                    .map(|k| format!("did you mean `{k}`?"))
                    .unwrap_or_else(|| format!("the keys are {}", KEYS.join(", ")));
                return Err(
                    ApiError::bad_request("bad_json", format!("unknown key `{unknown}`"))
                        .with_hint(hint),
                );
            }
        }
    }
    if !obj.contains_key("table") {
        return Err(bad("`table` is missing: name the table to describe".into()));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        let e = parse(body.as_bytes()).unwrap_err();
        format!("{} | {}", e.message(), e.hint().unwrap_or_default())
    }

    #[test]
    fn mistakes_in_the_apis_words() {
        assert_eq!(
            err(r#"{"table":"users","top":"10"}"#),
            format!("`top` must be a positive integer, found \"10\" | for example {EXAMPLE}")
        );
        assert!(err(r#"{"table":"users","top":-1}"#)
            .starts_with("`top` must be a positive integer, found -1"));
        assert!(err(r#"{"table":"users","feilds":["age"]}"#)
            .starts_with("unknown key `feilds` | did you mean `fields`?"));
        assert!(err(r#"{"table":"users","fields":[1]}"#)
            .starts_with("`fields` must be an array of field names, found 1"));
        assert!(err(r#"{"table":"users""#)
            .starts_with("the body is not JSON: EOF while parsing an object |"));
        assert!(err(r#"[1]"#).starts_with("`the body` must be a JSON object, found an array"));
        assert!(err(r#"{"where":"age > 3"}"#).starts_with("`table` is missing"));
        for e in [
            err(r#"{"table":"users","top":"10"}"#),
            err(r#"{"table":"users","days":1e99}"#),
            err(r#"{"table":7}"#),
        ] {
            assert!(
                !e.contains("usize") && !e.contains("i32") && !e.contains("invalid type"),
                "{e}"
            );
        }
        let ok = parse(br#"{"table":"users","where":"age > 3","fields":["age"],"top":3,"days":7}"#)
            .unwrap();
        assert_eq!(
            ok,
            Request {
                table: "users".into(),
                filter: Some("age > 3".into()),
                fields: vec!["age".into()],
                top: Some(3),
                days: Some(7),
                ..Request::default()
            }
        );
    }
}
