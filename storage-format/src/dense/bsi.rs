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

/// What [`bsi_range`] does with one slice, from the bounds' bits there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Above the first bit where the bounds differ, both have this bit:
    /// every row must have it too (`m &= x`, or `m &= !x` for a 0).
    Prefix(bool),
    /// Below it, the bits of (hi, lo): the O'Neil & Quass updates of
    /// that case, written out (each is 2 to 6 operations a word instead
    /// of the general 10).
    Bits(bool, bool),
}

/// Words of a block that [`bsi_range`] keeps in registers.
const BLOCK: usize = 8;

/// The words `base..base + BLOCK` of a slice.
#[inline(always)]
fn block_of(s: Slice<'_>, base: usize) -> [u64; BLOCK] {
    let mut x = [0u64; BLOCK];
    match s {
        Slice::Bitmap(b) => {
            for i in 0..BLOCK {
                x[i] = word(b, base + i);
            }
        }
        Slice::Words(w) => x.copy_from_slice(&w[base..base + BLOCK]),
        Slice::Zero => {}
    }
    x
}

/// `out &= {rows whose value is in lo..=hi}`, the value's bit `j` being
/// `slices[j]` (at most 64 slices; bits above them are zero). O'Neil &
/// Quass, from the most significant bit: the rows equal to each bound's
/// prefix so far, and those already below the high bound or above the
/// low one.
///
/// - The slices above the first bit where the bounds differ only keep
///   the rows that have the bounds' bits there (one operation a word).
/// - Below it, each slice's update is the one for its pair of bound bits,
///   chosen once per slice rather than computed from the bounds per word.
/// - Low slices where both bounds end in their neutral bits (the high one
///   in 1s, the low one in 0s) cannot change the answer and are not read.
/// - The walk goes block by block (8 words) with every slice inside, so
///   the running sets of a block stay in registers; a block with no row of
///   `out` is skipped.
pub fn bsi_range(out: &mut Words, slices: &[Slice<'_>], lo: u64, hi: u64) {
    let n = slices.len().min(64);
    let top = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    if lo > hi || lo > top {
        out.fill(0);
        return;
    }
    let hi = hi.min(top);
    if lo == 0 && hi == top {
        return;
    }
    // Slices below `last` change nothing: the high bound's bits there are
    // all 1 and the low bound's all 0.
    let last = (hi.trailing_ones().min(lo.trailing_zeros()) as usize).min(n);
    let mut steps = [(Slice::Zero, Step::Prefix(false)); 64];
    let mut len = 0;
    let mut differed = false;
    for j in (last..n).rev() {
        let (h, l) = (hi >> j & 1 == 1, lo >> j & 1 == 1);
        steps[len] = (
            slices[j],
            if differed {
                Step::Bits(h, l)
            } else if h == l {
                Step::Prefix(h)
            } else {
                differed = true;
                Step::Bits(h, l)
            },
        );
        len += 1;
    }
    range_blocks(out, &steps[..len]);
}

crate::multiversion! {
fn range_blocks(out: &mut Words, steps: &[(Slice<'_>, Step)]) {
    for blk in 0..WORDS / BLOCK {
        let base = blk * BLOCK;
        let mut m = [0u64; BLOCK];
        m.copy_from_slice(&out[base..base + BLOCK]);
        if m.iter().fold(0, |a, &x| a | x) == 0 {
            continue;
        }
        let mut rest = steps;
        while let Some(&(s, Step::Prefix(bit))) = rest.first() {
            let x = block_of(s, base);
            let flip = 0u64.wrapping_sub(u64::from(!bit));
            for i in 0..BLOCK {
                m[i] &= x[i] ^ flip;
            }
            rest = &rest[1..];
        }
        let (mut eq_hi, mut lt_hi, mut eq_lo, mut gt_lo) = (m, [0u64; BLOCK], m, [0u64; BLOCK]);
        for &(s, step) in rest {
            let x = block_of(s, base);
            match step {
                Step::Bits(true, true) => {
                    for i in 0..BLOCK {
                        lt_hi[i] |= eq_hi[i] & !x[i];
                        eq_hi[i] &= x[i];
                        eq_lo[i] &= x[i];
                    }
                }
                Step::Bits(true, false) => {
                    for i in 0..BLOCK {
                        lt_hi[i] |= eq_hi[i] & !x[i];
                        eq_hi[i] &= x[i];
                        gt_lo[i] |= eq_lo[i] & x[i];
                        eq_lo[i] &= !x[i];
                    }
                }
                Step::Bits(false, true) => {
                    for i in 0..BLOCK {
                        eq_hi[i] &= !x[i];
                        eq_lo[i] &= x[i];
                    }
                }
                Step::Bits(false, false) => {
                    for i in 0..BLOCK {
                        eq_hi[i] &= !x[i];
                        gt_lo[i] |= eq_lo[i] & x[i];
                        eq_lo[i] &= !x[i];
                    }
                }
                // Only the first steps are prefixes.
                Step::Prefix(_) => {}
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
