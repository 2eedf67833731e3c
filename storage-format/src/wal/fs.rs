//! The few file operations the WAL does, behind a trait, so that tests can
//! make them fail: [`RealFs`] is the operating system; [`FaultyFs`] wraps it
//! with failpoints (fail the Nth write or fsync, a disk that fills up after
//! N bytes, fsyncs held until released) and can simulate a power loss by
//! cutting every file back to what was last fsynced (and zeroing what a
//! failed fsync lost).

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The file-system operations of the WAL.
pub trait WalFs: Send + Sync + fmt::Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of a directory.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// A whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates a new file (an error if it exists), opened for appending.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WalFile>>;
    /// Opens an existing file for appending.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WalFile>>;
    /// Cuts a file to `len` bytes and makes that durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (created, renamed, removed files) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists (durable once the
    /// directory is synced).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
}

/// A file open for appending.
pub trait WalFile: Send + fmt::Debug {
    /// Appends all of `buf` (or fails, possibly having appended a prefix).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile(File);

impl WalFile for RealFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl WalFs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(RealFile(f)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(RealFile(f)))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
}

/// [`RealFs`] with failpoints, for tests (also of the layers above the WAL).
/// Counters are 1-based and count from the file system's creation: the
/// first file fsync is fsync 1.
#[derive(Debug, Clone, Default)]
pub struct FaultyFs {
    shared: Arc<FaultShared>,
}

