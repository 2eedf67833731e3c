//! Fixed-width ids pages: for a part whose ids are not increasing and all
//! have one length (UUIDs, hashes, most CRM ids), a page may store its
//! common prefix once and then each id's remaining bytes at `i × width`,
//! when that is no larger than front coding. Id `i` is then read in place:
//! no block offset, no headers walked, one cache line or two.
//!
//! A page: `count` u32, [`FIXED_PAGE`] u32 (where a front-coded page has
//! its block count), `cp` u32, `width` u32, the `cp` bytes of the prefix,
//! then `count × width` bytes. The part's flags say pages may be fixed
//! ([`FIXED`](super::FIXED)), so that a reader without them refuses it.

use super::{common_prefix, get_u32, Page};
use crate::dictionary::MAX_ID_LEN;

/// The word that marks a fixed-width page, where a front-coded one has
/// its block count (which is at most 8,192).
pub(super) const FIXED_PAGE: u32 = u32::MAX;
/// Bytes before a fixed-width page's prefix.
const HEADER: usize = 16;

/// The fixed-width encoding of a page whose ids all have one length, if
/// they do.
pub(super) fn encode(ids: &[&str]) -> Option<Vec<u8>> {
    let len = ids.first()?.len();
    if ids.iter().any(|id| id.len() != len) {
        return None;
    }
    let cp = common_prefix(ids);
    let width = len - cp;
    let mut out = Vec::with_capacity(HEADER + cp + ids.len() * width);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    out.extend_from_slice(&FIXED_PAGE.to_le_bytes());
    out.extend_from_slice(&(cp as u32).to_le_bytes());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&ids[0].as_bytes()[..cp]);
    for id in ids {
        out.extend_from_slice(&id.as_bytes()[cp..]);
    }
    Some(out)
}

/// Whether page bytes `b` are a fixed-width page (at least 8 bytes).
pub(super) fn is_fixed(b: &[u8]) -> bool {
    get_u32(b, 4) == FIXED_PAGE
}

/// Checks a fixed-width page of `count` ids: its header, that the ids are
/// at most [`MAX_ID_LEN`] bytes and that its length is exactly theirs.
pub(super) fn validate(b: &[u8], count: u32) -> std::result::Result<(), (usize, String)> {
    if b.len() < HEADER {
        return Err((0, "fixed-width ids page truncated".into()));
    }
    let (cp, width) = (get_u32(b, 8) as usize, get_u32(b, 12) as usize);
    if cp > MAX_ID_LEN || width > MAX_ID_LEN - cp {
        return Err((8, format!("fixed-width ids of {cp} + {width} bytes")));
    }
    if b.len() != HEADER + cp + count as usize * width {
        return Err((
            12,
            format!(
                "fixed-width ids page of {} bytes for {count} ids of {cp} + {width}",
                b.len()
            ),
        ));
    }
    Ok(())
}

impl<'a> Page<'a> {
    /// The prefix every id of a fixed-width page starts with.
    #[inline]
    pub(super) fn prefix(&self) -> &'a [u8] {
        &self.b[HEADER..HEADER + self.cp]
    }

    /// Where id `i`'s bytes after the prefix start (a fixed-width page).
    #[inline]
    pub(super) fn fixed_at(&self, i: u32) -> usize {
        HEADER + self.cp + i as usize * self.width
    }

    /// Id `i`'s bytes after the prefix (a fixed-width page, `i < count`).
    #[inline]
    pub(super) fn suffix(&self, i: u32) -> &'a [u8] {
        let at = self.fixed_at(i);
        &self.b[at..at + self.width]
    }

    /// Whether id `i` of a fixed-width page is `id`.
    #[inline]
    pub(super) fn fixed_is(&self, i: u32, id: &[u8]) -> bool {
        id.len() == self.cp + self.width
            && id[self.cp..] == *self.suffix(i)
            && id[..self.cp] == *self.prefix()
    }

    /// Prefetches the cache lines of id `i` (a fixed-width page).
    #[inline]
    pub(super) fn prefetch_fixed(&self, i: u32) {
        let at = self.fixed_at(i);
        crate::cpu::prefetch(self.b, at);
        crate::cpu::prefetch(self.b, at + self.width.saturating_sub(1));
    }
}

#[cfg(test)]
impl super::V2 {
    /// How many pages are fixed-width (tests).
    pub(crate) fn fixed_pages(&self, base: &crate::dictionary::Base) -> crate::Result<usize> {
        let mut n = 0;
        for p in 0..base.num_ids.div_ceil(crate::dictionary::IDS_PER_PAGE) as usize {
            if self.counter.is_none() && self.page(base, p)?.fixed {
                n += 1;
            }
        }
        Ok(n)
    }
}
