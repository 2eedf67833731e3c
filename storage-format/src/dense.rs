//! Dense 65,536-bit chunks (1,024 `u64` words) and their operations with
//! containers read in place. Expression evaluation works one chunk at a time
//! so that every intermediate stays in the L1/L2 cache.

// Index loops over fixed-size arrays on purpose: they have no bounds checks
// and vectorize, also in the `multiversion!`ed kernels, where iterator
// adapters (zip, enumerate, chunks_exact) were not inlined.
#![allow(clippy::needless_range_loop)]

use crate::bitmap::Container;

mod bsi;
#[cfg(target_arch = "x86_64")]
mod gather;

pub use bsi::{bsi_range, slice_values, Slice};

/// Words in a chunk.
pub const WORDS: usize = 1024;
/// A dense chunk: bit `i` of word `w` is row `64w + i` of the chunk.
pub type Words = [u64; WORDS];

/// Word `w` of a bitmap container's bytes: plain array indexing (`w <
/// WORDS` has no bounds check). An iterator adapter over the bytes
/// (`chunks_exact(8)` zipped with the words) was not inlined into the
/// loops, in the [`multiversion!`]ed kernels or out of them, and cost a
/// call per word.
///
/// [`multiversion!`]: crate::multiversion
#[inline(always)]
pub fn word(b: &[u8; WORDS * 8], w: usize) -> u64 {
    let i = w * 8;
    u64::from_le_bytes([
        b[i],
        b[i + 1],
        b[i + 2],
        b[i + 3],
        b[i + 4],
        b[i + 5],
        b[i + 6],
        b[i + 7],
    ])
}

/// A bitmap container's bytes as a fixed-size array (they are always
/// [`WORDS`]` * 8` bytes: the view checks it).
#[inline(always)]
pub fn bitmap_bytes(b: &[u8]) -> &[u8; WORDS * 8] {
    match b.try_into() {
        Ok(b) => b,
        Err(_) => panic!("a bitmap container of {} bytes", b.len()),
    }
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

/// Clears bits `start..=end` (inclusive, both < 65,536).
#[inline]
pub fn clear_range(dst: &mut Words, start: u32, end: u32) {
    let (sw, ew) = ((start / 64) as usize, (end / 64) as usize);
    let smask = !0u64 << (start % 64);
    let emask = !0u64 >> (63 - end % 64);
    if sw == ew {
        dst[sw] &= !(smask & emask);
    } else {
        dst[sw] &= !smask;
        dst[sw + 1..ew].fill(0);
        dst[ew] &= !emask;
    }
}

/// Sets the first `n` bits (n <= 65,536) and clears the rest.
pub fn fill_prefix(dst: &mut Words, n: u32) {
    dst.fill(0);
    if n > 0 {
        set_range(dst, 0, n - 1);
    }
}

/// Arrays of more values than this are ORed into (or cleared from) a
/// chunk through a scattered copy ([`scatter_array`] into zeros, then one
/// pass over the words) rather than a read-modify-write per value:
/// measured with `cargo bench -p segdb-benches --bench dense_kernels`, at
/// 4,096 and 2,048 values the copy is faster, at 1,024 about even, at 256
/// and below slower.
const SCATTER_FROM: usize = 1024;

/// The same for ANDs, whose step per value clears the words between
/// values: the copy is faster from 64 values on.
const SCATTER_AND_FROM: usize = 64;

/// Writes the values of the array container `b` into `out`, which is all
/// zeros: a plain store per value of its word's bits so far (the values
/// are sorted, so the last store to a word holds all of its bits). A
/// read-modify-write per value (`out[w] |= bit`) waits for the previous
/// one to the same word, and a full array has four values to a word.
/// The values go in two halves split where a word ends, a value of each
/// per step: each half's bits so far are a chain of dependent operations,
/// and two chains keep the core twice as busy.
#[inline(always)]
fn scatter_array(b: &[u8], out: &mut Words) {
    let (values, _) = b.as_chunks::<2>();
    let mut chains = [(usize::MAX, 0u64); 2];
    if values.len() < 128 {
        // One chain: the split costs 64 values 13% more.
        for v in values {
            scatter_step(&mut chains[0], v, out);
        }
        return;
    }
    let word_of = |v: &[u8; 2]| usize::from(u16::from_le_bytes(*v) >> 6);
    let mut mid = values.len() / 2;
    while mid > 0 && mid < values.len() && word_of(&values[mid]) == word_of(&values[mid - 1]) {
        mid += 1;
    }
    let (a, b) = values.split_at(mid);
    let both = a.len().min(b.len());
    for i in 0..both {
        scatter_step(&mut chains[0], &a[i], out);
        scatter_step(&mut chains[1], &b[i], out);
    }
    for v in &a[both..] {
        scatter_step(&mut chains[0], v, out);
    }
    for v in &b[both..] {
        scatter_step(&mut chains[1], v, out);
    }
}

/// One value of [`scatter_array`]: `chain` is the word written last and
/// its bits so far.
#[inline(always)]
fn scatter_step(chain: &mut (usize, u64), v: &[u8; 2], out: &mut Words) {
    let v = u16::from_le_bytes(*v);
    let (w, m) = chain;
    let vw = usize::from(v >> 6);
    let kept = if vw == *w { *m } else { 0 };
    *m = kept | (1u64 << (v & 63));
    out[vw] = *m;
    *w = vw;
}

/// The values of the array container `b` as a chunk.
#[inline(always)]
fn scattered(b: &[u8]) -> Words {
    let mut tmp = [0u64; WORDS];
    scatter_array(b, &mut tmp);
    tmp
}

/// `dst = c`.
pub fn load(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Bitmap(b) => {
            let b = bitmap_bytes(b);
            for (w, d) in dst.iter_mut().enumerate() {
                let x = word(b, w);
                *d = x;
            }
        }
        Container::Array(b) => {
            dst.fill(0);
            scatter_array(b, dst);
        }
        Container::Run(_) => {
            dst.fill(0);
            or_with(dst, c);
        }
    }
}

