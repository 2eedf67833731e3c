//! Dense 65,536-bit chunks (1,024 `u64` words) and their operations with
//! containers read in place. Expression evaluation works one chunk at a time
//! so that every intermediate stays in the L1/L2 cache.

use crate::bitmap::Container;

/// Words in a chunk.
pub const WORDS: usize = 1024;
/// A dense chunk: bit `i` of word `w` is row `64w + i` of the chunk.
pub type Words = [u64; WORDS];

#[inline]
fn word_at(b: &[u8], w: usize) -> u64 {
    let s = &b[w * 8..w * 8 + 8];
    u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
}

#[inline]
fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[2 * i], b[2 * i + 1]])
}

/// Sets bits `start..=end` (inclusive, both < 65,536).
#[inline]
pub fn set_range(dst: &mut Words, start: u32, end: u32) {
    let (sw, ew) = ((start / 64) as usize, (end / 64) as usize);
    let smask = !0u64 << (start % 64);
    let emask = !0u64 >> (63 - end % 64);
    if sw == ew {
        dst[sw] |= smask & emask;
    } else {
        dst[sw] |= smask;
        for w in &mut dst[sw + 1..ew] {
            *w = !0;
        }
        dst[ew] |= emask;
    }
}

/// Sets the first `n` bits (n <= 65,536) and clears the rest.
pub fn fill_prefix(dst: &mut Words, n: u32) {
    dst.fill(0);
    if n > 0 {
        set_range(dst, 0, n - 1);
    }
}

/// `dst = c`.
pub fn load(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Bitmap(b) => {
            for (w, d) in dst.iter_mut().enumerate() {
                *d = word_at(b, w);
            }
        }
        _ => {
            dst.fill(0);
            or_with(dst, c);
        }
    }
}

/// `dst |= c`.
pub fn or_with(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Array(b) => {
            for v in b.chunks_exact(2) {
                let v = u16::from_le_bytes([v[0], v[1]]);
                dst[usize::from(v >> 6)] |= 1 << (v & 63);
            }
        }
        Container::Bitmap(b) => {
            for (w, d) in dst.iter_mut().enumerate() {
                *d |= word_at(b, w);
            }
        }
        Container::Run(b) => {
            for r in b.chunks_exact(4) {
                let start = u32::from(u16::from_le_bytes([r[0], r[1]]));
                let len = u32::from(u16::from_le_bytes([r[2], r[3]]));
                set_range(dst, start, start + len);
            }
        }
    }
}

/// `dst &= c`.
pub fn and_with(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Array(b) => {
            let n = b.len() / 2;
            let mut i = 0;
            for (w, d) in dst.iter_mut().enumerate() {
                let mut m = 0u64;
                while i < n && usize::from(u16_at(b, i) >> 6) == w {
                    m |= 1 << (u16_at(b, i) & 63);
                    i += 1;
                }
                *d &= m;
            }
        }
        Container::Bitmap(b) => {
            for (w, d) in dst.iter_mut().enumerate() {
                *d &= word_at(b, w);
            }
        }
        Container::Run(_) => {
            let mut tmp = [0u64; WORDS];
            or_with(&mut tmp, c);
            and(dst, &tmp);
        }
    }
}

/// `dst &= !c`.
pub fn andnot_with(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Array(b) => {
            for v in b.chunks_exact(2) {
                let v = u16::from_le_bytes([v[0], v[1]]);
                dst[usize::from(v >> 6)] &= !(1 << (v & 63));
            }
        }
        Container::Bitmap(b) => {
            for (w, d) in dst.iter_mut().enumerate() {
                *d &= !word_at(b, w);
            }
        }
        Container::Run(_) => {
            let mut tmp = [0u64; WORDS];
            or_with(&mut tmp, c);
            andnot(dst, &tmp);
        }
    }
}

/// `dst &= src`.
#[inline]
pub fn and(dst: &mut Words, src: &Words) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d &= *s;
    }
}

/// `dst |= src`.
#[inline]
pub fn or(dst: &mut Words, src: &Words) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d |= *s;
    }
}

/// `dst &= !src`.
#[inline]
pub fn andnot(dst: &mut Words, src: &Words) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d &= !*s;
    }
}

/// The number of set bits.
#[inline]
pub fn count(words: &Words) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// The number of set bits of `a & b`, without writing anything.
#[inline]
pub fn and_count(a: &Words, b: &Words) -> u64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| u64::from((x & y).count_ones()))
        .sum()
}

