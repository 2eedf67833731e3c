//! Part files: the bitmaps of one shard of one table (FORMAT.md, "Parts").
//!
//! A part is a [block file](crate::block_file) whose blocks are keyed by
//! field index and tag. Bitmaps are portable Roaring bitmaps of row ids
//! *relative to the shard* (row id minus `shard * 2^20`), so every bitmap of
//! a part has at most 16 containers.

use std::path::Path;
use std::sync::Arc;

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

    /// The 16 bytes of the metadata block.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.base.to_le_bytes());
        b[8..12].copy_from_slice(&self.bits.to_le_bytes());
        b
    }

    /// Decodes a (checked, 16-byte) metadata block.
    pub fn decode(b: &[u8]) -> IntMeta {
        let mut base = [0u8; 8];
        base.copy_from_slice(&b[..8]);
        IntMeta {
            base: i64::from_le_bytes(base),
            bits: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        }
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
        PartWriter::create_with(Arc::new(crate::wal::RealFs), path, shard)
    }

    /// [`PartWriter::create`] through `fs` (tests inject faults).
    pub fn create_with(
        fs: Arc<dyn crate::wal::WalFs>,
        path: &Path,
        shard: u32,
    ) -> Result<PartWriter> {
        Ok(PartWriter {
            inner: BlockFileWriter::create_with(fs, path, PART_MAGIC, PART_VERSION)?,
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
        let out = encode_text(texts.iter().copied());
        self.inner.add(BlockKey::new(field, TAG_TEXT, 0, 0), &out)
    }

    /// Finishes, fsyncs and renames the part into place; returns its length.
    pub fn finish(self) -> Result<u64> {
        self.inner.finish(PART_VERSION, u64::from(self.shard))
    }
}

/// One layer of a [`Part`]: a part file, or blocks held in memory (the
/// live delta of real-time writes).
#[derive(Debug, Clone)]
pub enum Layer {
    /// A part file (mapped).
    File(Arc<BlockFile>),
    /// Blocks in memory, sorted by key, each a complete block (a bitmap of
    /// the whole shard, INT metadata or a TEXT column) that replaces the
    /// block of the same key in the layers below.
    Mem(Arc<MemBlocks>),
}

/// Blocks held in memory, sorted by key (see [`Layer::Mem`]).
#[derive(Debug, Default)]
pub struct MemBlocks {
    blocks: Vec<(BlockKey, Bytes)>,
}

impl MemBlocks {
    /// Blocks from a list sorted by key, without duplicates.
    pub fn new(blocks: Vec<(BlockKey, Bytes)>) -> MemBlocks {
        debug_assert!(blocks.windows(2).all(|w| w[0].0 < w[1].0));
        MemBlocks { blocks }
    }

    /// The blocks, in key order.
    pub fn blocks(&self) -> &[(BlockKey, Bytes)] {
        &self.blocks
    }

    /// Their total length in bytes.
    pub fn bytes(&self) -> u64 {
        self.blocks.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// Whether a block is a tombstone: an empty bitmap in an upper layer,
/// which hides the block of the same key below it. (Every bitmap block is
/// at least 8 bytes; only an empty one is exactly 8. INT metadata and TEXT
/// columns are never tombstones.)
pub fn is_tombstone(key: BlockKey, len: usize) -> bool {
    key.tag != TAG_INT_META && key.tag != TAG_TEXT && len <= 8
}

/// Where entry `i` of a layered part's directory lives.
#[derive(Debug, Clone, Copy)]
struct Src {
    key: BlockKey,
    layer: u32,
    index: u32,
}

/// A part opened for reading: one shard's blocks. Usually one file; after
/// real-time writes, a stack of layers (the shard's part files, oldest
/// first, then the blocks in memory), read through one merged directory in
/// which the top-most version of each key wins and tombstones are left out.
#[derive(Debug)]
pub struct Part {
    shard: u32,
    layers: Vec<Layer>,
    /// `None` for a single file (its own directory is read directly).
    merged: Option<Vec<Src>>,
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
        let file = open_part_file(path, bytes)?;
        let shard = part_file_shard(&file)?;
        Ok(Part {
            shard,
            layers: vec![Layer::File(Arc::new(file))],
            merged: None,
        })
    }

    /// Maps and opens the part at `path`.
    pub fn open_mapped(path: &Path) -> Result<Part> {
        Part::open(path, crate::mmap::map_sealed_file(path)?)
    }

    /// Maps and opens a part file as a layer (checking that it belongs to
    /// `shard`).
    pub fn open_layer(path: &Path, shard: u32) -> Result<Layer> {
        let file = open_part_file(path, crate::mmap::map_sealed_file(path)?)?;
        let found = part_file_shard(&file)?;
        if found != shard {
            return Err(FormatError::corrupt(
                path,
                0,
                format!("part of shard {found} listed for shard {shard}"),
            ));
        }
        Ok(Layer::File(Arc::new(file)))
    }

    /// A part made of `layers`, oldest first (none at all is an empty part).
    pub fn layered(shard: u32, layers: Vec<Layer>) -> Part {
        if layers.len() == 1 && matches!(layers[0], Layer::File(_)) {
            return Part {
                shard,
                layers,
                merged: None,
            };
        }
        let mut merged: Vec<Src> = Vec::new();
        for (l, layer) in layers.iter().enumerate() {
            let mut next = Vec::with_capacity(merged.len() + layer_len(layer));
            let mut old = merged.into_iter().peekable();
            for index in 0..layer_len(layer) {
                let (key, len) = layer_entry(layer, index);
                while let Some(o) = old.next_if(|o| o.key < key) {
                    next.push(o);
                }
                old.next_if(|o| o.key == key);
                if !is_tombstone(key, len) {
                    next.push(Src {
                        key,
                        layer: l as u32,
                        index: index as u32,
                    });
                }
            }
            next.extend(old);
            merged = next;
        }
        Part {
            shard,
            layers,
            merged: Some(merged),
        }
    }

    /// The same part with `mem` on top (its file layers shared).
    pub fn with_overlay(&self, mem: Arc<MemBlocks>) -> Part {
        let mut layers: Vec<Layer> = self
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::File(_)))
            .cloned()
            .collect();
        layers.push(Layer::Mem(mem));
        Part::layered(self.shard, layers)
    }

    /// The shard this part holds.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The layers, oldest first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The part files, oldest first.
    pub fn files(&self) -> impl Iterator<Item = &BlockFile> {
        self.layers.iter().filter_map(|l| match l {
            Layer::File(f) => Some(&**f),
            Layer::Mem(_) => None,
        })
    }

    /// The blocks held in memory, if any.
    pub fn mem(&self) -> Option<&Arc<MemBlocks>> {
        self.layers.iter().rev().find_map(|l| match l {
            Layer::Mem(m) => Some(m),
            Layer::File(_) => None,
        })
    }

    /// The path of the top-most file (for messages), or `-` for none.
    pub fn path(&self) -> &Path {
        self.files().last().map_or(Path::new("-"), |f| f.path())
    }

    /// The bytes of every layer.
    pub fn len_bytes(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::File(f) => f.len() as u64,
                Layer::Mem(m) => m.bytes(),
            })
            .sum()
    }

    /// The number of blocks (of the merged directory).
    pub fn num_blocks(&self) -> usize {
        match &self.merged {
            None => self.single().num_blocks(),
            Some(m) => m.len(),
        }
    }

    /// The key of block `i`.
    pub fn key(&self, i: usize) -> BlockKey {
        match &self.merged {
            None => self.single().entry(i).key,
            Some(m) => m[i].key,
        }
    }

    /// The index of the block with this key.
    pub fn find(&self, key: BlockKey) -> Option<usize> {
        let i = self.lower_bound(key);
        (i < self.num_blocks() && self.key(i) == key).then_some(i)
    }

    /// The index of the first block whose key is not less than `key`.
    pub fn lower_bound(&self, key: BlockKey) -> usize {
        match &self.merged {
            None => self.single().lower_bound(key),
            Some(m) => m.partition_point(|s| s.key < key),
        }
    }

    fn single(&self) -> &BlockFile {
        match &self.layers[0] {
            Layer::File(f) => f,
            Layer::Mem(_) => unreachable!("a part without a merged directory is one file"),
        }
    }

    /// The bytes of block `i` (a file's block checked against its checksum
    /// and by `validate` on first use; blocks in memory are segdb's own).
    fn block_validated(
        &self,
        i: usize,
        validate: impl FnOnce(&[u8]) -> std::result::Result<(), (usize, String)>,
    ) -> Result<&[u8]> {
        let (layer, index) = match &self.merged {
            None => (&self.layers[0], i),
            Some(m) => (&self.layers[m[i].layer as usize], m[i].index as usize),
        };
        match layer {
            Layer::File(f) => f.block_validated(index, validate),
            Layer::Mem(m) => Ok(&m.blocks[index].1),
        }
    }

    /// The bytes of block `i`.
    pub fn block(&self, i: usize) -> Result<&[u8]> {
        self.block_validated(i, |_| Ok(()))
    }

    /// The bitmap with this key, if the part has it. Checked (checksum and
    /// structure) the first time it is used.
    pub fn bitmap(&self, key: BlockKey) -> Result<Option<RoaringView<'_>>> {
        match self.find(key) {
            Some(i) => self.bitmap_at(i).map(Some),
            None => Ok(None),
        }
    }

    /// The bitmap in block `i`.
    pub fn bitmap_at(&self, i: usize) -> Result<RoaringView<'_>> {
        let b = self.block_validated(i, validate_shard_bitmap)?;
        RoaringView::new_unchecked(b)
            .map_err(|e| FormatError::corrupt(self.path(), e.offset as u64, e.what))
    }

    /// The INT metadata of `field`, if the part has values of it.
    pub fn int_meta(&self, field: u32) -> Result<Option<IntMeta>> {
        let key = BlockKey::new(field, TAG_INT_META, 0, 0);
        let Some(i) = self.find(key) else {
            return Ok(None);
        };
        let b = self.block_validated(i, |b| {
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
        Ok(Some(IntMeta::decode(b)))
    }

    /// The days (unbiased) on which `field` has events in this part, in order.
    pub fn event_days(&self, field: u32) -> Vec<i32> {
        let mut i = self.lower_bound(BlockKey::new(field, TAG_EVENT, 0, 0));
        let mut days = Vec::new();
        while i < self.num_blocks() {
            let k = self.key(i);
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
        let Some(i) = self.find(key) else {
            return Ok(0);
        };
        let b = self.block_validated(i, validate_text)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The text of `row` (relative to the shard) in a TEXT field.
    pub fn text(&self, field: u32, row: u32) -> Result<Option<&str>> {
        let key = BlockKey::new(field, TAG_TEXT, 0, 0);
        let Some(i) = self.find(key) else {
            return Ok(None);
        };
        let b = self.block_validated(i, validate_text)?;
        Ok(text_at(b, row))
    }
}

fn open_part_file(path: &Path, bytes: Bytes) -> Result<BlockFile> {
    BlockFile::open(path, bytes, PART_MAGIC, PART_VERSION)
}

fn part_file_shard(file: &BlockFile) -> Result<u32> {
    // Row ids are `u32`: shards past `u32::MAX / SHARD_ROWS` hold none.
    u32::try_from(file.info())
        .ok()
        .filter(|&s| s <= u32::MAX / SHARD_ROWS)
        .ok_or_else(|| {
            FormatError::corrupt(file.path(), file.len() as u64, "shard number out of range")
        })
}

fn layer_len(layer: &Layer) -> usize {
    match layer {
        Layer::File(f) => f.num_blocks(),
        Layer::Mem(m) => m.blocks.len(),
    }
}

fn layer_entry(layer: &Layer, i: usize) -> (BlockKey, usize) {
    match layer {
        Layer::File(f) => {
            let e = f.entry(i);
            (e.key, e.len as usize)
        }
        Layer::Mem(m) => (m.blocks[i].0, m.blocks[i].1.len()),
    }
}

/// The text of `row` in a (checked) TEXT column block.
pub fn text_at(b: &[u8], row: u32) -> Option<&str> {
    let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if row >= count {
        return None;
    }
    let off = |j: u32| {
        let at = 4 + 4 * j as usize;
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
    };
    let base = 4 + 4 * (count as usize + 1);
    let (s, e) = (off(row), off(row + 1));
    if s == e {
        return None;
    }
    std::str::from_utf8(&b[base + s..base + e]).ok()
}

/// Encodes a TEXT column for the shard's rows `0..texts.len()` (`None` is null).
pub fn encode_text<'a>(texts: impl ExactSizeIterator<Item = Option<&'a str>> + Clone) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(texts.len() as u32).to_le_bytes());
    let mut at = 0u32;
    for t in texts.clone() {
        out.extend_from_slice(&at.to_le_bytes());
        at += t.map_or(0, |s| s.len() as u32);
    }
    out.extend_from_slice(&at.to_le_bytes());
    for t in texts.flatten() {
        out.extend_from_slice(t.as_bytes());
    }
    out
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
