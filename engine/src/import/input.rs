//! Reading an import's input: the header on the calling thread, then a
//! pipeline: a reader thread cuts the input into blocks of whole lines and
//! parses them (several blocks at a time on the rayon pool), and the calling
//! thread applies the parsed rows in order. Bad lines are reported in file
//! order with their line, column and reason.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;

use rayon::prelude::*;

use super::builder::Cell;
use super::parse::{split_csv, suggest, Bad, Block, LineParser, PCell, PRow};
use super::{ImportFormat, ImportOptions, ImportProgress, ImportReport, OnError, Session, NO_ROW};
use crate::error::{EngineError, Result};
use crate::schema::{FieldKind, ID_COLUMN};

/// Bytes per block of lines handed to a parser.
const BLOCK_BYTES: usize = 1 << 20;
/// Blocks parsed in parallel at a time.
const BLOCKS_AT_ONCE: usize = 4;

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

fn bad_header(opts: &ImportOptions<'_>, reason: String) -> EngineError {
    EngineError::BadInput {
        source_name: opts.source_name.clone(),
        line: 1,
        column: "header".into(),
        reason,
    }
}

fn input_error(opts: &ImportOptions<'_>, e: std::io::Error) -> EngineError {
    EngineError::Input {
        source_name: opts.source_name.clone(),
        error: e,
    }
}

/// Builds the line parser, reading the header of CSV inputs.
fn line_parser(
    s: &Session<'_>,
    format: ImportFormat,
    reader: &mut impl BufRead,
    opts: &ImportOptions<'_>,
    report: &mut ImportReport,
) -> Result<Option<LineParser>> {
    let schema = s.table.schema();
    let mut parser = LineParser {
        format,
        columns: Vec::new(),
        names: Vec::new(),
        id_col: 0,
        fields: schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), (i, f.kind)))
            .collect(),
        field_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
        max_values: s.store.max_field_values(),
    };
    if format == ImportFormat::JsonLines {
        return Ok(Some(parser));
    }
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| input_error(opts, e))?;
    report.bytes += n as u64;
    if n == 0 {
        return Ok(None);
    }
    let line = line.trim_end_matches(['\n', '\r']);
    let mut cells = Vec::new();
    split_csv(line, &mut Vec::new(), &mut cells).map_err(|r| bad_header(opts, r))?;
    let names: Vec<String> = cells.into_iter().map(|c| c.into_owned()).collect();
    if format == ImportFormat::Events {
        if names != ["user_id", "event", "day", "count"] {
            return Err(bad_header(
                opts,
                format!("the events header must be `user_id,event,day,count`, found `{line}`"),
            ));
        }
        parser.field_names = schema
            .fields
            .iter()
            .filter(|f| f.kind == FieldKind::Event)
            .map(|f| f.name.clone())
            .collect();
        return Ok(Some(parser));
    }
    let mut seen = std::collections::HashSet::new();
    let mut has_id = false;
    for (i, n) in names.iter().enumerate() {
        if !seen.insert(n.clone()) {
            return Err(bad_header(opts, format!("column `{n}` appears twice")));
        }
        if n == ID_COLUMN {
            parser.id_col = i;
            has_id = true;
            parser.columns.push(None);
            continue;
        }
        match schema.field_index(n) {
            Some(f) if schema.fields[f].kind == FieldKind::Event => {
                return Err(bad_header(
                    opts,
                    format!("`{n}` is an EVENT field: import its counts with the events format"),
                ))
            }
            Some(f) => parser.columns.push(Some((f, schema.fields[f].kind))),
            None => {
                let hint = suggest(n, schema.fields.iter().map(|f| f.name.as_str()));
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
    parser.names = names;
    Ok(Some(parser))
}

/// Cuts its input into blocks of whole lines of about `BLOCK_BYTES`.
struct BlockReader<R> {
    inner: R,
    /// The start of a line that the previous block cut off.
    carry: Vec<u8>,
    eof: bool,
}

impl<R: Read> BlockReader<R> {
    /// The next block (ending with a newline, unless it is the input's
    /// last line); `None` at the end.
    fn next_block(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut searched = 0;
        loop {
            while buf.len() < BLOCK_BYTES && !self.eof {
                let len = buf.len();
                buf.resize(len.max(BLOCK_BYTES), 0);
                match self.inner.read(&mut buf[len..]) {
                    Ok(0) => {
                        buf.truncate(len);
                        self.eof = true;
                    }
                    Ok(n) => buf.truncate(len + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
                    Err(e) => return Err(e),
                }
            }
            if self.eof {
                return Ok((!buf.is_empty()).then_some(buf));
            }
            match buf[searched..].iter().rposition(|&c| c == b'\n') {
                Some(p) => {
                    self.carry = buf[searched + p + 1..].to_vec();
                    buf.truncate(searched + p + 1);
                    return Ok(Some(buf));
                }
                // One line longer than a block: read on.
                None => {
                    searched = buf.len();
                    buf.reserve(BLOCK_BYTES);
                    let len = buf.len();
                    buf.resize(len + BLOCK_BYTES, 0);
                    let n = loop {
                        match self.inner.read(&mut buf[len..]) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            r => break r?,
                        }
                    };
                    buf.truncate(len + n);
                    if n == 0 {
                        self.eof = true;
                    }
                }
            }
        }
    }
}

/// The block as text, or an error naming the line that is not UTF-8.
fn block_text(bytes: Vec<u8>, first_line: u64) -> std::io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = first_line + e.as_bytes()[..at].iter().filter(|&&c| c == b'\n').count() as u64;
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line {line} is not UTF-8"),
        )
    })
}

