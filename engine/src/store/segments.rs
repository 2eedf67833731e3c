//! The named segments of a store: dynamic (a WHERE text bound again at
//! each use) and snapshot (rows evaluated once into a file).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use segdb_storage_format::manifest::{SegmentManifest, MANIFEST_FILE, SEGMENTS_DIR};
use segdb_storage_format::snapshot::{write_snapshot_with, SnapshotFile};
use segdb_storage_format::FormatError;

use super::{valid_name, Segment, State, Store};
use crate::error::{EngineError, Result};
use crate::expr::Expr;
use crate::segment::{SegmentDef, SegmentInfo, SegmentKind, SnapshotRows};

impl Segment {
    /// The segment a manifest entry describes; a snapshot's file is mapped
    /// and its footer and directory checked.
    pub(super) fn open(name: &str, sm: &SegmentManifest, sdir: &Path) -> Result<Segment> {
        let manifest_path = sdir.with_file_name(MANIFEST_FILE);
        let corrupt = |what: String| -> EngineError {
            FormatError::corrupt(&manifest_path, 0, format!("segment `{name}`: {what}")).into()
        };
        let kind = match sm.kind.as_str() {
            "dynamic" => SegmentKind::Dynamic,
            "snapshot" => SegmentKind::Snapshot,
            other => return Err(corrupt(format!("unknown kind `{other}`"))),
        };
        let snapshot = match kind {
            SegmentKind::Dynamic => {
                if sm.text.is_none() {
                    return Err(corrupt("a dynamic segment without text".into()));
                }
                None
            }
            SegmentKind::Snapshot => {
                let file = sm
                    .file
                    .as_deref()
                    .ok_or_else(|| corrupt("a snapshot segment without a file".into()))?;
                let path = sdir.join(file);
                let f = SnapshotFile::open_mapped(&path)?;
                if f.num_rows() != sm.rows {
                    return Err(FormatError::corrupt(
                        &path,
                        f.len_bytes() as u64,
                        format!(
                            "snapshot holds {} rows, the manifest says {}",
                            f.num_rows(),
                            sm.rows
                        ),
                    )
                    .into());
                }
                Some(SnapshotRows::new(name, &sm.table, Arc::new(f)))
            }
        };
        Ok(Segment {
            info: SegmentInfo {
                name: name.to_owned(),
                table: sm.table.clone(),
                kind,
                text: sm.text.clone(),
                uses: sm.uses.clone(),
                rows: snapshot.as_ref().map(|_| sm.rows),
                bytes: snapshot.as_ref().map(|_| sm.bytes),
            },
            snapshot,
        })
    }

    fn file_name(&self) -> Option<String> {
        let s = self.snapshot.as_ref()?;
        Some(s.file().path().file_name()?.to_string_lossy().into_owned())
    }

    fn manifest(&self) -> SegmentManifest {
        SegmentManifest {
            table: self.info.table.clone(),
            kind: self.info.kind.as_str().to_owned(),
            text: self.info.text.clone(),
            uses: self.info.uses.clone(),
            file: self.file_name(),
            rows: self.info.rows.unwrap_or(0),
            bytes: self.info.bytes.unwrap_or(0),
        }
    }
}

impl State {
    /// The dynamic segments whose definitions name `name`.
    fn users_of(&self, name: &str) -> Vec<String> {
        self.segments
            .values()
            .filter(|s| s.info.name != name && s.info.uses.iter().any(|u| u == name))
            .map(|s| s.info.name.clone())
            .collect()
    }

    /// A path `name -> … -> name` if `name` using `uses` would close a
    /// cycle.
    fn cycle_through(&self, name: &str, uses: &[String]) -> Option<String> {
        fn go<'a>(
            state: &'a State,
            target: &str,
            at: &'a str,
            path: &mut Vec<&'a str>,
            seen: &mut HashSet<&'a str>,
        ) -> bool {
            if at == target {
                return true;
            }
            if !seen.insert(at) {
                return false;
            }
            let Some(seg) = state.segments.get(at) else {
                return false;
            };
            for u in &seg.info.uses {
                path.push(u);
                if go(state, target, u, path, seen) {
                    return true;
                }
                path.pop();
            }
            false
        }
        let mut seen = HashSet::new();
        for u in uses {
            let mut path = vec![name, u.as_str()];
            if go(self, name, u, &mut path, &mut seen) {
                return Some(path.join(" -> "));
            }
        }
        None
    }
}

