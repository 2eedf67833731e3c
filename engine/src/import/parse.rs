//! Parsing blocks of input lines into typed rows, off the thread that
//! applies them. ENUM and SET values are interned per block (a block's
//! local value ids are mapped to the table's when the block is applied),
//! so that blocks parse in parallel without sharing anything mutable.

use rustc_hash::FxHashMap;
use segdb_storage_format::date::parse_iso_day;
use segdb_storage_format::dictionary::hash_id;

use super::ImportFormat;
use crate::csv::split_record;
use crate::schema::{FieldKind, ID_COLUMN, MAX_VALUE_LEN};
use crate::MAX_DAY_COUNT;

/// Longest external id accepted, in bytes.
const MAX_ID_LEN: usize = segdb_storage_format::dictionary::MAX_ID_LEN;

/// A bad line: the column (or key; `-` for the whole line), the reason,
/// and where known, the position in the line and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    pub column: String,
    pub reason: String,
    /// A CSV cell's column number, or the byte where a line stopped being
    /// JSON, from 1.
    pub position: Option<u64>,
    pub hint: Option<String>,
}

pub(crate) fn bad(column: &str, reason: impl Into<String>) -> Bad {
    Bad {
        column: column.to_owned(),
        reason: reason.into(),
        position: None,
        hint: None,
    }
}

impl Bad {
    /// The same, at `position` in the line.
    pub fn at(mut self, position: u64) -> Bad {
        self.position = Some(position);
        self
    }

    /// The same, with `hint` if there is one.
    pub fn hinted(mut self, hint: Option<String>) -> Bad {
        self.hint = hint;
        self
    }

    /// As the error of line `line` of `source_name`.
    pub fn into_error(self, source_name: &str, line: u64) -> crate::EngineError {
        crate::EngineError::BadInput {
            source_name: source_name.to_owned(),
            line,
            column: self.column,
            reason: self.reason,
            position: self.position,
            hint: self.hint,
        }
    }
}

/// `b`, at the byte where its key is first written in `line` (the key
/// quoted, as JSON writes it), if it names one and has no position yet.
pub(crate) fn key_at(b: Bad, line: &str) -> Bad {
    if b.position.is_some() || b.column == "-" {
        return b;
    }
    let quoted = serde_json::to_string(&b.column).unwrap_or_default();
    match line.find(&quoted) {
        Some(at) => {
            let column = line[..at].chars().count() as u64 + 1;
            b.at(column)
        }
        None => b,
    }
}

/// A line that is not JSON: where it stopped being JSON, and why, without
/// serde's "at line 1 column 32" (a line is always line 1 to it).
pub(crate) fn not_json(e: &serde_json::Error) -> Bad {
    let text = e.to_string();
    let why = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    bad("-", format!("not JSON: {why}")).at(e.column() as u64)
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
    /// The most values one SET cell may list (the store's
    /// `max_field_values`).
    pub max_values: u32,
}

/// An ENUM or SET value past [`MAX_VALUE_LEN`].
fn value_too_long(column: &str, v: &str) -> Bad {
    bad(
        column,
        format!(
            "a value of {} bytes; values have at most {MAX_VALUE_LEN}",
            v.len()
        ),
    )
}

/// A SET cell listing more than `max` values.
fn too_many_values(column: &str, n: usize, max: u32) -> Bad {
    bad(
        column,
        format!("{n} values in one cell; a SET cell lists at most {max} (max_field_values)"),
    )
}

/// A cell of a parsed block; strings and sets point into the block's arenas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PCell {
    /// The row does not set this field (JSON lines without the key, bad rows).
    Absent,
    Null,
    Enum(u32),
    Set(u32, u32),
    Bool(bool),
    Int(i64),
    Text(u32, u32),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PRow {
    /// A row with this id; its cells are in the block's columns.
    Cells {
        line: u64,
        id: (u32, u32),
        hash: u64,
    },
    /// Add `count` to `field` on `day`.
    Event {
        line: u64,
        id: (u32, u32),
        hash: u64,
        field: u32,
        day: i32,
        count: u64,
    },
    Bad {
        line: u64,
        bad: Bad,
    },
}