pub(super) fn read_lines(
    s: &mut Session<'_>,
    format: ImportFormat,
    input: impl Read + Send,
    opts: &ImportOptions<'_>,
    report: &mut ImportReport,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let Some(parser) = line_parser(s, format, &mut reader, opts, report)? else {
        return Ok(());
    };
    let first_line = if format == ImportFormat::JsonLines {
        1
    } else {
        2
    };
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<Block>>>(2);
    let parser = &parser;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut next_line = first_line;
            let mut blocks_in = BlockReader {
                inner: reader,
                carry: Vec::new(),
                eof: false,
            };
            loop {
                let mut texts = Vec::with_capacity(BLOCKS_AT_ONCE);
                let mut starts = Vec::with_capacity(BLOCKS_AT_ONCE);
                for _ in 0..BLOCKS_AT_ONCE {
                    let block = blocks_in.next_block().and_then(|b| {
                        b.map(|b| {
                            let lines = b.iter().filter(|&&c| c == b'\n').count() as u64
                                + u64::from(b.last() != Some(&b'\n'));
                            let text = block_text(b, next_line);
                            starts.push(next_line);
                            next_line += lines;
                            text
                        })
                        .transpose()
                    });
                    match block {
                        Ok(Some(t)) => texts.push(t),
                        Ok(None) => break,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                if texts.is_empty() {
                    return;
                }
                let blocks: Vec<Block> = texts
                    .par_iter()
                    .zip(starts)
                    .map(|(t, start)| parser.parse_block(t, start))
                    .collect();
                if tx.send(Ok(blocks)).is_err() {
                    return;
                }
            }
        });
        // Apply in order; dropping `rx` on an error stops the reader.
        let mut last_progress = 0;
        for blocks in rx {
            for block in blocks.map_err(|e| input_error(opts, e))? {
                apply_block(s, &block, opts, report)?;
                if report.lines / 100_000 > last_progress {
                    last_progress = report.lines / 100_000;
                    if let Some(p) = opts.progress {
                        p(ImportProgress {
                            lines: report.lines,
                            bytes: report.bytes,
                            finishing: false,
                        });
                    }
                }
            }
        }
        Ok(())
    })
}

/// Fails the import (whatever `on_error`: the values are the table's, not
/// the line's) at the first line that gives a field more distinct values
/// than the store's `max_field_values`, naming the line and the field.
fn check_num_values(
    s: &Session<'_>,
    block: &Block,
    value_map: &[Vec<u32>],
    opts: &ImportOptions<'_>,
) -> Result<()> {
    let max = s.store.max_field_values();
    // The earliest line over every field past the cap.
    let mut first: Option<(u64, usize)> = None;
    for (f, cells) in &block.cols {
        let f = *f as usize;
        if s.values[f].len() <= max as usize {
            continue;
        }
        let map: &[u32] = value_map.get(f).map_or(&[], |v| v);
        let past = |local: u32| map.get(local as usize).is_some_and(|&id| id >= max);
        let k = cells.iter().position(|c| match *c {
            PCell::Enum(v) => past(v),
            PCell::Set(a, n) => block.sets[a as usize..(a + n) as usize]
                .iter()
                .any(|&v| past(v)),
            _ => false,
        });
        let line = match k.map(|k| &block.rows[k]) {
            Some(PRow::Cells { line, .. }) => *line,
            _ => block.last_line,
        };
        if first.is_none_or(|(l, _)| line < l) {
            first = Some((line, f));
        }
    }
    let Some((line, f)) = first else {
        return Ok(());
    };
    let name = &s.table.schema().fields[f].name;
    Err(EngineError::BadInput {
        source_name: opts.source_name.clone(),
        line,
        column: name.clone(),
        reason: format!(
            "a new value would give field `{name}` more than {max} distinct values \
             (max_field_values)"
        ),
    })
}

