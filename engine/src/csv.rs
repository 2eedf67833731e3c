//! segdb's one CSV reader and writer, RFC 4180: fields separated by `,`,
//! records by LF or CRLF; a field may be quoted with `"`, and then holds
//! commas, line breaks and quotes (doubled, `""`). Spaces are part of a
//! field. A UTF-8 byte order mark at the start of the input is skipped.
//!
//! Every CSV reader in segdb uses these pieces: the bulk import (which
//! cuts its input into blocks at record ends with [`RecordScanner`] and
//! parses blocks with [`Records`] and [`split_record`]), its header
//! ([`read_record`]) and the uploaded id lists of the HTTP API. What
//! [`field`] writes, they read back.
//!
//! An empty record (an empty line) is skipped by the callers: it has no
//! id. A record's line is the line where it starts.

use std::borrow::Cow;
use std::io::{BufRead, Read};

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest record a streaming read accepts ([`read_record`], and the
/// import's blocks): past it, a field is almost surely a quote left open.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Where the scanner is within a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    #[default]
    FieldStart,
    /// Inside a field that did not open with a quote.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: the field's end, or the
    /// first of a doubled quote.
    QuoteInQuoted,
}

/// Finds the ends of records in input fed to it piece by piece: a line
/// feed ends a record unless it is inside a quoted field. It agrees with
/// [`split_record`] on well-formed input, and on malformed input it still
/// ends records somewhere definite (a quote inside an unquoted field is an
/// ordinary byte here; [`split_record`] then reports it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordScanner {
    state: State,
}

impl RecordScanner {
    /// Scans `bytes`, which continue the input: the index of the first line
    /// feed in them that ends a record (the scanner is then at the start of
    /// the next record), or `None` (the scanner keeps its place for the
    /// next bytes).
    pub fn find_end(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Quoted => {
                    let p = bytes[i..].iter().position(|&c| c == b'"')?;
                    i += p + 1;
                    self.state = State::QuoteInQuoted;
                    continue;
                }
                State::Unquoted => {
                    let p = bytes[i..].iter().position(|&c| c == b',' || c == b'\n')?;
                    i += p;
                }
                State::FieldStart | State::QuoteInQuoted => {}
            }
            match (self.state, bytes[i]) {
                (_, b'\n') => {
                    self.state = State::FieldStart;
                    return Some(i);
                }
                (_, b',') => self.state = State::FieldStart,
                (State::FieldStart, b'"') => self.state = State::Quoted,
                (State::QuoteInQuoted, b'"') => self.state = State::Quoted,
                _ => self.state = State::Unquoted,
            }
            i += 1;
        }
        None
    }

    /// Whether the scanner is inside a quoted field.
    pub fn in_quotes(&self) -> bool {
        matches!(self.state, State::Quoted | State::QuoteInQuoted)
    }
}

/// Removes one `\r` left of a CRLF record end.
fn strip_cr(record: &str) -> &str {
    record.strip_suffix('\r').unwrap_or(record)
}

/// The records of a whole text (a block of the import, which ends at a
/// record end or at the input's end): `(line, record)`, the record
/// without its line end, `line` the line it starts on.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: u64,
}