impl Store {
    /// Makes the segment `name` of `table`, or replaces it if `replace`
    /// (`CREATE OR REPLACE SEGMENT`), and commits.
    ///
    /// A dynamic segment's `uses` must exist, be segments of the same table
    /// and not lead back to `name` ([`EngineError::SegmentCycle`]). A
    /// snapshot's rows must be sorted, distinct and rows of the table; they
    /// are written to a new snapshot file (temp, fsync, rename) before the
    /// manifest naming it. A segment that others use may be replaced, but
    /// not moved to another table.
    pub fn create_segment(
        &self,
        name: &str,
        table: &str,
        def: SegmentDef,
        replace: bool,
    ) -> Result<SegmentInfo> {
        let _w = self.lock_writer();
        if !valid_name(name) {
            return Err(EngineError::InvalidSegment(format!(
                "segment name `{name}` must be letters, digits and `_`, not starting with a digit"
            )));
        }
        let old = self.state();
        let t = old
            .tables
            .get(table)
            .ok_or_else(|| EngineError::UnknownTable(table.to_owned()))?;
        let previous = old.segments.get(name);
        match previous {
            Some(_) if !replace => return Err(EngineError::SegmentExists(name.to_owned())),
            Some(p) if p.info.table != table => {
                let users = old.users_of(name);
                if !users.is_empty() {
                    return Err(EngineError::SegmentInUse {
                        name: name.to_owned(),
                        users,
                    });
                }
            }
            _ => {}
        }
        let mut manifest = (*old.manifest).clone();
        manifest.generation += 1;
        let mut new_file = None;
        let segment = match def {
            SegmentDef::Dynamic { text, uses } => {
                let mut deduped: Vec<String> = Vec::with_capacity(uses.len());
                for u in uses {
                    if !deduped.contains(&u) {
                        deduped.push(u);
                    }
                }
                for u in &deduped {
                    if u == name {
                        return Err(EngineError::SegmentCycle {
                            name: name.to_owned(),
                            path: format!("{name} -> {name}"),
                        });
                    }
                    let used = old
                        .segments
                        .get(u)
                        .ok_or_else(|| EngineError::UnknownSegment(u.clone()))?;
                    if used.info.table != table {
                        return Err(EngineError::InvalidSegment(format!(
                            "segment `{u}` holds rows of table `{}`, not of `{table}`",
                            used.info.table
                        )));
                    }
                }
                if let Some(path) = old.cycle_through(name, &deduped) {
                    return Err(EngineError::SegmentCycle {
                        name: name.to_owned(),
                        path,
                    });
                }
                Segment {
                    info: SegmentInfo {
                        name: name.to_owned(),
                        table: table.to_owned(),
                        kind: SegmentKind::Dynamic,
                        text: Some(text),
                        uses: deduped,
                        rows: None,
                        bytes: None,
                    },
                    snapshot: None,
                }
            }
            SegmentDef::Snapshot { rows, text } => {
                if let Some(w) = rows.windows(2).find(|w| w[0] >= w[1]) {
                    return Err(EngineError::InvalidSegment(format!(
                        "snapshot rows must be sorted and distinct ({} comes before {})",
                        w[0], w[1]
                    )));
                }
                if let Some(&last) = rows.last() {
                    if u64::from(last) >= t.num_rows() {
                        return Err(EngineError::InvalidSegment(format!(
                            "row {last} is not a row of table `{table}` (it has {} rows)",
                            t.num_rows()
                        )));
                    }
                }
                let sdir = self.dir.join(SEGMENTS_DIR);
                if !sdir.is_dir() {
                    std::fs::create_dir_all(&sdir)
                        .map_err(|e| FormatError::io("create directory", &sdir, e))?;
                    // The directory's entry in the store directory is durable
                    // before a manifest names a file in it.
                    segdb_storage_format::fsutil::fsync_dir(&sdir)?;
                }
                let mut counter = manifest.next_file_id;
                let file = self.new_file_name(&mut counter, "snap");
                manifest.next_file_id = counter;
                let path = sdir.join(&file);
                let bytes = write_snapshot_with(self.fs(), &path, &rows)?;
                new_file = Some(path.clone());
                let opened = SnapshotFile::open_mapped(&path).inspect_err(|_| {
                    let _ = std::fs::remove_file(&path);
                })?;
                Segment {
                    info: SegmentInfo {
                        name: name.to_owned(),
                        table: table.to_owned(),
                        kind: SegmentKind::Snapshot,
                        text,
                        uses: Vec::new(),
                        rows: Some(rows.len() as u64),
                        bytes: Some(bytes),
                    },
                    snapshot: Some(SnapshotRows::new(name, table, Arc::new(opened))),
                }
            }
        };
        manifest
            .segments
            .insert(name.to_owned(), segment.manifest());
        if let Err(e) = manifest.store_with(&*self.fs(), &self.dir) {
            if let Some(path) = new_file {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
        let info = segment.info.clone();
        let mut segments = old.segments.clone();
        let replaced = segments.insert(name.to_owned(), segment);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            manifest: Arc::new(manifest),
            tables: old.tables.clone(),
            segments,
        });
        if let Some(file) = replaced.as_ref().and_then(Segment::file_name) {
            let _ = std::fs::remove_file(self.dir.join(SEGMENTS_DIR).join(file));
        }
        Ok(info)
    }