#[derive(Debug, Default)]
struct FaultShared {
    state: Mutex<FaultState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct FaultState {
    num_syncs: u64,
    num_writes: u64,
    bytes_written: u64,
    fail_sync_at: Option<u64>,
    fail_write_at: Option<u64>,
    num_renames: u64,
    fail_rename_at: Option<u64>,
    /// The power goes once this many fsyncs have succeeded: every later
    /// change fails (`power_cut`), and nothing after it is durable.
    cut_power_after: Option<u64>,
    power_cut: bool,
    capacity: Option<u64>,
    syncs_paused: bool,
    num_syncs_waiting: u64,
    /// Per file written through this layer.
    files: HashMap<PathBuf, FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    len: u64,
    /// The length at the last fsync.
    synced: u64,
    /// Byte ranges that a failed fsync lost: Linux may mark the dirty pages
    /// clean after a failed writeback, so a later fsync that succeeds does
    /// not bring them back.
    lost: Vec<(u64, u64)>,
}

impl FaultyFs {
    /// A layer that fails nothing until told to.
    pub fn new() -> FaultyFs {
        FaultyFs::default()
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `n`th file fsync (counted from the start) fails with EIO.
    pub fn fail_sync_at(&self, n: u64) {
        self.state().fail_sync_at = Some(n);
    }

    /// The `n`th write (counted from the start) appends the first half of
    /// its buffer, then fails with EIO: a half-written record.
    pub fn fail_write_at(&self, n: u64) {
        self.state().fail_write_at = Some(n);
    }

    /// The `n`th rename (counted from the start) fails with EIO and does
    /// not happen: a rename torn by a power loss before it reached the
    /// disk, reported to the caller.
    pub fn fail_rename_at(&self, n: u64) {
        self.state().fail_rename_at = Some(n);
    }

    /// The power goes right after the `n`th fsync: that fsync succeeds, and
    /// every later write, fsync, rename, creation, removal and directory
    /// sync fails, so nothing after it reaches the disk (the process goes
    /// on only as far as its errors let it).
    pub fn cut_power_after_syncs(&self, n: u64) {
        let mut s = self.state();
        s.cut_power_after = Some(n);
        s.power_cut = s.num_syncs >= n;
    }

    /// Renames done (or attempted) so far.
    pub fn num_renames(&self) -> u64 {
        self.state().num_renames
    }

    /// The disk is full once `bytes` more bytes have been written: a write
    /// past that appends what fits, then fails with ENOSPC.
    pub fn fill_disk_after(&self, bytes: u64) {
        let mut s = self.state();
        s.capacity = Some(s.bytes_written + bytes);
    }

    /// File fsyncs done (or attempted) so far.
    pub fn num_syncs(&self) -> u64 {
        self.state().num_syncs
    }

    /// Writes done (or attempted) so far.
    pub fn num_writes(&self) -> u64 {
        self.state().num_writes
    }

    /// From now on, file fsyncs wait until [`FaultyFs::resume_syncs`].
    pub fn pause_syncs(&self) {
        self.state().syncs_paused = true;
    }

    /// Lets waiting and later fsyncs proceed.
    pub fn resume_syncs(&self) {
        self.state().syncs_paused = false;
        self.shared.changed.notify_all();
    }

    /// Waits until `n` fsyncs are held by [`FaultyFs::pause_syncs`] (or
    /// `timeout` passes); whether they are.
    pub fn wait_for_paused_syncs(&self, n: u64, timeout: std::time::Duration) -> bool {
        let s = self.state();
        let (s, _) = self
            .shared
            .changed
            .wait_timeout_while(s, timeout, |s| s.num_syncs_waiting < n)
            .unwrap_or_else(|e| e.into_inner());
        s.num_syncs_waiting >= n
    }

    /// Simulates a power loss: every file written through this layer is cut
    /// back to its length at its last fsync (a file never fsynced, to
    /// nothing), and the bytes that a failed fsync covered read as zeros
    /// (even if a later fsync succeeded). Handles still open must not be
    /// used after this.
    pub fn lose_unsynced_data(&self) -> io::Result<()> {
        let mut s = self.state();
        for (path, file) in s.files.iter_mut() {
            if !path.exists() {
                continue;
            }
            let mut f = OpenOptions::new().write(true).open(path)?;
            if file.len > file.synced {
                f.set_len(file.synced)?;
                file.len = file.synced;
            }
            for (start, end) in file.lost.drain(..) {
                let end = end.min(file.len);
                if start < end {
                    use std::io::{Seek, SeekFrom};
                    f.seek(SeekFrom::Start(start))?;
                    f.write_all(&vec![0; (end - start) as usize])?;
                }
            }
            f.sync_all()?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: File,
    path: PathBuf,
    fs: FaultyFs,
}

fn injected(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, format!("{what} (injected by FaultyFs)"))
}

impl FaultState {
    /// An error for any change once the power is cut.
    fn check_power(&self) -> io::Result<()> {
        if self.power_cut {
            Err(injected(io::ErrorKind::Other, "the power is off"))
        } else {
            Ok(())
        }
    }
}

impl WalFile for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = self.fs.state();
        s.check_power()?;
        s.num_writes += 1;
        let (n, err) = if s.fail_write_at == Some(s.num_writes) {
            (
                buf.len() / 2,
                Some(injected(io::ErrorKind::Other, "input/output error")),
            )
        } else if let Some(cap) = s
            .capacity
            .filter(|&c| s.bytes_written + buf.len() as u64 > c)
        {
            (
                cap.saturating_sub(s.bytes_written) as usize,
                Some(injected(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                )),
            )
        } else {
            (buf.len(), None)
        };
        self.inner.write_all(&buf[..n])?;
        s.bytes_written += n as u64;
        s.files.entry(self.path.clone()).or_default().len += n as u64;
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.fs.state();
        if s.syncs_paused {
            s.num_syncs_waiting += 1;
            self.fs.shared.changed.notify_all();
            s = self
                .fs
                .shared
                .changed
                .wait_while(s, |s| s.syncs_paused)
                .unwrap_or_else(|e| e.into_inner());
            s.num_syncs_waiting -= 1;
        }
        s.check_power()?;
        s.num_syncs += 1;
        if s.cut_power_after == Some(s.num_syncs) {
            s.power_cut = true;
        }
        let fail = s.fail_sync_at == Some(s.num_syncs);
        if !fail {
            self.inner.sync_data()?;
        }
        let file = s.files.entry(self.path.clone()).or_default();
        if fail && file.len > file.synced {
            file.lost.push((file.synced, file.len));
        }
        file.synced = file.len;
        if fail {
            return Err(injected(io::ErrorKind::Other, "input/output error"));
        }
        Ok(())
    }
}

impl WalFs for FaultyFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list_dir(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        self.state().check_power()?;
        let inner = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        self.state()
            .files
            .insert(path.to_owned(), FileState::default());
        Ok(Box::new(FaultyFile {
            inner,
            path: path.to_owned(),
            fs: self.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let inner = OpenOptions::new().append(true).open(path)?;
        let len = inner.metadata()?.len();
        // What exists when the file is opened is taken as durable.
        self.state().files.insert(
            path.to_owned(),
            FileState {
                len,
                synced: len,
                lost: Vec::new(),
            },
        );
        Ok(Box::new(FaultyFile {
            inner,
            path: path.to_owned(),
            fs: self.clone(),
        }))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.state().check_power()?;
        RealFs.truncate(path, len)?;
        if let Some(f) = self.state().files.get_mut(path) {
            f.len = len;
            f.synced = len;
            f.lost.retain(|r| r.0 < len);
        }
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.state().check_power()?;
        RealFs.remove(path)?;
        self.state().files.remove(path);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.state().check_power()?;
        RealFs.sync_dir(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.check_power()?;
        s.num_renames += 1;
        if s.fail_rename_at == Some(s.num_renames) {
            return Err(injected(io::ErrorKind::Other, "input/output error"));
        }
        RealFs.rename(from, to)?;
        if let Some(f) = s.files.remove(from) {
            s.files.insert(to.to_owned(), f);
        } else {
            s.files.remove(to);
        }
        Ok(())
    }
}