impl<'a> Records<'a> {
    /// The records of `text`, whose first line is `first_line`.
    pub fn new(text: &'a str, first_line: u64) -> Records<'a> {
        Records {
            text,
            pos: 0,
            line: first_line,
        }
    }

    /// The number of the line after the last record read.
    pub fn next_line(&self) -> u64 {
        self.line
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (u64, &'a str);

    fn next(&mut self) -> Option<(u64, &'a str)> {
        let rest = &self.text[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let line = self.line;
        // Most records have no quote before their first line feed, which
        // then ends them.
        let newline = rest.find('\n');
        let simple = newline.filter(|&p| !rest[..p].contains('"'));
        let end = match simple {
            Some(p) => Some(p),
            None => RecordScanner::default().find_end(rest.as_bytes()),
        };
        let record = match end {
            Some(p) => {
                self.pos += p + 1;
                &rest[..p]
            }
            None => {
                self.pos = self.text.len();
                rest
            }
        };
        self.line += 1;
        if simple.is_none() {
            self.line += record.bytes().filter(|&c| c == b'\n').count() as u64;
        }
        Some((line, strip_cr(record)))
    }
}

/// Reads the next record of `input` into `buf`, without its line end: the
/// bytes consumed, 0 at the end of the input. A record longer than
/// [`MAX_RECORD_BYTES`] is an `InvalidData` error.
pub fn read_record(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.clear();
    let mut scanner = RecordScanner::default();
    let mut consumed = 0;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(consumed);
        }
        match scanner.find_end(available) {
            Some(p) => {
                buf.extend_from_slice(&available[..p]);
                input.consume(p + 1);
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                return Ok(consumed + p + 1);
            }
            None => {
                let n = available.len();
                buf.extend_from_slice(available);
                input.consume(n);
                consumed += n;
                if buf.len() > MAX_RECORD_BYTES {
                    return Err(too_long());
                }
            }
        }
    }
}

/// The error for a record past [`MAX_RECORD_BYTES`].
pub fn too_long() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "a record longer than {} MiB: is a quote left open?",
            MAX_RECORD_BYTES >> 20
        ),
    )
}

/// `input` without a UTF-8 byte order mark at its start.
pub fn without_bom<R: Read>(
    mut input: R,
) -> std::io::Result<std::io::Chain<std::io::Cursor<Vec<u8>>, R>> {
    let mut start = [0u8; 3];
    let mut n = 0;
    while n < start.len() {
        match input.read(&mut start[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let keep = if start[..n] == *BOM {
        Vec::new()
    } else {
        start[..n].to_vec()
    };
    Ok(std::io::Cursor::new(keep).chain(input))
}

/// Splits a record (without its line end; quoted fields may hold line
/// breaks) into `out`: unquoted fields are borrowed, quoted ones unescaped
/// into strings taken from `scratch`. The error says what is wrong.
pub fn split_record<'a>(
    record: &'a str,
    scratch: &mut Vec<String>,
    out: &mut Vec<Cow<'a, str>>,
) -> Result<(), String> {
    out.clear();
    let b = record.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut s = scratch.pop().unwrap_or_default();
            s.clear();
            i += 1;
            let mut start = i;
            loop {
                match b[i..].iter().position(|&c| c == b'"') {
                    None => {
                        return Err(
                            "unterminated quote: a field opens with `\"` here and never closes"
                                .into(),
                        )
                    }
                    Some(p) => {
                        s.push_str(&record[start..i + p]);
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
            out.push(Cow::Owned(s));
            match b.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(_) => return Err(
                    "text after a closing quote (a quote inside a quoted field is written `\"\"`)"
                        .into(),
                ),
            }
        } else {
            let end = b[i..]
                .iter()
                .position(|&c| c == b',')
                .map_or(b.len(), |p| i + p);
            let cell = &record[i..end];
            if cell.contains('"') {
                return Err(
                    "a quote inside an unquoted field (quote the field, and double the quote)"
                        .into(),
                );
            }
            out.push(Cow::Borrowed(cell));
            if end == b.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

/// A field as CSV: quoted when it holds a comma, a quote or a line break
/// (quotes doubled), and when it starts or ends with a space or a tab (so
/// that readers that trim keep them).
pub fn field(s: &str) -> Cow<'_, str> {
    if needs_quotes(s.as_bytes()) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Appends [`field`]`(s)` to `out` without an allocation of its own (the
/// id exports write millions of these).
pub fn push_field(out: &mut Vec<u8>, s: &str) {
    if needs_quotes(s.as_bytes()) {
        out.push(b'"');
        for &b in s.as_bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Whether a field must be quoted: a comma, a quote or a line break in it,
/// or a space or tab at either end. Bytes, not chars: every byte tested is
/// ASCII, which never occurs inside a multi-byte UTF-8 sequence.
fn needs_quotes(b: &[u8]) -> bool {
    let edge_space = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    edge_space(b.first())
        || edge_space(b.last())
        || b.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests;