    /// Deletes a segment and commits. A segment that other segments use is
    /// not dropped ([`EngineError::SegmentInUse`], naming them). Queries
    /// already holding a snapshot's rows keep reading them (the file stays
    /// mapped after the unlink).
    pub fn drop_segment(&self, name: &str) -> Result<()> {
        let _w = self.lock_writer();
        let old = self.state();
        let Some(segment) = old.segments.get(name) else {
            return Err(EngineError::UnknownSegment(name.to_owned()));
        };
        let users = old.users_of(name);
        if !users.is_empty() {
            return Err(EngineError::SegmentInUse {
                name: name.to_owned(),
                users,
            });
        }
        let mut manifest = (*old.manifest).clone();
        manifest.generation += 1;
        manifest.segments.remove(name);
        manifest.store_with(&*self.fs(), &self.dir)?;
        let file = segment.file_name();
        let mut segments = old.segments.clone();
        segments.remove(name);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            manifest: Arc::new(manifest),
            tables: old.tables.clone(),
            segments,
        });
        if let Some(file) = file {
            let _ = std::fs::remove_file(self.dir.join(SEGMENTS_DIR).join(file));
        }
        Ok(())
    }

    /// Every segment, by name.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.state()
            .segments
            .values()
            .map(|s| s.info.clone())
            .collect()
    }

    /// The segment `name`, if there is one.
    pub fn segment(&self, name: &str) -> Option<SegmentInfo> {
        self.state().segments.get(name).map(|s| s.info.clone())
    }

    /// The rows of the SNAPSHOT segment `name` as an expression over its
    /// table ([`Expr::Snapshot`]), read in place from its file. A dynamic
    /// segment has no stored rows: its text is bound and planned instead.
    pub fn snapshot_expr(&self, name: &str) -> Result<Expr> {
        let state = self.state();
        let segment = state
            .segments
            .get(name)
            .ok_or_else(|| EngineError::UnknownSegment(name.to_owned()))?;
        match &segment.snapshot {
            Some(rows) => Ok(Expr::Snapshot(rows.clone())),
            None => Err(EngineError::InvalidSegment(format!(
                "segment `{name}` is dynamic: it has no stored rows"
            ))),
        }
    }
}
