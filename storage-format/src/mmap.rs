//! The one place where segdb maps a file into memory.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use bytes::Bytes;

use crate::error::{FormatError, Result};

/// Bytes at a mapped file's end asked for ahead of opening it: a part's
/// footer and directory (32 bytes a block: 94.5 KB for a part of the
/// 100M-user store) fit in them.
const OPEN_TAIL: usize = 256 * 1024;

/// Maps a sealed file read-only and wraps the map in `Bytes`, so that readers
/// work the same on mapped and on heap bytes. An empty file gives empty bytes.
pub fn map_sealed_file(path: &Path) -> Result<Bytes> {
    let file = File::open(path).map_err(|e| FormatError::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| FormatError::io("stat", path, e))?
        .len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: we map only sealed files: parts and dictionary parts are written
    // with plain I/O to a temporary name, fsynced, renamed into place and never
    // changed again; segdb never writes through a map nor truncates a sealed
    // file while it is in use (files are only unlinked, which keeps the pages
    // of an existing map valid on Linux). Another process modifying the file
    // would break this, as it would break any database.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| FormatError::io("mmap", path, e))?;
    // Pages read from disk through the map come in 2 MiB folios, mapped
    // with one TLB entry each (see `block_file::WRITE_SIZE`). Only a hint:
    // a kernel without transparent huge pages refuses it, and the map
    // works the same.
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    // Opening reads the header at the file's start, then the footer and
    // the directory at its end. On a cold page cache, the first touch of
    // each would fault in the disk's whole read-around window (8 MiB here)
    // of mostly blocks; asking for those bytes alone first makes them two
    // small reads, and their pages are then in the cache (a 100M-user
    // store's cold open read 509 MB and took 213–292 ms). Only hints, like
    // the one above.
    #[cfg(unix)]
    {
        let tail = map.len().min(OPEN_TAIL);
        let _ = map.advise_range(memmap2::Advice::WillNeed, 0, map.len().min(4096));
        let _ = map.advise_range(memmap2::Advice::WillNeed, map.len() - tail, tail);
    }
    Ok(Bytes::from_owner(map))
}
