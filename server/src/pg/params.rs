//! `$1`, `$2`… in a prepared statement: found outside strings, quoted
//! names and comments, and replaced by the bound values written as
//! literals of segdb's language (a string quoted with its quotes doubled,
//! a number checked to be one, TRUE or FALSE), never spliced in as they
//! came. Errors in the result are placed back on the text the client
//! sent.

use bytes::Bytes;
use pgwire::api::Type;

use crate::http::ApiError;

/// Where a `$n` is in a text: its byte range and `n`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder {
    start: usize,
    end: usize,
    n: usize,
}

/// The placeholders of `text`, in order.
fn placeholders(text: &str) -> Vec<Placeholder> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                // To the closing quote; a doubled quote stays inside.
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'$' => {
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 {
                    let end = i + 1 + digits;
                    if let Ok(n) = text[i + 1..end].parse::<usize>() {
                        out.push(Placeholder { start: i, end, n });
                    }
                    i = end;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// How many parameters `text` takes: the highest `$n`.
pub fn count(text: &str) -> usize {
    placeholders(text).iter().map(|p| p.n).max().unwrap_or(0)
}

/// A text with its placeholders replaced, and where each replacement is.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The text to run.
    pub text: String,
    /// Per replacement: its start in the original text, the original's
    /// and the replacement's lengths (in characters).
    map: Vec<(usize, usize, usize)>,
}

impl Bound {
    /// A text without parameters.
    pub fn plain(text: &str) -> Bound {
        Bound {
            text: text.to_owned(),
            map: Vec::new(),
        }
    }

    /// A 1-based character position in the bound text, as a position in
    /// the text the client sent (a place inside a replaced value is the
    /// place of its `$n`).
    pub fn original_position(&self, pos: usize) -> usize {
        let mut shift: isize = 0;
        for &(orig_start, orig_len, new_len) in &self.map {
            let new_start = (orig_start as isize + shift) as usize;
            if pos <= new_start {
                break;
            }
            if pos <= new_start + new_len {
                return orig_start + 1;
            }
            shift += new_len as isize - orig_len as isize;
        }
        (pos as isize - shift).max(1) as usize
    }
}

/// One bound value: its declared type, and its bytes in the format given.
pub struct Value<'a> {
    /// The type the client declared (or the server described: `text`).
    pub ty: &'a Type,
    /// Binary format rather than text.
    pub binary: bool,
    /// The bytes, or NULL.
    pub bytes: Option<&'a Bytes>,
}

