//! Dictionary parts, version 1 (read; written only by [`write_v1_part`],
//! for tests and benchmarks of old stores). A block file:
//!
//! - `TAG_META` (16 bytes): `first_row: u64`, `num_ids: u32`, `log2(slots): u32`.
//! - `TAG_IDS`, key `p`: the ids of rows `first_row + p * IDS_PER_PAGE ..`:
//!   `u32` count, `count + 1` `u32` offsets, then the UTF-8 bytes.
//! - `TAG_SLOTS`, key `p`: slots `p * SLOTS_PER_PAGE ..` of the open-addressing
//!   (linear probing) hash table, 8 bytes each: `u32` local row + 1 (0 = empty),
//!   `u32` high half of the id's hash.

use std::path::Path;

use crate::block_file::{BlockFile, BlockFileWriter, BlockKey};
use crate::error::{FormatError, Result};

use super::{hash_id, Base, DICT_MAGIC, IDS_PER_PAGE, TAG_IDS, TAG_META, TAG_SLOTS};

/// Hash slots per `TAG_SLOTS` block.
pub const SLOTS_PER_PAGE: u64 = 1 << 13;

/// Writes a version 1 dictionary part (as stores written before version 2
/// have): for tests and benchmarks of old stores only.
pub fn write_v1_part(path: &Path, first_row: u64, ids: &[&str]) -> Result<u64> {
    let hashes: Vec<u64> = ids.iter().map(|id| hash_id(id.as_bytes())).collect();
    let n = ids.len();
    let log2 = (n.max(8) * 10 / 7)
        .next_power_of_two()
        .trailing_zeros()
        .max(4);
    let num_slots = 1u64 << log2;
    let mut slots = vec![0u64; num_slots as usize];
    let mask = num_slots - 1;
    for (i, &h) in hashes.iter().enumerate().take(n) {
        let mut s = h & mask;
        while slots[s as usize] != 0 {
            s = (s + 1) & mask;
        }
        slots[s as usize] = (i as u64 + 1) | ((h >> 32) << 32);
    }
    let mut w = BlockFileWriter::create(path, DICT_MAGIC, 1)?;
    let mut meta = Vec::with_capacity(16);
    meta.extend_from_slice(&first_row.to_le_bytes());
    meta.extend_from_slice(&(n as u32).to_le_bytes());
    meta.extend_from_slice(&log2.to_le_bytes());
    w.add(BlockKey::new(0, TAG_META, 0, 0), &meta)?;
    for (p, page) in ids.chunks(IDS_PER_PAGE as usize).enumerate() {
        let mut out = Vec::new();
        out.extend_from_slice(&(page.len() as u32).to_le_bytes());
        let mut at = 0u32;
        for id in page {
            out.extend_from_slice(&at.to_le_bytes());
            at += id.len() as u32;
        }
        out.extend_from_slice(&at.to_le_bytes());
        for id in page {
            out.extend_from_slice(id.as_bytes());
        }
        w.add(BlockKey::new(0, TAG_IDS, p as u32, 0), &out)?;
    }
    for (p, page) in slots.chunks(SLOTS_PER_PAGE as usize).enumerate() {
        let mut out = Vec::with_capacity(page.len() * 8);
        for s in page {
            out.extend_from_slice(&s.to_le_bytes());
        }
        w.add(BlockKey::new(0, TAG_SLOTS, p as u32, 0), &out)?;
    }
    w.finish(1, first_row)
}

/// A version 1 part's layout.
#[derive(Debug)]
pub(crate) struct V1 {
    log2_slots: u32,
    ids_blocks: Vec<usize>,
    slot_blocks: Vec<usize>,
}

impl V1 {
    pub(crate) fn open(file: BlockFile) -> Result<(Base, V1)> {
        let path = file.path().to_path_buf();
        let corrupt = |what: &str| FormatError::corrupt(&path, 0, what);
        let meta_i = file
            .find(BlockKey::new(0, TAG_META, 0, 0))
            .ok_or_else(|| corrupt("dictionary part has no metadata block"))?;
        let meta = file.block_validated(meta_i, |b| {
            if b.len() != 16 {
                return Err((0, "metadata block is not 16 bytes".into()));
            }
            let log2 = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
            if !(4..=40).contains(&log2) {
                return Err((12, format!("hash table of 2^{log2} slots")));
            }
            Ok(())
        })?;
        let mut fr = [0u8; 8];
        fr.copy_from_slice(&meta[..8]);
        let first_row = u64::from_le_bytes(fr);
        let num_ids = u32::from_le_bytes([meta[8], meta[9], meta[10], meta[11]]);
        let log2_slots = u32::from_le_bytes([meta[12], meta[13], meta[14], meta[15]]);
        let num_pages = num_ids.div_ceil(IDS_PER_PAGE) as usize;
        let num_slot_pages = ((1u64 << log2_slots).div_ceil(SLOTS_PER_PAGE)) as usize;
        let ids_blocks = super::find_all(&file, TAG_IDS, num_pages, "ids")?;
        let slot_blocks = super::find_all(&file, TAG_SLOTS, num_slot_pages, "hash")?;
        if num_ids as u64 >= 1u64 << log2_slots {
            return Err(corrupt("hash table smaller than the number of ids"));
        }
        let base = Base {
            file,
            first_row,
            num_ids,
        };
        Ok((
            base,
            V1 {
                log2_slots,
                ids_blocks,
                slot_blocks,
            },
        ))
    }

