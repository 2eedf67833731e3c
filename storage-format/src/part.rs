//! Part files: the bitmaps of one shard of one table (FORMAT.md, "Parts").
//!
//! A part is a [block file](crate::block_file) whose blocks are keyed by
//! field index and tag. Bitmaps are portable Roaring bitmaps of row ids
//! *relative to the shard* (row id minus `shard * 2^20`), so every bitmap of
//! a part has at most 16 containers.

use std::path::Path;

use bytes::Bytes;

use crate::bitmap::RoaringView;
use crate::block_file::{BlockFile, BlockFileWriter, BlockKey};
use crate::error::{FormatError, Result};

/// Magic number of part files.
pub const PART_MAGIC: &[u8; 8] = b"SEGDBPRT";
/// Current part format version.
pub const PART_VERSION: u32 = 1;
/// Row ids per shard: shard `k` holds `[k * 2^20, (k+1) * 2^20)`.
pub const SHARD_ROWS: u32 = 1 << 20;
/// Chunks (65,536-row containers) per shard.
pub const CHUNKS_PER_SHARD: u32 = SHARD_ROWS >> 16;

/// Rows of the field that are not null (ENUM, SET, BOOL, INT).
pub const TAG_NOT_NULL: u8 = 1;
/// Rows holding value `key` (a value id) of an ENUM or SET field.
pub const TAG_VALUE: u8 = 2;
/// Rows whose BOOL field is true.
pub const TAG_TRUE: u8 = 3;
/// INT metadata: `base: i64`, `bits: u32`, reserved `u32` (16 bytes).
pub const TAG_INT_META: u8 = 4;
/// Slice `key` of an INT bit-sliced index of `value - base`.
pub const TAG_INT_SLICE: u8 = 5;
/// EVENT on biased day `key`: `aux` = [`EVENT_ACTIVE`] for the rows with a
/// count above zero, else slice `aux` of the count.
pub const TAG_EVENT: u8 = 6;
/// TEXT column: `u32` count, `count + 1` `u32` offsets, then UTF-8 bytes.
pub const TAG_TEXT: u8 = 7;
/// The `aux` of an EVENT day's active-rows bitmap.
pub const EVENT_ACTIVE: u16 = u16::MAX;

/// Days are stored as `day + 2^31` so that keys sort like days.
pub fn bias_day(day: i32) -> u32 {
    (i64::from(day) + (1i64 << 31)) as u32
}

/// The inverse of [`bias_day`].
pub fn unbias_day(key: u32) -> i32 {
    (i64::from(key) - (1i64 << 31)) as i32
}

/// The offset encoding of an INT field in one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntMeta {
    /// Slices hold `value - base` (as an unsigned number).
    pub base: i64,
    /// Number of slices.
    pub bits: u32,
}

impl IntMeta {
    /// The encoding of the values `min..=max`.
    pub fn for_range(min: i64, max: i64) -> IntMeta {
        let span = (i128::from(max) - i128::from(min)) as u64;
        IntMeta {
            base: min,
            bits: 64 - span.leading_zeros(),
        }
    }

    fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.base.to_le_bytes());
        b[8..12].copy_from_slice(&self.bits.to_le_bytes());
        b
    }
}

/// Writes a part.
pub struct PartWriter {
    inner: BlockFileWriter,
    shard: u32,
}

impl PartWriter {
    /// Starts the part of `shard` that will be named `path`.
    pub fn create(path: &Path, shard: u32) -> Result<PartWriter> {
        Ok(PartWriter {
            inner: BlockFileWriter::create(path, PART_MAGIC, PART_VERSION)?,
            shard,
        })
    }

    /// Adds a serialized bitmap (skipped when empty).
    pub fn add_bitmap(&mut self, key: BlockKey, bitmap: &[u8]) -> Result<()> {
        if RoaringView::new_unchecked(bitmap).is_ok_and(|v| v.num_containers() == 0) {
            return Ok(());
        }
        self.inner.add(key, bitmap)
    }

    /// Adds a block as it is (copied from another part).
    pub fn add_raw(&mut self, key: BlockKey, bytes: &[u8]) -> Result<()> {
        self.inner.add(key, bytes)
    }

    /// Adds the INT metadata of a field.
    pub fn add_int_meta(&mut self, field: u32, meta: IntMeta) -> Result<()> {
        self.inner
            .add(BlockKey::new(field, TAG_INT_META, 0, 0), &meta.encode())
    }

    /// Adds a TEXT column for the shard's rows `0..texts.len()` (`None` is null).
    pub fn add_text(&mut self, field: u32, texts: &[Option<&str>]) -> Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(&(texts.len() as u32).to_le_bytes());
        let mut at = 0u32;
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        for t in texts {
            offsets.push(at);
            at += t.map_or(0, |s| s.len() as u32);
        }
        offsets.push(at);
        for o in offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        for t in texts.iter().flatten() {
            out.extend_from_slice(t.as_bytes());
        }
        self.inner.add(BlockKey::new(field, TAG_TEXT, 0, 0), &out)
    }

    /// Finishes, fsyncs and renames the part into place; returns its length.
    pub fn finish(self) -> Result<u64> {
        self.inner.finish(PART_VERSION, u64::from(self.shard))
    }
}

/// A part opened for reading.
#[derive(Debug)]
pub struct Part {
    file: BlockFile,
    shard: u32,
}

