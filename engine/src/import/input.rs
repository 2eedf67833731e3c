//! Reading an import's input: the header on the calling thread, then a
//! pipeline: a reader thread cuts the input into blocks of whole lines and
//! parses them (several blocks at a time on the rayon pool), and the calling
//! thread applies the parsed rows in order. Bad lines are reported in file
//! order with their line, column and reason.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;

use rayon::prelude::*;

use super::builder::Cell;
use super::parse::{bad, suggest, Bad, Block, LineParser, PCell, PRow};
use super::{
    ImportFormat, ImportOptions, ImportProgress, ImportReport, InTable, OnError, Session, NO_ROW,
};
use crate::csv::{read_record, split_record, RecordScanner, MAX_RECORD_BYTES};
use crate::error::{EngineError, Result};
use crate::schema::{FieldKind, ID_COLUMN};

/// Bytes per block of lines handed to a parser.
const BLOCK_BYTES: usize = 1 << 20;
/// Blocks parsed in parallel at a time.
const BLOCKS_AT_ONCE: usize = 4;

/// Handles a bad line according to the options: an error to stop with, or
/// a skipped line.
fn on_bad(opts: &ImportOptions<'_>, report: &mut ImportReport, line: u64, b: Bad) -> Result<()> {
    let err = b.into_error(&opts.source_name, line);
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
    bad("header", reason).into_error(&opts.source_name, 1)
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
    header_lines: &mut u64,
) -> Result<Option<LineParser>> {
    let schema = s.table.schema();
    let mut parser = LineParser {
        format,
        columns: Vec::new(),
        names: Vec::new(),
        id_col: 0,
        // System fields are not the user's to write: unknown columns here.
        fields: schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_system())
            .map(|(i, f)| (f.name.clone(), (i, f.kind)))
            .collect(),
        field_names: schema.user_fields().map(|f| f.name.clone()).collect(),
        max_values: s.store.max_field_values(),
    };
    if format == ImportFormat::JsonLines {
        return Ok(Some(parser));
    }
    // The header is one record (RFC 4180: it may quote its names).
    let mut record = Vec::new();
    let n = read_record(reader, &mut record).map_err(|e| input_error(opts, e))?;
    report.bytes += n as u64;
    if n == 0 {
        return Ok(None);
    }
    *header_lines = 1 + record.iter().filter(|&&c| c == b'\n').count() as u64;
    let line = String::from_utf8(record)
        .map_err(|_| bad_header(opts, "the header is not UTF-8".into()))?;
    let mut cells = Vec::new();
    split_record(&line, &mut Vec::new(), &mut cells).map_err(|r| bad_header(opts, r))?;
    let names: Vec<String> = cells.into_iter().map(|c| c.into_owned()).collect();
    if format == ImportFormat::Events {
        if names != ["user_id", "event", "day", "count"] {
            return Err(bad_header(
                opts,
                format!("the events header must be `user_id,event,day,count`, found `{line}`"),
            ));
        }
        parser.field_names = schema
            .user_fields()
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
        match schema.user_field_index(n) {
            Some(f) if schema.fields[f].kind == FieldKind::Event => {
                return Err(bad_header(
                    opts,
                    format!("`{n}` is an EVENT field: import its counts with the events format"),
                ))
            }
            Some(f) => parser.columns.push(Some((f, schema.fields[f].kind))),
            None => {
                let hint = suggest(n, schema.user_fields().map(|f| f.name.as_str()));
                let reason = format!("unknown field `{n}` in table `{}`", s.table.name());
                return Err(bad("header", reason)
                    .at(i as u64 + 1)
                    .hinted(hint)
                    .into_error(&opts.source_name, 1));
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

/// Cuts its input into blocks of whole records of about `BLOCK_BYTES`:
/// JSON lines end at every line feed, CSV records at line feeds outside
/// quotes (a quoted line break is never cut, wherever a block would end).
struct BlockReader<R> {
    inner: R,
    /// The start of a record that the previous block cut off.
    carry: Vec<u8>,
    eof: bool,
    /// CSV: records end where [`RecordScanner`] says (else at line feeds).
    csv: bool,
    /// The number of the next block's first line.
    line: u64,
}

impl<R: Read> BlockReader<R> {
    fn new(inner: R, csv: bool, first_line: u64) -> BlockReader<R> {
        BlockReader {
            inner,
            carry: Vec::new(),
            eof: false,
            csv,
            line: first_line,
        }
    }

    /// The next block (ending with a record end, unless it is the input's
    /// last record) and the number of its first line; `None` at the end.
    /// A record longer than [`MAX_RECORD_BYTES`] is an error naming its
    /// line.
    fn next_block(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut scanner = RecordScanner::default();
        let mut scanned = 0;
        let mut want = BLOCK_BYTES;
        loop {
            while buf.len() < want && !self.eof {
                let len = buf.len();
                buf.resize(want, 0);
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
                return Ok((!buf.is_empty()).then(|| self.take(buf)));
            }
            if let Some(p) = self.last_end(&buf[scanned..], &mut scanner) {
                let end = scanned + p + 1;
                self.carry = buf[end..].to_vec();
                buf.truncate(end);
                return Ok(Some(self.take(buf)));
            }
            // One record longer than a block: read on.
            scanned = buf.len();
            if buf.len() > MAX_RECORD_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {}: {}", self.line, crate::csv::too_long()),
                ));
            }
            want = buf.len() + BLOCK_BYTES;
        }
    }

    /// The block with its first line's number; counts its lines.
    fn take(&mut self, block: Vec<u8>) -> (u64, Vec<u8>) {
        let first = self.line;
        self.line += block.iter().filter(|&&c| c == b'\n').count() as u64
            + u64::from(block.last() != Some(&b'\n'));
        (first, block)
    }

    /// The index of the last record end in `bytes`, which continue what
    /// `scanner` has seen of this block.
    fn last_end(&self, bytes: &[u8], scanner: &mut RecordScanner) -> Option<usize> {
        if !self.csv || (!scanner.in_quotes() && !bytes.contains(&b'"')) {
            // Without quotes, every line feed ends a record.
            let last = bytes.iter().rposition(|&c| c == b'\n');
            if last.is_none() && self.csv {
                scanner.find_end(bytes);
            }
            return last;
        }
        let mut last = None;
        let mut at = 0;
        while let Some(p) = scanner.find_end(&bytes[at..]) {
            last = Some(at + p);
            at += p + 1;
        }
        last
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
    // A byte order mark is skipped, whatever the format.
    let input = crate::csv::without_bom(input).map_err(|e| input_error(opts, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut header_lines = 0;
    let Some(parser) = line_parser(s, format, &mut reader, opts, report, &mut header_lines)? else {
        return Ok(());
    };
    let first_line = 1 + header_lines;
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<Block>>>(2);
    let parser = &parser;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut blocks_in =
                BlockReader::new(reader, format != ImportFormat::JsonLines, first_line);
            loop {
                let mut texts = Vec::with_capacity(BLOCKS_AT_ONCE);
                let mut starts = Vec::with_capacity(BLOCKS_AT_ONCE);
                for _ in 0..BLOCKS_AT_ONCE {
                    let block = blocks_in.next_block().and_then(|b| {
                        b.map(|(start, b)| {
                            starts.push(start);
                            block_text(b, start)
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
    Err(bad(
        name,
        format!(
            "a new value would give field `{name}` more than {max} distinct values \
             (max_field_values)"
        ),
    )
    .into_error(&opts.source_name, line))
}

/// Lines between the one whose id is looked up and the one whose lookup
/// is prefetched ([`Session::prefetch_new`]).
const AHEAD: usize = 16;

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
            let avg_id = block.text.len() / block.rows.len().max(1);
            s.expected = Some((total / per_line.max(1), avg_id.clamp(1, 64)));
            s.spilled = true;
        }
    }
    if let (true, Some((lines, avg_id))) = (s.spilled, s.expected) {
        // At the start, and after new ids were spilled: room for as many
        // as the rest of the input may create, up to the spill (instead of
        // growing the table by doubling, rebuilding it each time).
        let rest = lines.saturating_sub(report.lines) as usize;
        s.new_ids.reserve(rest.min(s.ids_in_memory), avg_id);
        s.spilled = false;
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
    let known = s.table_rows(block)?;
    // The hash line `j` will look up among the new ids, if it will.
    let looks_up = |j: usize| match block.rows.get(j) {
        Some(PRow::Cells { hash, .. } | PRow::Event { hash, .. })
            if !matches!(InTable::of(&known, j), InTable::Row(_)) =>
        {
            Some(*hash)
        }
        _ => None,
    };
    for j in 0..AHEAD {
        if let Some(h) = looks_up(j) {
            s.prefetch_new(h);
        }
    }
    for (k, row) in block.rows.iter().enumerate() {
        if let Some(h) = looks_up(k + AHEAD) {
            s.prefetch_new(h);
        }
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
                    let known = InTable::of(&known, k);
                    s.add_event(block.str(*id), *hash, known, *field as usize, *day, *count)?;
                }
                report.applied += 1;
            }
            PRow::Cells { id, hash, .. } => {
                rows[k] = s.row_for(block.str(*id), *hash, InTable::of(&known, k))?;
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
        csv_blocks(input).into_iter().map(|(_, b)| b).collect()
    }

    /// The blocks of a CSV input, with their first lines.
    fn csv_blocks(input: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut r = BlockReader::new(input, true, 1);
        let mut out = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            out.push(b);
        }
        out
    }

    #[test]
    fn a_block_never_ends_inside_quotes() {
        // Records of ~100 bytes whose quoted field holds line feeds, laid
        // so that block ends fall inside quotes, on a quote and on a
        // doubled quote; each block must end at a record end.
        for shift in 0..4 {
            let mut input = vec![b'x'; shift];
            input.extend_from_slice(b"\n");
            let mut ids = Vec::new();
            let mut k = 0;
            while input.len() < 3 * BLOCK_BYTES {
                let id = format!("id{k}\n\"\"{}\n", "q".repeat(k % 90));
                input
                    .extend_from_slice(format!("\"{}\",{k}\n", id.replace('"', "\"\"")).as_bytes());
                ids.push(id);
                k += 1;
            }
            let bs = csv_blocks(&input);
            assert!(bs.len() >= 3);
            assert_eq!(
                bs.iter()
                    .map(|(_, b)| b.clone())
                    .collect::<Vec<_>>()
                    .concat(),
                input
            );
            let mut got = Vec::new();
            let mut line = 1;
            for (first, b) in &bs {
                assert_eq!(*first, line);
                assert_eq!(b.last(), Some(&b'\n'));
                let text = std::str::from_utf8(b).unwrap();
                let mut cells = Vec::new();
                for (_, record) in crate::csv::Records::new(text, *first) {
                    if record.starts_with('"') {
                        split_record(record, &mut Vec::new(), &mut cells).unwrap();
                        got.push(cells[0].to_string());
                    }
                }
                line += b.iter().filter(|&&c| c == b'\n').count() as u64;
            }
            assert_eq!(got, ids, "shift {shift}");
        }
    }

    #[test]
    fn an_unterminated_quote_is_bounded() {
        let mut input = b"a\nb\n\"open\n".to_vec();
        input.resize(MAX_RECORD_BYTES + 2 * BLOCK_BYTES, b'z');
        let mut r = BlockReader::new(&input[..], true, 1);
        let (first, b) = r.next_block().unwrap().unwrap();
        assert_eq!((first, b.as_slice()), (1, &b"a\nb\n"[..]));
        let err = r.next_block().unwrap_err();
        assert!(
            err.to_string().starts_with("line 3: a record longer than"),
            "{err}"
        );
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
