//! Parsing blocks of input lines into typed rows, off the thread that
//! applies them. ENUM and SET values are interned per block (a block's
//! local value ids are mapped to the table's when the block is applied),
//! so that blocks parse in parallel without sharing anything mutable.

use rustc_hash::FxHashMap;
use segdb_storage_format::date::parse_iso_day;

use super::ImportFormat;
use crate::schema::{FieldKind, ID_COLUMN};

/// Longest external id accepted, in bytes.
const MAX_ID_LEN: usize = segdb_storage_format::dictionary::MAX_ID_LEN;

/// A bad line: the column and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad(pub String, pub String);

pub(crate) fn bad(column: &str, reason: impl Into<String>) -> Bad {
    Bad(column.to_owned(), reason.into())
}

/// What the parser needs to know of the table and the input's header.
#[derive(Debug, Clone)]
pub(crate) struct LineParser {
    pub format: ImportFormat,
    /// CSV: per column, the field and its kind (`None` for `user_id`).
    pub columns: Vec<Option<(usize, FieldKind)>>,
    /// CSV: column names.
    pub names: Vec<String>,
    /// CSV: index of the `user_id` column.
    pub id_col: usize,
    /// JSON lines and events: fields by name.
    pub fields: FxHashMap<String, (usize, FieldKind)>,
    /// For "did you mean" in JSON lines and events.
    pub field_names: Vec<String>,
}

/// A cell of a parsed block; strings and sets point into the block's arenas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PCell {
    Null,
    Enum(u32),
    Set(u32, u32),
    Bool(bool),
    Int(i64),
    Text(u32, u32),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PRow {
    /// Cells `cells[start..start + len]` of the row with this id.
    Cells {
        line: u64,
        id: (u32, u32),
        start: u32,
        len: u32,
    },
    /// Add `count` to `field` on `day`.
    Event {
        line: u64,
        id: (u32, u32),
        field: u32,
        day: i32,
        count: u64,
    },
    Bad {
        line: u64,
        bad: Bad,
    },
}

/// A block of lines, parsed.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// Data lines in the block (not counting empty ones).
    pub lines: u64,
    pub bytes: u64,
    pub last_line: u64,
    pub rows: Vec<PRow>,
    pub cells: Vec<(u32, PCell)>,
    pub sets: Vec<u32>,
    pub text: String,
    /// Per field: local value id -> text.
    pub locals: Vec<Vec<String>>,
    local_ids: Vec<FxHashMap<String, u32>>,
}

impl Block {
    fn intern(&mut self, field: usize, v: &str) -> u32 {
        if self.locals.len() <= field {
            self.locals.resize(field + 1, Vec::new());
            self.local_ids.resize(field + 1, FxHashMap::default());
        }
        if let Some(&id) = self.local_ids[field].get(v) {
            return id;
        }
        let id = self.locals[field].len() as u32;
        self.locals[field].push(v.to_owned());
        self.local_ids[field].insert(v.to_owned(), id);
        id
    }

    fn push_text(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, s.len() as u32)
    }

    /// The text of a range of the arena.
    pub fn str(&self, (start, len): (u32, u32)) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }
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

