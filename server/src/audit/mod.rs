//! The audit log: who did what, when, from where, and how it ended, as an
//! append-only file of JSON lines in the store (`DATA/audit/
//! audit-000001.jsonl`, then `…000002…` once a file reaches
//! `audit_max_file_bytes`; every file is kept, deleting old ones is the
//! operator's). Each entry is written and fsynced before the request it
//! records is answered, one fsync per entry under one mutex; an entry that
//! cannot be written turns the answer into 503 `audit_failed` (the HTTP
//! layer does this), so nothing is acknowledged as if it were audited.
//! `GET /v1/audit` reads the files back ([`Audit::read`]).

pub mod time;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

/// What an entry records: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// CREATE TABLE, ALTER TABLE, DROP TABLE.
    SchemaChange,
    /// A segment created (`CREATE SEGMENT`, `PUT /v1/segments/{name}`).
    SegmentCreate,
    /// A segment replaced (`CREATE OR REPLACE SEGMENT`, `PUT` over one).
    SegmentReplace,
    /// A segment dropped.
    SegmentDrop,
    /// `POST /v1/tables/{t}/import`.
    Import,
    /// `POST /v1/tables/{t}/ingest`: one batch.
    Ingest,
    /// Ids leaving the server: a segment's ids, a query's ids as CSV or
    /// JSON, a Roaring bitmap.
    Export,
    /// One row's profile (`GET …/profiles/{id}`, `CALL profile(…)`).
    ProfileRead,
    /// An API key created (keys: another part of issue 12).
    KeyCreate,
    /// An API key deleted.
    KeyDelete,
    /// Any query, with `audit_queries = true`.
    Query,
    /// `GET /v1/audit` itself.
    AuditRead,
    /// A request refused (401/403) that is none of the above.
    Access,
    /// A campaign created, deleted, moved from state to state (approve,
    /// start, pause, resume, cancel), or a run started by the scheduler.
    Campaign,
}

impl Action {
    /// Every action, in the order of the closed set.
    pub const ALL: [Action; 14] = [
        Action::SchemaChange,
        Action::SegmentCreate,
        Action::SegmentReplace,
        Action::SegmentDrop,
        Action::Import,
        Action::Ingest,
        Action::Export,
        Action::ProfileRead,
        Action::KeyCreate,
        Action::KeyDelete,
        Action::Query,
        Action::AuditRead,
        Action::Access,
        Action::Campaign,
    ];

    /// Its name in entries (`schema_change`, …).
    pub fn name(self) -> &'static str {
        match self {
            Action::SchemaChange => "schema_change",
            Action::SegmentCreate => "segment_create",
            Action::SegmentReplace => "segment_replace",
            Action::SegmentDrop => "segment_drop",
            Action::Import => "import",
            Action::Ingest => "ingest",
            Action::Export => "export",
            Action::ProfileRead => "profile_read",
            Action::KeyCreate => "key_create",
            Action::KeyDelete => "key_delete",
            Action::Query => "query",
            Action::AuditRead => "audit_read",
            Action::Access => "access",
            Action::Campaign => "campaign",
        }
    }

    /// The action named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// What a request did, as its handler describes it; the HTTP layer adds
/// who, when, from where and the outcome, and writes the [`Entry`].
#[derive(Debug, Clone)]
pub struct Note {
    /// What was done.
    pub action: Action,
    /// What it was done to: `{"table": …}`, `{"segment": …}`, ….
    pub target: Value,
    /// Figures of it: rows, bytes, format, statement text (cut short), ….
    pub detail: Value,
}

impl Note {
    /// A note of `action` on `target` with `detail`.
    pub fn new(action: Action, target: Value, detail: Value) -> Note {
        Note {
            action,
            target,
            detail,
        }
    }
}

/// The notes a handler puts in its response's extensions (an error
/// response too), one entry each.
#[derive(Debug, Clone, Default)]
pub struct Notes(pub Vec<Note>);

