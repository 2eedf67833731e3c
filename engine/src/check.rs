//! `segdb check`: every checksum of every live file and the manifest's
//! consistency, verified without changing anything, each problem named by
//! file, offset, table, field and shard. What to run after a disk scare.
//!
//! It reads what a start would read, and more: every block of every part,
//! dictionary part and snapshot (a start checks footers and directories
//! only, and a block when first used), every WAL record after the flushed
//! sequence number (as recovery would, but cutting nothing), the
//! idempotency key file, and that the files the manifest names are there
//! with its sizes, that parts lie in the table's shards, and that the
//! dictionary parts cover the table's rows without a gap. It takes the
//! store's lock shared: checks may run side by side, never beside a server
//! or an import (which would delete and add files under it).

use std::path::{Path, PathBuf};

use segdb_storage_format::dictionary::DictionaryPart;
use segdb_storage_format::manifest::{Manifest, TableManifest, MANIFEST_FILE, SEGMENTS_DIR};
use segdb_storage_format::part::{Part, SHARD_ROWS};
use segdb_storage_format::snapshot::SnapshotFile;
use segdb_storage_format::{wal, FormatError};

use crate::block_names::describe_block;
use crate::error::{EngineError, Result};
use crate::live::{LiveOptions, WAL_DIR};
use crate::schema::{FieldDef, FieldKind, Schema};
use crate::store::lock::{LockMode, StoreLock};
use crate::table::ValueDict;

/// One thing wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Byte offset in the file, where it applies.
    pub offset: Option<u64>,
    /// The table the file belongs to.
    pub table: Option<String>,
    /// The field of a damaged block.
    pub field: Option<String>,
    /// The shard of a part.
    pub shard: Option<u32>,
    /// The damaged block in words ("field `ltv`, bit slice 5, shard 0").
    pub block: Option<String>,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(o) = self.offset {
            write!(f, " at offset {o}")?;
        }
        write!(f, ": {}", self.what)?;
        match (&self.block, &self.table, self.shard) {
            (Some(b), _, _) => write!(f, " in {b}"),
            (None, Some(t), Some(s)) => write!(f, " (table `{t}`, shard {s})"),
            (None, Some(t), None) => write!(f, " (table `{t}`)"),
            (None, None, _) => Ok(()),
        }
    }
}

/// What [`check_store`] found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// The store's directory.
    pub dir: PathBuf,
    /// Files read (the manifest, parts, dictionary parts, snapshots, WAL
    /// segments, the key file).
    pub files: u64,
    /// Blocks verified against their checksums.
    pub blocks: u64,
    /// WAL records after the flushed sequence number, verified.
    pub wal_records: u64,
    /// Findings that are not damage: a torn WAL tail (the next open cuts
    /// it, as after any crash).
    pub notes: Vec<String>,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, file: &Path, what: impl Into<String>) -> &mut Problem {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            offset: None,
            table: None,
            field: None,
            shard: None,
            block: None,
            what: what.into(),
        });
        self.problems.last_mut().expect("just pushed")
    }

    /// A storage error as a problem: its file, offset and block.
    fn error(&mut self, path: &Path, e: EngineError, t: Option<&TableNames>) -> &mut Problem {
        let p = match e {
            EngineError::Storage(FormatError::CorruptBlock {
                path,
                offset,
                block,
                what,
                place,
            }) => {
                let (field, place) = match t {
                    Some(t) => (
                        t.schema
                            .fields
                            .get(block.key.field as usize)
                            .filter(|_| {
                                block.file == segdb_storage_format::block_label::FileKind::Part
                            })
                            .map(|f| f.name.clone()),
                        describe_block(&t.name, &t.schema, &t.values, &block),
                    ),
                    None => (None, place),
                };
                let p = self.problem(&path, what);
                p.offset = Some(offset);
                p.field = field;
                p.shard = block.shard;
                p.block = Some(place);
                p
            }
            EngineError::Storage(FormatError::Corrupt { path, offset, what }) => {
                let p = self.problem(&path, what);
                p.offset = Some(offset);
                p
            }
            EngineError::Storage(FormatError::Io { op, path, source }) => {
                self.problem(&path, format!("{op}: {source}"))
            }
            other => self.problem(path, other.to_string()),
        };
        p.table = t.map(|t| t.name.clone());
        p
    }
}