/// Block-local value ids of one field: a hash table of indices into the
/// field's value list, compared without calling `memcmp` (values are short).
#[derive(Debug, Default, Clone)]
struct Interner {
    table: hashbrown::HashTable<u32>,
    hashes: Vec<u64>,
}

/// Byte equality for short strings, inline (no call to `memcmp`).
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_le_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        if x != y {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

fn fx_hash(v: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(v);
    h.finish()
}

impl Interner {
    fn intern(&mut self, values: &mut Vec<String>, v: &str) -> u32 {
        let h = fx_hash(v.as_bytes());
        if let Some(&i) = self.table.find(h, |&i| {
            self.hashes[i as usize] == h && same_bytes(values[i as usize].as_bytes(), v.as_bytes())
        }) {
            return i;
        }
        let i = values.len() as u32;
        values.push(v.to_owned());
        self.hashes.push(h);
        let hashes = &self.hashes;
        self.table.insert_unique(h, i, |&j| hashes[j as usize]);
        i
    }
}

/// A block of lines, parsed.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// Data lines in the block (not counting empty ones).
    pub lines: u64,
    pub bytes: u64,
    pub last_line: u64,
    pub rows: Vec<PRow>,
    /// Cells by column: `cols[c].1[k]` is row `k`'s cell of field `cols[c].0`.
    pub cols: Vec<(u32, Vec<PCell>)>,
    /// Field index -> column index + 1 (0: no column yet).
    col_of_field: Vec<u32>,
    pub sets: Vec<u32>,
    pub text: String,
    /// Per field: local value id -> text.
    pub locals: Vec<Vec<String>>,
    local_ids: Vec<Interner>,
}

impl Block {
    fn intern(&mut self, field: usize, v: &str) -> u32 {
        if self.locals.len() <= field {
            self.locals.resize(field + 1, Vec::new());
            self.local_ids.resize_with(field + 1, Interner::default);
        }
        self.local_ids[field].intern(&mut self.locals[field], v)
    }

    /// The index of the column of `field`, created (padded with `Absent`)
    /// if new.
    fn col(&mut self, field: usize) -> usize {
        if self.col_of_field.len() <= field {
            self.col_of_field.resize(field + 1, 0);
        }
        if self.col_of_field[field] == 0 {
            self.cols
                .push((field as u32, vec![PCell::Absent; self.rows.len()]));
            self.col_of_field[field] = self.cols.len() as u32;
        }
        self.col_of_field[field] as usize - 1
    }

