//! INT insight: statistics, exact quantiles and histograms, all by walking
//! bit slices (no values are sorted). Parts encode values as offsets from
//! a per-part base, so quantiles search the value domain: each step counts
//! the rows at or below a candidate value with the O'Neil range walk, and
//! halves the interval; a quantile costs about log2(max - min) passes over
//! the segment's chunks, whatever its size. Histograms extract each row's
//! value ([`dense::slice_values`]: word by word, every slice's word read
//! once) and count it in its bucket.
//!
//! Quantiles are chosen by cost: a segment of at most
//! [`values_in_memory`] rows has its values extracted once (in parallel
//! over chunks), and the statistics, the histogram
//! and the quantiles (by selection, `select_nth_unstable`, one shrinking
//! range per quantile) all come from them; a larger one is walked for its
//! statistics, searched for its quantiles and extracted chunk by chunk for
//! its histogram, never holding more than a chunk's values.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use segdb_storage_format::dense::{self, Words};

use super::{sum_chunks, Bucket, FieldInsight, InsightOptions, SegChunk};
use crate::error::{EngineError, Result};
use crate::eval::chunk::{int_range, with_scratch};
use crate::eval::shard::{int_ctx, IntCtx};
use crate::eval::{chunk_int_stats, IntStats};
use crate::table::Table;

/// Segments of at most this many rows have an INT field's values
/// extracted once (8 bytes each) rather than walked and searched.
static VALUES_IN_MEMORY: AtomicU64 = AtomicU64::new(4 << 20);

/// The most rows whose values insight and `QUANTILE` extract at once
/// (4Mi: 32 MiB of values).
pub fn values_in_memory() -> u64 {
    VALUES_IN_MEMORY.load(Ordering::Relaxed)
}

/// Sets [`values_in_memory`]: tests set 0 to check the walking path
/// against the extracting one.
#[doc(hidden)]
pub fn set_values_in_memory(rows: u64) {
    VALUES_IN_MEMORY.store(rows, Ordering::Relaxed);
}

