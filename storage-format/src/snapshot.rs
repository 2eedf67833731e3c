//! Snapshot segment files: the row ids of a SNAPSHOT segment, frozen when
//! it was created (FORMAT.md, "Snapshot segment files").
//!
//! A snapshot file is a [block file](crate::block_file) (`SEGDBSNP`) with
//! one block per shard that holds rows: a portable Roaring bitmap of the
//! shard's row ids relative to the shard start, as in a part, so that the
//! chunk evaluator reads its containers in place exactly like a part's
//! bitmaps. The footer's `info` is the number of rows.

use std::path::Path;

use bytes::Bytes;

use crate::bitmap::{RoaringView, RoaringWriter};
use crate::block_file::{BlockFile, BlockFileWriter, BlockKey};
use crate::error::{FormatError, Result};
use crate::part::SHARD_ROWS;

/// Magic number of snapshot segment files.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SEGDBSNP";
/// Current snapshot file version.
pub const SNAPSHOT_VERSION: u32 = 1;
/// The rows of shard `key` (relative to the shard start).
pub const TAG_SHARD_ROWS: u8 = 1;
/// The last shard a row id (`u32`) can fall in.
const MAX_SHARD: u32 = u32::MAX / SHARD_ROWS;

/// Writes the snapshot file `path` holding `rows` (sorted and distinct;
/// anything else is refused). Returns the file's length.
pub fn write_snapshot(path: &Path, rows: &[u32]) -> Result<u64> {
    write_snapshot_with(std::sync::Arc::new(crate::wal::RealFs), path, rows)
}