    /// Ends a row pushed to `rows`: every column gets exactly one cell for
    /// it (`Absent` if the row set none, or if the row is bad).
    fn end_row(&mut self, ok: bool) {
        let n = self.rows.len();
        for (_, cells) in &mut self.cols {
            cells.truncate(if ok { n } else { n - 1 });
            cells.resize(n, PCell::Absent);
        }
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

#[cold]
fn cell_error(column: &str, text: &str, what: &str) -> Box<Bad> {
    Box::new(bad(column, format!("`{text}` {what}")))
}

/// Parses a decimal `i64` (optional sign); `None` if not one or out of range.
#[inline]
fn parse_i64(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return if digits.len() > 19 {
            t.parse().ok()
        } else {
            None
        };
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    if neg {
        if v <= 1 << 63 {
            Some((v as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(v).ok()
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.as_bytes() {
        [b'1'] => Some(true),
        [b'0'] => Some(false),
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

/// "did you mean `x`?" for the nearest candidate, if one is near.
pub(crate) fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

impl LineParser {
    /// Parses a block of whole lines; `first_line` is the number of its
    /// first line.
    pub fn parse_block(&self, text: &str, first_line: u64) -> Block {
        let mut block = Block {
            bytes: text.len() as u64,
            ..Block::default()
        };
        // CSV: one column per header column, in header order.
        for (f, _) in self.columns.iter().flatten() {
            block.col(*f);
        }
        let mut cells = Vec::new();
        let mut scratch = Vec::new();
        // JSON lines are split at every line feed (JSON strings hold no raw
        // line break); CSV records at line feeds outside quotes.
        let mut json_lines = (self.format == ImportFormat::JsonLines).then(|| {
            text.split_inclusive('\n')
                .zip(first_line..)
                .map(|(line, no)| (no, line.trim_end_matches(['\n', '\r'])))
        });
        let mut records = crate::csv::Records::new(text, first_line);
        let mut last_json_line = first_line.saturating_sub(1);
        loop {
            let next = match &mut json_lines {
                Some(lines) => lines.next(),
                None => records.next(),
            };
            let Some((this, line)) = next else { break };
            last_json_line = this;
            if line.is_empty() {
                continue;
            }
            block.lines += 1;
            let row = match self.format {
                ImportFormat::Csv => self.csv_row(&mut block, line, this, &mut cells, &mut scratch),
                ImportFormat::Events => {
                    self.event_row(&mut block, line, this, &mut cells, &mut scratch)
                }
                ImportFormat::JsonLines => self
                    .json_row(&mut block, line, this)
                    .map_err(|b| key_at(b, line)),
            };
            let ok = row.is_ok();
            let row = row.unwrap_or_else(|bad| PRow::Bad { line: this, bad });
            block.rows.push(row);
            block.end_row(ok);
            for c in cells.drain(..) {
                if let std::borrow::Cow::Owned(s) = c {
                    scratch.push(s);
                }
            }
        }
        block.last_line = match self.format {
            ImportFormat::JsonLines => last_json_line,
            _ => records.next_line().saturating_sub(1),
        };
        block
    }

    /// Parses a CSV cell of field `f` and appends it to the field's column.
    /// (Writing the cell in place, rather than returning a `Result` holding
    /// it, avoids a store-forwarding stall per cell.)
    fn push_cell(
        &self,
        block: &mut Block,
        col: usize,
        f: usize,
        kind: FieldKind,
        column: &str,
        text: &str,
    ) -> Result<(), Box<Bad>> {
        let cell = if text.is_empty() {
            PCell::Null
        } else {
            match kind {
                FieldKind::Enum => {
                    if text.len() > MAX_VALUE_LEN {
                        return Err(Box::new(value_too_long(column, text)));
                    }
                    PCell::Enum(block.intern(f, text))
                }
                FieldKind::Set => {
                    let start = block.sets.len() as u32;
                    for v in text.split('|').filter(|v| !v.is_empty()) {
                        if v.len() > MAX_VALUE_LEN {
                            block.sets.truncate(start as usize);
                            return Err(Box::new(value_too_long(column, v)));
                        }
                        if block.sets.len() - start as usize >= self.max_values as usize {
                            block.sets.truncate(start as usize);
                            let n = text.split('|').filter(|v| !v.is_empty()).count();
                            return Err(Box::new(too_many_values(column, n, self.max_values)));
                        }
                        let id = block.intern(f, v);
                        block.sets.push(id);
                    }
                    PCell::Set(start, block.sets.len() as u32 - start)
                }
                FieldKind::Bool => match parse_bool(text) {
                    Some(b) => PCell::Bool(b),
                    None => {
                        return Err(cell_error(
                            column,
                            text,
                            "is not a BOOL (0, 1, true or false)",
                        ))
                    }
                },
                FieldKind::Int => match parse_i64(text) {
                    Some(x) => PCell::Int(x),
                    None => return Err(cell_error(column, text, "is not a 64-bit integer")),
                },
                FieldKind::Text => {
                    let (s, l) = block.push_text(text);
                    PCell::Text(s, l)
                }
                FieldKind::Event => {
                    return Err(Box::new(bad(
                        column,
                        "EVENT fields are imported from the events format",
                    )))
                }
            }
        };
        block.cols[col].1.push(cell);
        Ok(())
    }

    fn csv_row<'a>(
        &self,
        block: &mut Block,
        line: &'a str,
        line_no: u64,
        cells: &mut Vec<std::borrow::Cow<'a, str>>,
        scratch: &mut Vec<String>,
    ) -> Result<PRow, Bad> {
        split_record(line, scratch, cells).map_err(|r| bad("-", r))?;
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
        let mut col = 0;
        for (i, text) in cells.iter().enumerate() {
            if let Some((f, kind)) = self.columns[i] {
                self.push_cell(block, col, f, kind, &self.names[i], text)
                    .map_err(|b| (*b).at(i as u64 + 1))?;
                col += 1;
            }
        }
        let hash = hash_id(cells[self.id_col].as_bytes());
        let id = block.push_text(&cells[self.id_col]);
        Ok(PRow::Cells {
            line: line_no,
            id,
            hash,
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
        split_record(line, scratch, cells).map_err(|r| bad("-", r))?;
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
                return Err(bad("event", format!("unknown EVENT field `{event}`")).hinted(hint));
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
        if count > MAX_DAY_COUNT {
            return Err(bad(
                "count",
                format!("{count} is past the limit of {MAX_DAY_COUNT} events a day"),
            ));
        }
        let hash = hash_id(id.as_bytes());
        let id = block.push_text(id);
        Ok(PRow::Event {
            line: line_no,
            id,
            hash,
            field: field as u32,
            day,
            count,
        })
    }

    fn json_row(&self, block: &mut Block, line: &str, line_no: u64) -> Result<PRow, Bad> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| not_json(&e))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("-", "a line must be a JSON object"))?;
        let id = obj
            .get(ID_COLUMN)
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad(ID_COLUMN, "missing, or not a string"))?;
        check_id(id)?;
        self.json_cells(block, obj)?;
        let hash = hash_id(id.as_bytes());
        let id = block.push_text(id);
        Ok(PRow::Cells {
            line: line_no,
            id,
            hash,
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
                return Err(bad(k, "unknown field").hinted(hint));
            };
            let cell = match (kind, v) {
                (FieldKind::Event, _) => {
                    return Err(bad(k, "EVENT fields are imported from the events format"))
                }
                (_, Value::Null) => PCell::Null,
                (FieldKind::Enum, Value::String(t)) if !t.is_empty() => {
                    if t.len() > MAX_VALUE_LEN {
                        return Err(value_too_long(k, t));
                    }
                    PCell::Enum(block.intern(f, t))
                }
                (FieldKind::Set, Value::Array(xs)) => {
                    if xs.len() > self.max_values as usize {
                        return Err(too_many_values(k, xs.len(), self.max_values));
                    }
                    let start = block.sets.len() as u32;
                    for x in xs {
                        match x.as_str() {
                            Some(t) if t.len() > MAX_VALUE_LEN => {
                                block.sets.truncate(start as usize);
                                return Err(value_too_long(k, t));
                            }
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
            let c = block.col(f);
            block.cols[c].1.push(cell);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        for t in [
            "0",
            "-0",
            "+7",
            "42",
            "-9223372036854775808",
            "9223372036854775807",
            "00012",
            "-1",
        ] {
            assert_eq!(parse_i64(t), t.parse::<i64>().ok(), "{t}");
        }
        for t in [
            "",
            "-",
            "+",
            "1a",
            " 1",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "1.5",
            "--1",
        ] {
            assert_eq!(parse_i64(t), None, "{t}");
            assert_eq!(t.parse::<i64>().ok(), None, "{t}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("cty", ["city", "age"].into_iter()),
            Some("did you mean `city`?".to_owned())
        );
        assert_eq!(suggest("zzzzzz", ["city"].into_iter()), None);
    }
}
