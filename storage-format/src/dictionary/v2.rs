//! Dictionary parts, version 2 (written now). A block file:
//!
//! - `TAG_META` (32 bytes): `first_row: u64`, `num_ids: u32`, `flags: u32`
//!   (bit 0: the ids strictly increase, bytewise, in row order), then for
//!   the hash index `num_slots: u64`, `slot_bytes: u32` (both 0 when the ids
//!   increase), `u32` 0.
//! - `TAG_IDS`, key `p`: the ids of rows `first_row + p * IDS_PER_PAGE ..`,
//!   front-coded: `u32` count, `u32` blocks (= ceil(count / 8)), a `u32`
//!   offset (from the page's start) per block, then the blocks. A block
//!   holds 8 ids (the last fewer): the first whole (LEB128 length, bytes),
//!   each next one as a header byte (high nibble: bytes shared with the id
//!   before, low nibble: bytes that follow; 15 = a LEB128 number follows,
//!   shared first), then the bytes that follow.
//! - Ids increasing: `TAG_FIRSTS`, key 0: the first id of every page and
//!   the part's last id: `u32` k (pages + 1, or 0 for no ids), `k + 1`
//!   `u32` offsets, the bytes. A lookup binary-searches these, then the
//!   block first ids of one page, then scans at most 8 ids of one block.
//! - Otherwise `TAG_SLOTS`, key `p`: the [hash index](super::hash_index).
//! - Flags bit 1 instead: the ids are a counter, `TAG_COUNTER` holds its
//!   rule and there are no pages (`counter.rs`).
//! - Flags bit 2 (with the hash index only): the ids all have one length,
//!   and a page may be fixed-width instead of front-coded (`fixed.rs`).

use std::sync::OnceLock;

use crate::block_file::{BlockFile, BlockKey};
use crate::error::{FormatError, Result};

mod batch;
mod fixed;
mod sorted;
mod write;

pub(crate) use write::write;

use super::counter::Counter;
use super::hash_index::{self, HashIndex};
use super::TAG_COUNTER;
use super::{Base, IDS_PER_PAGE, MAX_ID_LEN, TAG_FIRSTS, TAG_IDS, TAG_META, TAG_SLOTS};

/// Ids per restart block of a page.
pub const BLOCK_IDS: u32 = 8;
/// Rows whose blocks `for_each_id` touches before decoding them.
const BATCH: usize = 64;
/// Flag bit: the ids strictly increase in row order.
const SORTED: u32 = 1;
/// Flag bit: the ids are a counter (a `TAG_COUNTER` block, no pages).
const COUNTER: u32 = 2;
/// Flag bit: the ids all have one length, and pages may be fixed-width
/// (`fixed.rs`); only with the hash index.
const FIXED: u32 = 4;

