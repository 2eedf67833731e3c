//! The id dictionary (OneID): external string ids <-> dense row ids.
//!
//! The dictionary is append-only: each import that creates ids adds one
//! sealed *dictionary part* holding the ids of a contiguous range of new row
//! ids. Row ids are never reused. A dictionary part is a
//! [block file](crate::block_file) with magic [`DICT_MAGIC`]; two versions
//! are read behind one API ([`DictionaryPart`]):
//!
//! - version 2 (written now, [`v2`]): the ids front-coded in row order, in
//!   pages of [`IDS_PER_PAGE`] and restart blocks of 8. When the part's ids
//!   strictly increase in row order (the standard `u000000000`… ids, any
//!   import in id order) the pages are their own search index; otherwise a
//!   compact hash index ([`hash_index`]) finds an id's row. A part whose
//!   ids are a counter (a prefix and consecutive fixed-width numbers, as
//!   the standard ids) stores only that rule.
//! - version 1 (read only, [`v1`]): `u32` offsets, raw bytes and a
//!   power-of-two hash table of 8-byte slots.
//!
//! FORMAT.md-style byte layouts are in each module's documentation.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::block_file::BlockFile;
use crate::error::{FormatError, Result};
use crate::wal::{RealFs, WalFs};

mod counter;
pub mod hash_index;
pub mod v1;
pub mod v2;

#[cfg(test)]
mod tests;

/// Magic number of dictionary parts.
pub const DICT_MAGIC: &[u8; 8] = b"SEGDBIDS";
/// The version of the dictionary parts written now.
pub const DICT_VERSION: u32 = 2;
/// Ids per `TAG_IDS` block (both versions).
pub const IDS_PER_PAGE: u32 = 1 << 16;
/// Longest external id, in bytes.
pub const MAX_ID_LEN: usize = 1024;
/// The metadata block (both versions).
pub(crate) const TAG_META: u8 = 1;
/// A page of ids (both versions).
pub(crate) const TAG_IDS: u8 = 2;
/// A page of the hash table (v1) or hash index (v2).
pub(crate) const TAG_SLOTS: u8 = 3;
/// Version 2: the first id of every page and the part's last id.
pub(crate) const TAG_FIRSTS: u8 = 4;
/// Version 2: the rule of a part whose ids are a counter.
pub(crate) const TAG_COUNTER: u8 = 5;