/// [`write_snapshot`] through `fs` (tests inject faults).
pub fn write_snapshot_with(
    fs: std::sync::Arc<dyn crate::wal::WalFs>,
    path: &Path,
    rows: &[u32],
) -> Result<u64> {
    if let Some(w) = rows.windows(2).find(|w| w[0] >= w[1]) {
        return Err(FormatError::io(
            "write",
            path,
            std::io::Error::other(format!(
                "snapshot rows are not sorted and distinct ({} then {})",
                w[0], w[1]
            )),
        ));
    }
    let mut out = BlockFileWriter::create_with(fs, path, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
    let mut start = 0;
    while start < rows.len() {
        let shard = rows[start] / SHARD_ROWS;
        let end = start + rows[start..].partition_point(|&r| r / SHARD_ROWS == shard);
        let mut w = RoaringWriter::new();
        for &r in &rows[start..end] {
            w.push(r - shard * SHARD_ROWS);
        }
        out.add(BlockKey::new(0, TAG_SHARD_ROWS, shard, 0), &w.finish())?;
        start = end;
    }
    out.finish(SNAPSHOT_VERSION, rows.len() as u64)
}

/// A snapshot file opened for reading (mapped). Opening checks the footer
/// and directory; a shard's bitmap is checked (checksum and structure) the
/// first time it is read.
#[derive(Debug)]
pub struct SnapshotFile {
    file: BlockFile,
}

impl SnapshotFile {
    /// Opens a snapshot file from its bytes (mapped or on the heap).
    pub fn open(path: &Path, bytes: Bytes) -> Result<SnapshotFile> {
        let file = BlockFile::open(path, bytes, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
        for i in 0..file.num_blocks() {
            let key = file.entry(i).key;
            if key.field != 0 || key.tag != TAG_SHARD_ROWS || key.aux != 0 || key.key > MAX_SHARD {
                return Err(FormatError::corrupt(
                    path,
                    file.entry(i).offset,
                    format!("unexpected block {key:?} in a snapshot file"),
                ));
            }
        }
        Ok(SnapshotFile { file })
    }

    /// The block file (for `segdb check`, which verifies every block).
    pub fn block_file(&self) -> &BlockFile {
        &self.file
    }

    /// Maps and opens the snapshot file at `path`.
    pub fn open_mapped(path: &Path) -> Result<SnapshotFile> {
        SnapshotFile::open(path, crate::mmap::map_sealed_file(path)?)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The number of rows, as the footer records it.
    pub fn num_rows(&self) -> u64 {
        self.file.info()
    }

    /// The file's length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.file.len()
    }

    /// The rows of `shard`, relative to the shard start (`None` if it has
    /// none).
    pub fn shard(&self, shard: u32) -> Result<Option<RoaringView<'_>>> {
        let Some(i) = self.file.find(BlockKey::new(0, TAG_SHARD_ROWS, shard, 0)) else {
            return Ok(None);
        };
        let b = self
            .file
            .block_validated(i, crate::part::validate_shard_bitmap)?;
        RoaringView::new_unchecked(b).map(Some).map_err(|e| {
            FormatError::corrupt(
                self.file.path(),
                self.file.entry(i).offset + e.offset as u64,
                e.what,
            )
        })
    }

    /// The shards that hold rows, in increasing order.
    pub fn shards(&self) -> Vec<u32> {
        (0..self.file.num_blocks())
            .map(|i| self.file.entry(i).key.key)
            .collect()
    }

    /// Every row id, in increasing order (reads and checks every block).
    pub fn to_vec(&self) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for s in self.shards() {
            if let Some(v) = self.shard(s)? {
                out.extend(v.to_vec().into_iter().map(|r| r + s * SHARD_ROWS));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_across_shards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap-1.seg");
        let rows: Vec<u32> = (0..5000u32)
            .map(|i| i * 7)
            .chain([
                SHARD_ROWS,
                SHARD_ROWS + 5,
                5 * SHARD_ROWS + 65_536,
                u32::MAX,
            ])
            .collect();
        let len = write_snapshot(&path, &rows).unwrap();
        assert_eq!(len, std::fs::metadata(&path).unwrap().len());
        let f = SnapshotFile::open_mapped(&path).unwrap();
        assert_eq!(f.num_rows(), rows.len() as u64);
        assert_eq!(f.shards(), [0, 1, 5, u32::MAX / SHARD_ROWS]);
        assert_eq!(f.to_vec().unwrap(), rows);
        assert_eq!(f.shard(2).unwrap().map(|v| v.cardinality()), None);
        assert_eq!(f.shard(1).unwrap().unwrap().to_vec(), [0, 5]);
        assert!(!dir.path().join("snap-1.seg.tmp").exists());
    }

    /// Found by `fuzz/fuzz_targets/storage_read.rs` (crash-41705660…): a
    /// block of shard 4096 or more made `to_vec` overflow `shard * 2^20`
    /// (a panic with overflow checks, silently wrong row ids without).
    #[test]
    fn a_shard_past_the_last_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap-4.seg");
        write_snapshot(&path, &[1, u32::MAX]).unwrap();
        let good = std::fs::read(&path).unwrap();
        let bf = BlockFile::open(&path, Bytes::from(good.clone()), SNAPSHOT_MAGIC, 1).unwrap();
        assert_eq!(bf.entry(1).key.key, MAX_SHARD);
        let f = good.len() - crate::block_file::FOOTER_LEN;
        let entry = u64::from_le_bytes(good[f..f + 8].try_into().unwrap()) as usize
            + crate::block_file::ENTRY_LEN;
        for shard in [MAX_SHARD + 1, u32::MAX] {
            let mut bad = good.clone();
            bad[entry + 8..entry + 12].copy_from_slice(&shard.to_le_bytes());
            let bytes = crate::block_file::tests::reseal(bad);
            let err = SnapshotFile::open(&path, bytes).unwrap_err();
            assert!(err.to_string().contains("unexpected block"), "{err}");
        }
    }

    /// As for snapshots, a part of shard 4096 or more (the footer's
    /// `info`) is corrupt: its row ids would pass `u32`.
    #[test]
    fn a_part_past_the_last_shard_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        for (shard, ok) in [(MAX_SHARD, true), (MAX_SHARD + 1, false)] {
            let path = dir.path().join(format!("part-{shard}.seg"));
            crate::part::PartWriter::create(&path, shard)
                .unwrap()
                .finish()
                .unwrap();
            let r = crate::part::Part::open_mapped(&path);
            assert_eq!(r.is_ok(), ok, "{r:?}");
        }
    }

    #[test]
    fn empty_and_unsorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap-2.seg");
        write_snapshot(&path, &[]).unwrap();
        let f = SnapshotFile::open_mapped(&path).unwrap();
        assert_eq!(f.num_rows(), 0);
        assert_eq!(f.to_vec().unwrap(), Vec::<u32>::new());
        assert!(write_snapshot(&dir.path().join("x.seg"), &[3, 3]).is_err());
        assert!(write_snapshot(&dir.path().join("y.seg"), &[4, 3]).is_err());
    }

    #[test]
    fn damage_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap-3.seg");
        write_snapshot(&path, &(0..1000).collect::<Vec<u32>>()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let bf = BlockFile::open(&path, Bytes::from(good.clone()), SNAPSHOT_MAGIC, 1).unwrap();
        let e = bf.entry(0);
        let padding = (e.offset + u64::from(e.len)) as usize..bf.len() - 48 - 32;
        // Any flipped byte is caught at open or when the block is read.
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            let caught = match SnapshotFile::open(&path, Bytes::from(b)) {
                Err(e) => {
                    assert!(e.to_string().contains("snap-3.seg"), "{e}");
                    true
                }
                Ok(f) => match f.shard(0) {
                    Err(e) => {
                        assert!(e.to_string().contains("snap-3.seg"), "{e}");
                        true
                    }
                    Ok(_) => false,
                },
            };
            // Header reserved bytes and block padding are not checked.
            assert!(
                caught || (12..16).contains(&i) || padding.contains(&i),
                "flip at {i}"
            );
        }
        for cut in 0..good.len() {
            assert!(SnapshotFile::open(&path, Bytes::copy_from_slice(&good[..cut])).is_err());
        }
    }
}
