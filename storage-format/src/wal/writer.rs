//! Appending to the WAL with group commit.
//!
//! Appenders put their encoded record in a shared pending buffer and wait.
//! Whoever finds no write in flight becomes the leader: it takes the whole
//! pending buffer, writes it with one `write` and (policy `Always`) one
//! fsync, outside the lock, then wakes everyone. While it works, new
//! records pile up for the next leader, so under load one fsync covers the
//! records of every thread that arrived during the previous one.
//!
//! After a failed write or fsync the writer is poisoned: every waiting and
//! later append fails with `FormatError::Poisoned`. A failed write may have
//! left half a record at the end of the segment; nothing is written after
//! it, so recovery sees it as a torn tail and cuts it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::fs::{RealFs, WalFile, WalFs};
use super::reader::{list_segments, replay_inner, ReplayOptions, Truncation};
use super::record::{
    encode_record, encode_segment_header, segment_file_name, MAX_PAYLOAD_LEN, SEGMENT_HEADER_LEN,
};
use crate::error::{FormatError, Result};

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// `append` returns once the record is fsynced (the default). Nothing
    /// acknowledged is lost on a crash or a power loss.
    #[default]
    Always,
    /// `append` returns once the record is written to the operating system;
    /// a background thread fsyncs every `n` milliseconds. A process crash
    /// loses nothing, but a power loss (or an OS crash) loses up to the
    /// last `n` ms of acknowledged records.
    EveryMs(u64),
}

/// How a [`WalWriter`] works.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// When an append is acknowledged.
    pub sync: SyncPolicy,
    /// A segment that has reached this many bytes is closed, and the next
    /// write goes to a new segment. Records are never split, so a segment
    /// may exceed it by one write.
    pub segment_bytes: u64,
    /// The smallest sequence number the writer may assign: if the WAL ends
    /// below it (or is empty), the writer starts a new segment there. The
    /// engine passes its last flushed sequence number + 1, so that
    /// sequence numbers keep growing even if the WAL files were removed.
    pub start_seq: u64,
    /// The file system (tests inject failures through it).
    pub fs: Arc<dyn WalFs>,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            sync: SyncPolicy::Always,
            segment_bytes: 64 << 20,
            start_seq: 1,
            fs: Arc::new(RealFs),
        }
    }
}

/// Counters of a writer, for metrics and for the group-commit figure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records written.
    pub records: u64,
    /// `write` calls (one per group).
    pub writes: u64,
    /// fsyncs of segment data (one per group under `Always`).
    pub syncs: u64,
    /// Records appended and waiting for a leader to write them.
    pub queued: u64,
    /// Segments created.
    pub rotations: u64,
}

