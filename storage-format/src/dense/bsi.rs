//! Kernels over the bit slices of an INT field's chunk: a range (O'Neil &
//! Quass) and the values of a set of rows, both a block of words at a
//! time with every slice inside.

use super::{word, Words, WORDS};

/// One bit slice of a bit-sliced integer for [`bsi_range`]: a bitmap
/// container read in place, words loaded from another container, or no
/// rows with the bit.
#[derive(Debug, Clone, Copy)]
pub enum Slice<'a> {
    /// A bitmap container's bytes.
    Bitmap(&'a [u8; WORDS * 8]),
    /// Words (an array or run container loaded with [`load`](super::load)).
    Words(&'a Words),
    /// No row has this bit.
    Zero,
}

/// Words of a block that [`bsi_range`] keeps in registers.
const BLOCK: usize = 8;

crate::multiversion! {
/// `out &= {rows whose value is in lo..=hi}`, the value's bit `j` being
/// `slices[j]` (O'Neil & Quass: from the most significant bit, the rows
/// equal to each bound's prefix so far and those already below the high
/// bound or above the low one). The walk goes block by block (8 words)
/// with every slice inside, so the four running sets of a block stay in
/// registers instead of four chunks read and written once per slice; a
/// block with no row of `out` is skipped.
pub fn bsi_range(out: &mut Words, slices: &[Slice<'_>], lo: u64, hi: u64) {
    for blk in 0..WORDS / BLOCK {
        let base = blk * BLOCK;
        let mut m = [0u64; BLOCK];
        m.copy_from_slice(&out[base..base + BLOCK]);
        if m.iter().fold(0, |a, &x| a | x) == 0 {
            continue;
        }
        let (mut eq_hi, mut lt_hi, mut eq_lo, mut gt_lo) = (m, [0u64; BLOCK], m, [0u64; BLOCK]);
        for j in (0..slices.len()).rev() {
            let mut x = [0u64; BLOCK];
            match slices[j] {
                Slice::Bitmap(b) => {
                    for i in 0..BLOCK {
                        x[i] = word(b, base + i);
                    }
                }
                Slice::Words(w) => {
                    x.copy_from_slice(&w[base..base + BLOCK]);
                }
                Slice::Zero => {}
            }
            // All ones where the bound's bit is set.
            let hb = 0u64.wrapping_sub(hi.checked_shr(j as u32).unwrap_or(0) & 1);
            let lb = 0u64.wrapping_sub(lo.checked_shr(j as u32).unwrap_or(0) & 1);
            for i in 0..BLOCK {
                lt_hi[i] |= eq_hi[i] & !x[i] & hb;
                eq_hi[i] &= !(x[i] ^ hb);
                gt_lo[i] |= eq_lo[i] & x[i] & !lb;
                eq_lo[i] &= !(x[i] ^ lb);
            }
        }
        for i in 0..BLOCK {
            out[base + i] = m[i] & (lt_hi[i] | eq_hi[i]) & (gt_lo[i] | eq_lo[i]);
        }
    }
}
}

crate::multiversion! {
/// The values of the rows of `rows` from their bit slices (bit `j` from
/// `slices[j]`, at most 64), in row order: `out[i]` gets the value of
/// the `i`-th row (ORed in: `out` starts at zero; rows past its end are
/// not written). Word by word: each word's slice words are read once,
/// and only words with a row of `rows` are read at all, so a sparse set
/// of rows costs its rows times the slices, not the slices' words.
pub fn slice_values(rows: &Words, slices: &[Slice<'_>], out: &mut [u64]) {
    let n = slices.len().min(64);
    let mut xs = [0u64; 64];
    let mut i = 0usize;
    for w in 0..WORDS {
        let a = rows[w];
        if a == 0 {
            continue;
        }
        for j in 0..n {
            xs[j] = a & match slices[j] {
                Slice::Bitmap(b) => word(b, w),
                Slice::Words(x) => x[w],
                Slice::Zero => 0,
            };
        }
        let mut m = a;
        while m != 0 {
            let p = m.trailing_zeros();
            let mut v = 0u64;
            for j in 0..n {
                v |= (xs[j] >> p & 1) << j;
            }
            if let Some(o) = out.get_mut(i) {
                *o |= v;
            }
            i += 1;
            m &= m - 1;
        }
    }
}
}
