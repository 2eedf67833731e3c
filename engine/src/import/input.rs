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

/// Reads whole lines of about `BLOCK_BYTES`; `None` at the end.
fn read_block(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(BLOCK_BYTES + 4096);
    while buf.len() < BLOCK_BYTES {
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
    }
    if buf.is_empty() {
        return Ok(None);
    }
    String::from_utf8(buf).map(Some).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "input is not UTF-8 (near byte {} of a block)",
                e.utf8_error().valid_up_to()
            ),
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
            loop {
                let mut texts = Vec::with_capacity(BLOCKS_AT_ONCE);
                for _ in 0..BLOCKS_AT_ONCE {
                    match read_block(&mut reader) {
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
                let starts: Vec<u64> = texts
                    .iter()
                    .map(|t| {
                        let s = next_line;
                        next_line += t.bytes().filter(|&b| b == b'\n').count() as u64
                            + u64::from(!t.ends_with('\n'));
                        s
                    })
                    .collect();
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

/// Applies a parsed block to the session, mapping its local value ids.
fn apply_block(
    s: &mut Session<'_>,
    block: &Block,
    opts: &ImportOptions<'_>,
    report: &mut ImportReport,
) -> Result<()> {
    report.lines += block.lines;
    report.bytes += block.bytes;
    let value_map: Vec<Vec<u32>> = block
        .locals
        .iter()
        .enumerate()
        .map(|(f, vals)| vals.iter().map(|v| s.values[f].intern(v)).collect())
        .collect();
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
