//! The id dictionary (OneID): external string ids <-> dense row ids.
//!
//! The dictionary is append-only: each import that creates ids adds one
//! sealed *dictionary part* holding the ids of a contiguous range of new row
//! ids, with a hash table to find a row id by external id. Row ids are never
//! reused. A dictionary part is a [block file](crate::block_file):
//!
//! - `TAG_META` (16 bytes): `first_row: u64`, `num_ids: u32`, `log2(slots): u32`.
//! - `TAG_IDS`, key `p`: the ids of rows `first_row + p * IDS_PER_PAGE ..`:
//!   `u32` count, `count + 1` `u32` offsets, then the UTF-8 bytes.
//! - `TAG_SLOTS`, key `p`: slots `p * SLOTS_PER_PAGE ..` of the open-addressing
//!   (linear probing) hash table, 8 bytes each: `u32` local row + 1 (0 = empty),
//!   `u32` high half of the id's hash.

use std::path::Path;

use bytes::Bytes;

use crate::block_file::{BlockFile, BlockFileWriter, BlockKey};
use crate::error::{FormatError, Result};

/// Magic number of dictionary parts.
pub const DICT_MAGIC: &[u8; 8] = b"SEGDBIDS";
/// Current dictionary part version.
pub const DICT_VERSION: u32 = 1;
/// Ids per `TAG_IDS` block.
pub const IDS_PER_PAGE: u32 = 1 << 16;
/// Hash slots per `TAG_SLOTS` block.
pub const SLOTS_PER_PAGE: u64 = 1 << 13;
/// Longest external id, in bytes.
pub const MAX_ID_LEN: usize = 1024;
pub(crate) const TAG_META: u8 = 1;
pub(crate) const TAG_IDS: u8 = 2;
pub(crate) const TAG_SLOTS: u8 = 3;

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
    write_dictionary_part_with(
        std::sync::Arc::new(crate::wal::RealFs),
        path,
        first_row,
        ids,
    )
}

/// [`write_dictionary_part`] through `fs` (tests inject faults).
pub fn write_dictionary_part_with(
    fs: std::sync::Arc<dyn crate::wal::WalFs>,
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
    write_dictionary_part_hashed_with(
        std::sync::Arc::new(crate::wal::RealFs),
        path,
        first_row,
        ids,
        hashes,
    )
}

/// [`write_dictionary_part_hashed`] through `fs` (tests inject faults).
pub fn write_dictionary_part_hashed_with(
    fs: std::sync::Arc<dyn crate::wal::WalFs>,
    path: &Path,
    first_row: u64,
    ids: &[&str],
    hashes: &[u64],
) -> Result<u64> {
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
    let mut w = BlockFileWriter::create_with(fs, path, DICT_MAGIC, DICT_VERSION)?;
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
    w.finish(DICT_VERSION, first_row)
}

/// A dictionary part opened for reading.
#[derive(Debug)]
pub struct DictionaryPart {
    file: BlockFile,
    first_row: u64,
    num_ids: u32,
    log2_slots: u32,
    ids_blocks: Vec<usize>,
    slot_blocks: Vec<usize>,
}

impl DictionaryPart {
    /// Opens a dictionary part from its bytes.
    pub fn open(path: &Path, bytes: Bytes) -> Result<DictionaryPart> {
        let file = BlockFile::open(path, bytes, DICT_MAGIC, DICT_VERSION)?;
        let corrupt = |what: &str| FormatError::corrupt(path, 0, what);
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
        let find_all = |tag: u8, n: usize, what: &str| -> Result<Vec<usize>> {
            (0..n)
                .map(|p| {
                    file.find(BlockKey::new(0, tag, p as u32, 0))
                        .ok_or_else(|| corrupt(&format!("dictionary part lacks {what} block {p}")))
                })
                .collect()
        };
        let ids_blocks = find_all(TAG_IDS, num_pages, "ids")?;
        let slot_blocks = find_all(TAG_SLOTS, num_slot_pages, "hash")?;
        if num_ids as u64 >= 1u64 << log2_slots {
            return Err(corrupt("hash table smaller than the number of ids"));
        }
        // Row ids are `u32`: the part's rows must end by 2^32.
        if first_row.saturating_add(u64::from(num_ids)) > 1 << 32 {
            return Err(corrupt("rows past the last row id (2^32 - 1)"));
        }
        Ok(DictionaryPart {
            file,
            first_row,
            num_ids,
            log2_slots,
            ids_blocks,
            slot_blocks,
        })
    }

