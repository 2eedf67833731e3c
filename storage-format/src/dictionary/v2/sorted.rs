//! Id -> row in version 2 parts whose ids increase: the pages are their
//! own index. FIRSTS gives the page, the page's keys the block, and the
//! block is scanned.

use std::cmp::Ordering;

use super::{block_first, get_u32, key_of, next_entry, validate_firsts, Page, BLOCK_IDS, V2};
use crate::dictionary::{Base, IDS_PER_PAGE};
use crate::error::Result;

impl V2 {
    /// The page that may hold `id` in a part whose ids increase (`None`:
    /// absent: before the first id, after the last, or no ids).
    pub(super) fn sorted_page(&self, base: &Base, id: &[u8]) -> Result<Option<usize>> {
        let Some(fi) = self.firsts else {
            return Ok(None);
        };
        if base.num_ids == 0 {
            return Ok(None);
        }
        let pages = self.ids_blocks.len();
        let fb = base
            .file
            .block_validated(fi, |b| validate_firsts(b, pages + 1))?;
        let data = 4 + 4 * (pages + 2);
        let first = |j: usize| {
            let s = get_u32(fb, 4 + 4 * j) as usize;
            let e = get_u32(fb, 8 + 4 * j) as usize;
            &fb[data + s..data + e]
        };
        if id < first(0) || id > first(pages) {
            return Ok(None);
        }
        // The last page whose first id is not past `id` (page 0's is not):
        // found by the ids' keys (8 bytes after the prefix all ids share,
        // as numbers: no call to compare bytes, kept after the first
        // lookup), then among pages of the same key by their first ids.
        let (cp, keys) = self.first_keys.get_or_init(|| {
            let (a, b) = (first(0), first(pages));
            let cp = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            (cp, (0..=pages).map(|j| key_of(first(j), cp)).collect())
        });
        let key = key_of(id, *cp);
        let mid_keys = &keys[1..pages];
        let mut lo = 1 + mid_keys.partition_point(|&k| k < key);
        let mut hi = 1 + mid_keys.partition_point(|&k| k <= key);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if first(mid) <= id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo - 1))
    }

    /// The block of keyed page `p` that may hold `id` (`None`: absent,
    /// the page's ids all start otherwise).
    pub(super) fn sorted_block(
        &self,
        base: &Base,
        p: usize,
        pg: &Page<'_>,
        id: &[u8],
        top: Option<usize>,
    ) -> Result<Option<usize>> {
        let malformed = || self.malformed(base, p);
        let cp = pg.cp;
        if !id.starts_with(&block_first(pg.block(0)).ok_or_else(malformed)?[..cp]) {
            // Every id of the page starts with these bytes.
            return Ok(None);
        }
        // Blocks whose key is below the id's start below it; above, above.
        let key = key_of(id, cp);
        let top = top.unwrap_or_else(|| pg.top_partition(&|k| k < key));
        let mut lo = pg.partition_run(top, |k| k < key);
        // The blocks of the same key (consecutive; usually none): their
        // end found by galloping, then they are compared by first id.
        let mut hi = lo;
        if lo < pg.nblocks && pg.key(lo) == key {
            let mut step = 1;
            while hi + step < pg.nblocks && pg.key(hi + step) == key {
                hi += step;
                step *= 2;
            }
            // Block hi has the key; hi + step (if any) has not.
            let mut end = (hi + step).min(pg.nblocks);
            hi += 1;
            while hi < end {
                let mid = (hi + end) / 2;
                if pg.key(mid) == key {
                    hi = mid + 1;
                } else {
                    end = mid;
                }
            }
        }
        while lo < hi {
            let mid = (lo + hi) / 2;
            if block_first(pg.block(mid)).ok_or_else(malformed)? <= id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Block 0's key is never above the key of an id with the page's
        // prefix that is not before the page's first id.
        Ok(lo.checked_sub(1))
    }

    /// The local row of `id` in block `b` of keyed page `p`.
    pub(super) fn scan_block(
        &self,
        base: &Base,
        p: usize,
        pg: &Page<'_>,
        b: usize,
        id: &[u8],
    ) -> Result<Option<u32>> {
        let block = pg.block(b);
        let n = (pg.count - b as u32 * BLOCK_IDS).min(BLOCK_IDS);
        let (mut pos, mut buf) = (0, Vec::with_capacity(64));
        for k in 0..n {
            next_entry(block, &mut pos, &mut buf, k == 0).ok_or_else(|| self.malformed(base, p))?;
            match buf.as_slice().cmp(id) {
                Ordering::Equal => {
                    return Ok(Some(p as u32 * IDS_PER_PAGE + b as u32 * BLOCK_IDS + k));
                }
                Ordering::Greater => return Ok(None),
                Ordering::Less => {}
            }
        }
        Ok(None)
    }
}