/// `text` with each `$n` replaced by the literal of `values[n - 1]`.
pub fn bind(text: &str, values: &[Value<'_>]) -> Result<Bound, ApiError> {
    let mut out = String::with_capacity(text.len() + 16 * values.len());
    let mut map = Vec::new();
    let mut last = 0;
    for p in placeholders(text) {
        let v = values.get(p.n.wrapping_sub(1)).ok_or_else(|| {
            ApiError::bad_request(
                "bad_parameter",
                format!("${} has no value: {} were bound", p.n, values.len()),
            )
        })?;
        let literal = literal(v, p.n)?;
        out.push_str(&text[last..p.start]);
        map.push((
            text[..p.start].chars().count(),
            p.end - p.start,
            literal.chars().count(),
        ));
        out.push_str(&literal);
        last = p.end;
    }
    out.push_str(&text[last..]);
    Ok(Bound { text: out, map })
}

/// `s` as a string literal: quoted, its quotes doubled.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(v: &Value<'_>, n: usize) -> Result<String, ApiError> {
    let bad = |why: String| ApiError::bad_request("bad_parameter", format!("${n}: {why}"));
    let Some(bytes) = v.bytes else {
        // segdb's language has no NULL value (only `IS [NOT] NULL`):
        // refused, never bound as something else (22004).
        return Err(ApiError::bad_request(
            "null_parameter",
            format!("${n}: NULL is not a value segdb compares with"),
        )
        .with_hint("leave the condition out, or write `field IS NULL`, instead of binding NULL"));
    };
    let ty = v.ty;
    if v.binary {
        let fixed = |len: usize| -> Result<&[u8], ApiError> {
            if bytes.len() == len {
                Ok(bytes)
            } else {
                Err(bad(format!(
                    "{} bytes for a binary {}",
                    bytes.len(),
                    ty.name()
                )))
            }
        };
        return Ok(match *ty {
            Type::INT2 => i16::from_be_bytes(fixed(2)?.try_into().unwrap_or_default()).to_string(),
            Type::INT4 => i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default()).to_string(),
            Type::INT8 => i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default()).to_string(),
            Type::FLOAT4 => number(f64::from(f32::from_be_bytes(
                fixed(4)?.try_into().unwrap_or_default(),
            )))
            .map_err(bad)?,
            Type::FLOAT8 => {
                number(f64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default())).map_err(bad)?
            }
            Type::BOOL => if fixed(1)?[0] != 0 { "TRUE" } else { "FALSE" }.into(),
            Type::DATE => {
                let d = i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default());
                let (y, m, dd) =
                    segdb_storage_format::date::civil_from_day(d.saturating_add(10_957));
                quote(&format!("{y:04}-{m:02}-{dd:02}"))
            }
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                quote(&utf8(bytes).map_err(bad)?)
            }
            _ => {
                return Err(bad(format!(
                    "a binary {} is not supported; send it as text",
                    ty.name()
                )))
            }
        });
    }
    let text = utf8(bytes).map_err(bad)?;
    Ok(match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 => text
            .trim()
            .parse::<i64>()
            .map_err(|_| bad(format!("`{text}` is not an integer")))?
            .to_string(),
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => {
            let x: f64 = text
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{text}` is not a number")))?;
            number(x).map_err(bad)?
        }
        Type::BOOL => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "on" | "yes" | "y" => "TRUE".into(),
            "f" | "false" | "0" | "off" | "no" | "n" => "FALSE".into(),
            _ => return Err(bad(format!("`{text}` is not a boolean"))),
        },
        _ => quote(&text),
    })
}

/// A finite number as a literal: an integer when it is one.
fn number(x: f64) -> Result<String, String> {
    if !x.is_finite() {
        return Err(format!("{x} is not a finite number"));
    }
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Ok(format!("{}", x as i64))
    } else {
        Ok(format!("{x}"))
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "the value is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ty: &Type, s: &str) -> (Type, Bytes) {
        (ty.clone(), Bytes::from(s.to_owned()))
    }

    #[test]
    fn placeholders_outside_strings_and_comments() {
        let q = "SELECT '$1' FROM t WHERE a = $1 -- $2\n AND \"$3\" = $2 /* $9 */";
        let ps: Vec<usize> = placeholders(q).iter().map(|p| p.n).collect();
        assert_eq!(ps, vec![1, 2]);
        assert_eq!(count(q), 2);
    }

    #[test]
    fn values_become_quoted_literals() {
        let vals = [
            text(&Type::TEXT, "it's'; DROP TABLE users; --"),
            text(&Type::INT8, "42"),
        ];
        let values: Vec<Value<'_>> = vals
            .iter()
            .map(|(t, b)| Value {
                ty: t,
                binary: false,
                bytes: Some(b),
            })
            .collect();
        let b = bind(
            "SELECT COUNT(*) FROM users WHERE city = $1 AND age > $2",
            &values,
        )
        .unwrap();
        assert_eq!(
            b.text,
            "SELECT COUNT(*) FROM users WHERE city = 'it''s''; DROP TABLE users; --' AND age > 42"
        );
        let bad = [text(&Type::INT8, "1 OR 1=1")];
        let values = [Value {
            ty: &bad[0].0,
            binary: false,
            bytes: Some(&bad[0].1),
        }];
        assert!(bind("SELECT $1", &values).is_err());
    }

    #[test]
    fn positions_map_back_to_the_sent_text() {
        let vals = [text(&Type::TEXT, "abcdef")];
        let values = [Value {
            ty: &vals[0].0,
            binary: false,
            bytes: Some(&vals[0].1),
        }];
        // "x = $1 AND y" -> "x = 'abcdef' AND y"
        let b = bind("x = $1 AND y", &values).unwrap();
        assert_eq!(b.original_position(1), 1);
        assert_eq!(b.original_position(6), 5);
        let y = b.text.find('y').unwrap() + 1;
        assert_eq!(
            b.original_position(y),
            "x = $1 AND y".find('y').unwrap() + 1
        );
    }
}
