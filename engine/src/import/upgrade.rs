//! An import upgrades the table's old dictionary parts: each version 1
//! part (offsets + raw bytes + an 8-byte-slot hash table, ~27 bytes per
//! standard id) is rewritten as version 2 (front-coded, ~3 bytes per
//! standard id), under a new file name, committed by the import's manifest
//! swap; the old file is removed once the new manifest is durable, like
//! any replaced file. Reading the old file goes through its checksums: a
//! damaged part fails the import, changing nothing.

use std::path::Path;
use std::sync::Arc;

use segdb_storage_format::dictionary::{write_dictionary_part_with, DictionaryPart};
use segdb_storage_format::FormatError;

use crate::error::Result;
use crate::store::Store;

/// Rows read from the old part per `for_each_id` call.
const CHUNK: u64 = 1 << 16;

/// Rewrites every version 1 part of `dictionary` (with its `files`, name
/// and length) as version 2 in `dir`, replacing both in place.
pub(super) fn upgrade_v1_parts(
    store: &Store,
    dir: &Path,
    file_counter: &mut u64,
    dictionary: &mut [Arc<DictionaryPart>],
    files: &mut [(String, u64)],
) -> Result<()> {
    for (d, file) in dictionary.iter_mut().zip(files.iter_mut()) {
        if d.version() != 1 {
            continue;
        }
        let (first, end) = (d.first_row(), d.first_row() + u64::from(d.num_ids()));
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(d.num_ids() as usize);
        let mut rows = Vec::with_capacity(CHUNK as usize);
        let mut at = first;
        while at < end {
            rows.clear();
            rows.extend(at..end.min(at + CHUNK));
            d.for_each_id(&rows, |_, b| {
                bytes.extend_from_slice(b);
                ends.push(bytes.len());
                true
            })?;
            at += rows.len() as u64;
        }
        let path = dir.join(&file.0);
        let not_utf8 = || FormatError::corrupt(&path, 0, "an external id is not UTF-8");
        let text = std::str::from_utf8(&bytes).map_err(|_| not_utf8())?;
        let mut ids = Vec::with_capacity(ends.len());
        let mut s = 0;
        for e in ends {
            ids.push(text.get(s..e).ok_or_else(not_utf8)?);
            s = e;
        }
        let name = store.new_file_name(file_counter, "ids");
        let new_path = dir.join(&name);
        let len = write_dictionary_part_with(store.fs(), &new_path, first, &ids)?;
        *d = Arc::new(DictionaryPart::open_mapped(&new_path)?);
        *file = (name, len);
        tracing::info!(old = %path.display(), new = %new_path.display(), "dictionary part rewritten as version 2");
    }
    Ok(())
}
