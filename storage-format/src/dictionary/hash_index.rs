//! The compact hash index of version 2 dictionary parts whose ids do not
//! increase in row order: external id -> local row.
//!
//! A table of `num_slots` (about 1.25 per id, any number: a slot is chosen
//! by multiply-shift of the [`hash_id`](super::hash_id), not by a mask) of
//! `slot_bytes` bytes each, little-endian: the low `row_bits` bits hold the
//! local row + 1 (0 = empty), `row_bits` = the bits of `num_ids`, the rest
//! of the slot a fingerprint (the hash's low bits). Linear probing, wrapping
//! at the end. Slots are stored [`SLOTS_PER_PAGE`] to a `TAG_SLOTS` block,
//! each checksummed like every block. A lookup compares fingerprints, then
//! the candidate row's id (decoded from its page) with the id sought.

use crate::error::Result;

/// Slots per `TAG_SLOTS` block.
pub const SLOTS_PER_PAGE: u64 = 1 << 14;

/// The shape of the index for `n` ids: `(num_slots, slot_bytes)`.
pub fn shape(n: usize) -> (u64, u32) {
    let n = n as u64;
    let num_slots = (n + n / 4).max(n + 1).max(8);
    (num_slots, slot_bytes_for(row_bits(n)))
}

/// Bits to hold `0..=n` (local row + 1, 0 for empty).
pub fn row_bits(n: u64) -> u32 {
    (64 - n.leading_zeros()).max(1)
}

/// Bytes of a slot: the row bits and at least 8 bits of fingerprint.
pub fn slot_bytes_for(row_bits: u32) -> u32 {
    (row_bits + 8).div_ceil(8)
}

/// The first slot probed for hash `h`.
#[inline]
pub fn home_slot(h: u64, num_slots: u64) -> u64 {
    ((u128::from(h) * u128::from(num_slots)) >> 64) as u64
}

/// The fingerprint of `h` in `bits` bits.
#[inline]
fn fingerprint(h: u64, bits: u32) -> u64 {
    h & ((1u64 << bits) - 1)
}

/// Builds the table for ids with these hashes (local row = index), as
/// `num_slots * slot_bytes` bytes.
pub fn build(hashes: &[u64], num_slots: u64, slot_bytes: u32) -> Vec<u8> {
    let rb = row_bits(hashes.len() as u64);
    let fp_bits = slot_bytes * 8 - rb;
    let mut slots = vec![0u64; num_slots as usize];
    for (i, &h) in hashes.iter().enumerate() {
        let mut s = home_slot(h, num_slots) as usize;
        while slots[s] != 0 {
            s += 1;
            if s == slots.len() {
                s = 0;
            }
        }
        slots[s] = (i as u64 + 1) | (fingerprint(h, fp_bits) << rb);
    }
    let w = slot_bytes as usize;
    let mut out = Vec::with_capacity(slots.len() * w);
    for s in slots {
        out.extend_from_slice(&s.to_le_bytes()[..w]);
    }
    out
}

/// A hash index as read: its shape and the blocks of its pages.
#[derive(Debug)]
pub(crate) struct HashIndex {
    pub(crate) num_slots: u64,
    pub(crate) slot_bytes: u32,
    pub(crate) row_bits: u32,
    pub(crate) blocks: Vec<usize>,
}

impl HashIndex {
    /// The expected length of page `p`.
    pub(crate) fn page_len(&self, p: usize) -> usize {
        let first = p as u64 * SLOTS_PER_PAGE;
        ((self.num_slots - first).min(SLOTS_PER_PAGE) * u64::from(self.slot_bytes)) as usize
    }

    /// The bytes of page `p`, validated the first time.
    fn page<'a>(&self, base: &'a super::Base, p: usize) -> Result<&'a [u8]> {
        let want = self.page_len(p);
        base.file.block_validated(self.blocks[p], |b| {
            if b.len() != want {
                return Err((0, format!("hash page of {} bytes, not {want}", b.len())));
            }
            Ok(())
        })
    }

    /// The first slot probed for `h`.
    #[inline]
    pub(crate) fn home(&self, h: u64) -> u64 {
        home_slot(h, self.num_slots)
    }

    /// Prefetches the cache line of slot `s` (so that the slots of a batch
    /// of lookups are fetched together, before any is probed).
    pub(crate) fn prefetch(&self, base: &super::Base, s: u64) -> Result<()> {
        let b = self.page(base, (s / SLOTS_PER_PAGE) as usize)?;
        crate::cpu::prefetch(b, (s % SLOTS_PER_PAGE) as usize * self.slot_bytes as usize);
        Ok(())
    }

    /// Probes from slot `s` (taking at most `*budget` slots, which it
    /// decreases) for the next slot with `h`'s fingerprint: the candidate's
    /// local row and its slot, or `None` at an empty slot (or once every
    /// slot has been probed).
    pub(crate) fn probe(
        &self,
        base: &super::Base,
        h: u64,
        mut s: u64,
        budget: &mut u64,
    ) -> Result<Option<(u32, u64)>> {
        let fp = fingerprint(h, self.slot_bytes * 8 - self.row_bits);
        let row_mask = (1u64 << self.row_bits) - 1;
        let w = self.slot_bytes as usize;
        let mut page = usize::MAX;
        let mut b: &[u8] = &[];
        while *budget > 0 {
            *budget -= 1;
            let p = (s / SLOTS_PER_PAGE) as usize;
            if p != page {
                b = self.page(base, p)?;
                page = p;
            }
            let at = (s % SLOTS_PER_PAGE) as usize * w;
            let mut x = [0u8; 8];
            x[..w].copy_from_slice(&b[at..at + w]);
            let slot = u64::from_le_bytes(x);
            let row = slot & row_mask;
            if row == 0 {
                return Ok(None);
            }
            if slot >> self.row_bits == fp {
                if row > u64::from(base.num_ids) {
                    return Err(base.corrupt(
                        base.file.entry(self.blocks[p]).offset + at as u64,
                        "hash slot names a row past the part's end",
                    ));
                }
                return Ok(Some((row as u32 - 1, s)));
            }
            s += 1;
            if s == self.num_slots {
                s = 0;
            }
        }
        Ok(None)
    }

    /// The local row of the id with hash `h`, if `same(local)` says a
    /// candidate (same fingerprint) is it.
    pub(crate) fn lookup(
        &self,
        base: &super::Base,
        h: u64,
        mut same: impl FnMut(u32) -> Result<bool>,
    ) -> Result<Option<u32>> {
        let mut budget = self.num_slots;
        let mut s = self.home(h);
        while let Some((local, at)) = self.probe(base, h, s, &mut budget)? {
            if same(local)? {
                return Ok(Some(local));
            }
            s = if at + 1 == self.num_slots { 0 } else { at + 1 };
        }
        Ok(None)
    }
}
