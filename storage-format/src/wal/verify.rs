//! Verifying a WAL without changing it (`segdb check`): the same walk as
//! [`replay`](super::replay), over a file system that reads and never
//! writes, so a torn tail is reported (as recovery would cut it) but not
//! cut, and damage is an error naming the file and offset.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::fs::{RealFs, WalFile, WalFs};
use super::reader::{replay_inner, ReplayOptions, ReplaySummary};
use crate::error::Result;

/// Reads through [`RealFs`]; what recovery would change is left as it is.
#[derive(Debug)]
struct ReadOnlyFs;

fn refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "a WAL being verified is not written",
    )
}

impl WalFs for ReadOnlyFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Err(refused())
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFs.list_dir(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn create_new(&self, _path: &Path) -> io::Result<Box<dyn WalFile>> {
        Err(refused())
    }
    fn open_append(&self, _path: &Path) -> io::Result<Box<dyn WalFile>> {
        Err(refused())
    }
    // Recovery would cut a torn tail or remove an incomplete last segment;
    // verifying reports it in the summary and leaves the file.
    fn truncate(&self, _path: &Path, _len: u64) -> io::Result<()> {
        Ok(())
    }
    fn remove(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn rename(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Err(refused())
    }
}

/// Checks every record of the WAL in `dir` after `flushed_seq` (and the
/// headers of records up to it, whose payloads are in parts already)
/// against its checksums and sequence, writing nothing. A torn last record
/// is reported in [`ReplaySummary::torn_tail`] (the next open cuts it);
/// any other damage is `FormatError::Corrupt` naming the file and offset.
pub fn verify(dir: &Path, flushed_seq: u64) -> Result<ReplaySummary> {
    let options = ReplayOptions {
        truncate_at_corruption: false,
        fs: Arc::new(ReadOnlyFs),
    };
    replay_inner(dir, flushed_seq, flushed_seq, &options, |_, _| Ok(())).map(|(summary, _)| summary)
}