/// Applies a parsed block to the session, mapping its local value ids.
fn apply_block(
    s: &mut Session<'_>,
    block: &Block,
    opts: &ImportOptions<'_>,
    report: &mut ImportReport,
) -> Result<()> {
    if report.lines == 0 && block.lines > 0 {
        // The first block tells the bytes per line: make room for the ids
        // the whole input may create.
        if let Some(total) = opts.size_hint {
            let per_line = block.bytes / block.lines;
            let lines = (total / per_line.max(1)) as usize;
            let avg_id = block.text.len() / block.rows.len().max(1);
            s.new_ids
                .reserve(lines.min(s.ids_in_memory), avg_id.clamp(1, 64));
        }
    }
    report.lines += block.lines;
    report.bytes += block.bytes;
    let value_map: Vec<Vec<u32>> = block
        .locals
        .iter()
        .enumerate()
        .map(|(f, vals)| vals.iter().map(|v| s.values[f].intern(v)).collect())
        .collect();
    check_num_values(s, block, &value_map, opts)?;
    // SET values with the table's value ids.
    let mut sets = block.sets.clone();
    for (f, cells) in &block.cols {
        for c in cells {
            if let PCell::Set(a, n) = *c {
                for v in &mut sets[a as usize..(a + n) as usize] {
                    *v = value_map[*f as usize][*v as usize];
                }
            }
        }
    }
    // Row ids first (in order: bad lines are reported as they come), then
    // the block's columns one at a time.
    let mut rows = vec![NO_ROW; block.rows.len()];
    for (k, row) in block.rows.iter().enumerate() {
        match row {
            PRow::Bad { line, bad } => on_bad(opts, report, *line, bad.clone())?,
            PRow::Event {
                id,
                hash,
                field,
                day,
                count,
                ..
            } => {
                if *count > 0 {
                    s.add_event(block.str(*id), *hash, *field as usize, *day, *count)?;
                }
                report.applied += 1;
            }
            PRow::Cells { id, hash, .. } => {
                rows[k] = s.row_for(block.str(*id), *hash)?;
                report.applied += 1;
            }
        }
    }
    for (f, cells) in &block.cols {
        let f = *f as usize;
        let map: &[u32] = value_map.get(f).map_or(&[], |v| v);
        s.apply_column(f, &rows, |k| match cells[k] {
            PCell::Absent => None,
            PCell::Null => Some(Cell::Null),
            PCell::Enum(v) => Some(Cell::Enum(map[v as usize])),
            PCell::Set(a, n) => Some(Cell::Set(&sets[a as usize..(a + n) as usize])),
            PCell::Bool(b) => Some(Cell::Bool(b)),
            PCell::Int(x) => Some(Cell::Int(x)),
            PCell::Text(a, n) => Some(Cell::Text(block.str((a, n)))),
        });
    }
    s.maybe_seal()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(input: &[u8]) -> Vec<Vec<u8>> {
        let mut r = BlockReader {
            inner: input,
            carry: Vec::new(),
            eof: false,
        };
        let mut out = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            out.push(b);
        }
        out
    }

    #[test]
    fn blocks_are_whole_lines_and_lose_nothing() {
        let mut input = Vec::new();
        for i in 0..200_000 {
            input.extend_from_slice(format!("line {i},x\n").as_bytes());
        }
        input.extend_from_slice(b"last line without newline");
        let bs = blocks(&input);
        assert!(bs.len() > 1);
        for b in &bs[..bs.len() - 1] {
            assert_eq!(b.last(), Some(&b'\n'));
        }
        assert_eq!(bs.concat(), input);
    }

    #[test]
    fn a_line_longer_than_a_block() {
        let long = vec![b'a'; 3 * BLOCK_BYTES + 17];
        let mut input = b"short\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nend\n");
        let bs = blocks(&input);
        assert_eq!(bs.concat(), input);
        assert!(bs.iter().any(|b| b.len() > 3 * BLOCK_BYTES));
        assert!(blocks(b"").is_empty());
    }

    #[test]
    fn not_utf8_names_the_line() {
        let err = block_text(b"a\nb\nc\xff\n".to_vec(), 10).unwrap_err();
        assert_eq!(err.to_string(), "line 12 is not UTF-8");
    }
}
