//! An uploaded list of external ids (`PUT /v1/segments/{name}?table=t`).
//!
//! - `text/csv`: RFC 4180, read by segdb's one CSV reader
//!   ([`segdb_engine::csv`]): quoted fields, doubled quotes, quoted line
//!   breaks, CRLF. The ids are the `user_id` column if the first record
//!   has one (it is then the header), else the first column (and the first
//!   record is data). What segdb exports as CSV reads back.
//! - any other type (`text/plain`): one id per line, exactly as given.
//!   Only the line end (`\n` or `\r\n`) is removed: no trimming, no
//!   splitting at commas, and a quote is part of the id.
//!
//! Both: a UTF-8 byte order mark at the start is skipped, and an empty
//! line is skipped (no id is empty). A line that is not UTF-8, a quote
//! left open, a record without the id column or an empty id field is a 400
//! naming the line, and nothing changes.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};

use segdb_engine::csv::{read_record, split_record, without_bom};
use segdb_engine::ID_COLUMN;

use super::api_error::ApiError;

/// How the ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// One id per line, as given.
    Lines,
    /// RFC 4180 CSV.
    Csv,
}

impl IdFormat {
    /// The format of a body of this `Content-Type`.
    pub fn of(content_type: &str) -> IdFormat {
        // Media types are case-insensitive (RFC 9110).
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("text/csv") {
            IdFormat::Csv
        } else {
            IdFormat::Lines
        }
    }
}

/// 400 for a bad line of the list.
fn bad_line(line: u64, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad_input", format!("the id list, line {line}: {reason}"))
}

/// Calls `each` with every id of `input` in order. `io_error` maps a
/// failed read of the body (too large, broken off).
pub fn read_ids(
    input: impl Read,
    format: IdFormat,
    io_error: impl Fn(std::io::Error) -> ApiError,
    mut each: impl FnMut(&str) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let mut reader = BufReader::new(without_bom(input).map_err(&io_error)?);
    let mut buf = Vec::new();
    let mut line = 1u64;
    if format == IdFormat::Lines {
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(&io_error)? == 0 {
                return Ok(());
            }
            let this = line;
            line += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            if buf.is_empty() {
                continue;
            }
            let id = std::str::from_utf8(&buf).map_err(|_| bad_line(this, "not UTF-8"))?;
            each(id)?;
        }
    }
    let mut column = None;
    let mut first = true;
    let mut scratch = Vec::new();
    loop {
        let this = line;
        let read = read_record(&mut reader, &mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                bad_line(this, e)
            } else {
                io_error(e)
            }
        })?;
        if read == 0 {
            return Ok(());
        }
        line += 1 + buf.iter().filter(|&&c| c == b'\n').count() as u64;
        if buf.is_empty() {
            continue;
        }
        let text = std::str::from_utf8(&buf).map_err(|_| bad_line(this, "not UTF-8"))?;
        let mut cells = Vec::new();
        split_record(text, &mut scratch, &mut cells).map_err(|r| bad_line(this, r))?;
        let header = first && {
            column = cells.iter().position(|c| c == ID_COLUMN);
            column.is_some()
        };
        first = false;
        if !header {
            let c = column.unwrap_or(0);
            let id = cells.get(c).ok_or_else(|| {
                bad_line(
                    this,
                    format!(
                        "{} fields; the ids are field {} ({})",
                        cells.len(),
                        c + 1,
                        if column.is_some() {
                            "`user_id` in the header"
                        } else {
                            "the first, without a `user_id` header"
                        }
                    ),
                )
            })?;
            if id.is_empty() {
                return Err(bad_line(this, "an empty id"));
            }
            each(id)?;
        }
        for c in cells {
            if let Cow::Owned(s) = c {
                scratch.push(s);
            }
        }
    }
}
