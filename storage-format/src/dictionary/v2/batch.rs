//! Id -> row lookups of version 2 parts in batches (an IN list, an
//! uploaded id list, a batch of real-time writes). One lookup at a time
//! waits for each of its cache misses in turn: the hash slot, the page's
//! block offset, the block (or, for keyed pages, the run of keys, then the
//! block). Here the lookups of a batch take each step together, and the
//! memory the next step reads is prefetched for all of them before any
//! uses it, so that their misses overlap. The answers are those of
//! [`V2::row_of_hashed`], which a rare case (a fingerprint that matched
//! another id) falls back to.

use super::{decode_at, get_u64_be, key_of, off_at, Page, BLOCK_IDS, TOP, V2};
use crate::cpu::prefetch;
use crate::dictionary::hash_index::HashIndex;
use crate::dictionary::{Base, IDS_PER_PAGE};
use crate::error::Result;

/// Lookups taken through the steps together.
const LOOKUPS: usize = 32;

/// Prefetches every cache line of `b`.
#[inline]
pub(super) fn prefetch_all(b: &[u8]) {
    for at in (0..b.len()).step_by(64) {
        prefetch(b, at);
    }
    prefetch(b, b.len().wrapping_sub(1));
}

impl V2 {
    /// Whether lookups gain from batches (pages to read: not a counter).
    pub(crate) fn batches(&self) -> bool {
        self.counter.is_none()
    }

    /// Whether lookups use the ids' hashes (the hash index).
    pub(crate) fn uses_hash(&self) -> bool {
        self.hash.is_some()
    }

    /// The local row of each of `ids` (their hashes `hs`) into `out`; a
    /// part with pages ([`V2::batches`]).
    pub(crate) fn rows_of_batch(
        &self,
        base: &Base,
        ids: &[&[u8]],
        hs: &[u64],
        out: &mut [Option<u32>],
    ) -> Result<()> {
        for start in (0..ids.len()).step_by(LOOKUPS) {
            let end = (start + LOOKUPS).min(ids.len());
            let (ids, hs, out) = (&ids[start..end], &hs[start..end], &mut out[start..end]);
            match &self.hash {
                Some(index) => self.hashed(base, index, ids, hs, out)?,
                None => self.sorted(base, ids, out)?,
            }
        }
        Ok(())
    }

