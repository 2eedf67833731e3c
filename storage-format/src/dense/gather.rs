//! Kernels written with AVX2 intrinsics, called only where
//! [`cpu::fast`](crate::cpu::fast) found AVX2: an array container's values
//! tested against a chunk eight at a time by gathers (half the time of a
//! test per value on the development VM), counted or packed.

use super::Words;

/// [`and_count_with`](super::and_count_with) for an array container's bytes (little-endian
/// `u16` values), eight values per gather of the words they fall in.
///
/// # Safety
/// The CPU must have AVX2.
#[allow(unsafe_code)]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn array_count_avx2(words: &Words, b: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_cvtepu16_epi32,
        _mm256_i32gather_epi32, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_srli_epi32,
        _mm256_srlv_epi32, _mm256_storeu_si256, _mm_loadu_si128,
    };
    let (values, _) = b.as_chunks::<2>();
    let n = values.len();
    let base = words.as_ptr().cast::<i32>();
    let (one, low5) = (_mm256_set1_epi32(1), _mm256_set1_epi32(31));
    // An array container has at most 4,096 values: no lane overflows.
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`: the 16 bytes of values i..i+8 are in `b`;
        // each index `v >> 5` is below 2,048, the `i32`s of `words`.
        let v = _mm256_cvtepu16_epi32(_mm_loadu_si128(b.as_ptr().add(2 * i).cast::<__m128i>()));
        let g = _mm256_i32gather_epi32::<4>(base, _mm256_srli_epi32::<5>(v));
        let bit = _mm256_and_si256(_mm256_srlv_epi32(g, _mm256_and_si256(v, low5)), one);
        acc = _mm256_add_epi32(acc, bit);
        i += 8;
    }
    let mut lanes = [0u32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), acc);
    let mut total: u64 = lanes.iter().map(|&x| u64::from(x)).sum();
    for v in &values[i..] {
        let v = u16::from_le_bytes(*v);
        total += (words[usize::from(v >> 6)] >> (v & 63)) & 1;
    }
    total
}

/// For each 8-bit mask, the `pshufb` control that moves the 16-bit lanes
/// whose bit is set to the front, in order.
const PACK16: [[u8; 16]; 256] = {
    let mut t = [[0x80u8; 16]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut lane, mut out) = (0, 0);
        while lane < 8 {
            if m >> lane & 1 == 1 {
                t[m][2 * out] = 2 * lane as u8;
                t[m][2 * out + 1] = 2 * lane as u8 + 1;
                out += 1;
            }
            lane += 1;
        }
        m += 1;
    }
    t
};

/// [`filter_array`](super::filter_array) by AVX2: an array of at most 4,096 values.
///
/// # Safety
/// The CPU must have AVX2 and POPCNT (the survivors are counted by
/// `popcnt`, not by shifts and masks), and `b` at most 8,192 bytes.
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn filter_array_avx2(b: &[u8], words: &Words, buf: &mut [u16; 65_536]) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cvtepu16_epi32,
        _mm256_i32gather_epi32, _mm256_movemask_ps, _mm256_set1_epi32, _mm256_slli_epi32,
        _mm256_srli_epi32, _mm256_srlv_epi32, _mm_loadu_si128, _mm_shuffle_epi8, _mm_storeu_si128,
    };
    let (values, _) = b.as_chunks::<2>();
    let n = values.len();
    let base = words.as_ptr().cast::<i32>();
    let (one, low5) = (_mm256_set1_epi32(1), _mm256_set1_epi32(31));
    let mut k = 0usize;
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`: values i..i+8 are in `b`; each index
        // `v >> 5` is below 2,048, the `i32`s of `words`; `k <= i < 4,096`,
        // so the 16 bytes stored at `k` are inside `buf`.
        let raw = _mm_loadu_si128(b.as_ptr().add(2 * i).cast::<__m128i>());
        let v = _mm256_cvtepu16_epi32(raw);
        let g = _mm256_i32gather_epi32::<4>(base, _mm256_srli_epi32::<5>(v));
        let bit = _mm256_and_si256(_mm256_srlv_epi32(g, _mm256_and_si256(v, low5)), one);
        let mask = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32::<31>(bit))) as usize;
        let control = _mm_loadu_si128(PACK16[mask].as_ptr().cast::<__m128i>());
        _mm_storeu_si128(
            buf.as_mut_ptr().add(k).cast::<__m128i>(),
            _mm_shuffle_epi8(raw, control),
        );
        k += mask.count_ones() as usize;
        i += 8;
    }
    for v in &values[i..] {
        let r = u16::from_le_bytes(*v);
        buf[k] = r;
        k += ((words[usize::from(r >> 6)] >> (r & 63)) & 1) as usize;
    }
    k
}

/// [`filter_array_avx2`] sixteen values at a time, the survivors packed by
/// `vpcompressw` instead of a shuffle table.
///
/// The compress goes to a register, then a whole 32-byte store: the
/// compress straight to memory (`_mm256_mask_compressstoreu_epi16`) is
/// microcoded on AMD Zen 4, where it made W3 2.3x slower than the AVX2
/// kernel (1.98 ms against 0.88 at medium); the register form is as fast
/// on Intel.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VBMI2, and POPCNT (see
/// [`cpu::avx512`](crate::cpu::avx512), called only where
/// [`cpu::fast`](crate::cpu::fast) found POPCNT).
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi2,popcnt")]
pub(super) unsafe fn filter_array_avx512(
    b: &[u8],
    words: &Words,
    buf: &mut [u16; 65_536],
) -> usize {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm256_maskz_compress_epi16, _mm256_storeu_si256,
        _mm512_and_si512, _mm512_cvtepu16_epi32, _mm512_i32gather_epi32, _mm512_set1_epi32,
        _mm512_srli_epi32, _mm512_srlv_epi32, _mm512_test_epi32_mask,
    };
    let (values, _) = b.as_chunks::<2>();
    let n = values.len();
    let base = words.as_ptr().cast::<i32>();
    let (one, low5) = (_mm512_set1_epi32(1), _mm512_set1_epi32(31));
    let mut k = 0usize;
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n`: values i..i+16 are in `b`; each index
        // `v >> 5` is below 2,048, the `i32`s of `words`; `k <= i`, so the
        // 32 bytes stored at `k` end at or before value `i + 16 <= 4,096`,
        // inside `buf`.
        let raw = _mm256_loadu_si256(b.as_ptr().add(2 * i).cast::<__m256i>());
        let v = _mm512_cvtepu16_epi32(raw);
        let g = _mm512_i32gather_epi32::<4>(_mm512_srli_epi32::<5>(v), base);
        let bit = _mm512_srlv_epi32(g, _mm512_and_si512(v, low5));
        let mask = _mm512_test_epi32_mask(bit, one);
        _mm256_storeu_si256(
            buf.as_mut_ptr().add(k).cast::<__m256i>(),
            _mm256_maskz_compress_epi16(mask, raw),
        );
        k += mask.count_ones() as usize;
        i += 16;
    }
    for v in &values[i..] {
        let r = u16::from_le_bytes(*v);
        buf[k] = r;
        k += ((words[usize::from(r >> 6)] >> (r & 63)) & 1) as usize;
    }
    k
}