    /// The block file (for `segdb check`, which verifies every block).
    pub fn block_file(&self) -> &BlockFile {
        &self.file
    }

    /// Maps and opens the dictionary part at `path`.
    pub fn open_mapped(path: &Path) -> Result<DictionaryPart> {
        DictionaryPart::open(path, crate::mmap::map_sealed_file(path)?)
    }

    /// The row id of the first id.
    pub fn first_row(&self) -> u64 {
        self.first_row
    }

    /// The number of ids.
    pub fn num_ids(&self) -> u32 {
        self.num_ids
    }

    /// The file's length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.file.len()
    }

    /// The external id of `row` (which must be in this part's range).
    pub fn id_of(&self, row: u64) -> Result<Option<&str>> {
        Ok(self
            .id_bytes(row)?
            .and_then(|b| std::str::from_utf8(b).ok()))
    }

    /// The bytes of the external id of `row` (a lookup compares these: no
    /// UTF-8 check).
    fn id_bytes(&self, row: u64) -> Result<Option<&[u8]>> {
        if row < self.first_row || row >= self.first_row + u64::from(self.num_ids) {
            return Ok(None);
        }
        let local = (row - self.first_row) as u32;
        let page = (local / IDS_PER_PAGE) as usize;
        let i = local % IDS_PER_PAGE;
        let b = self
            .file
            .block_validated(self.ids_blocks[page], validate_ids_page)?;
        let off = |j: u32| {
            let at = 4 + 4 * j as usize;
            u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
        };
        let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if i >= count {
            return Err(FormatError::corrupt(
                self.file.path(),
                self.file.entry(self.ids_blocks[page]).offset,
                "ids page shorter than the metadata says",
            ));
        }
        let base = 4 + 4 * (count as usize + 1);
        Ok(Some(&b[base + off(i)..base + off(i + 1)]))
    }

    /// Calls `f` with the external id (as bytes, UTF-8 unchecked) of each
    /// of `rows` (increasing, all in this part's range) until `f` returns
    /// `false`; returns whether it went through all of them. Rows are
    /// looked up a batch at a time, offsets first, then the ids: the
    /// independent loads of a batch overlap, where one-at-a-time lookups
    /// would wait for two cache misses per id in turn.
    pub fn for_each_id(&self, rows: &[u64], mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<bool> {
        let end_row = self.first_row + u64::from(self.num_ids);
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(256);
        let mut i = 0;
        while i < rows.len() {
            let r = rows[i];
            if r < self.first_row || r >= end_row {
                return Err(FormatError::corrupt(
                    self.file.path(),
                    0,
                    format!("row {r} is outside this dictionary part"),
                ));
            }
            let page = ((r - self.first_row) / u64::from(IDS_PER_PAGE)) as usize;
            let page_end = self.first_row + (page as u64 + 1) * u64::from(IDS_PER_PAGE);
            let j = i + rows[i..].partition_point(|&x| x < page_end);
            let b = self
                .file
                .block_validated(self.ids_blocks[page], validate_ids_page)?;
            let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let base = 4 + 4 * (count as usize + 1);
            let off = |k: u32| {
                let at = 4 + 4 * k as usize;
                u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
            };
            for batch in rows[i..j].chunks(256) {
                spans.clear();
                for &r in batch {
                    let k = ((r - self.first_row) % u64::from(IDS_PER_PAGE)) as u32;
                    if k >= count {
                        return Err(FormatError::corrupt(
                            self.file.path(),
                            self.file.entry(self.ids_blocks[page]).offset,
                            "ids page shorter than the metadata says",
                        ));
                    }
                    spans.push((base + off(k), base + off(k + 1)));
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

    /// The row id of external id `id`, if this part has it.
    pub fn row_of(&self, id: &str) -> Result<Option<u64>> {
        self.row_of_hashed(id, hash_id(id.as_bytes()))
    }

    /// [`DictionaryPart::row_of`] with the id's [`hash_id`] computed already.
    pub fn row_of_hashed(&self, id: &str, h: u64) -> Result<Option<u64>> {
        let mask = (1u64 << self.log2_slots) - 1;
        let tag = h >> 32;
        let mut s = h & mask;
        for _ in 0..=mask {
            let page = (s / SLOTS_PER_PAGE) as usize;
            let b = self.file.block(self.slot_blocks[page])?;
            let at = ((s % SLOTS_PER_PAGE) * 8) as usize;
            if at + 8 > b.len() {
                return Err(FormatError::corrupt(
                    self.file.path(),
                    0,
                    "hash page truncated",
                ));
            }
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            let slot = u64::from_le_bytes(x);
            let local = slot & 0xffff_ffff;
            if local == 0 {
                return Ok(None);
            }
            if slot >> 32 == tag {
                let row = self.first_row + local - 1;
                if self.id_bytes(row)? == Some(id.as_bytes()) {
                    return Ok(Some(row));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/fuzz_targets/storage_read.rs` (crash-867d6387…): a
    /// first row near 2^64 made `first_row + num_ids` overflow in
    /// `for_each_id` (and `id_bytes`). Rows past 2^32 are corrupt at open.
    #[test]
    fn rows_past_2_pow_32_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        for (first_row, ok) in [
            (u64::from(u32::MAX) - 2, true),
            (u64::from(u32::MAX) - 1, false),
            (u64::MAX - 1, false),
        ] {
            let path = dir.path().join(format!("ids-{first_row}.seg"));
            write_dictionary_part(&path, first_row, &["a", "b", "c"]).unwrap();
            let r = DictionaryPart::open_mapped(&path);
            if let Ok(d) = &r {
                let _ = d.for_each_id(&[first_row], |_, _| true);
            }
            assert_eq!(r.is_ok(), ok, "{first_row}: {r:?}");
        }
    }

    #[test]
    fn round_trip_and_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids-1.seg");
        let owned: Vec<String> = (0..150_000).map(|i| format!("u{i:09}")).collect();
        let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
        write_dictionary_part(&path, 1000, &ids).unwrap();
        let d = DictionaryPart::open_mapped(&path).unwrap();
        assert_eq!(d.num_ids(), 150_000);
        for i in (0..150_000u64)
            .step_by(997)
            .chain([0, 65_535, 65_536, 149_999])
        {
            assert_eq!(d.id_of(1000 + i).unwrap(), Some(ids[i as usize]));
            assert_eq!(d.row_of(ids[i as usize]).unwrap(), Some(1000 + i));
        }
        assert_eq!(d.row_of("nope").unwrap(), None);
        assert_eq!(d.row_of("").unwrap(), None);
        assert_eq!(d.id_of(999).unwrap(), None);
        assert_eq!(d.id_of(151_000).unwrap(), None);
    }

    #[test]
    fn empty_and_odd_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids-2.seg");
        write_dictionary_part(&path, 0, &["", "é", "a,b", "x\"y"]).unwrap();
        let d = DictionaryPart::open_mapped(&path).unwrap();
        for (i, id) in ["", "é", "a,b", "x\"y"].iter().enumerate() {
            assert_eq!(d.row_of(id).unwrap(), Some(i as u64));
        }
        let path = dir.path().join("ids-3.seg");
        write_dictionary_part(&path, 7, &[]).unwrap();
        let d = DictionaryPart::open_mapped(&path).unwrap();
        assert_eq!(d.row_of("a").unwrap(), None);
    }

    #[test]
    fn damage_is_a_clear_error_or_detected_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids-4.seg");
        let owned: Vec<String> = (0..300).map(|i| format!("id{i}")).collect();
        let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
        write_dictionary_part(&path, 0, &ids).unwrap();
        let full = std::fs::read(&path).unwrap();
        for i in (0..full.len()).step_by(7) {
            let mut b = full.clone();
            b[i] ^= 0x40;
            match DictionaryPart::open(&path, Bytes::from(b)) {
                Err(e) => assert!(e.to_string().contains("ids-4.seg")),
                Ok(d) => {
                    // Every lookup either answers right or reports
                    // corruption naming the file: an id that exists is
                    // never "not found".
                    for (r, id) in ids.iter().enumerate() {
                        match d.row_of(id) {
                            Ok(x) => assert_eq!(x, Some(r as u64), "byte {i} flipped: {id}"),
                            Err(e) => assert!(e.to_string().contains("ids-4.seg"), "{e}"),
                        }
                        match d.id_of(r as u64) {
                            Ok(x) => assert_eq!(x, Some(*id), "byte {i} flipped: row {r}"),
                            Err(e) => assert!(e.to_string().contains("ids-4.seg"), "{e}"),
                        }
                    }
                }
            }
        }
        for cut in [0, 10, full.len() / 2, full.len() - 1] {
            assert!(DictionaryPart::open(&path, Bytes::from(full[..cut].to_vec())).is_err());
        }
    }
}
