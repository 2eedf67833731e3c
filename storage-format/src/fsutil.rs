//! Atomic replacement of files: write a temporary file, fsync, rename,
//! fsync the directory. Every write goes through a [`WalFs`], so that tests
//! can fail an fsync or a rename and cut the power (`FaultyFs`).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{FormatError, Result};
use crate::wal::{RealFs, WalFile, WalFs};

/// The temporary name under which `path` is written before the rename.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Fsyncs the directory holding `path`, so that a rename into it is durable.
pub fn fsync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let f = File::open(dir).map_err(|e| FormatError::io("open", dir, e))?;
    f.sync_all().map_err(|e| FormatError::io("fsync", dir, e))
}

/// Replaces `path` with `bytes` atomically: readers see the old or the new
/// contents, never a mix, even across a crash.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file_with(&RealFs, path, bytes)
}

/// [`replace_file`] through `fs`.
pub fn replace_file_with(fs: &dyn WalFs, path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path_for(path);
    let mut f = create_temp(fs, &temp)?;
    f.write_all(bytes)
        .map_err(|e| FormatError::io("write", &temp, e))?;
    f.sync().map_err(|e| FormatError::io("fsync", &temp, e))?;
    drop(f);
    rename_durably(fs, &temp, path)
}

/// Creates `temp` afresh (one left by a crash is replaced).
pub fn create_temp(fs: &dyn WalFs, temp: &Path) -> Result<Box<dyn WalFile>> {
    match fs.remove(temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(FormatError::io("remove", temp, e))
        }
        _ => {}
    }
    fs.create_new(temp)
        .map_err(|e| FormatError::io("create", temp, e))
}

/// Renames the (fsynced) `temp` to `path` and fsyncs the directory.
pub fn rename_durably(fs: &dyn WalFs, temp: &Path, path: &Path) -> Result<()> {
    fs.rename(temp, path)
        .map_err(|e| FormatError::io("rename", temp, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs.sync_dir(dir)
        .map_err(|e| FormatError::io("fsync", dir, e))
}

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| FormatError::io("read", path, e))
}