/// The dictionary's hash of an external id (FNV-1a 64 finished with the
/// murmur3 mixer). Part of the format: never change it.
pub fn hash_id(id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Writes a dictionary part for ids of rows `first_row..first_row + ids.len()`.
/// The ids must be distinct (the caller checks against older parts).
pub fn write_dictionary_part(path: &Path, first_row: u64, ids: &[&str]) -> Result<u64> {
    write_dictionary_part_with(Arc::new(RealFs), path, first_row, ids)
}

/// [`write_dictionary_part`] through `fs` (tests inject faults).
pub fn write_dictionary_part_with(
    fs: Arc<dyn WalFs>,
    path: &Path,
    first_row: u64,
    ids: &[&str],
) -> Result<u64> {
    let hashes: Vec<u64> = ids.iter().map(|id| hash_id(id.as_bytes())).collect();
    write_dictionary_part_hashed_with(fs, path, first_row, ids, &hashes)
}

/// [`write_dictionary_part`] with the ids' [`hash_id`]es computed already.
pub fn write_dictionary_part_hashed(
    path: &Path,
    first_row: u64,
    ids: &[&str],
    hashes: &[u64],
) -> Result<u64> {
    write_dictionary_part_hashed_with(Arc::new(RealFs), path, first_row, ids, hashes)
}

/// [`write_dictionary_part_hashed`] through `fs` (tests inject faults).
pub fn write_dictionary_part_hashed_with(
    fs: Arc<dyn WalFs>,
    path: &Path,
    first_row: u64,
    ids: &[&str],
    hashes: &[u64],
) -> Result<u64> {
    v2::write(fs, path, first_row, ids, hashes)
}

/// What both versions share: the file and the part's row range.
#[derive(Debug)]
pub(crate) struct Base {
    pub(crate) file: BlockFile,
    pub(crate) first_row: u64,
    pub(crate) num_ids: u32,
}

impl Base {
    pub(crate) fn corrupt(&self, offset: u64, what: impl Into<String>) -> FormatError {
        FormatError::corrupt(self.file.path(), offset, what)
    }

    /// Checks that the rows end by 2^32 (row ids are `u32`).
    fn check_rows(&self) -> Result<()> {
        if self.first_row.saturating_add(u64::from(self.num_ids)) > 1 << 32 {
            return Err(self.corrupt(0, "rows past the last row id (2^32 - 1)"));
        }
        Ok(())
    }

    /// The local index of `row`, if it is in this part.
    fn local(&self, row: u64) -> Option<u32> {
        (row >= self.first_row && row < self.first_row + u64::from(self.num_ids))
            .then(|| (row - self.first_row) as u32)
    }

    /// An error for a row of `rows` outside this part, if any.
    fn check_in_range(&self, r: u64) -> Result<u32> {
        self.local(r)
            .ok_or_else(|| self.corrupt(0, format!("row {r} is outside this dictionary part")))
    }
}

/// The blocks `(tag, 0..n)` of `file`, all required.
pub(crate) fn find_all(file: &BlockFile, tag: u8, n: usize, what: &str) -> Result<Vec<usize>> {
    (0..n)
        .map(|p| {
            file.find(crate::block_file::BlockKey::new(0, tag, p as u32, 0))
                .ok_or_else(|| {
                    FormatError::corrupt(
                        file.path(),
                        0,
                        format!("dictionary part lacks {what} block {p}"),
                    )
                })
        })
        .collect()
}

#[derive(Debug)]
enum Layout {
    V1(v1::V1),
    V2(v2::V2),
}

/// A dictionary part opened for reading (either version).
#[derive(Debug)]
pub struct DictionaryPart {
    base: Base,
    layout: Layout,
}

impl DictionaryPart {
    /// Opens a dictionary part from its bytes. Nothing is built: metadata
    /// and block directory only; pages are checked when first used.
    pub fn open(path: &Path, bytes: Bytes) -> Result<DictionaryPart> {
        let version = match bytes.get(8..12) {
            Some(v) if v == 1u32.to_le_bytes() => 1,
            _ => DICT_VERSION,
        };
        let file = BlockFile::open(path, bytes, DICT_MAGIC, version)?;
        let (base, layout) = if version == 1 {
            let (base, v) = v1::V1::open(file)?;
            (base, Layout::V1(v))
        } else {
            let (base, v) = v2::V2::open(file)?;
            (base, Layout::V2(v))
        };
        base.check_rows()?;
        Ok(DictionaryPart { base, layout })
    }

    /// Maps and opens the dictionary part at `path`.
    pub fn open_mapped(path: &Path) -> Result<DictionaryPart> {
        DictionaryPart::open(path, crate::mmap::map_sealed_file(path)?)
    }

    /// How many of the part's pages are fixed-width (tests).
    #[cfg(test)]
    pub(crate) fn fixed_pages(&self) -> Result<usize> {
        match &self.layout {
            Layout::V1(_) => Ok(0),
            Layout::V2(v) => v.fixed_pages(&self.base),
        }
    }

    /// The block file (for `segdb check`, which verifies every block).
    pub fn block_file(&self) -> &BlockFile {
        &self.base.file
    }

    /// The format version of the file (1 or 2).
    pub fn version(&self) -> u32 {
        match self.layout {
            Layout::V1(_) => 1,
            Layout::V2(_) => 2,
        }
    }

    /// The row id of the first id.
    pub fn first_row(&self) -> u64 {
        self.base.first_row
    }

    /// The number of ids.
    pub fn num_ids(&self) -> u32 {
        self.base.num_ids
    }

    /// The file's length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.base.file.len()
    }

    /// The external id of `row` (`None` outside this part's range, or if
    /// the bytes are not UTF-8).
    pub fn id_of(&self, row: u64) -> Result<Option<String>> {
        let Some(local) = self.base.local(row) else {
            return Ok(None);
        };
        let mut out = None;
        self.for_each_local(&[local], |_, b| {
            out = std::str::from_utf8(b).ok().map(str::to_owned);
            false
        })?;
        Ok(out)
    }

    /// Calls `f` with the external id (as bytes, UTF-8 unchecked) of each
    /// of `rows` (increasing, all in this part's range) until `f` returns
    /// `false`; returns whether it went through all of them.
    pub fn for_each_id(&self, rows: &[u64], mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<bool> {
        match &self.layout {
            Layout::V1(v) => v.for_each_id(&self.base, rows, f),
            Layout::V2(v) => {
                // Checked up front: the decoder works on local indexes.
                let mut locals = Vec::with_capacity(rows.len().min(4096));
                for chunk in rows.chunks(4096) {
                    locals.clear();
                    for &r in chunk {
                        locals.push(self.base.check_in_range(r)?);
                    }
                    let first = self.base.first_row;
                    if !v.for_each_local(&self.base, &locals, |l, b| f(first + u64::from(l), b))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    fn for_each_local(
        &self,
        locals: &[u32],
        mut f: impl FnMut(u32, &[u8]) -> bool,
    ) -> Result<bool> {
        match &self.layout {
            Layout::V1(v) => {
                let rows: Vec<u64> = locals
                    .iter()
                    .map(|&l| self.base.first_row + u64::from(l))
                    .collect();
                v.for_each_id(&self.base, &rows, |r, b| {
                    f((r - self.base.first_row) as u32, b)
                })
            }
            Layout::V2(v) => v.for_each_local(&self.base, locals, f),
        }
    }

    /// The row id of external id `id`, if this part has it.
    pub fn row_of(&self, id: &str) -> Result<Option<u64>> {
        self.row_of_hashed(id, hash_id(id.as_bytes()))
    }

    /// [`DictionaryPart::row_of`] with the id's [`hash_id`] computed already.
    pub fn row_of_hashed(&self, id: &str, h: u64) -> Result<Option<u64>> {
        let local = match &self.layout {
            Layout::V1(v) => v.row_of_hashed(&self.base, id.as_bytes(), h)?,
            Layout::V2(v) => v.row_of_hashed(&self.base, id.as_bytes(), h)?,
        };
        Ok(local.map(|l| self.base.first_row + u64::from(l)))
    }

    /// Whether [`DictionaryPart::rows_of_hashed`] looks ids up in batches
    /// (a version 2 part with pages); a counter or a version 1 part looks
    /// them up one at a time.
    pub fn looks_up_in_batches(&self) -> bool {
        matches!(&self.layout, Layout::V2(v) if v.batches())
    }

    /// Whether lookups in this part use the ids' [`hash_id`] (a hash
    /// index); a counter or increasing ids do not.
    pub fn uses_hash(&self) -> bool {
        match &self.layout {
            Layout::V1(_) => true,
            Layout::V2(v) => v.uses_hash(),
        }
    }

    /// The rows of many ids at once (with their [`hash_id`]es, or none if
    /// not [`DictionaryPart::uses_hash`]): `out[i]` becomes the row of
    /// `ids[i]` if this part has it. An `out[i]` that is `Some` already (an
    /// id found in another part) is not looked up. The answers are
    /// [`DictionaryPart::row_of_hashed`]'s; in version 2 parts the lookups
    /// of a batch overlap their cache misses (`v2/batch.rs`).
    pub fn rows_of_hashed(
        &self,
        ids: &[&str],
        hashes: &[u64],
        out: &mut [Option<u64>],
    ) -> Result<()> {
        let hashed = hashes.len() == ids.len() || (hashes.is_empty() && !self.uses_hash());
        assert!(
            hashed && ids.len() == out.len(),
            "rows_of_hashed: {} ids, {} hashes, {} answers",
            ids.len(),
            hashes.len(),
            out.len()
        );
        let v = match &self.layout {
            Layout::V2(v) if v.batches() => v,
            // One at a time: a counter computes, v1 is read as it was.
            _ => {
                for (i, (o, id)) in out.iter_mut().zip(ids).enumerate() {
                    if o.is_none() {
                        let h = hashes.get(i).copied().unwrap_or(0);
                        *o = self.row_of_hashed(id, h)?;
                    }
                }
                return Ok(());
            }
        };
        let pending: Vec<usize> = (0..ids.len()).filter(|&i| out[i].is_none()).collect();
        let mut locals = vec![None; PENDING.min(pending.len())];
        let (mut pids, mut phs) = (
            Vec::with_capacity(locals.len()),
            Vec::with_capacity(locals.len()),
        );
        for chunk in pending.chunks(PENDING) {
            pids.clear();
            phs.clear();
            for &i in chunk {
                pids.push(ids[i].as_bytes());
                phs.push(hashes.get(i).copied().unwrap_or(0));
            }
            let locals = &mut locals[..chunk.len()];
            v.rows_of_batch(&self.base, &pids, &phs, locals)?;
            for (&i, l) in chunk.iter().zip(locals.iter()) {
                out[i] = l.map(|l| self.base.first_row + u64::from(l));
            }
        }
        Ok(())
    }
}

/// Ids gathered at a time by [`DictionaryPart::rows_of_hashed`].
const PENDING: usize = 4096;