/// How a recorded request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done (2xx).
    Ok,
    /// Refused for want of a token or a role (401, 403).
    Denied,
    /// Failed otherwise (the `error` field has the code).
    Error,
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    /// The principal's name (`-` when none authenticated).
    pub principal: String,
    /// Its role (null when none authenticated).
    pub role: Option<String>,
    /// The client's address, `ip:port`.
    pub peer: String,
    /// What was done.
    pub action: Action,
    /// To what.
    pub target: Value,
    /// Figures of it.
    pub detail: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, if any.
    pub error: Option<String>,
}

/// Statement text and other client text is cut to this many bytes.
pub const MAX_TEXT: usize = 1024;

/// `text` cut to [`MAX_TEXT`] bytes (at a character boundary), with `…`
/// when cut.
pub fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Why an entry could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the audit log {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

/// The open file being appended to.
struct Current {
    file: File,
    number: u32,
    bytes: u64,
}

/// The audit log of one store.
pub struct Audit {
    dir: PathBuf,
    max_file_bytes: u64,
    current: Mutex<Option<Current>>,
    /// Entries written since the start.
    pub entries: Arc<AtomicU64>,
    /// Entries that could not be written.
    pub write_failures: Arc<AtomicU64>,
}

/// Which entries [`Audit::read`] gives.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At or after this instant (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At or before this instant.
    pub until_ms: Option<i64>,
    /// Of this principal.
    pub principal: Option<String>,
    /// Of this action.
    pub action: Option<Action>,
    /// The newest this many.
    pub limit: usize,
}

fn file_name(number: u32) -> String {
    format!("audit-{number:06}.jsonl")
}

impl Audit {
    /// The audit log in `dir` (created at the first entry), a new file past
    /// `max_file_bytes`; entries written and failures are counted in
    /// `entries` and `write_failures`.
    pub fn new(
        dir: PathBuf,
        max_file_bytes: u64,
        entries: Arc<AtomicU64>,
        write_failures: Arc<AtomicU64>,
    ) -> Audit {
        Audit {
            dir,
            max_file_bytes,
            current: Mutex::new(None),
            entries,
            write_failures,
        }
    }