pub(crate) fn check_id(id: &str) -> Result<(), Bad> {
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

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
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

/// `"; did you mean `x`?"` for the nearest candidate, or nothing.
pub(crate) fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let best = candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// Calls `f` with each cell of a CSV line (RFC 4180 quoting, no newlines
/// inside quotes); unquoted cells are borrowed, quoted ones unescaped into
/// `scratch`.
pub(crate) fn split_csv<'a>(
    line: &'a str,
    scratch: &mut Vec<String>,
    out: &mut Vec<std::borrow::Cow<'a, str>>,
) -> Result<(), String> {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut s = scratch.pop().unwrap_or_default();
            s.clear();
            i += 1;
            let mut start = i;
            loop {
                match b[i..].iter().position(|&c| c == b'"') {
                    None => return Err("unterminated quote".into()),
                    Some(p) => {
                        s.push_str(&line[start..i + p]);
                        i += p + 1;
                        if b.get(i) == Some(&b'"') {
                            s.push('"');
                            i += 1;
                            start = i;
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push(std::borrow::Cow::Owned(s));
            match b.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(_) => return Err("text after a closing quote".into()),
            }
        } else {
            let end = b[i..]
                .iter()
                .position(|&c| c == b',')
                .map_or(b.len(), |p| i + p);
            let cell = &line[i..end];
            if cell.contains('"') {
                return Err("a quote inside an unquoted cell".into());
            }
            out.push(std::borrow::Cow::Borrowed(cell));
            if end == b.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

impl LineParser {
    /// Parses a block of whole lines; `first_line` is the number of its
    /// first line.
    pub fn parse_block(&self, text: &str, first_line: u64) -> Block {
        let mut block = Block {
            bytes: text.len() as u64,
            ..Block::default()
        };
        let mut cells = Vec::new();
        let mut scratch = Vec::new();
        let mut line_no = first_line;
        for line in text.split_inclusive('\n') {
            let line = line.trim_end_matches(['\n', '\r']);
            let this = line_no;
            line_no += 1;
            if line.is_empty() {
                continue;
            }
            block.lines += 1;
            let row = match self.format {
                ImportFormat::Csv => self.csv_row(&mut block, line, this, &mut cells, &mut scratch),
                ImportFormat::Events => {
                    self.event_row(&mut block, line, this, &mut cells, &mut scratch)
                }
                ImportFormat::JsonLines => self.json_row(&mut block, line, this),
            };
            let row = row.unwrap_or_else(|bad| PRow::Bad { line: this, bad });
            block.rows.push(row);
            for c in cells.drain(..) {
                if let std::borrow::Cow::Owned(s) = c {
                    scratch.push(s);
                }
            }
        }
        block.last_line = line_no.saturating_sub(1);
        block
    }

    fn cell(
        &self,
        block: &mut Block,
        f: usize,
        kind: FieldKind,
        column: &str,
        text: &str,
    ) -> Result<PCell, Bad> {
        if text.is_empty() {
            return Ok(PCell::Null);
        }
        Ok(match kind {
            FieldKind::Enum => PCell::Enum(block.intern(f, text)),
            FieldKind::Set => {
                let start = block.sets.len() as u32;
                for v in text.split('|').filter(|v| !v.is_empty()) {
                    let id = block.intern(f, v);
                    block.sets.push(id);
                }
                PCell::Set(start, block.sets.len() as u32 - start)
            }
            FieldKind::Bool => PCell::Bool(parse_bool(text).ok_or_else(|| {
                bad(
                    column,
                    format!("`{text}` is not a BOOL (0, 1, true or false)"),
                )
            })?),
            FieldKind::Int => PCell::Int(
                text.parse::<i64>()
                    .map_err(|_| bad(column, format!("`{text}` is not a 64-bit integer")))?,
            ),
            FieldKind::Text => {
                let (s, l) = block.push_text(text);
                PCell::Text(s, l)
            }
            FieldKind::Event => {
                return Err(bad(
                    column,
                    "EVENT fields are imported from the events format",
                ))
            }
        })
    }

    fn csv_row<'a>(
        &self,
        block: &mut Block,
        line: &'a str,
        line_no: u64,
        cells: &mut Vec<std::borrow::Cow<'a, str>>,
        scratch: &mut Vec<String>,
    ) -> Result<PRow, Bad> {
        split_csv(line, scratch, cells).map_err(|r| bad("-", r))?;
        if cells.len() != self.columns.len() {
            return Err(bad(
                "-",
                format!(
                    "{} cells, the header has {}",
                    cells.len(),
                    self.columns.len()
                ),
            ));
        }
        let id = &cells[self.id_col];
        check_id(id)?;
        let start = block.cells.len();
        for (i, text) in cells.iter().enumerate() {
            if let Some((f, kind)) = self.columns[i] {
                match self.cell(block, f, kind, &self.names[i], text) {
                    Ok(c) => block.cells.push((f as u32, c)),
                    Err(b) => {
                        block.cells.truncate(start);
                        return Err(b);
                    }
                }
            }
        }
        let id = block.push_text(&cells[self.id_col]);
        Ok(PRow::Cells {
            line: line_no,
            id,
            start: start as u32,
            len: (block.cells.len() - start) as u32,
        })
    }

    fn event_row<'a>(
        &self,
        block: &mut Block,
        line: &'a str,
        line_no: u64,
        cells: &mut Vec<std::borrow::Cow<'a, str>>,
        scratch: &mut Vec<String>,
    ) -> Result<PRow, Bad> {
        split_csv(line, scratch, cells).map_err(|r| bad("-", r))?;
        let [id, event, day, count] = cells.as_slice() else {
            return Err(bad(
                "-",
                format!(
                    "{} cells, expected 4 (user_id,event,day,count)",
                    cells.len()
                ),
            ));
        };
        check_id(id)?;
        let field = match self.fields.get(event.as_ref()) {
            Some(&(f, FieldKind::Event)) => f,
            Some(_) => return Err(bad("event", format!("`{event}` is not an EVENT field"))),
            None => {
                let hint = suggest(event, self.field_names.iter().map(String::as_str));
                return Err(bad("event", format!("unknown EVENT field `{event}`{hint}")));
            }
        };
        let day = parse_iso_day(day)
            .ok_or_else(|| bad("day", format!("`{day}` is not a date (YYYY-MM-DD)")))?;
        let count = count.parse::<u64>().map_err(|_| {
            bad(
                "count",
                format!("`{count}` is not a count (a non-negative integer)"),
            )
        })?;
        let id = block.push_text(id);
        Ok(PRow::Event {
            line: line_no,
            id,
            field: field as u32,
            day,
            count,
        })
    }

    fn json_row(&self, block: &mut Block, line: &str, line_no: u64) -> Result<PRow, Bad> {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| bad("-", format!("not JSON at column {}: {e}", e.column())))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("-", "a line must be a JSON object"))?;
        let id = obj
            .get(ID_COLUMN)
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad(ID_COLUMN, "missing, or not a string"))?;
        check_id(id)?;
        let start = block.cells.len();
        let result = self.json_cells(block, obj);
        if let Err(b) = result {
            block.cells.truncate(start);
            return Err(b);
        }
        let id = block.push_text(id);
        Ok(PRow::Cells {
            line: line_no,
            id,
            start: start as u32,
            len: (block.cells.len() - start) as u32,
        })
    }

    fn json_cells(
        &self,
        block: &mut Block,
        obj: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Bad> {
        use serde_json::Value;
        for (k, v) in obj {
            if k == ID_COLUMN {
                continue;
            }
            let Some(&(f, kind)) = self.fields.get(k.as_str()) else {
                let hint = suggest(k, self.field_names.iter().map(String::as_str));
                return Err(bad(k, format!("unknown field{hint}")));
            };
            let cell = match (kind, v) {
                (FieldKind::Event, _) => {
                    return Err(bad(k, "EVENT fields are imported from the events format"))
                }
                (_, Value::Null) => PCell::Null,
                (FieldKind::Enum, Value::String(t)) if !t.is_empty() => {
                    PCell::Enum(block.intern(f, t))
                }
                (FieldKind::Set, Value::Array(xs)) => {
                    let start = block.sets.len() as u32;
                    for x in xs {
                        match x.as_str() {
                            Some(t) if !t.is_empty() => {
                                let id = block.intern(f, t);
                                block.sets.push(id);
                            }
                            _ => return Err(bad(k, "SET values must be non-empty strings")),
                        }
                    }
                    PCell::Set(start, block.sets.len() as u32 - start)
                }
                (FieldKind::Bool, Value::Bool(b)) => PCell::Bool(*b),
                (FieldKind::Bool, Value::Number(n))
                    if n.as_u64() == Some(0) || n.as_u64() == Some(1) =>
                {
                    PCell::Bool(n.as_u64() == Some(1))
                }
                (FieldKind::Int, Value::Number(n)) => match n.as_i64() {
                    Some(x) => PCell::Int(x),
                    None => return Err(bad(k, format!("{n} is not a 64-bit integer"))),
                },
                (FieldKind::Text, Value::String(t)) => {
                    let (s, l) = block.push_text(t);
                    PCell::Text(s, l)
                }
                (kind, v) => {
                    return Err(bad(
                        k,
                        format!("{v} is not a valid {} value", kind.as_str()),
                    ))
                }
            };
            block.cells.push((f as u32, cell));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        split_csv(line, &mut Vec::new(), &mut out)?;
        Ok(out.into_iter().map(|c| c.into_owned()).collect())
    }

    #[test]
    fn csv_splitting() {
        assert_eq!(split("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(split("\"a,b\",\"x\"\"y\"").unwrap(), ["a,b", "x\"y"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split("a,").unwrap(), ["a", ""]);
        assert_eq!(split("\"\"").unwrap(), [""]);
        assert!(split("\"open").is_err());
        assert!(split("a\"b").is_err());
        assert!(split("\"a\"b").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("cty", ["city", "age"].into_iter()),
            "; did you mean `city`?"
        );
        assert_eq!(suggest("zzzzzz", ["city"].into_iter()), "");
    }
}