#[inline(always)]
fn get_varint(b: &[u8], pos: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    for shift in (0..35).step_by(7) {
        let x = *b.get(*pos)?;
        *pos += 1;
        v |= usize::from(x & 0x7f) << shift;
        if x < 0x80 {
            return Some(v);
        }
    }
    None
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The bytes all of `ids` start with, in length.
fn common_prefix(ids: &[&str]) -> usize {
    let first = ids.first().map_or(&b""[..], |i| i.as_bytes());
    ids.iter().fold(first.len(), |cp, id| {
        first[..cp]
            .iter()
            .zip(id.as_bytes())
            .take_while(|(a, b)| a == b)
            .count()
    })
}

/// The search key of an id in a page whose ids share `cp` bytes: the 8
/// bytes after them, big-endian, zero-padded. Keys in order => ids in order.
#[inline]
fn key_of(id: &[u8], cp: usize) -> u64 {
    let t = id.get(cp..).unwrap_or(&[]);
    let n = t.len().min(8);
    let mut x = [0u8; 8];
    x[..n].copy_from_slice(&t[..n]);
    u64::from_be_bytes(x)
}

/// Blocks per entry of a keyed page's top-level keys.
const TOP: usize = 8;

/// Bytes before a page's first block: 12, then per block its offset
/// (keyed: its key, then its offset), then (keyed) the key of every
/// [`TOP`]th block.
fn header_len(nblocks: usize, keyed: bool) -> usize {
    if keyed {
        12 + 12 * nblocks + 8 * nblocks.div_ceil(TOP)
    } else {
        12 + 4 * nblocks
    }
}

/// Where block `i`'s offset is.
#[inline]
fn off_at(i: usize, keyed: bool) -> usize {
    if keyed {
        20 + 12 * i
    } else {
        12 + 4 * i
    }
}

fn get_u64_be(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// Reads the next id's header: `(shared, suffix length)`.
#[inline(always)]
fn entry_header(block: &[u8], pos: &mut usize, first: bool) -> Option<(usize, usize)> {
    if first {
        return Some((0, get_varint(block, pos)?));
    }
    let h = *block.get(*pos)?;
    *pos += 1;
    if h & 0x0f != 0x0f && h < 0xf0 {
        return Some((usize::from(h >> 4), usize::from(h & 15)));
    }
    let mut shared = usize::from(h >> 4);
    if shared == 15 {
        shared = get_varint(block, pos)?;
    }
    let mut suffix = usize::from(h & 15);
    if suffix == 15 {
        suffix = get_varint(block, pos)?;
    }
    Some((shared, suffix))
}

/// Decodes the next id of a block into `buf` (`first`: the block's first
/// id). `None` if the bytes are malformed.
#[inline]
fn next_entry(block: &[u8], pos: &mut usize, buf: &mut Vec<u8>, first: bool) -> Option<()> {
    let (shared, suffix) = entry_header(block, pos, first)?;
    if shared > buf.len() || suffix > MAX_ID_LEN - shared.min(MAX_ID_LEN) {
        return None;
    }
    let s = block.get(*pos..*pos + suffix)?;
    buf.truncate(shared);
    buf.extend_from_slice(s);
    *pos += suffix;
    Some(())
}

/// Decodes id `k` of a block into `buf` without copying the ids before
/// it: their headers are walked, then id `k` is put together from the
/// back (its suffix, then the part of the previous ids' suffixes it
/// shares). Returns the position after id `k`.
#[inline]
fn decode_at(block: &[u8], k: usize, buf: &mut Vec<u8>) -> Option<usize> {
    // (shared, suffix start) of ids 0..=k.
    let mut at = [(0u32, 0u32); BLOCK_IDS as usize];
    let mut pos = 0;
    let mut len = 0;
    for (j, slot) in at.iter_mut().enumerate().take(k + 1) {
        let (shared, suffix) = entry_header(block, &mut pos, j == 0)?;
        if shared > len
            || suffix > MAX_ID_LEN - shared.min(MAX_ID_LEN)
            || pos + suffix > block.len()
        {
            return None;
        }
        *slot = (shared as u32, pos as u32);
        pos += suffix;
        len = shared + suffix;
    }
    // Only grown (no fill of bytes about to be overwritten).
    if buf.len() < len {
        buf.resize(len, 0);
    } else {
        buf.truncate(len);
    }
    let mut need = len;
    let mut j = k;
    loop {
        let (shared, start) = (at[j].0 as usize, at[j].1 as usize);
        if need > shared {
            let (to, from) = (&mut buf[shared..need], &block[start..start + need - shared]);
            if to.len() <= 16 {
                // Short: a loop beats a call to memcpy.
                for (t, f) in to.iter_mut().zip(from) {
                    *t = *f;
                }
            } else {
                to.copy_from_slice(from);
            }
            need = shared;
        }
        if need == 0 || j == 0 {
            break;
        }
        j -= 1;
    }
    Some(pos)
}

/// The first id of a block, read in place.
fn block_first(block: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    let len = get_varint(block, &mut pos)?;
    block.get(pos..pos.checked_add(len)?)
}

/// A validated page.
#[derive(Clone, Copy)]
struct Page<'a> {
    b: &'a [u8],
    count: u32,
    nblocks: usize,
    /// Bytes all the page's ids share.
    cp: usize,
    /// Whether blocks have search keys.
    keyed: bool,
    /// A fixed-width page (`fixed.rs`): no blocks, id `i` at a known place.
    fixed: bool,
    /// A fixed-width page's bytes per id after `cp`.
    width: usize,
}

impl<'a> Page<'a> {
    #[inline]
    fn block(&self, i: usize) -> &'a [u8] {
        let s = get_u32(self.b, off_at(i, self.keyed)) as usize;
        let e = if i + 1 < self.nblocks {
            get_u32(self.b, off_at(i + 1, self.keyed)) as usize
        } else {
            self.b.len()
        };
        &self.b[s..e]
    }

    /// Block `i`'s search key (keyed pages).
    #[inline]
    fn key(&self, i: usize) -> u64 {
        get_u64_be(self.b, 12 + 12 * i)
    }

    /// The first block whose key fails `pred` (true of a prefix of the
    /// blocks), once [`Page::top_partition`] found `lo` among the top-level
    /// keys (every [`TOP`]th block's, dense, so that searches keep them in
    /// the cache): found among at most [`TOP`] keys side by side.
    #[inline]
    fn partition_run(&self, lo: usize, pred: impl Fn(u64) -> bool) -> usize {
        // Top-level entry `lo` (block lo * TOP) fails, lo - 1 holds.
        let (mut i, end) = if lo == 0 {
            return 0;
        } else {
            ((lo - 1) * TOP + 1, (lo * TOP).min(self.nblocks))
        };
        while i < end && pred(self.key(i)) {
            i += 1;
        }
        i
    }

    /// Where top-level key `i` (block `i * TOP`'s) is.
    #[inline]
    fn top_at(&self, i: usize) -> usize {
        12 + 12 * self.nblocks + 8 * i
    }

    /// The first top-level key that fails `pred`.
    #[inline]
    fn top_partition(&self, pred: &impl Fn(u64) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.nblocks.div_ceil(TOP));
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pred(get_u64_be(self.b, self.top_at(mid))) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Checks a page's structure: its count, block offsets, that every block
/// decodes to exactly its ids, none longer than [`MAX_ID_LEN`], all with
/// the page's common prefix; keyed, that the keys are the blocks' and the
/// ids increase.
fn validate_page(b: &[u8], count: u32, keyed: bool) -> std::result::Result<(), (usize, String)> {
    if b.len() < 12 {
        return Err((0, "ids page truncated".into()));
    }
    if get_u32(b, 0) != count {
        return Err((0, format!("ids page of {} ids, not {count}", get_u32(b, 0))));
    }
    let nblocks = count.div_ceil(BLOCK_IDS) as usize;
    let header = header_len(nblocks, keyed);
    if get_u32(b, 4) as usize != nblocks || b.len() < header {
        return Err((4, "ids page block count wrong or truncated".into()));
    }
    let cp = get_u32(b, 8) as usize;
    let mut prefix: Option<Vec<u8>> = None;
    let mut prev_id: Vec<u8> = Vec::new();
    let mut prev = header;
    for i in 0..nblocks {
        let o = get_u32(b, off_at(i, keyed)) as usize;
        if o != prev {
            return Err((
                off_at(i, keyed),
                "block offset out of order or past the end".into(),
            ));
        }
        let end = if i + 1 < nblocks {
            get_u32(b, off_at(i + 1, keyed)) as usize
        } else {
            b.len()
        };
        if end < o || end > b.len() {
            return Err((
                off_at(i, keyed),
                "block offset out of order or past the end".into(),
            ));
        }
        let block = &b[o..end];
        let n = (count - i as u32 * BLOCK_IDS).min(BLOCK_IDS);
        let (mut pos, mut buf) = (0, Vec::new());
        for k in 0..n {
            if next_entry(block, &mut pos, &mut buf, k == 0).is_none() {
                return Err((o + pos, format!("id {k} of block {i} malformed")));
            }
            let p = prefix.get_or_insert_with(|| buf[..cp.min(buf.len())].to_vec());
            // Byte by byte: the prefix is short (none for most pages that
            // are not keyed), and a call to compare it cost more than the
            // rest of the page's check together.
            if p.len() != cp || buf.len() < cp || buf.iter().zip(p.iter()).any(|(a, b)| a != b) {
                return Err((8, "ids do not share the page's common prefix".into()));
            }
            if keyed {
                if k == 0 {
                    let key = key_of(&buf, cp);
                    let top = 12 + 12 * nblocks + 8 * (i / TOP);
                    if get_u64_be(b, 12 + 12 * i) != key
                        || (i % TOP == 0 && get_u64_be(b, top) != key)
                    {
                        return Err((12 + 12 * i, format!("block {i}'s key wrong")));
                    }
                }
                if (i > 0 || k > 0) && buf <= prev_id {
                    return Err((o + pos, "ids out of order".into()));
                }
                prev_id.clone_from(&buf);
            }
        }
        if pos != block.len() {
            return Err((o + pos, format!("block {i} longer than its ids")));
        }
        prev = end;
    }
    Ok(())
}

/// Checks the `TAG_FIRSTS` block: `k` strings.
fn validate_firsts(b: &[u8], k: usize) -> std::result::Result<(), (usize, String)> {
    if b.len() < 4 || get_u32(b, 0) as usize != k {
        return Err((0, format!("first-ids block does not hold {k} ids")));
    }
    let data = 4 + 4 * (k + 1);
    if b.len() < data {
        return Err((0, "first-ids block truncated".into()));
    }
    let mut prev = 0;
    for j in 0..=k {
        let o = get_u32(b, 4 + 4 * j) as usize;
        if o < prev || data + o > b.len() {
            return Err((4 + 4 * j, "id offset out of order or past the end".into()));
        }
        prev = o;
    }
    Ok(())
}

/// A version 2 part's layout.
#[derive(Debug)]
pub(crate) struct V2 {
    ids_blocks: Vec<usize>,
    /// The `TAG_FIRSTS` block when the ids increase.
    firsts: Option<usize>,
    /// The hash index otherwise.
    hash: Option<HashIndex>,
    /// The rule of a part whose ids are a counter (no pages).
    counter: Option<Counter>,
    /// Whether pages may be fixed-width (flags bit 2).
    fixed: bool,
    /// When the ids increase: the bytes all ids share, and the search key
    /// (`key_of`) of each FIRSTS id; made by the first lookup (`sorted.rs`).
    first_keys: OnceLock<(usize, Vec<u64>)>,
}

impl V2 {
    pub(crate) fn open(file: BlockFile) -> Result<(Base, V2)> {
        let path = file.path().to_path_buf();
        let corrupt = |what: &str| FormatError::corrupt(&path, 0, what);
        let meta_i = file
            .find(BlockKey::new(0, TAG_META, 0, 0))
            .ok_or_else(|| corrupt("dictionary part has no metadata block"))?;
        let meta = file.block_validated(meta_i, |b| {
            if b.len() != 32 {
                return Err((0, "metadata block is not 32 bytes".into()));
            }
            let n = u64::from(get_u32(b, 8));
            let flags = get_u32(b, 12);
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[16..24]);
            let slots = u64::from_le_bytes(x);
            let slot_bytes = get_u32(b, 24);
            if ![0, SORTED, COUNTER, FIXED].contains(&flags) || get_u32(b, 28) != 0 {
                return Err((12, format!("unknown flags {flags:#x}")));
            }
            let ok = if flags & (SORTED | COUNTER) != 0 {
                slots == 0 && slot_bytes == 0
            } else {
                slots > n
                    && slots <= 2 * n + 16
                    && slot_bytes == hash_index::slot_bytes_for(hash_index::row_bits(n))
            };
            if !ok {
                return Err((
                    16,
                    format!("hash index of {slots} slots of {slot_bytes} bytes for {n} ids"),
                ));
            }
            Ok(())
        })?;
        let mut fr = [0u8; 8];
        fr.copy_from_slice(&meta[..8]);
        let first_row = u64::from_le_bytes(fr);
        let num_ids = get_u32(meta, 8);
        let sorted = get_u32(meta, 12) & SORTED != 0;
        let fixed = get_u32(meta, 12) & FIXED != 0;
        if get_u32(meta, 12) & COUNTER != 0 {
            let i = super::find_all(&file, TAG_COUNTER, 1, "counter")?[0];
            let b = file.block_validated(i, |b| Counter::decode(b, num_ids).map(|_| ()))?;
            let rule = Counter::decode(b, num_ids).map_err(|(_, what)| corrupt(&what))?;
            let base = Base {
                file,
                first_row,
                num_ids,
            };
            return Ok((
                base,
                V2 {
                    ids_blocks: Vec::new(),
                    firsts: None,
                    hash: None,
                    counter: Some(rule),
                    fixed: false,
                    first_keys: OnceLock::new(),
                },
            ));
        }
        let mut x = [0u8; 8];
        x.copy_from_slice(&meta[16..24]);
        let num_slots = u64::from_le_bytes(x);
        let slot_bytes = get_u32(meta, 24);
        let num_pages = num_ids.div_ceil(IDS_PER_PAGE) as usize;
        let ids_blocks = super::find_all(&file, TAG_IDS, num_pages, "ids")?;
        let (firsts, hash) = if sorted {
            let i = super::find_all(&file, TAG_FIRSTS, 1, "first-ids")?[0];
            (Some(i), None)
        } else {
            let pages = num_slots.div_ceil(hash_index::SLOTS_PER_PAGE) as usize;
            let blocks = super::find_all(&file, TAG_SLOTS, pages, "hash index")?;
            let index = HashIndex {
                num_slots,
                slot_bytes,
                row_bits: hash_index::row_bits(u64::from(num_ids)),
                blocks,
            };
            (None, Some(index))
        };
        let base = Base {
            file,
            first_row,
            num_ids,
        };
        Ok((
            base,
            V2 {
                ids_blocks,
                firsts,
                hash,
                counter: None,
                fixed,
                first_keys: OnceLock::new(),
            },
        ))
    }

    /// Page `p`, validated the first time it is used.
    fn page<'a>(&self, base: &'a Base, p: usize) -> Result<Page<'a>> {
        let count = (base.num_ids - p as u32 * IDS_PER_PAGE).min(IDS_PER_PAGE);
        let keyed = self.firsts.is_some();
        let may_be_fixed = self.fixed;
        let is_fixed = |b: &[u8]| may_be_fixed && b.len() >= 8 && fixed::is_fixed(b);
        let b = base.file.block_validated(self.ids_blocks[p], |b| {
            if is_fixed(b) {
                fixed::validate(b, count)
            } else {
                validate_page(b, count, keyed)
            }
        })?;
        let fixed = is_fixed(b);
        Ok(Page {
            b,
            count,
            nblocks: if fixed {
                0
            } else {
                count.div_ceil(BLOCK_IDS) as usize
            },
            cp: get_u32(b, 8) as usize,
            keyed,
            fixed,
            width: if fixed { get_u32(b, 12) as usize } else { 0 },
        })
    }

    fn malformed(&self, base: &Base, p: usize) -> FormatError {
        base.corrupt(
            base.file.entry(self.ids_blocks[p]).offset,
            format!("ids page {p} malformed"),
        )
    }

    /// Calls `f` with the id of each of `locals` (increasing, each below
    /// `num_ids`). Ids in one block are decoded once, in order.
    pub(crate) fn for_each_local(
        &self,
        base: &Base,
        locals: &[u32],
        mut f: impl FnMut(u32, &[u8]) -> bool,
    ) -> Result<bool> {
        let mut buf = Vec::with_capacity(64);
        if let Some(c) = &self.counter {
            for &l in locals {
                c.id(l, &mut buf);
                if !f(l, &buf) {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let mut page: Option<(usize, Page<'_>)> = None;
        // The block being decoded, the next id's index in it, the position.
        let (mut cur, mut next, mut pos) = (usize::MAX, 0u32, 0usize);
        let mut block: &[u8] = &[];
        let mut blocks: [&[u8]; BATCH] = [&[]; BATCH];
        let mut at = 0;
        while at < locals.len() {
            let p = (locals[at] / IDS_PER_PAGE) as usize;
            if page.as_ref().is_none_or(|(q, _)| *q != p) {
                page = Some((p, self.page(base, p)?));
                cur = usize::MAX;
            }
            let Some((_, pg)) = &page else { unreachable!() };
            // A batch of rows of this page: their block offsets are
            // prefetched, then their blocks, then the blocks are decoded in
            // turn, so that the cache misses of each pass overlap (one row
            // at a time waits for each in turn).
            let mut end = at;
            while end < locals.len()
                && end - at < BATCH
                && (locals[end] / IDS_PER_PAGE) as usize == p
            {
                end += 1;
            }
            if pg.fixed {
                // Each id in place: prefetched, then read.
                for &l in &locals[at..end] {
                    pg.prefetch_fixed(l % IDS_PER_PAGE);
                }
                buf.clear();
                buf.extend_from_slice(pg.prefix());
                for &l in &locals[at..end] {
                    let i = l % IDS_PER_PAGE;
                    if i >= pg.count {
                        return Err(self.malformed(base, p));
                    }
                    buf.truncate(pg.cp);
                    buf.extend_from_slice(pg.suffix(i));
                    if !f(l, &buf) {
                        return Ok(false);
                    }
                }
                at = end;
                continue;
            }
            for &l in &locals[at..end] {
                let i = l % IDS_PER_PAGE;
                crate::cpu::prefetch(pg.b, off_at((i / BLOCK_IDS) as usize, pg.keyed));
            }
            for (b, &l) in blocks.iter_mut().zip(&locals[at..end]) {
                let i = l % IDS_PER_PAGE;
                *b = if i < pg.count {
                    pg.block((i / BLOCK_IDS) as usize)
                } else {
                    &[]
                };
                // Id `k` of the block needs the bytes up to its end: about
                // `k + 1` eighths of the block, and a line for the rest.
                let need = b.len() * (i % BLOCK_IDS + 1) as usize / BLOCK_IDS as usize + 64;
                batch::prefetch_all(&b[..need.min(b.len())]);
            }
            for &l in &locals[at..end] {
                let i = l % IDS_PER_PAGE;
                if i >= pg.count {
                    return Err(self.malformed(base, p));
                }
                let (b, k) = ((i / BLOCK_IDS) as usize, i % BLOCK_IDS);
                if b != cur || next > k + 1 {
                    // Another block, or back in this one: straight to id `k`.
                    cur = b;
                    block = pg.block(b);
                    pos = decode_at(block, k as usize, &mut buf)
                        .ok_or_else(|| self.malformed(base, p))?;
                    next = k + 1;
                }
                // Further in the block being read: decode on.
                while next <= k {
                    next_entry(block, &mut pos, &mut buf, next == 0)
                        .ok_or_else(|| self.malformed(base, p))?;
                    next += 1;
                }
                if !f(l, &buf) {
                    return Ok(false);
                }
            }
            at = end;
        }
        Ok(true)
    }

    /// The local row of `id`, if this part has it.
    pub(crate) fn row_of_hashed(&self, base: &Base, id: &[u8], h: u64) -> Result<Option<u32>> {
        if let Some(c) = &self.counter {
            return Ok(c.local_of(id, base.num_ids));
        }
        if let Some(index) = &self.hash {
            return index.lookup(base, h, |local| {
                let p = (local / IDS_PER_PAGE) as usize;
                let pg = self.page(base, p)?;
                if pg.fixed {
                    // In place: no buffer, no decoding.
                    let i = local % IDS_PER_PAGE;
                    if i >= pg.count {
                        return Err(self.malformed(base, p));
                    }
                    return Ok(pg.fixed_is(i, id));
                }
                let mut same = false;
                self.for_each_local(base, &[local], |_, b| {
                    same = b == id;
                    false
                })?;
                Ok(same)
            });
        }
        let Some(p) = self.sorted_page(base, id)? else {
            return Ok(None);
        };
        let pg = self.page(base, p)?;
        match self.sorted_block(base, p, &pg, id, None)? {
            Some(b) => self.scan_block(base, p, &pg, b, id),
            None => Ok(None),
        }
    }
}
