//! What the engine's fuzz targets run (`fuzz/fuzz_targets/ingest_parse.rs`
//! and `csv_import.rs`), here so that a plain unit test also runs them over
//! their seed corpora (`fuzz/seeds/<target>/`). Each panics only on a bug.

use std::io::BufReader;

use crate::csv::{read_record, split_record, RecordScanner, Records};
use crate::import::parse::LineParser;
use crate::import::ImportFormat;
use crate::schema::{FieldDef, FieldKind, Schema};
use crate::write::{parse_batch, Batch};

/// A table with a field of every kind.
fn schema() -> Schema {
    use FieldKind::*;
    Schema {
        fields: vec![
            FieldDef::new("city", Enum),
            FieldDef::new("age", Int),
            FieldDef::new("tags", Set),
            FieldDef::new("vip", Bool),
            FieldDef::new("visit", Event),
            FieldDef::new("note", Text),
        ],
    }
}

/// Any bytes as a batch of real-time writes: `parse_batch` accepts them or
/// answers a client error (never an internal one); an accepted batch
/// encodes for the WAL and decodes back to itself. Any bytes as a WAL
/// payload decode to a batch (or a rows write) or an error; a rows write
/// that decodes encodes back to a record that decodes to itself.
pub fn ingest_batch(data: &[u8]) {
    let _ = Batch::decode(data);
    if let Ok(rows) = crate::write::RowsRecord::decode(data) {
        let again = crate::write::RowsRecord::decode(&rows.encode())
            .expect("an encoded rows write decodes");
        assert_eq!(again, rows);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_batch(&schema(), text) {
        Ok(batch) => {
            assert!(batch.ops.len() <= text.lines().count());
            let again = Batch::decode(&batch.encode()).expect("an encoded batch decodes");
            assert_eq!(again, batch);
        }
        Err(e) => {
            assert!(e.is_client_error(), "not a client error: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
}

/// Any bytes as CSV: the record ends found by the streamed reader (in
/// pieces of every size up to 7 bytes), the scanner and [`Records`] agree;
/// a record that splits writes back (with [`crate::csv::field`]) to text
/// that splits the same; and the import's block parser, as CSV with a
/// header of every kind of field and as events, gives one row (or one bad
/// line) per non-empty record, at the line the record starts.
pub fn csv_import(data: &[u8]) {
    // The streamed reader, through buffers of 1 to 7 bytes.
    let streamed = |capacity: usize| {
        let mut r = BufReader::with_capacity(capacity, data);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_record(&mut r, &mut buf) {
                Ok(0) => return out,
                Ok(_) => out.push(buf.clone()),
                Err(e) => panic!("reading from memory failed: {e}"),
            }
        }
    };
    let reference = streamed(1);
    for capacity in 2..8 {
        assert_eq!(streamed(capacity), reference, "capacity {capacity}");
    }
    // The scanner over the whole input ends the same records.
    let mut scanner = RecordScanner::default();
    let mut at = 0;
    let mut num_ends = 0;
    while let Some(p) = scanner.find_end(&data[at..]) {
        at += p + 1;
        num_ends += 1;
    }
    assert_eq!(reference.len(), num_ends + usize::from(at < data.len()));

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let records: Vec<(u64, &str)> = Records::new(text, 1).collect();
    let as_bytes: Vec<&[u8]> = records.iter().map(|(_, r)| r.as_bytes()).collect();
    assert_eq!(as_bytes, reference);
    let mut scratch = Vec::new();
    for (_, record) in &records {
        let mut cells = Vec::new();
        if split_record(record, &mut scratch, &mut cells).is_ok() {
            let written: Vec<String> = cells
                .iter()
                .map(|c| crate::csv::field(c).into_owned())
                .collect();
            let written = written.join(",");
            let mut again = Vec::new();
            split_record(&written, &mut Vec::new(), &mut again).expect("written CSV splits");
            assert_eq!(again, cells);
        }
    }

    let non_empty: Vec<u64> = records
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(line, _)| *line)
        .collect();
    for format in [ImportFormat::Csv, ImportFormat::Events] {
        let block = parser(format).parse_block(text, 1);
        assert_eq!(block.rows.len(), non_empty.len());
        assert_eq!(block.lines, non_empty.len() as u64);
        for (row, line) in block.rows.iter().zip(&non_empty) {
            let at = match row {
                crate::import::parse::PRow::Cells { line, .. }
                | crate::import::parse::PRow::Event { line, .. }
                | crate::import::parse::PRow::Bad { line, .. } => *line,
            };
            assert_eq!(at, *line);
        }
        for (_, cells) in &block.cols {
            assert_eq!(cells.len(), block.rows.len());
        }
    }
}

/// The import's parser for a CSV header `user_id,city,age,tags,vip,note`,
/// or for events.
fn parser(format: ImportFormat) -> LineParser {
    let schema = schema();
    let names: &[&str] = match format {
        ImportFormat::Csv => &["user_id", "city", "age", "tags", "vip", "note"],
        _ => &[],
    };
    LineParser {
        format,
        columns: names
            .iter()
            .map(|n| schema.field_index(n).map(|f| (f, schema.fields[f].kind)))
            .collect(),
        names: names.iter().map(|n| n.to_string()).collect(),
        id_col: 0,
        fields: schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), (i, f.kind)))
            .collect(),
        field_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
        max_values: crate::live::DEFAULT_MAX_FIELD_VALUES,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs `f` over the seed corpus of `target` (and over each seed
    /// truncated and with a byte flipped).
    fn seeds(target: &str, f: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/seeds")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            f(&data);
            f(&data[..data.len() / 2]);
            let mut flipped = data.clone();
            if let Some(b) = flipped.get_mut(data.len() / 3) {
                *b ^= 0x22;
            }
            f(&flipped);
            n += 1;
        }
        assert!(n >= 3, "{n} seeds in {}", dir.display());
    }

    #[test]
    fn ingest_parse_seed_corpus() {
        seeds("ingest_parse", super::ingest_batch);
    }

    #[test]
    fn csv_import_seed_corpus() {
        seeds("csv_import", super::csv_import);
    }
}