/// What a table's problems are named with.
struct TableNames {
    name: String,
    schema: Schema,
    values: Vec<ValueDict>,
}

impl TableNames {
    fn new(name: &str, tm: &TableManifest) -> TableNames {
        TableNames {
            name: name.to_owned(),
            schema: Schema {
                fields: tm
                    .fields
                    .iter()
                    .map(|f| FieldDef {
                        name: f.name.clone(),
                        kind: FieldKind::parse(&f.kind).unwrap_or(FieldKind::Text),
                        sensitive: f.sensitive,
                        category: f.category.clone(),
                        closed: f.closed,
                        catalog: Default::default(),
                    })
                    .collect(),
            },
            values: tm
                .fields
                .iter()
                .map(|f| ValueDict::new(f.values.clone()))
                .collect(),
        }
    }
}

/// Checks the store in `dir` (see the module's documentation). An error
/// only when the check cannot run (no store there, or another process
/// holds it); damage is in the report.
pub fn check_store(dir: &Path) -> Result<CheckReport> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.exists() {
        return Err(EngineError::InvalidArgument(format!(
            "{} is not a segdb store (no {MANIFEST_FILE})",
            dir.display()
        )));
    }
    let _lock = StoreLock::acquire(dir, LockMode::Shared)?;
    let mut report = CheckReport {
        dir: dir.to_path_buf(),
        ..CheckReport::default()
    };
    report.files += 1;
    let manifest = match Manifest::load(dir) {
        Ok(Some(m)) => m,
        Ok(None) => {
            report.problem(&manifest_path, "missing");
            return Ok(report);
        }
        Err(e) => {
            // Nothing else can be checked against a manifest that cannot be read.
            report.error(&manifest_path, e.into(), None);
            return Ok(report);
        }
    };
    for (name, tm) in &manifest.tables {
        check_table(&mut report, dir, name, tm);
    }
    check_segments(&mut report, dir, &manifest);
    check_wal(&mut report, dir, manifest.wal_flushed_seq);
    let keys = dir.join(crate::live::keys::KEYS_FILE);
    if keys.exists() {
        report.files += 1;
        if let Err(e) = crate::live::keys::Keys::load(dir, &LiveOptions::default()) {
            report.error(&keys, e, None);
        }
    }
    Ok(report)
}

/// Whether the file the manifest names is there with the size it records;
/// else a problem (and `false`).
fn present(report: &mut CheckReport, path: &Path, bytes: u64) -> Option<()> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.problem(path, "missing: the manifest names it");
            None
        }
        Err(e) => {
            report.problem(path, format!("stat: {e}"));
            None
        }
        Ok(m) if m.len() != bytes => {
            let p = report.problem(
                path,
                format!(
                    "the file is {} bytes, the manifest says {bytes} (truncated or overwritten)",
                    m.len()
                ),
            );
            p.offset = Some(m.len().min(bytes));
            None
        }
        Ok(_) => {
            report.files += 1;
            Some(())
        }
    }
}