    /// The bytes of the id of local row `local` (< num_ids).
    fn id_bytes<'a>(&self, base: &'a Base, local: u32) -> Result<&'a [u8]> {
        let page = (local / IDS_PER_PAGE) as usize;
        let i = local % IDS_PER_PAGE;
        let b = base
            .file
            .block_validated(self.ids_blocks[page], validate_ids_page)?;
        let off = |j: u32| {
            let at = 4 + 4 * j as usize;
            u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
        };
        let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if i >= count {
            return Err(base.corrupt(
                base.file.entry(self.ids_blocks[page]).offset,
                "ids page shorter than the metadata says",
            ));
        }
        let base_at = 4 + 4 * (count as usize + 1);
        Ok(&b[base_at + off(i)..base_at + off(i + 1)])
    }

    /// Rows are looked up a batch at a time, offsets first, then the ids:
    /// the independent loads of a batch overlap, where one-at-a-time
    /// lookups would wait for two cache misses per id in turn.
    pub(crate) fn for_each_id(
        &self,
        base: &Base,
        rows: &[u64],
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<bool> {
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(256);
        let mut i = 0;
        while i < rows.len() {
            let r = rows[i];
            let local = base.check_in_range(r)?;
            let page = (local / IDS_PER_PAGE) as usize;
            let page_end = base.first_row + (page as u64 + 1) * u64::from(IDS_PER_PAGE);
            let j = i + rows[i..].partition_point(|&x| x < page_end);
            let b = base
                .file
                .block_validated(self.ids_blocks[page], validate_ids_page)?;
            let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let data = 4 + 4 * (count as usize + 1);
            let off = |k: u32| {
                let at = 4 + 4 * k as usize;
                u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
            };
            for batch in rows[i..j].chunks(256) {
                spans.clear();
                for &r in batch {
                    let k = base.check_in_range(r)? % IDS_PER_PAGE;
                    if k >= count {
                        return Err(base.corrupt(
                            base.file.entry(self.ids_blocks[page]).offset,
                            "ids page shorter than the metadata says",
                        ));
                    }
                    spans.push((data + off(k), data + off(k + 1)));
                }
                for (&r, &(s, e)) in batch.iter().zip(&spans) {
                    if !f(r, &b[s..e]) {
                        return Ok(false);
                    }
                }
            }
            i = j;
        }
        Ok(true)
    }

    /// The local row of `id`, if this part has it.
    pub(crate) fn row_of_hashed(&self, base: &Base, id: &[u8], h: u64) -> Result<Option<u32>> {
        let mask = (1u64 << self.log2_slots) - 1;
        let tag = h >> 32;
        let mut s = h & mask;
        for _ in 0..=mask {
            let page = (s / SLOTS_PER_PAGE) as usize;
            let b = base.file.block(self.slot_blocks[page])?;
            let at = ((s % SLOTS_PER_PAGE) * 8) as usize;
            if at + 8 > b.len() {
                return Err(base.corrupt(0, "hash page truncated"));
            }
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            let slot = u64::from_le_bytes(x);
            let local = slot & 0xffff_ffff;
            if local == 0 {
                return Ok(None);
            }
            if slot >> 32 == tag {
                if local > u64::from(base.num_ids) {
                    return Err(base.corrupt(0, "hash slot names a row past the part's end"));
                }
                let local = local as u32 - 1;
                if self.id_bytes(base, local)? == id {
                    return Ok(Some(local));
                }
            }
            s = (s + 1) & mask;
        }
        Ok(None)
    }
}

fn validate_ids_page(b: &[u8]) -> std::result::Result<(), (usize, String)> {
    if b.len() < 4 {
        return Err((0, "ids page truncated".into()));
    }
    let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let base = 4 + 4 * (count + 1);
    if count > IDS_PER_PAGE as usize || b.len() < base {
        return Err((0, "ids page offsets truncated".into()));
    }
    let mut prev = 0u32;
    for j in 0..=count {
        let at = 4 + 4 * j;
        let o = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if o < prev || base + o as usize > b.len() {
            return Err((at, "id offset out of order or past the end".into()));
        }
        prev = o;
    }
    Ok(())
}