/// The values of `seg`'s rows per chunk (chunks in parallel), if the
/// segment has at most [`values_in_memory`] rows.
fn segment_values(ints: &[Option<IntCtx<'_>>], seg: &[SegChunk]) -> Result<Option<Vec<Vec<i64>>>> {
    let rows: u64 = seg.iter().map(|c| c.count).sum();
    if rows > values_in_memory() {
        return Ok(None);
    }
    use rayon::prelude::*;
    let cancel = crate::cancel::current();
    seg.par_iter()
        .map(|c| {
            if let Some(cancel) = &cancel {
                cancel.check()?;
            }
            Ok(ints[c.shard as usize]
                .as_ref()
                .map_or_else(Vec::new, |int| chunk_values(int, c)))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The statistics of extracted values: chunks in parallel, each a tight
/// loop (a flattened iterator cost a check per value).
fn values_stats(values: &[Vec<i64>]) -> IntStats {
    use rayon::prelude::*;
    values
        .par_iter()
        .map(|v| {
            let (mut min, mut max, mut sum) = (i64::MAX, i64::MIN, 0i128);
            for &x in v {
                min = min.min(x);
                max = max.max(x);
                sum += i128::from(x);
            }
            IntStats {
                count: v.len() as u64,
                sum,
                min: (!v.is_empty()).then_some(min),
                max: (!v.is_empty()).then_some(max),
            }
        })
        .reduce(IntStats::default, IntStats::merge)
}

/// Rows of extracted values per bucket, chunks in parallel.
fn values_buckets(values: &[Vec<i64>], first: i64, width: i64, n: usize) -> Vec<u64> {
    use rayon::prelude::*;
    let b = Bucketer::new(first, width);
    values
        .par_iter()
        .fold(
            || vec![0u64; n],
            |mut counts, v| {
                for &x in v {
                    if let Some(o) = b.index(x).and_then(|i| counts.get_mut(i)) {
                        *o += 1;
                    }
                }
                counts
            },
        )
        .reduce(|| vec![0u64; n], add_counts)
}

fn add_counts(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// [`bucket_of`] for one layout, by a multiply where it can: a value
/// within 2^32 of the first bucket and a width below 2^32 divide exactly
/// as `(d * ceil(2^64 / w)) >> 64` (Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation", 2019), a cycle where a 64-bit
/// division costs tens, once per value of a histogram.
#[derive(Debug, Clone, Copy)]
struct Bucketer {
    first: i64,
    width: i64,
    /// `ceil(2^64 / width)` for a width in 2..2^32.
    magic: Option<u64>,
}

impl Bucketer {
    fn new(first: i64, width: i64) -> Bucketer {
        let magic = (2..1i64 << 32)
            .contains(&width)
            .then(|| u64::MAX / width as u64 + 1);
        Bucketer {
            first,
            width,
            magic,
        }
    }

    #[inline]
    fn index(&self, v: i64) -> Option<usize> {
        let d = v.wrapping_sub(self.first) as u64;
        if v >= self.first && d < 1 << 32 {
            match self.magic {
                Some(m) => return Some(((u128::from(m) * u128::from(d)) >> 64) as usize),
                None if self.width == 1 => return Some(d as usize),
                None => {}
            }
        }
        bucket_of(v, self.first, self.width)
    }
}

/// Nearest-rank quantiles of extracted values (see [`quantiles`]) by
/// selection: the ranks in ascending order, each selected in the part
/// of the values at or above the one before.
fn quantiles_of_values(values: &[Vec<i64>], count: u64, qs: &[f64]) -> Vec<(f64, i64)> {
    if qs.is_empty() || count == 0 {
        return Vec::new();
    }
    let mut all: Vec<i64> = Vec::with_capacity(count as usize);
    for v in values {
        all.extend_from_slice(v);
    }
    let index: Vec<usize> = qs
        .iter()
        .map(|q| ((q * count as f64).ceil() as u64).clamp(1, count) as usize - 1)
        .collect();
    let mut order: Vec<usize> = (0..qs.len()).collect();
    order.sort_by_key(|&i| index[i]);
    let mut found = vec![0i64; qs.len()];
    let mut from = 0;
    for i in order {
        let r = index[i];
        let (_, v, _) = all[from..].select_nth_unstable(r - from);
        found[i] = *v;
        from = r;
    }
    qs.iter().copied().zip(found).collect()
}

/// The most buckets a histogram may have.
pub const MAX_BUCKETS: u64 = 1_000;

/// A histogram's shape: (field, first bucket start, width, buckets).
type BucketsKey = (usize, i64, i64, usize);

/// Table-wide bucket counts by histogram shape.
#[derive(Debug, Default)]
pub(crate) struct DerivedCache {
    buckets: Mutex<HashMap<BucketsKey, Arc<Vec<u64>>>>,
}

fn int_ctxs(table: &Table, fi: usize) -> Result<Vec<Option<IntCtx<'_>>>> {
    (0..table.num_shards())
        .map(|s| table.part(s).map(|p| int_ctx(p, fi as u32)).transpose())
        .collect()
}

fn add_vecs(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    if a.len() < b.len() {
        return add_vecs(b, a);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// Rows of chunk `c` whose value lies in `lo..=hi`, counted.
fn count_range(int: &IntCtx<'_>, c: &SegChunk, lo: i64, hi: i64) -> u64 {
    with_scratch(|s| {
        let mut out = s.take();
        int_range(int, c.key, lo, hi, &c.words, &mut out, s);
        let n = dense::count(&out);
        s.give(out);
        n
    })
}

/// The values of the rows of chunk `c` that have one, in row order, by
/// [`dense::slice_values`]: word by word, each of the rows' words reading
/// its word of every slice once, so the cost is about `words with a row x
/// bits + rows x bits`, whatever the number of buckets.
fn chunk_values(int: &IntCtx<'_>, c: &SegChunk) -> Vec<i64> {
    let (Some(meta), Some(nn)) = (
        int.meta,
        int.not_null.as_ref().and_then(|v| v.container(c.key)),
    ) else {
        return Vec::new();
    };
    with_scratch(|s| {
        let mut cand: Box<Words> = s.take();
        cand.copy_from_slice(&c.words[..]);
        dense::and_with(&mut cand, nn);
        let mut offsets = vec![0u64; dense::count(&cand) as usize];
        crate::eval::chunk::with_slices(int, meta.bits, c.key, s, |slices| {
            dense::slice_values(&cand, slices, &mut offsets)
        });
        s.give(cand);
        offsets
            .into_iter()
            .map(|o| (i128::from(meta.base) + i128::from(o)) as i64)
            .collect()
    })
}

/// The bucket of `v` (`None` below the first), in 64-bit arithmetic
/// unless the difference overflows it.
#[inline]
fn bucket_of(v: i64, first: i64, width: i64) -> Option<usize> {
    match v.checked_sub(first) {
        Some(d) if d >= 0 => Some((d as u64 / width as u64) as usize),
        Some(_) => None,
        None => {
            usize::try_from((i128::from(v) - i128::from(first)).div_euclid(i128::from(width))).ok()
        }
    }
}

/// Rows of `seg` per bucket `first + i*width ..< first + (i+1)*width`.
fn bucket_counts(
    ints: &[Option<IntCtx<'_>>],
    seg: &[SegChunk],
    first: i64,
    width: i64,
    n: usize,
) -> Result<Vec<u64>> {
    let counts = sum_chunks(
        seg,
        |c| {
            let mut out = vec![0u64; n];
            let Some(int) = &ints[c.shard as usize] else {
                return Ok(out);
            };
            for v in chunk_values(int, c) {
                if let Some(o) = bucket_of(v, first, width).and_then(|i| out.get_mut(i)) {
                    *o += 1;
                }
            }
            Ok(out)
        },
        add_vecs,
    )?;
    let mut counts = counts;
    counts.resize(n, 0);
    Ok(counts)
}

/// The buckets of a histogram of values `min..=max`: `(first, width, n)`,
/// bucket `i` holding `first + i*width ..< first + (i+1)*width`. The width
/// is `width` or [`auto_width`]; `first` is `min` rounded down to a
/// multiple of the width (or `min` itself where that is below `i64::MIN`).
/// `Err(n)` when the buckets would be more than [`MAX_BUCKETS`].
pub fn histogram_layout(min: i64, max: i64, width: Option<i64>) -> Result<(i64, i64, usize), u128> {
    let w = width.unwrap_or_else(|| auto_width(min, max));
    let aligned = i128::from(min).div_euclid(i128::from(w)) * i128::from(w);
    let first = if aligned < i128::from(i64::MIN) {
        i128::from(min)
    } else {
        aligned
    };
    let n = ((i128::from(max) - first) / i128::from(w) + 1) as u128;
    if n > u128::from(MAX_BUCKETS) {
        return Err(n);
    }
    Ok((first as i64, w, n as usize))
}

/// A width of 1, 2 or 5 times a power of ten giving at most 20 buckets.
pub fn auto_width(min: i64, max: i64) -> i64 {
    let span = (i128::from(max) - i128::from(min)) as u128 + 1;
    let mut unit: u128 = 1;
    loop {
        for m in [1u128, 2, 5] {
            let w = unit * m;
            if span.div_ceil(w) <= 20 {
                return w.min(i64::MAX as u128) as i64;
            }
        }
        unit *= 10;
    }
}

/// Statistics, quantiles and the histogram of INT field `fi` over `seg`.
pub(super) fn field_ints(
    table: &Table,
    seg: &[SegChunk],
    fi: usize,
    opts: &InsightOptions,
) -> Result<FieldInsight> {
    let ints = int_ctxs(table, fi)?;
    // A segment of up to `values_in_memory()` rows has its values
    // extracted once: statistics, quantiles and buckets then come from
    // them. A larger one walks the slices for the statistics, searches
    // for the quantiles and extracts values chunk by chunk for the
    // buckets, holding one chunk's values at a time.
    let values = segment_values(&ints, seg)?;
    let stats = match &values {
        Some(values) => values_stats(values),
        None => sum_chunks(
            seg,
            |c| {
                Ok(match &ints[c.shard as usize] {
                    Some(int) => with_scratch(|s| chunk_int_stats(int, c.key, &c.words, s)),
                    None => IntStats::default(),
                })
            },
            IntStats::merge,
        )?,
    };
    let (Some(min), Some(max)) = (stats.min, stats.max) else {
        return Ok(FieldInsight::Int {
            stats,
            quantiles: Vec::new(),
            buckets: Vec::new(),
        });
    };
    let quantiles = match &values {
        Some(values) => quantiles_of_values(values, stats.count, &opts.quantiles),
        None => quantiles(&ints, seg, stats.count, min, max, &opts.quantiles)?,
    };
    let name = &table.schema.fields[fi].name;
    let (first, width, n) = histogram_layout(min, max, opts.width_of(name)).map_err(|n| {
        EngineError::InvalidArgument(format!(
            "a bucket width of {} makes {n} buckets of `{name}` (at most {MAX_BUCKETS})",
            opts.width_of(name).unwrap_or(0),
        ))
    })?;
    let counts = match &values {
        Some(values) => values_buckets(values, first, width, n),
        None => bucket_counts(&ints, seg, first, width, n)?,
    };
    let table_counts = table_buckets(table, &ints, fi, first, width, n)?;
    let buckets = (0..n)
        .map(|i| {
            let lo = i128::from(first) + i128::from(width) * i as i128;
            Bucket {
                lo: lo as i64,
                hi: (lo + i128::from(width)).min(i128::from(i64::MAX)) as i64,
                count: counts[i],
                table_count: table_counts[i],
            }
        })
        .collect();
    Ok(FieldInsight::Int {
        stats,
        quantiles,
        buckets,
    })
}

/// The table's counts for the same buckets, computed once per snapshot.
fn table_buckets(
    table: &Table,
    ints: &[Option<IntCtx<'_>>],
    fi: usize,
    first: i64,
    width: i64,
    n: usize,
) -> Result<Arc<Vec<u64>>> {
    let key = (fi, first, width, n);
    if let Some(v) = table
        .derived
        .buckets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
    {
        return Ok(v.clone());
    }
    let all = table.all_chunks()?;
    let counts = Arc::new(bucket_counts(ints, &all, first, width, n)?);
    table
        .derived
        .buckets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, counts.clone());
    Ok(counts)
}

/// Statistics and nearest-rank quantiles of INT field `fi` over `seg`,
/// without a histogram: what `QUANTILE(f, q)` needs.
pub(super) fn field_quantiles(
    table: &Table,
    seg: &[SegChunk],
    fi: usize,
    qs: &[f64],
) -> Result<(IntStats, Vec<(f64, i64)>)> {
    let ints = int_ctxs(table, fi)?;
    if let Some(values) = segment_values(&ints, seg)? {
        let stats = values_stats(&values);
        let found = quantiles_of_values(&values, stats.count, qs);
        return Ok((stats, found));
    }
    let stats = sum_chunks(
        seg,
        |c| {
            Ok(match &ints[c.shard as usize] {
                Some(int) => with_scratch(|s| chunk_int_stats(int, c.key, &c.words, s)),
                None => IntStats::default(),
            })
        },
        IntStats::merge,
    )?;
    let (Some(min), Some(max)) = (stats.min, stats.max) else {
        return Ok((stats, Vec::new()));
    };
    let found = quantiles(&ints, seg, stats.count, min, max, qs)?;
    Ok((stats, found))
}

/// Nearest-rank quantiles: for each `q`, the smallest value `v` such that
/// at least `ceil(q * count)` (at least 1) of the values are `<= v`. All
/// quantiles search at once, one pass over the chunks per step.
fn quantiles(
    ints: &[Option<IntCtx<'_>>],
    seg: &[SegChunk],
    count: u64,
    min: i64,
    max: i64,
    qs: &[f64],
) -> Result<Vec<(f64, i64)>> {
    let ranks: Vec<u64> = qs
        .iter()
        .map(|q| ((q * count as f64).ceil() as u64).clamp(1, count))
        .collect();
    let mut lo = vec![i128::from(min); qs.len()];
    let mut hi = vec![i128::from(max); qs.len()];
    loop {
        let open: Vec<usize> = (0..qs.len()).filter(|&i| lo[i] < hi[i]).collect();
        if open.is_empty() {
            break;
        }
        let mids: Vec<i64> = open
            .iter()
            .map(|&i| (lo[i] + (hi[i] - lo[i]).div_euclid(2)) as i64)
            .collect();
        let at_or_below = sum_chunks(
            seg,
            |c| {
                Ok(match &ints[c.shard as usize] {
                    Some(int) => mids
                        .iter()
                        .map(|&m| count_range(int, c, i64::MIN, m))
                        .collect(),
                    None => vec![0; mids.len()],
                })
            },
            add_vecs,
        )?;
        for (k, &i) in open.iter().enumerate() {
            if at_or_below.get(k).copied().unwrap_or(0) >= ranks[i] {
                hi[i] = i128::from(mids[k]);
            } else {
                lo[i] = i128::from(mids[k]) + 1;
            }
        }
    }
    Ok(qs.iter().zip(lo).map(|(&q, v)| (q, v as i64)).collect())
}

#[cfg(test)]
mod tests {
    use super::{auto_width, bucket_of, Bucketer};

    /// The multiply gives the division's bucket for every width and value,
    /// also either side of 2^32 from the first bucket and below it.
    #[test]
    fn bucket_indexes_by_multiply_are_the_division() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let widths = [
            1i64,
            2,
            3,
            5,
            7,
            10,
            1_000,
            (1 << 31) - 1,
            (1 << 32) - 1,
            1 << 32,
            i64::MAX,
        ];
        let firsts = [0i64, -5, 18, -1_000_000_007, i64::MIN, i64::MAX - 10];
        for &w in &widths {
            for &first in &firsts {
                let b = Bucketer::new(first, w);
                let mut probe = vec![
                    first,
                    first.wrapping_sub(1),
                    first.saturating_add((1 << 32) - 1),
                ];
                probe.push(first.saturating_add(1 << 32));
                for _ in 0..2_000 {
                    let d = match next() % 3 {
                        0 => next() % (1 << 32),
                        1 => next() % 1_000,
                        _ => next(),
                    };
                    probe.push(first.wrapping_add(d as i64));
                }
                for v in probe {
                    assert_eq!(
                        b.index(v),
                        bucket_of(v, first, w),
                        "v {v} first {first} width {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn automatic_widths_are_round_and_give_at_most_20_buckets() {
        assert_eq!(auto_width(18, 80), 5);
        assert_eq!(auto_width(0, 0), 1);
        assert_eq!(auto_width(0, 19), 1);
        assert_eq!(auto_width(0, 20), 2);
        assert_eq!(auto_width(-1_000, 99_999), 10_000);
        assert_eq!(auto_width(i64::MIN, i64::MAX), 1_000_000_000_000_000_000);
    }
}