/// `dst |= c`.
pub fn or_with(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Array(b) if b.len() / 2 > SCATTER_FROM => or(dst, &scattered(b)),
        Container::Array(b) => {
            let (values, _) = b.as_chunks::<2>();
            for i in 0..values.len() {
                let v = u16::from_le_bytes(values[i]);
                dst[usize::from(v >> 6)] |= 1 << (v & 63);
            }
        }
        Container::Bitmap(b) => {
            let b = bitmap_bytes(b);
            for (w, d) in dst.iter_mut().enumerate() {
                let x = word(b, w);
                *d |= x;
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
        Container::Array(b) if b.len() / 2 > SCATTER_AND_FROM => and(dst, &scattered(b)),
        Container::Array(b) => {
            // Word by word of the values (sorted), clearing the words
            // between them a run at a time: a sparse array costs its
            // values and a memset, not a step per word.
            let n = b.len() / 2;
            let mut next = 0;
            let mut i = 0;
            while i < n {
                let w = usize::from(u16_at(b, i) >> 6);
                let mut m = 0u64;
                while i < n && usize::from(u16_at(b, i) >> 6) == w {
                    m |= 1 << (u16_at(b, i) & 63);
                    i += 1;
                }
                if let Some(gap) = dst.get_mut(next..w) {
                    gap.fill(0);
                }
                dst[w] &= m;
                next = next.max(w + 1);
            }
            dst[next..].fill(0);
        }
        Container::Bitmap(b) => {
            let b = bitmap_bytes(b);
            for (w, d) in dst.iter_mut().enumerate() {
                let x = word(b, w);
                *d &= x;
            }
        }
        Container::Run(b) => {
            // The gaps between the runs (sorted, disjoint) are cleared in
            // place: a run over the whole chunk (a column without nulls)
            // costs nothing.
            let mut next = 0u32;
            for r in b.chunks_exact(4) {
                let start = u32::from(u16::from_le_bytes([r[0], r[1]]));
                let len = u32::from(u16::from_le_bytes([r[2], r[3]]));
                if start > next {
                    clear_range(dst, next, start - 1);
                }
                next = next.max(start + len + 1);
            }
            if next < 65_536 {
                clear_range(dst, next, 65_535);
            }
        }
    }
}

/// `dst &= !c`.
pub fn andnot_with(dst: &mut Words, c: Container<'_>) {
    match c {
        Container::Array(b) if b.len() / 2 > SCATTER_FROM => andnot(dst, &scattered(b)),
        Container::Array(b) => {
            let (values, _) = b.as_chunks::<2>();
            for i in 0..values.len() {
                let v = u16::from_le_bytes(values[i]);
                dst[usize::from(v >> 6)] &= !(1 << (v & 63));
            }
        }
        Container::Bitmap(b) => {
            let b = bitmap_bytes(b);
            for (w, d) in dst.iter_mut().enumerate() {
                let x = word(b, w);
                *d &= !x;
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
    for w in 0..WORDS {
        dst[w] &= src[w];
    }
}

crate::multiversion! {
/// `dst &= a & b` for two bitmap containers, in one pass: both streams
/// are read at once, where two passes wait for each in turn.
pub fn and_with_bitmaps(dst: &mut Words, a: &[u8; WORDS * 8], b: &[u8; WORDS * 8]) {
    for w in 0..WORDS {
        dst[w] &= word(a, w) & word(b, w);
    }
}
}

crate::multiversion! {
/// `dst = a | b` for two bitmap containers, in one pass.
pub fn load_or_bitmaps(dst: &mut Words, a: &[u8; WORDS * 8], b: &[u8; WORDS * 8]) {
    for w in 0..WORDS {
        dst[w] = word(a, w) | word(b, w);
    }
}
}

crate::multiversion! {
/// `dst &= src | a | b` for two bitmap containers, in one pass.
pub fn and_with_union(dst: &mut Words, src: &Words, a: &[u8; WORDS * 8], b: &[u8; WORDS * 8]) {
    for w in 0..WORDS {
        dst[w] &= src[w] | word(a, w) | word(b, w);
    }
}
}

/// `dst |= src`.
#[inline]
pub fn or(dst: &mut Words, src: &Words) {
    for w in 0..WORDS {
        dst[w] |= src[w];
    }
}

/// `dst &= !src`.
#[inline]
pub fn andnot(dst: &mut Words, src: &Words) {
    for w in 0..WORDS {
        dst[w] &= !src[w];
    }
}

crate::multiversion! {
/// The number of set bits.
pub fn count(words: &Words) -> u64 {
    let mut n = 0u64;
    for w in 0..WORDS {
        n += u64::from(words[w].count_ones());
    }
    n
}
}

crate::multiversion! {
/// The number of set bits of `a & b`, without writing anything.
pub fn and_count(a: &Words, b: &Words) -> u64 {
    let mut n = 0u64;
    for w in 0..WORDS {
        n += u64::from((a[w] & b[w]).count_ones());
    }
    n
}
}

/// The number of values of `c` that are set in `words`. An array
/// container's values are tested eight at a time by AVX2 gathers where
/// the CPU runs the fast kernels (half the time of one test per value,
/// which is what insight's value counts spend most of theirs on).
pub fn and_count_with(words: &Words, c: Container<'_>) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if let Container::Array(b) = c {
        if crate::cpu::fast() {
            // SAFETY: `fast()` found AVX2 on this CPU.
            #[allow(unsafe_code)]
            return unsafe { gather::array_count_avx2(words, b) };
        }
    }
    and_count_with_any(words, c)
}

/// Writes the values of array container `b` (its bytes) that are set in
/// `words` to the start of `buf` and returns how many. With the fast
/// kernels, eight values per AVX2 gather, packed by a shuffle; otherwise
/// every value is written and the position advances by its bit (no jump
/// on an unpredictable bit). `buf` has room for any container.
pub fn filter_array(b: &[u8], words: &Words, buf: &mut [u16; 65_536]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::fast() && b.len() <= 2 * 4096 {
        if crate::cpu::avx512() {
            // SAFETY: `avx512()` found AVX-512 F, BW, VL and VBMI2, `fast()` POPCNT.
            #[allow(unsafe_code)]
            return unsafe { gather::filter_array_avx512(b, words, buf) };
        }
        // SAFETY: `fast()` found AVX2 and POPCNT on this CPU.
        #[allow(unsafe_code)]
        return unsafe { gather::filter_array_avx2(b, words, buf) };
    }
    let mut k = 0usize;
    let (values, _) = b.as_chunks::<2>();
    for v in values {
        let r = u16::from_le_bytes(*v);
        buf[k & 0xffff] = r;
        k += ((words[usize::from(r >> 6)] >> (r & 63)) & 1) as usize;
    }
    k
}

crate::multiversion! {
/// [`and_count_with`] without the gathers.
fn and_count_with_any(words: &Words, c: Container<'_>) -> u64 {
    match c {
        Container::Array(b) => {
            // Pairs of bytes indexed within their own length: no bounds
            // check per value (indexing the bytes had two).
            let (values, _) = b.as_chunks::<2>();
            let mut n = 0u64;
            for i in 0..values.len() {
                let v = u16::from_le_bytes(values[i]);
                n += (words[usize::from(v >> 6)] >> (v & 63)) & 1;
            }
            n
        }
        Container::Bitmap(b) => {
            let b = bitmap_bytes(b);
            let mut n = 0u64;
            for w in 0..WORDS {
                n += u64::from((words[w] & word(b, w)).count_ones());
            }
            n
        }
        Container::Run(_) => {
            let mut tmp = [0u64; WORDS];
            or_with(&mut tmp, c);
            and_count(words, &tmp)
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

/// Appends `base | r` for each set bit `r`, in order, to `out`. Without a
/// jump per bit or per word: each word writes its first four rows
/// unconditionally (past its own into slack that the next word overwrites
/// and the end cuts off) and advances by its number of rows; only a word
/// of more than four rows loops. A loop per set bit mispredicted on
/// about every word of a sparse chunk (an export's rows).
pub fn push_rows(words: &Words, base: u32, out: &mut Vec<u32>) {
    let start = out.len();
    let total = count(words) as usize;
    out.resize(start + total + 4, 0);
    let mut k = start;
    for w in 0..WORDS {
        let mut x = words[w];
        let n = x.count_ones() as usize;
        let b = base | (w as u32) << 6;
        let o = &mut out[k..k + 4];
        for slot in o.iter_mut() {
            *slot = b | (x.trailing_zeros() & 63);
            x &= x.wrapping_sub(1);
        }
        for slot in out[k + 4..k + n.max(4)].iter_mut() {
            *slot = b | x.trailing_zeros();
            x &= x - 1;
        }
        k += n;
    }
    out.truncate(start + total);
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
        // Arrays either side of the kernels' thresholds (SCATTER_FROM,
        // SCATTER_AND_FROM).
        for n in [
            SCATTER_AND_FROM,
            SCATTER_AND_FROM + 1,
            SCATTER_FROM,
            SCATTER_FROM + 1,
        ] {
            out.push((0..n).map(|v| (v * 61 % 65_536) as u16).collect());
        }
        // Several runs, touching both ends of the chunk.
        out.push(
            (0..10)
                .chain(64..128)
                .chain(500..600)
                .chain(65_000..=65_535)
                .collect(),
        );
        // Random sets of several densities (an LCG: no dependency).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for per_mille in [2, 40, 300, 700] {
            let mut set = BTreeSet::new();
            for v in 0..=65535u16 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                if (x >> 33) % 1000 < per_mille {
                    set.insert(v);
                }
            }
            out.push(set);
        }
        out
    }

    /// Both compilations of the [`multiversion!`](crate::multiversion)ed
    /// kernels (and the plain ones) agree with a set model.
    #[test]
    fn ops_agree_with_btreeset_for_every_container_kind() {
        for baseline in [true, false] {
            crate::cpu::force_baseline(baseline);
            ops_agree_with_btreeset();
        }
        crate::cpu::force_baseline(false);
    }

    fn ops_agree_with_btreeset() {
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
                        // Each vector kernel the CPU has, called directly.
                        #[cfg(target_arch = "x86_64")]
                        #[allow(unsafe_code)]
                        if let (Container::Array(bytes), true) = (c, crate::cpu::fast()) {
                            let want = a.intersection(&b).count() as u64;
                            // SAFETY: called only where `fast()` and
                            // `avx512()` found the features.
                            assert_eq!(unsafe { gather::array_count_avx2(&wa, bytes) }, want);
                        }
                        let mut d = wa.clone();
                        or_with(&mut d, c);
                        assert_eq!(*d, *words_of(&a.union(&b).copied().collect()));
                        let mut d = wa.clone();
                        andnot_with(&mut d, c);
                        assert_eq!(*d, *words_of(&a.difference(&b).copied().collect()));
                        let mut d = wa.clone();
                        load(&mut d, c);
                        assert_eq!(*d, *words_of(&b));
                        let both: Vec<u16> = a.intersection(&b).copied().collect();
                        assert_eq!(and_count(&wa, &words_of(&b)), both.len() as u64);
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
        fill_prefix(&mut w, 65536);
        clear_range(&mut w, 3, 3);
        clear_range(&mut w, 63, 200);
        clear_range(&mut w, 65_000, 65_535);
        assert_eq!(count(&w), 65_000 - 1 - 138);
        assert_eq!(w[0], !(1u64 << 3) & !(1u64 << 63));
    }

    /// `bsi_range` against the values themselves: rows with random values
    /// of `bits` bits (slices as bitmaps, loaded words, or absent), every
    /// universe density, bounds inside, at and past the values' range; both
    /// kernel versions.
    #[test]
    fn bsi_range_and_slice_values_agree_with_the_values() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for baseline in [false, true] {
            crate::cpu::force_baseline(baseline);
            for bits in [1usize, 3, 7, 17, 64] {
                let mask = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                let values: Vec<u64> = (0..65_536)
                    .map(|_| next() & mask & (next() >> (next() % 64)))
                    .collect();
                let mut slices_words = vec![Box::new([0u64; WORDS]); bits];
                for (r, &v) in values.iter().enumerate() {
                    for (j, s) in slices_words.iter_mut().enumerate() {
                        s[r / 64] |= (v >> j & 1) << (r % 64);
                    }
                }
                let bytes: Vec<Vec<u8>> = slices_words
                    .iter()
                    .map(|s| s.iter().flat_map(|w| w.to_le_bytes()).collect())
                    .collect();
                let slices: Vec<Slice<'_>> = (0..bits)
                    .map(|j| match j % 3 {
                        0 => Slice::Bitmap(bitmap_bytes(&bytes[j])),
                        _ if slices_words[j].iter().all(|&w| w == 0) => Slice::Zero,
                        _ => Slice::Words(&slices_words[j]),
                    })
                    .collect();
                for density in [0u32, 1, 8, 64] {
                    let mut universe = Box::new([0u64; WORDS]);
                    for (w, u) in universe.iter_mut().enumerate() {
                        *u = match density {
                            0 => 0,
                            64 => u64::MAX,
                            d if w % 97 < d as usize => next(),
                            _ => 0,
                        };
                    }
                    for _ in 0..24 {
                        let (a, b) = (next() & mask, next() & mask);
                        // Random bounds, and bounds with a long common
                        // prefix (one value; a block of 16 values).
                        let (lo, hi) = match next() % 6 {
                            0 => (0, a.max(b)),
                            1 => (a.min(b), mask),
                            2 => (a.max(b), a.min(b)),
                            3 => (a, a),
                            4 => (a & !15, (a | 15) & mask),
                            _ => (a.min(b), a.max(b)),
                        };
                        let mut out = universe.clone();
                        bsi_range(&mut out, &slices, lo, hi);
                        // slice_values: the universe's values in row order.
                        let mut got = vec![0u64; count(&universe) as usize];
                        slice_values(&universe, &slices, &mut got);
                        let want: Vec<u64> = (0..65_536)
                            .filter(|r| universe[r / 64] >> (r % 64) & 1 == 1)
                            .map(|r| values[r])
                            .collect();
                        assert_eq!(got, want, "{bits} bits, baseline {baseline}");
                        for (r, &v) in values.iter().enumerate() {
                            let want =
                                universe[r / 64] >> (r % 64) & 1 == 1 && (lo..=hi).contains(&v);
                            assert_eq!(
                                out[r / 64] >> (r % 64) & 1 == 1,
                                want,
                                "row {r} value {v} in {lo}..={hi}, {bits} bits, baseline {baseline}"
                            );
                        }
                    }
                }
            }
        }
        crate::cpu::force_baseline(false);
    }

    /// `filter_array` keeps exactly the array's values set in the words,
    /// in order, with and without the fast kernels.
    #[test]
    fn filter_array_keeps_the_values_in_the_words() {
        for baseline in [false, true] {
            crate::cpu::force_baseline(baseline);
            for a in sets().into_iter().filter(|a| a.len() <= 4096) {
                let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
                for b in sets() {
                    let wb = words_of(&b);
                    let mut buf = Box::new([0u16; 65_536]);
                    let k = filter_array(&bytes, &wb, &mut buf);
                    let want: Vec<u16> = a.intersection(&b).copied().collect();
                    assert_eq!(&buf[..k], &want[..], "baseline {baseline}");
                    // Each vector kernel the CPU has, called directly.
                    #[cfg(target_arch = "x86_64")]
                    #[allow(unsafe_code)]
                    if !baseline && crate::cpu::fast() {
                        // SAFETY: called only where `fast()` and
                        // `avx512()` found the features.
                        let k = unsafe { gather::filter_array_avx2(&bytes, &wb, &mut buf) };
                        assert_eq!(&buf[..k], &want[..], "avx2");
                        if crate::cpu::avx512() {
                            let k = unsafe { gather::filter_array_avx512(&bytes, &wb, &mut buf) };
                            assert_eq!(&buf[..k], &want[..], "avx512");
                        }
                    }
                }
            }
        }
        crate::cpu::force_baseline(false);
    }

    /// `push_rows` appends the set bits with the base, in order, after
    /// what the vector held.
    #[test]
    fn push_rows_appends_every_set_bit_in_order() {
        for a in sets() {
            let w = words_of(&a);
            let mut out = vec![7u32, 9];
            push_rows(&w, 3 << 16, &mut out);
            let want: Vec<u32> = [7u32, 9]
                .into_iter()
                .chain(a.iter().map(|&r| 3 << 16 | u32::from(r)))
                .collect();
            assert_eq!(out, want);
        }
    }
}