fn check_table(report: &mut CheckReport, dir: &Path, name: &str, tm: &TableManifest) {
    let names = TableNames::new(name, tm);
    let tdir = dir.join(name);
    let num_shards = tm.num_rows.div_ceil(u64::from(SHARD_ROWS));
    for p in &tm.parts {
        let path = tdir.join(&p.file);
        if u64::from(p.shard) >= num_shards {
            let at = report.problem(
                &path,
                format!(
                    "part listed for shard {} of a table of {} rows ({num_shards} shards)",
                    p.shard, tm.num_rows
                ),
            );
            at.table = Some(name.to_owned());
            at.shard = Some(p.shard);
        }
        let before = report.problems.len();
        if present(report, &path, p.bytes).is_some() {
            match Part::open_mapped(&path) {
                Err(e) => {
                    report.error(&path, e.into(), Some(&names));
                }
                Ok(part) => {
                    if part.shard() != p.shard {
                        report.problem(
                            &path,
                            format!(
                                "the part holds shard {}, the manifest lists it for shard {}",
                                part.shard(),
                                p.shard
                            ),
                        );
                    }
                    for f in part.files() {
                        report.blocks += f.num_blocks() as u64;
                        for e in f.verify_all() {
                            report.error(&path, e.into(), Some(&names));
                        }
                    }
                }
            }
        }
        for at in &mut report.problems[before..] {
            at.table = Some(name.to_owned());
            at.shard.get_or_insert(p.shard);
        }
    }
    let mut next_row = 0u64;
    for d in &tm.dictionary {
        let path = tdir.join(&d.file);
        let before = report.problems.len();
        if d.first_row != next_row {
            report.problem(
                &path,
                format!(
                    "the manifest lists it from row {}, but the parts before it end at row {next_row}",
                    d.first_row
                ),
            );
        }
        next_row = d.first_row + d.num_ids;
        if present(report, &path, d.bytes).is_some() {
            match DictionaryPart::open_mapped(&path) {
                Err(e) => {
                    report.error(&path, e.into(), Some(&names));
                }
                Ok(part) => {
                    if part.first_row() != d.first_row || u64::from(part.num_ids()) != d.num_ids {
                        report.problem(
                            &path,
                            format!(
                                "the file holds {} ids from row {}, the manifest says {} from row {}",
                                part.num_ids(),
                                part.first_row(),
                                d.num_ids,
                                d.first_row
                            ),
                        );
                    }
                    let f = part.block_file();
                    report.blocks += f.num_blocks() as u64;
                    for e in f.verify_all() {
                        report.error(&path, e.into(), Some(&names));
                    }
                }
            }
        }
        for at in &mut report.problems[before..] {
            at.table = Some(name.to_owned());
        }
    }
    if next_row != tm.num_rows {
        let at = report.problem(
            &dir.join(MANIFEST_FILE),
            format!(
                "table `{name}` has {} rows, but its dictionary parts hold ids for {next_row}",
                tm.num_rows
            ),
        );
        at.table = Some(name.to_owned());
    }
}

fn check_segments(report: &mut CheckReport, dir: &Path, manifest: &Manifest) {
    let sdir = dir.join(SEGMENTS_DIR);
    for (name, sm) in &manifest.segments {
        let Some(file) = &sm.file else { continue };
        let path = sdir.join(file);
        let before = report.problems.len();
        if present(report, &path, sm.bytes).is_some() {
            match SnapshotFile::open_mapped(&path) {
                Err(e) => {
                    report.error(&path, e.into(), None);
                }
                Ok(snap) => {
                    if snap.num_rows() != sm.rows {
                        report.problem(
                            &path,
                            format!(
                                "the snapshot holds {} rows, the manifest says {}",
                                snap.num_rows(),
                                sm.rows
                            ),
                        );
                    }
                    let f = snap.block_file();
                    report.blocks += f.num_blocks() as u64;
                    for e in f.verify_all() {
                        report.error(&path, e.into(), None);
                    }
                }
            }
        }
        for at in &mut report.problems[before..] {
            at.table = Some(sm.table.clone());
            at.what = format!("segment `{name}`: {}", at.what);
        }
    }
}

fn check_wal(report: &mut CheckReport, dir: &Path, flushed_seq: u64) {
    let wdir = dir.join(WAL_DIR);
    if !wdir.exists() {
        return;
    }
    report.files += std::fs::read_dir(&wdir).map_or(0, |d| d.count() as u64);
    match wal::verify(&wdir, flushed_seq) {
        Ok(summary) => {
            report.wal_records = summary.num_records;
            if let Some(t) = summary.torn_tail {
                report.notes.push(format!(
                    "{} at offset {}: a torn last record ({}); the next open cuts its {} bytes, as after any crash",
                    t.path.display(),
                    t.offset,
                    t.what,
                    t.bytes_removed
                ));
            }
        }
        Err(e) => {
            report.error(&wdir, e.into(), None);
        }
    }
}