/// The number of values of `c` that are set in `words`.
pub fn and_count_with(words: &Words, c: Container<'_>) -> u64 {
    match c {
        Container::Array(b) => b
            .chunks_exact(2)
            .filter(|v| {
                let v = u16::from_le_bytes([v[0], v[1]]);
                words[usize::from(v >> 6)] & (1 << (v & 63)) != 0
            })
            .count() as u64,
        Container::Bitmap(b) => words
            .iter()
            .enumerate()
            .map(|(w, x)| u64::from((x & word_at(b, w)).count_ones()))
            .sum(),
        Container::Run(_) => {
            let mut tmp = [0u64; WORDS];
            or_with(&mut tmp, c);
            and_count(words, &tmp)
        }
    }
}

/// Calls `f(w, words[w] & c[w])` for each word `w` where the two share a
/// bit, without loading `c` into words: an array container costs its
/// values, a bitmap container one pass reading it in place (what
/// extracting a segment's INT values does per bit slice).
pub fn for_each_and(words: &Words, c: Container<'_>, mut f: impl FnMut(usize, u64)) {
    match c {
        Container::Array(b) => {
            for v in b.chunks_exact(2) {
                let v = u16::from_le_bytes([v[0], v[1]]);
                let (w, bit) = (usize::from(v >> 6), 1u64 << (v & 63));
                if words[w] & bit != 0 {
                    f(w, bit);
                }
            }
        }
        Container::Bitmap(b) => {
            for (w, &x) in words.iter().enumerate() {
                let m = x & word_at(b, w);
                if m != 0 {
                    f(w, m);
                }
            }
        }
        Container::Run(_) => {
            let mut tmp = [0u64; WORDS];
            or_with(&mut tmp, c);
            for (w, (&x, &y)) in words.iter().zip(tmp.iter()).enumerate() {
                let m = x & y;
                if m != 0 {
                    f(w, m);
                }
            }
        }
    }
}

/// Whether no bit is set.
#[inline]
pub fn is_empty(words: &Words) -> bool {
    words.iter().all(|&w| w == 0)
}

/// Calls `f` with every set bit, in increasing order.
#[inline]
pub fn for_each_set(words: &Words, mut f: impl FnMut(u16)) {
    for (w, &word) in words.iter().enumerate() {
        let mut x = word;
        while x != 0 {
            let t = x.trailing_zeros();
            f((w as u32 * 64 + t) as u16);
            x &= x - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitmap::{serialize_sorted, RoaringView};
    use std::collections::BTreeSet;

    fn words_of(set: &BTreeSet<u16>) -> Box<Words> {
        let mut w = Box::new([0u64; WORDS]);
        for &v in set {
            w[usize::from(v >> 6)] |= 1 << (v & 63);
        }
        w
    }

    fn sets() -> Vec<BTreeSet<u16>> {
        let mut out = vec![
            BTreeSet::new(),
            (0..=65535).collect(),
            (100..5000).collect(),
            (0..65535).step_by(3).map(|v| v as u16).collect(),
            [0u16, 63, 64, 65535].into_iter().collect(),
        ];
        out.push((0..4096).map(|v| (v * 7) as u16).collect());
        out.push((0..4097).map(|v| (v * 7) as u16).collect());
        out
    }

    #[test]
    fn ops_agree_with_btreeset_for_every_container_kind() {
        for a in sets() {
            for b in sets() {
                let bytes = serialize_sorted(b.iter().map(|&v| u32::from(v)));
                let view = RoaringView::new(&bytes).unwrap();
                let c = view.container(0);
                let wa = words_of(&a);
                let mut d = wa.clone();
                match c {
                    Some(c) => {
                        and_with(&mut d, c);
                        assert_eq!(*d, *words_of(&a.intersection(&b).copied().collect()));
                        assert_eq!(and_count_with(&wa, c), a.intersection(&b).count() as u64);
                        let mut d = wa.clone();
                        or_with(&mut d, c);
                        assert_eq!(*d, *words_of(&a.union(&b).copied().collect()));
                        let mut d = wa.clone();
                        andnot_with(&mut d, c);
                        assert_eq!(*d, *words_of(&a.difference(&b).copied().collect()));
                        let mut d = wa.clone();
                        load(&mut d, c);
                        assert_eq!(*d, *words_of(&b));
                    }
                    None => assert!(b.is_empty()),
                }
                assert_eq!(count(&wa), a.len() as u64);
            }
        }
    }

    #[test]
    fn ranges() {
        let mut w = Box::new([0u64; WORDS]);
        set_range(&mut w, 5, 5);
        set_range(&mut w, 60, 130);
        assert_eq!(count(&w), 1 + 71);
        fill_prefix(&mut w, 65536);
        assert_eq!(count(&w), 65536);
        fill_prefix(&mut w, 65);
        assert_eq!(count(&w), 65);
        fill_prefix(&mut w, 0);
        assert!(is_empty(&w));
    }
}
