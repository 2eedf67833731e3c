//! The store's lock: one process at a time opens a store for writing.
//!
//! Two processes writing one store destroy it (each deletes the files its
//! manifest does not name, which are the other's new files), so
//! [`Store::open`](super::Store::open) takes an exclusive `flock(2)` on the
//! store's `LOCK` file and keeps it while the store is open, as tantivy and
//! redb do. The holder then writes its pid and command line into the file,
//! so that a refused process can name it. `flock` locks belong to an open
//! file description: a second open in the same process is refused too.
//! `segdb check` takes the lock shared: checks may run side by side, never
//! beside a writer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use segdb_storage_format::FormatError;

use crate::error::{EngineError, Result};

/// The lock file's name in the store's directory.
pub const LOCK_FILE: &str = "LOCK";

/// A held lock on a store directory; released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    mode: LockMode,
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Empty the file before the lock goes (with the file), so that it
        // names no process that has let go; after a crash it keeps the
        // dead holder's pid until the next writer rewrites it.
        if self.mode == LockMode::Exclusive {
            let _ = self.file.set_len(0);
        }
    }
}

/// How a store is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// One opener, which may write (serve, import, query).
    Exclusive,
    /// Readers that change nothing (check), several at once.
    Shared,
}

impl StoreLock {
    /// Takes the lock of the store in `dir` (which must exist) without
    /// waiting. A store locked by another open is
    /// [`EngineError::StoreLocked`], naming the holder from the lock file.
    pub fn acquire(dir: &Path, mode: LockMode) -> Result<StoreLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| FormatError::io("open", &path, e))?;
        let taken = match mode {
            LockMode::Exclusive => file.try_lock(),
            LockMode::Shared => file.try_lock_shared(),
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(EngineError::StoreLocked {
                    dir: dir.to_path_buf(),
                    holder: describe_holder(&text),
                });
            }
            Err(TryLockError::Error(e)) => return Err(FormatError::io("lock", &path, e).into()),
        }
        if mode == LockMode::Exclusive {
            let command: Vec<String> = std::env::args().collect();
            let text = format!("{}\n{}\n", std::process::id(), command.join(" "));
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(text.as_bytes()))
                .map_err(|e| FormatError::io("write", &path, e))?;
        }
        Ok(StoreLock { file, mode })
    }
}

/// "process 4242 (`segdb serve --data s`)" from the lock file's text: the
/// pid on the first line, the command on the second.
fn describe_holder(text: &str) -> String {
    let mut lines = text.lines();
    match (lines.next().map(str::trim), lines.next().map(str::trim)) {
        (Some(pid), Some(cmd)) if !pid.is_empty() && !cmd.is_empty() => {
            format!("process {pid} (`{cmd}`)")
        }
        (Some(pid), _) if !pid.is_empty() => format!("process {pid}"),
        // A check (readers do not write the file), or a writer that has
        // not written its pid yet.
        _ => "another process (a `segdb check`, or one starting up)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_holder;

    #[test]
    fn the_holder_is_named_from_the_lock_file() {
        assert_eq!(
            describe_holder("4242\nsegdb serve --data s\n"),
            "process 4242 (`segdb serve --data s`)"
        );
        assert_eq!(describe_holder("4242\n"), "process 4242");
        assert!(describe_holder("").starts_with("another process"));
    }
}