/// Checks a shard's bitmap: a valid portable Roaring bitmap of row ids
/// below 2^20 (an error is an offset in the block and a reason).
pub(crate) fn validate_shard_bitmap(b: &[u8]) -> std::result::Result<(), (usize, String)> {
    match RoaringView::new(b) {
        Ok(v)
            if v.num_containers() > 0
                && v.key(v.num_containers() - 1) >= CHUNKS_PER_SHARD as u16 =>
        {
            Err((0, "bitmap holds row ids past its shard".into()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err((e.offset, e.what)),
    }
}

impl Part {
    /// Opens a part from its bytes (mapped or on the heap).
    pub fn open(path: &Path, bytes: Bytes) -> Result<Part> {
        let file = BlockFile::open(path, bytes, PART_MAGIC, PART_VERSION)?;
        let shard = u32::try_from(file.info()).map_err(|_| {
            FormatError::corrupt(path, file.len() as u64, "shard number out of range")
        })?;
        Ok(Part { file, shard })
    }

    /// Maps and opens the part at `path`.
    pub fn open_mapped(path: &Path) -> Result<Part> {
        Part::open(path, crate::mmap::map_sealed_file(path)?)
    }

    /// The shard this part holds.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The underlying block file.
    pub fn file(&self) -> &BlockFile {
        &self.file
    }

    /// The bitmap with this key, if the part has it. Checked (checksum and
    /// structure) the first time it is used.
    pub fn bitmap(&self, key: BlockKey) -> Result<Option<RoaringView<'_>>> {
        match self.file.find(key) {
            Some(i) => self.bitmap_at(i).map(Some),
            None => Ok(None),
        }
    }

    /// The bitmap in block `i`.
    pub fn bitmap_at(&self, i: usize) -> Result<RoaringView<'_>> {
        let b = self.file.block_validated(i, validate_shard_bitmap)?;
        RoaringView::new_unchecked(b).map_err(|e| {
            FormatError::corrupt(
                self.file.path(),
                self.file.entry(i).offset + e.offset as u64,
                e.what,
            )
        })
    }

    /// The INT metadata of `field`, if the part has values of it.
    pub fn int_meta(&self, field: u32) -> Result<Option<IntMeta>> {
        let key = BlockKey::new(field, TAG_INT_META, 0, 0);
        let Some(i) = self.file.find(key) else {
            return Ok(None);
        };
        let b = self.file.block_validated(i, |b| {
            if b.len() != 16 {
                return Err((
                    0,
                    format!("INT metadata of {} bytes (16 expected)", b.len()),
                ));
            }
            let bits = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
            if bits > 64 {
                return Err((8, format!("{bits} slices (at most 64)")));
            }
            Ok(())
        })?;
        let mut base = [0u8; 8];
        base.copy_from_slice(&b[..8]);
        Ok(Some(IntMeta {
            base: i64::from_le_bytes(base),
            bits: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        }))
    }

    /// The days (unbiased) on which `field` has events in this part, in order.
    pub fn event_days(&self, field: u32) -> Vec<i32> {
        let mut i = self.file.lower_bound(BlockKey::new(field, TAG_EVENT, 0, 0));
        let mut days = Vec::new();
        while i < self.file.num_blocks() {
            let k = self.file.entry(i).key;
            if k.field != field || k.tag != TAG_EVENT {
                break;
            }
            if k.aux == EVENT_ACTIVE {
                days.push(unbias_day(k.key));
            }
            i += 1;
        }
        days
    }

    /// The number of rows covered by the TEXT column of `field` (0 if none).
    pub fn text_rows(&self, field: u32) -> Result<u32> {
        let key = BlockKey::new(field, TAG_TEXT, 0, 0);
        let Some(i) = self.file.find(key) else {
            return Ok(0);
        };
        let b = self.file.block_validated(i, validate_text)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The text of `row` (relative to the shard) in a TEXT field.
    pub fn text(&self, field: u32, row: u32) -> Result<Option<&str>> {
        let key = BlockKey::new(field, TAG_TEXT, 0, 0);
        let Some(i) = self.file.find(key) else {
            return Ok(None);
        };
        let b = self.file.block_validated(i, validate_text)?;
        let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if row >= count {
            return Ok(None);
        }
        let off = |j: u32| {
            let at = 4 + 4 * j as usize;
            u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
        };
        let base = 4 + 4 * (count as usize + 1);
        let (s, e) = (off(row), off(row + 1));
        if s == e {
            return Ok(None);
        }
        Ok(std::str::from_utf8(&b[base + s..base + e]).ok())
    }
}

fn validate_text(b: &[u8]) -> std::result::Result<(), (usize, String)> {
    if b.len() < 4 {
        return Err((0, "TEXT block truncated".into()));
    }
    let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let base = 4 + 4 * (count + 1);
    if b.len() < base {
        return Err((4, "TEXT offsets truncated".into()));
    }
    let mut prev = 0u32;
    for j in 0..=count {
        let at = 4 + 4 * j;
        let o = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if o < prev || base + o as usize > b.len() {
            return Err((at, "TEXT offset out of order or past the end".into()));
        }
        prev = o;
    }
    std::str::from_utf8(&b[base..])
        .map_err(|e| (base + e.valid_up_to(), "TEXT not UTF-8".into()))?;
    Ok(())
}
