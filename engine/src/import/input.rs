//! Reading import inputs line by line into typed cells, with errors that
//! name the line, the column and the reason.

use std::io::{BufRead, BufReader, Read};

use segdb_storage_format::date::parse_iso_day;

use super::builder::Cell;
use super::{
    apply_event, apply_row, ImportFormat, ImportOptions, ImportProgress, ImportReport, OnError,
    Session,
};
use crate::error::{EngineError, Result};
use crate::schema::{FieldKind, ID_COLUMN};
use crate::table::ValueDict;

/// Longest external id accepted, in bytes.
const MAX_ID_LEN: usize = segdb_storage_format::dictionary::MAX_ID_LEN;

/// A bad line: column and reason.
struct Bad(String, String);

fn bad(column: &str, reason: impl Into<String>) -> Bad {
    Bad(column.to_owned(), reason.into())
}

fn parse_cell(
    kind: FieldKind,
    dict: &mut ValueDict,
    column: &str,
    text: &str,
) -> std::result::Result<Cell, Bad> {
    if text.is_empty() {
        return Ok(Cell::Null);
    }
    Ok(match kind {
        FieldKind::Enum => Cell::Enum(dict.intern(text)),
        FieldKind::Set => Cell::Set(
            text.split('|')
                .filter(|v| !v.is_empty())
                .map(|v| dict.intern(v))
                .collect(),
        ),
        FieldKind::Bool => Cell::Bool(parse_bool(text).ok_or_else(|| {
            bad(
                column,
                format!("`{text}` is not a BOOL (0, 1, true or false)"),
            )
        })?),
        FieldKind::Int => Cell::Int(
            text.parse::<i64>()
                .map_err(|_| bad(column, format!("`{text}` is not a 64-bit integer")))?,
        ),
        FieldKind::Text => Cell::Text(text.to_owned()),
        FieldKind::Event => {
            return Err(bad(
                column,
                "EVENT fields are imported from the events format",
            ))
        }
    })
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "1" => Some(true),
        "0" => Some(false),
        _ if t.eq_ignore_ascii_case("true") => Some(true),
        _ if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn check_id(id: &str) -> std::result::Result<(), Bad> {
    if id.is_empty() {
        return Err(bad(ID_COLUMN, "empty external id"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(bad(
            ID_COLUMN,
            format!("external id longer than {MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

fn suggest(name: &str, candidates: impl Iterator<Item = String>) -> String {
    let best = candidates
        .map(|c| (strsim(name, &c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// Levenshtein distance.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Handles a bad line according to the options: an error to stop with, or
/// a skipped line.
fn on_bad(opts: &ImportOptions<'_>, report: &mut ImportReport, line: u64, b: Bad) -> Result<()> {
    let err = EngineError::BadInput {
        source_name: opts.source_name.clone(),
        line,
        column: b.0,
        reason: b.1,
    };
    match opts.on_error {
        OnError::Abort => Err(err),
        OnError::Skip => {
            report.skipped += 1;
            if report.errors.len() < 100 {
                report.errors.push(err.to_string());
            }
            Ok(())
        }
    }
}

pub(super) fn read_lines(
    s: &mut Session<'_>,
    format: ImportFormat,
    input: impl Read,
    opts: &ImportOptions<'_>,
    report: &mut ImportReport,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line = String::new();
    let mut line_no = 0u64;
    let header_line = |e: EngineError| e;
    let read =
        |reader: &mut BufReader<_>, line: &mut String, report: &mut ImportReport| -> Result<bool> {
            line.clear();
            let n = reader.read_line(line).map_err(|e| EngineError::Input {
                source_name: opts.source_name.clone(),
                error: e,
            })?;
            report.bytes += n as u64;
            while line.ends_with('\n') || line.ends_with('\r') {
                line.pop();
            }
            Ok(n > 0)
        };
    let mut header: Vec<Option<(usize, FieldKind)>> = Vec::new();
    let mut id_col = 0usize;
    let mut names: Vec<String> = Vec::new();
    if format != ImportFormat::JsonLines {
        if !read(&mut reader, &mut line, report)? {
            return Ok(());
        }
        line_no = 1;
        names = split_csv(&line).map_err(|r| bad_header(opts, r))?;
        let schema = s.table.schema();
        if format == ImportFormat::Events {
            if names != ["user_id", "event", "day", "count"] {
                return Err(header_line(bad_header(
                    opts,
                    format!("the events header must be `user_id,event,day,count`, found `{line}`"),
                )));
            }
        } else {
            let mut seen = std::collections::HashSet::new();
            let mut has_id = false;
            for (i, n) in names.iter().enumerate() {
                if !seen.insert(n.clone()) {
                    return Err(bad_header(opts, format!("column `{n}` appears twice")));
                }
                if n == ID_COLUMN {
                    id_col = i;
                    has_id = true;
                    header.push(None);
                    continue;
                }
                match schema.field_index(n) {
                    Some(f) if schema.fields[f].kind == FieldKind::Event => {
                        return Err(bad_header(
                            opts,
                            format!(
                                "`{n}` is an EVENT field: import its counts with the events format"
                            ),
                        ))
                    }
                    Some(f) => header.push(Some((f, schema.fields[f].kind))),
                    None => {
                        let hint = suggest(n, schema.fields.iter().map(|f| f.name.clone()));
                        return Err(bad_header(
                            opts,
                            format!("unknown field `{n}` in table `{}`{hint}", s.table.name()),
                        ));
                    }
                }
            }
            if !has_id {
                return Err(bad_header(
                    opts,
                    format!("the header has no `{ID_COLUMN}` column"),
                ));
            }
        }
    }
    loop {
        if !read(&mut reader, &mut line, report)? {
            break;
        }
        line_no += 1;
        if line.is_empty() {
            continue;
        }
        report.lines += 1;
        if report.lines.is_multiple_of(100_000) {
            if let Some(p) = opts.progress {
                p(ImportProgress {
                    lines: report.lines,
                    bytes: report.bytes,
                    finishing: false,
                });
            }
        }
        let outcome = match format {
            ImportFormat::Csv => csv_row(s, &line, &names, &header, id_col),
            ImportFormat::JsonLines => json_row(s, &line),
            ImportFormat::Events => event_row(s, &line),
        };
        match outcome {
            Ok(Ok(())) => report.applied += 1,
            Ok(Err(b)) => on_bad(opts, report, line_no, b)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn bad_header(opts: &ImportOptions<'_>, reason: String) -> EngineError {
    EngineError::BadInput {
        source_name: opts.source_name.clone(),
        line: 1,
        column: "header".into(),
        reason,
    }
}

/// Splits a CSV line (RFC 4180 quoting; no newlines inside quotes).
fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',')) {
                        return Err("text after a closing quote".into());
                    }
                }
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
            continue;
        } else if c == '"' && at_start {
            quoted = true;
        } else if c == '"' {
            return Err("a quote inside an unquoted cell".into());
        } else {
            cur.push(c);
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(cur);
    Ok(out)
}

type Outcome = Result<std::result::Result<(), Bad>>;

fn csv_row(
    s: &mut Session<'_>,
    line: &str,
    names: &[String],
    header: &[Option<(usize, FieldKind)>],
    id_col: usize,
) -> Outcome {
    let cells = match split_csv(line) {
        Ok(c) => c,
        Err(r) => return Ok(Err(bad("-", r))),
    };
    if cells.len() != header.len() {
        return Ok(Err(bad(
            "-",
            format!("{} cells, the header has {}", cells.len(), header.len()),
        )));
    }
    let id = &cells[id_col];
    if let Err(b) = check_id(id) {
        return Ok(Err(b));
    }
    let mut typed = Vec::with_capacity(cells.len());
    for (i, text) in cells.iter().enumerate() {
        if let Some((f, kind)) = header[i] {
            match parse_cell(kind, &mut s.values[f], &names[i], text) {
                Ok(c) => typed.push((f, c)),
                Err(b) => return Ok(Err(b)),
            }
        }
    }
    apply_row(s, id, typed).map(Ok)
}

fn json_row(s: &mut Session<'_>, line: &str) -> Outcome {
    let v: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Err(bad(
                "-",
                format!("not JSON at column {}: {e}", e.column()),
            )))
        }
    };
    let Some(obj) = v.as_object() else {
        return Ok(Err(bad("-", "a line must be a JSON object")));
    };
    let Some(id) = obj.get(ID_COLUMN).and_then(|v| v.as_str()) else {
        return Ok(Err(bad(ID_COLUMN, "missing, or not a string")));
    };
    if let Err(b) = check_id(id) {
        return Ok(Err(b));
    }
    let mut typed = Vec::new();
    for (k, v) in obj {
        if k == ID_COLUMN {
            continue;
        }
        let schema = s.table.schema();
        let Some(f) = schema.field_index(k) else {
            let hint = suggest(k, schema.fields.iter().map(|f| f.name.clone()));
            return Ok(Err(bad(k, format!("unknown field{hint}"))));
        };
        let kind = schema.fields[f].kind;
        let dict = &mut s.values[f];
        let cell = match (kind, v) {
            (_, serde_json::Value::Null) => Cell::Null,
            (FieldKind::Enum, serde_json::Value::String(t)) if !t.is_empty() => {
                Cell::Enum(dict.intern(t))
            }
            (FieldKind::Set, serde_json::Value::Array(xs)) => {
                let mut ids = Vec::new();
                for x in xs {
                    match x.as_str() {
                        Some(t) if !t.is_empty() => ids.push(dict.intern(t)),
                        _ => return Ok(Err(bad(k, "SET values must be non-empty strings"))),
                    }
                }
                Cell::Set(ids)
            }
            (FieldKind::Bool, serde_json::Value::Bool(b)) => Cell::Bool(*b),
            (FieldKind::Bool, serde_json::Value::Number(n))
                if n.as_u64() == Some(0) || n.as_u64() == Some(1) =>
            {
                Cell::Bool(n.as_u64() == Some(1))
            }
            (FieldKind::Int, serde_json::Value::Number(n)) => match n.as_i64() {
                Some(x) => Cell::Int(x),
                None => return Ok(Err(bad(k, format!("{n} is not a 64-bit integer")))),
            },
            (FieldKind::Text, serde_json::Value::String(t)) => Cell::Text(t.clone()),
            (FieldKind::Event, _) => {
                return Ok(Err(bad(
                    k,
                    "EVENT fields are imported from the events format",
                )))
            }
            (kind, v) => {
                return Ok(Err(bad(
                    k,
                    format!("{v} is not a valid {} value", kind.as_str()),
                )))
            }
        };
        typed.push((f, cell));
    }
    apply_row(s, id, typed).map(Ok)
}

fn event_row(s: &mut Session<'_>, line: &str) -> Outcome {
    let cells = match split_csv(line) {
        Ok(c) => c,
        Err(r) => return Ok(Err(bad("-", r))),
    };
    let [id, event, day, count] = cells.as_slice() else {
        return Ok(Err(bad(
            "-",
            format!(
                "{} cells, expected 4 (user_id,event,day,count)",
                cells.len()
            ),
        )));
    };
    if let Err(b) = check_id(id) {
        return Ok(Err(b));
    }
    let schema = s.table.schema();
    let field = match schema.field_index(event) {
        Some(f) if schema.fields[f].kind == FieldKind::Event => f,
        Some(_) => {
            return Ok(Err(bad(
                "event",
                format!("`{event}` is not an EVENT field"),
            )))
        }
        None => {
            let hint = suggest(
                event,
                schema
                    .fields
                    .iter()
                    .filter(|f| f.kind == FieldKind::Event)
                    .map(|f| f.name.clone()),
            );
            return Ok(Err(bad(
                "event",
                format!("unknown EVENT field `{event}`{hint}"),
            )));
        }
    };
    let Some(day) = parse_iso_day(day) else {
        return Ok(Err(bad(
            "day",
            format!("`{day}` is not a date (YYYY-MM-DD)"),
        )));
    };
    let Ok(count) = count.parse::<u64>() else {
        return Ok(Err(bad(
            "count",
            format!("`{count}` is not a count (a non-negative integer)"),
        )));
    };
    if count == 0 {
        return Ok(Ok(()));
    }
    apply_event(s, id, field, day, count).map(Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_splitting() {
        assert_eq!(split_csv("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(split_csv("\"a,b\",\"x\"\"y\"").unwrap(), ["a,b", "x\"y"]);
        assert_eq!(split_csv("").unwrap(), [""]);
        assert!(split_csv("\"open").is_err());
        assert!(split_csv("a\"b").is_err());
        assert!(split_csv("\"a\"b").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("cty", ["city".to_string(), "age".to_string()].into_iter()),
            "; did you mean `city`?"
        );
        assert_eq!(suggest("zzzzzz", ["city".to_string()].into_iter()), "");
    }
}
