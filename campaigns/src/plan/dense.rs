//! The split of a dense shard of an audience (most of its 2^20 rows in
//! the audience, as a campaign to a whole table is): every row of the
//! shard is hashed in a loop with no iterator and no branch, 64 rows to a
//! word, and the groups are then intersected with the audience. Listing the
//! audience row by row through Roaring's iterator, and storing each row's
//! bit into a group picked at run time, cost more than the hashing.
//!
//! A row's variant is the count of the variant bounds its draw reaches:
//! `c <= (draw * total) >> 32` (the cumulative weight `c` against the
//! scaled draw, as [`super::pick`] does) holds exactly when `draw >=
//! ceil(c * 2^32 / total)`, so the bounds are computed once and each row
//! costs comparisons, not a multiplication and a walk.

use roaring::RoaringBitmap;

use super::{mix, SHARD_BITS};

/// The most variants the dense path takes (`B = variants - 1` bounds, one
/// register each); more go the general way.
pub(super) const MAX_DENSE_VARIANTS: usize = 8;

/// Words of 64 rows in a shard.
const WORDS: usize = 1 << (SHARD_BITS - 6);

/// The draw bounds of the variants after the first: variant `v` (0-based)
/// takes the draws in `[bounds[v - 1], bounds[v])`.
pub(super) fn bounds(cumulative: &[u64]) -> Vec<u64> {
    let total = *cumulative.last().unwrap_or(&1);
    let n = cumulative.len();
    cumulative[..n.saturating_sub(1)]
        .iter()
        .map(|&c| (c << 32).div_ceil(total))
        .collect()
}

/// The hold-out and the variants of `audience`'s rows in the shard
/// starting at row `lo`, hashing every row of the shard. `bounds` has
/// `variants - 1` entries (at most `MAX_DENSE_VARIANTS - 1`).
pub(super) fn split_shard(
    campaign: u64,
    lo: u32,
    audience: &RoaringBitmap,
    threshold: u64,
    bounds: &[u64],
) -> Vec<RoaringBitmap> {
    match bounds.len() {
        0 => shard::<0>(campaign, lo, audience, threshold, bounds),
        1 => shard::<1>(campaign, lo, audience, threshold, bounds),
        2 => shard::<2>(campaign, lo, audience, threshold, bounds),
        3 => shard::<3>(campaign, lo, audience, threshold, bounds),
        4 => shard::<4>(campaign, lo, audience, threshold, bounds),
        5 => shard::<5>(campaign, lo, audience, threshold, bounds),
        6 => shard::<6>(campaign, lo, audience, threshold, bounds),
        _ => shard::<7>(campaign, lo, audience, threshold, bounds),
    }
}

fn shard<const B: usize>(
    campaign: u64,
    lo: u32,
    audience: &RoaringBitmap,
    threshold: u64,
    bounds: &[u64],
) -> Vec<RoaringBitmap> {
    let bound: [u64; B] = std::array::from_fn(|i| bounds[i]);
    // held[w]: the hold-out's bits of word w; reach[w][b]: the rows whose
    // draw reaches bound b (on the heap: up to 1 MiB a shard).
    let mut held = vec![0u64; WORDS];
    let mut reach: Vec<[u64; B]> = std::iter::repeat_n([0u64; B], WORDS).collect();
    for (w, (h_out, r_out)) in held.iter_mut().zip(reach.iter_mut()).enumerate() {
        let base = lo + ((w as u32) << 6);
        let mut h_bits = 0u64;
        let mut r_bits = [0u64; B];
        for i in 0..64u32 {
            let h = mix(campaign, base + i);
            h_bits |= u64::from((h >> 32) < threshold) << i;
            let draw = h & 0xffff_ffff;
            for b in 0..B {
                r_bits[b] |= u64::from(draw >= bound[b]) << i;
            }
        }
        *h_out = h_bits;
        *r_out = r_bits;
    }
    let mut bytes = vec![0u8; WORDS * 8];
    let mut group = |word: &dyn Fn(usize) -> u64| {
        for (w, b) in bytes.chunks_exact_mut(8).enumerate() {
            b.copy_from_slice(&word(w).to_le_bytes());
        }
        let mut g = RoaringBitmap::from_lsb0_bytes(lo, &bytes);
        g &= audience;
        g
    };
    let mut out = Vec::with_capacity(B + 2);
    out.push(group(&|w| held[w]));
    for v in 0..=B {
        out.push(group(&|w| {
            let from = if v == 0 { u64::MAX } else { reach[w][v - 1] };
            let to = if v == B { 0 } else { reach[w][v] };
            from & !to & !held[w]
        }));
    }
    out
}