    /// The folder of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The numbers of the files there, ascending.
    fn numbers(&self) -> std::io::Result<Vec<u32>> {
        let mut numbers = Vec::new();
        let list = match std::fs::read_dir(&self.dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(numbers),
            Err(e) => return Err(e),
        };
        for f in list {
            let name = f?.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix("audit-"))
                .and_then(|n| n.strip_suffix(".jsonl"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            numbers.push(n);
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn open(&self, number: u32) -> std::io::Result<Current> {
        std::fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(file_name(number)))?;
        let bytes = file.metadata()?.len();
        Ok(Current {
            file,
            number,
            bytes,
        })
    }

    /// Appends `entry` as one line and fsyncs it. On failure the file is
    /// reopened at the next entry.
    pub fn record(&self, entry: &Entry) -> Result<(), AuditError> {
        self.append(entry, true)
    }

    /// Appends `entry` as one line without an fsync of its own: the next
    /// fsynced entry (or the operating system) makes it durable. For
    /// requests refused before anyone authenticated, so that a flood of
    /// bad tokens costs writes to the page cache, not one fsync each.
    pub fn record_unsynced(&self, entry: &Entry) -> Result<(), AuditError> {
        self.append(entry, false)
    }

    fn append(&self, entry: &Entry, sync: bool) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let r = (|| -> std::io::Result<()> {
            let c = match current.take() {
                Some(c) => c,
                None => {
                    let last = self.numbers()?.last().copied().unwrap_or(1);
                    self.open(last)?
                }
            };
            let mut c = if c.bytes > 0 && c.bytes + line.len() as u64 > self.max_file_bytes {
                // Rotated: the new file exists (durably named) before the
                // first entry goes in.
                let next = self.open(c.number + 1)?;
                File::open(&self.dir)?.sync_all()?;
                next
            } else {
                c
            };
            c.file.write_all(&line)?;
            if sync {
                c.file.sync_data()?;
            }
            c.bytes += line.len() as u64;
            *current = Some(c);
            Ok(())
        })();
        match r {
            Ok(()) => {
                self.entries.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(source) => {
                self.write_failures.fetch_add(1, Ordering::Relaxed);
                Err(AuditError {
                    path: self.dir.clone(),
                    source,
                })
            }
        }
    }

    /// The entries `filter` selects, oldest first: the newest
    /// `filter.limit` of them, read across every file.
    pub fn read(&self, filter: &Filter) -> std::io::Result<Vec<Value>> {
        let mut kept = std::collections::VecDeque::with_capacity(filter.limit.min(1 << 14));
        for n in self.numbers()? {
            let file = match File::open(self.dir.join(file_name(n))) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for line in BufReader::new(file).lines() {
                let line = line?;
                // A line being appended right now may be read half: skipped.
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if !matches(&v, filter) {
                    continue;
                }
                if kept.len() == filter.limit {
                    kept.pop_front();
                }
                if filter.limit > 0 {
                    kept.push_back(v);
                }
            }
        }
        Ok(kept.into())
    }
}

fn matches(v: &Value, f: &Filter) -> bool {
    let at = v.get("at").and_then(Value::as_str).and_then(time::parse);
    if let Some(since) = f.since_ms {
        if at.is_none_or(|at| at < since) {
            return false;
        }
    }
    if let Some(until) = f.until_ms {
        if at.is_none_or(|at| at > until) {
            return false;
        }
    }
    if let Some(p) = &f.principal {
        if v.get("principal").and_then(Value::as_str) != Some(p) {
            return false;
        }
    }
    if let Some(a) = f.action {
        if v.get("action").and_then(Value::as_str) != Some(a.name()) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(principal: &str, action: Action) -> Entry {
        Entry {
            at: time::format_ms(time::unix_ms(std::time::SystemTime::now())),
            principal: principal.into(),
            role: Some("admin".into()),
            peer: "127.0.0.1:1".into(),
            action,
            target: json!({"table": "users"}),
            detail: json!({}),
            outcome: Outcome::Ok,
            status: 200,
            error: None,
        }
    }

    #[test]
    fn entries_rotate_by_size_and_read_back_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(
            dir.path().join("audit"),
            300,
            Arc::default(),
            Arc::default(),
        );
        for i in 0..10 {
            let who = if i % 2 == 0 { "ana" } else { "bo" };
            audit.record(&entry(who, Action::Import)).unwrap();
        }
        assert!(audit.numbers().unwrap().len() > 2, "rotated by size");
        let all = audit
            .read(&Filter {
                limit: 100,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(all.len(), 10);
        let ana = audit
            .read(&Filter {
                principal: Some("ana".into()),
                limit: 3,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(ana.len(), 3);
        assert!(ana.iter().all(|v| v["principal"] == "ana"));
        // A new writer continues the last file.
        let again = Audit::new(
            dir.path().join("audit"),
            300,
            Arc::default(),
            Arc::default(),
        );
        let before = audit.numbers().unwrap();
        again.record(&entry("cy", Action::Export)).unwrap();
        assert_eq!(again.numbers().unwrap().first(), before.first());
        assert_eq!(
            audit
                .read(&Filter {
                    limit: 1,
                    ..Filter::default()
                })
                .unwrap()[0]["principal"],
            "cy"
        );
    }

    #[test]
    fn a_write_that_fails_is_an_error_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        let blocked = dir.path().join("audit");
        std::fs::write(&blocked, b"x").unwrap();
        let audit = Audit::new(blocked, 1 << 20, Arc::default(), Arc::default());
        assert!(audit.record(&entry("ana", Action::Import)).is_err());
        assert_eq!(audit.write_failures.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary() {
        let t = "é".repeat(MAX_TEXT);
        let c = cut(&t);
        assert!(c.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(c.ends_with('…'));
        assert_eq!(cut("short"), "short");
    }
}