    /// Through the hash index: the home slots, then the candidates' block
    /// offsets, then their blocks, then the comparisons.
    fn hashed(
        &self,
        base: &Base,
        index: &HashIndex,
        ids: &[&[u8]],
        hs: &[u64],
        out: &mut [Option<u32>],
    ) -> Result<()> {
        for &h in hs {
            index.prefetch(base, index.home(h))?;
        }
        // The first candidate of each (the slot with its fingerprint), and
        // its page (found once, used by every step after).
        let mut cand = [None::<(u32, Page<'_>)>; LOOKUPS];
        for (c, &h) in cand.iter_mut().zip(hs) {
            let mut budget = index.num_slots;
            if let Some((l, _)) = index.probe(base, h, index.home(h), &mut budget)? {
                let p = (l / IDS_PER_PAGE) as usize;
                let pg = self.page(base, p)?;
                let i = l % IDS_PER_PAGE;
                if i >= pg.count {
                    return Err(self.malformed(base, p));
                }
                if pg.fixed {
                    pg.prefetch_fixed(i);
                } else {
                    prefetch(pg.b, off_at((i / BLOCK_IDS) as usize, false));
                }
                *c = Some((l, pg));
            }
        }
        let mut blocks: [&[u8]; LOOKUPS] = [&[]; LOOKUPS];
        for (b, c) in blocks.iter_mut().zip(&cand) {
            if let Some((l, pg)) = c.filter(|(_, pg)| !pg.fixed) {
                *b = pg.block(((l % IDS_PER_PAGE) / BLOCK_IDS) as usize);
                prefetch_all(b);
            }
        }
        let mut buf = Vec::with_capacity(64);
        for (k, o) in out.iter_mut().enumerate() {
            *o = match cand[k] {
                None => None,
                Some((l, pg)) => {
                    let same = if pg.fixed {
                        pg.fixed_is(l % IDS_PER_PAGE, ids[k])
                    } else {
                        decode_at(blocks[k], (l % BLOCK_IDS) as usize, &mut buf)
                            .ok_or_else(|| self.malformed(base, (l / IDS_PER_PAGE) as usize))?;
                        buf == ids[k]
                    };
                    if same {
                        Some(l)
                    } else {
                        // Another id with the same fingerprint: probed on
                        // one at a time.
                        self.row_of_hashed(base, ids[k], hs[k])?
                    }
                }
            };
        }
        Ok(())
    }

    /// Through keyed pages: the pages and their top-level keys (small and
    /// cached across lookups), then the runs of block keys, then the
    /// blocks.
    fn sorted(&self, base: &Base, ids: &[&[u8]], out: &mut [Option<u32>]) -> Result<()> {
        // Each lookup's page, and its search of the page's top-level keys.
        let mut search = Vec::with_capacity(ids.len());
        for id in ids {
            search.push(match self.sorted_page(base, id)? {
                Some(p) => {
                    let pg = self.page(base, p)?;
                    let key = key_of(id, pg.cp);
                    let hi = pg.nblocks.div_ceil(TOP);
                    Some(Search {
                        p,
                        pg,
                        key,
                        lo: 0,
                        hi,
                    })
                }
                None => None,
            });
        }
        // The searches a level at a time: each one's next key is
        // prefetched, then read at the next level.
        loop {
            let mut searching = false;
            for s in search.iter().flatten().filter(|s| s.lo < s.hi) {
                prefetch(s.pg.b, s.pg.top_at((s.lo + s.hi) / 2));
                searching = true;
            }
            if !searching {
                break;
            }
            for s in search.iter_mut().flatten().filter(|s| s.lo < s.hi) {
                let mid = (s.lo + s.hi) / 2;
                if get_u64_be(s.pg.b, s.pg.top_at(mid)) < s.key {
                    s.lo = mid + 1;
                } else {
                    s.hi = mid;
                }
            }
        }
        for s in search.iter().flatten() {
            prefetch_run(&s.pg, s.lo);
        }
        let mut blocks = [None::<(usize, usize)>; LOOKUPS];
        for ((b, s), id) in blocks.iter_mut().zip(&search).zip(ids) {
            if let Some(s) = s {
                *b = self
                    .sorted_block(base, s.p, &s.pg, id, Some(s.lo))?
                    .map(|b| (s.p, b));
                if let Some((_, b)) = *b {
                    prefetch_all(s.pg.block(b));
                }
            }
        }
        for ((o, b), id) in out.iter_mut().zip(&blocks).zip(ids) {
            *o = match *b {
                None => None,
                Some((p, b)) => {
                    let pg = self.page(base, p)?;
                    self.scan_block(base, p, &pg, b, id)?
                }
            };
        }
        Ok(())
    }
}

/// A lookup's search of a keyed page's top-level keys for the first one
/// not below `key` (as [`Page::top_partition`] does it, one lookup at a time).
struct Search<'a> {
    p: usize,
    pg: Page<'a>,
    key: u64,
    lo: usize,
    hi: usize,
}

/// Prefetches the keys (and offsets) of the blocks after top-level entry
/// `lo - 1`: the run that [`Page::partition_run`] scans.
fn prefetch_run(pg: &Page<'_>, lo: usize) {
    let (s, e) = ((lo.max(1) - 1) * TOP + 1, (lo * TOP).min(pg.nblocks));
    if s < e {
        prefetch_all(&pg.b[12 + 12 * s..12 + 12 * e]);
    }
}