/// The WAL's appender, shared by many threads (`Send + Sync`).
#[derive(Debug)]
pub struct WalWriter {
    shared: Arc<Shared>,
    sync_thread: Option<JoinHandle<()>>,
    recovered_tail: Option<Truncation>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    fs: Arc<dyn WalFs>,
    sync: SyncPolicy,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Appenders wait here for their record to be written or fsynced.
    done: Condvar,
    /// The background fsync thread waits here for its tick or shutdown.
    tick: Condvar,
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    /// Encoded records not yet taken by a leader.
    pending: Vec<u8>,
    pending_records: u64,
    /// Highest sequence number written to the OS / fsynced.
    written_seq: u64,
    durable_seq: u64,
    /// A leader or the fsync thread holds the file.
    busy: bool,
    file: Option<Box<dyn WalFile>>,
    /// Live segments (first sequence number, path); the last is active.
    segments: Vec<(u64, PathBuf)>,
    segment_len: u64,
    poisoned: Option<String>,
    shutdown: bool,
    stats: WalStats,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every unlock leaves the state consistent, so a panic elsewhere does
    // not make it unusable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WalWriter {
    /// Opens (or creates) the WAL in `dir` for appending after its last
    /// intact record. A torn tail is cut as [`super::replay`] would cut it
    /// (see [`WalWriter::recovered_tail`]); damage in the last segment is an
    /// error. Call `replay` first to apply the records: opening reads only
    /// the last segment.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<WalWriter> {
        let dir = dir.as_ref().to_owned();
        let fs = options.fs.clone();
        fs.create_dir_all(&dir)
            .map_err(|e| FormatError::io("create directory", &dir, e))?;
        let replay_options = ReplayOptions {
            truncate_at_corruption: false,
            fs: fs.clone(),
        };
        let (summary, tail) = replay_inner::<FormatError, _>(
            &dir,
            u64::MAX,
            options.start_seq.saturating_sub(1),
            &replay_options,
            |_, _| Ok(()),
        )?;
        let mut segments = list_segments(&*fs, &dir)?;
        let next_seq = summary.next_seq.max(options.start_seq).max(1);
        let (file, segment_len) = match tail {
            Some(t) if t.next_seq == next_seq => {
                let f = fs
                    .open_append(&t.path)
                    .map_err(|e| FormatError::io("open", &t.path, e))?;
                debug_assert_eq!(segments.last().map(|s| s.0), Some(t.first_seq));
                (f, t.len)
            }
            _ => {
                let (f, path) = create_segment(&*fs, &dir, next_seq)?;
                segments.push((next_seq, path));
                (f, SEGMENT_HEADER_LEN as u64)
            }
        };
        let shared = Arc::new(Shared {
            dir,
            fs,
            sync: options.sync,
            segment_bytes: options.segment_bytes,
            state: Mutex::new(State {
                next_seq,
                pending: Vec::new(),
                pending_records: 0,
                written_seq: next_seq - 1,
                durable_seq: next_seq - 1,
                busy: false,
                file: Some(file),
                segments,
                segment_len,
                poisoned: None,
                shutdown: false,
                stats: WalStats::default(),
            }),
            done: Condvar::new(),
            tick: Condvar::new(),
        });
        let sync_thread = match options.sync {
            SyncPolicy::Always => None,
            SyncPolicy::EveryMs(ms) => {
                let shared = shared.clone();
                let every = Duration::from_millis(ms.max(1));
                let spawned = std::thread::Builder::new()
                    .name("segdb-wal-sync".into())
                    .spawn(move || shared.sync_loop(every))
                    .map_err(|e| FormatError::io("spawn the WAL fsync thread", "-", e))?;
                Some(spawned)
            }
        };
        Ok(WalWriter {
            shared,
            sync_thread,
            recovered_tail: summary.torn_tail,
        })
    }

    /// Appends a record and returns its sequence number once it is durable
    /// under the sync policy. Concurrent appends share writes and fsyncs.
    /// Sequence numbers are assigned in call order, without gaps.
    ///
    /// An error means the record may or may not be in the WAL (it was
    /// never acknowledged, like a timeout) but never half of it; the writer
    /// is then poisoned and refuses every later append.
    pub fn append(&self, payload: &[u8]) -> Result<u64> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(FormatError::RecordTooLarge {
                len: payload.len() as u64,
                max: MAX_PAYLOAD_LEN as u64,
            });
        }
        let shared = &*self.shared;
        let mut s = lock(&shared.state);
        if let Some(cause) = &s.poisoned {
            return Err(FormatError::Poisoned {
                cause: cause.clone(),
            });
        }
        let seq = s.next_seq;
        s.next_seq += 1;
        encode_record(&mut s.pending, seq, payload);
        s.pending_records += 1;
        s.stats.queued += 1;
        loop {
            let done = match shared.sync {
                SyncPolicy::Always => s.durable_seq >= seq,
                SyncPolicy::EveryMs(_) => s.written_seq >= seq,
            };
            if done {
                return Ok(seq);
            }
            if let Some(cause) = &s.poisoned {
                return Err(FormatError::Poisoned {
                    cause: cause.clone(),
                });
            }
            if !s.busy {
                let (guard, result) = shared.lead(s);
                s = guard;
                // Our record was pending, so it was in the group just written.
                result?;
            } else {
                s = shared.done.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Makes every record appended so far durable now (useful under
    /// `EveryMs` before a shutdown; a no-op under `Always`).
    pub fn sync(&self) -> Result<()> {
        self.shared.sync_written(lock(&self.shared.state))
    }

    /// Removes the segment files whose records all have sequence numbers
    /// below `seq` (once a flush made them unnecessary), never the active
    /// segment. Returns how many were removed.
    pub fn remove_before(&self, seq: u64) -> Result<usize> {
        let shared = &*self.shared;
        let mut removed = 0;
        {
            let mut s = lock(&shared.state);
            // Segment i holds records [first_i, first_{i+1}); the last is active.
            while s.segments.len() >= 2 && s.segments[1].0 <= seq {
                let path = s.segments[0].1.clone();
                shared
                    .fs
                    .remove(&path)
                    .map_err(|e| FormatError::io("remove", &path, e))?;
                s.segments.remove(0);
                removed += 1;
            }
        }
        if removed > 0 {
            shared
                .fs
                .sync_dir(&shared.dir)
                .map_err(|e| FormatError::io("fsync", &shared.dir, e))?;
        }
        Ok(removed)
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        lock(&self.shared.state).next_seq
    }

    /// The highest sequence number known to be fsynced.
    pub fn durable_seq(&self) -> u64 {
        lock(&self.shared.state).durable_seq
    }

    /// The counters.
    pub fn stats(&self) -> WalStats {
        lock(&self.shared.state).stats
    }

    /// The live segment files, oldest first; the last is active.
    pub fn segments(&self) -> Vec<PathBuf> {
        lock(&self.shared.state)
            .segments
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// The failure that poisoned the writer, if one did.
    pub fn poisoned(&self) -> Option<String> {
        lock(&self.shared.state).poisoned.clone()
    }

    /// A torn tail that opening cut off (`None` if `replay` already had, or
    /// there was none).
    pub fn recovered_tail(&self) -> Option<&Truncation> {
        self.recovered_tail.as_ref()
    }

    /// The WAL's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl Drop for WalWriter {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.tick.notify_all();
        if let Some(t) = self.sync_thread.take() {
            let _ = t.join();
        }
        // Best effort: a caller who needs to know calls `sync` first.
        let _ = self.sync();
    }
}

/// Creates a segment: the header, fsynced, and the directory entry, fsynced,
/// before any record goes in.
fn create_segment(
    fs: &dyn WalFs,
    dir: &Path,
    first_seq: u64,
) -> Result<(Box<dyn WalFile>, PathBuf)> {
    let path = dir.join(segment_file_name(first_seq));
    let mut f = fs
        .create_new(&path)
        .map_err(|e| FormatError::io("create", &path, e))?;
    f.write_all(&encode_segment_header(first_seq))
        .map_err(|e| FormatError::io("write", &path, e))?;
    f.sync().map_err(|e| FormatError::io("fsync", &path, e))?;
    fs.sync_dir(dir)
        .map_err(|e| FormatError::io("fsync", dir, e))?;
    Ok((f, path))
}

impl Shared {
    /// Writes (and under `Always` fsyncs) every pending record, as the
    /// leader. Called with the lock held and no one busy; returns with it
    /// held. An error poisons the writer.
    fn lead<'a>(&'a self, mut s: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, Result<()>) {
        let Some(mut file) = s.file.take() else {
            let cause = "the WAL has no open segment".to_owned();
            s.poisoned = Some(cause.clone());
            self.done.notify_all();
            return (s, Err(FormatError::Poisoned { cause }));
        };
        s.busy = true;
        let batch = std::mem::take(&mut s.pending);
        let num_records = std::mem::take(&mut s.pending_records);
        s.stats.queued -= num_records;
        let last_seq = s.next_seq - 1;
        let first_seq = last_seq + 1 - num_records;
        let rotate =
            s.segment_len >= self.segment_bytes && s.segment_len > SEGMENT_HEADER_LEN as u64;
        let mut path = s.segments.last().map(|p| p.1.clone()).unwrap_or_default();
        drop(s);

        let mut rotated = None;
        let mut synced = false;
        let result: Result<()> = (|| {
            if rotate {
                if matches!(self.sync, SyncPolicy::EveryMs(_)) {
                    // The old segment is durable before the next one starts.
                    file.sync()
                        .map_err(|e| FormatError::io("fsync", &path, e))?;
                    synced = true;
                }
                let (new_file, new_path) = create_segment(&*self.fs, &self.dir, first_seq)?;
                file = new_file;
                path = new_path.clone();
                rotated = Some(new_path);
            }
            file.write_all(&batch)
                .map_err(|e| FormatError::io("write", &path, e))?;
            if self.sync == SyncPolicy::Always {
                file.sync()
                    .map_err(|e| FormatError::io("fsync", &path, e))?;
            }
            Ok(())
        })();

        let mut s = lock(&self.state);
        s.file = Some(file);
        s.busy = false;
        if let Some(new_path) = rotated {
            s.segments.push((first_seq, new_path));
            s.segment_len = SEGMENT_HEADER_LEN as u64;
            s.stats.rotations += 1;
            if synced {
                s.durable_seq = s.durable_seq.max(first_seq - 1);
                s.stats.syncs += 1;
            }
        }
        match &result {
            Ok(()) => {
                s.segment_len += batch.len() as u64;
                s.written_seq = last_seq;
                s.stats.writes += 1;
                s.stats.records += num_records;
                if self.sync == SyncPolicy::Always {
                    s.durable_seq = last_seq;
                    s.stats.syncs += 1;
                }
            }
            Err(e) => {
                s.poisoned = Some(e.to_string());
                // Records queued behind the failed group are never written.
                s.pending.clear();
                s.stats.queued -= std::mem::take(&mut s.pending_records);
            }
        }
        if s.pending.is_empty() {
            // Reuse the buffer's capacity for the next group.
            let mut batch = batch;
            batch.clear();
            s.pending = batch;
        }
        self.done.notify_all();
        (s, result)
    }

    /// Fsyncs everything written so far (waiting for a leader in flight).
    fn sync_written(&self, mut s: MutexGuard<'_, State>) -> Result<()> {
        loop {
            if let Some(cause) = &s.poisoned {
                return Err(FormatError::Poisoned {
                    cause: cause.clone(),
                });
            }
            if s.durable_seq >= s.written_seq {
                return Ok(());
            }
            if !s.busy {
                break;
            }
            s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let Some(mut file) = s.file.take() else {
            return Ok(());
        };
        s.busy = true;
        let target = s.written_seq;
        let path = s.segments.last().map(|p| p.1.clone()).unwrap_or_default();
        drop(s);
        let result = file.sync().map_err(|e| FormatError::io("fsync", &path, e));
        let mut s = lock(&self.state);
        s.file = Some(file);
        s.busy = false;
        match &result {
            Ok(()) => {
                s.durable_seq = s.durable_seq.max(target);
                s.stats.syncs += 1;
            }
            Err(e) => s.poisoned = Some(e.to_string()),
        }
        self.done.notify_all();
        result
    }

    /// The `EveryMs` thread: fsync what was written, every `every`, until
    /// shutdown. A failure poisons the writer (and ends the thread).
    fn sync_loop(&self, every: Duration) {
        let mut s = lock(&self.state);
        loop {
            s = self
                .tick
                .wait_timeout_while(s, every, |s| !s.shutdown)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if s.shutdown {
                return;
            }
            if self.sync_written(s).is_err() {
                return;
            }
            s = lock(&self.state);
        }
    }
}
