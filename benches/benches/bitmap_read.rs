//! How to read a portable Roaring bitmap from mapped bytes: deserialize it
//! with the `roaring` crate, or read its containers in place as segdb does.
//! Data: two bitmaps over 100M row ids, one with every other row (12.5 MB of
//! bitmap containers, the size named in the engine issue) and one with
//! every third row; the question is the size of their intersection.

use criterion::{criterion_group, criterion_main, Criterion};
use segdb_storage_format::bitmap::{serialize_sorted, RoaringView};
use segdb_storage_format::dense;

fn in_place_and_count(a: &RoaringView<'_>, b: &RoaringView<'_>) -> u64 {
    let mut words = Box::new([0u64; dense::WORDS]);
    let mut total = 0;
    for i in 0..a.num_containers() {
        let key = a.key(i);
        if let Some(cb) = b.container(key) {
            dense::load(&mut words, a.container_at(i));
            total += dense::and_count_with(&words, cb);
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let a_bytes = serialize_sorted((0..100_000_000u32).step_by(2));
    let b_bytes = serialize_sorted((0..100_000_000u32).step_by(3));
    println!(
        "bitmap A: {} bytes, bitmap B: {} bytes",
        a_bytes.len(),
        b_bytes.len()
    );
    let mut g = c.benchmark_group("read_12_5_MB_bitmap");
    g.sample_size(20);
    g.bench_function("roaring_crate_deserialize", |bench| {
        bench.iter(|| roaring::RoaringBitmap::deserialize_from(&a_bytes[..]).map(|b| b.len()))
    });
    g.bench_function("segdb_view_in_place", |bench| {
        bench.iter(|| RoaringView::new_unchecked(&a_bytes).map(|v| v.cardinality()))
    });
    g.bench_function("roaring_crate_deserialize_and_intersect", |bench| {
        bench.iter(|| {
            let a = roaring::RoaringBitmap::deserialize_from(&a_bytes[..]).unwrap_or_default();
            let b = roaring::RoaringBitmap::deserialize_from(&b_bytes[..]).unwrap_or_default();
            a.intersection_len(&b)
        })
    });
    g.bench_function("segdb_in_place_and_count", |bench| {
        bench.iter(|| {
            let a = RoaringView::new_unchecked(&a_bytes).ok();
            let b = RoaringView::new_unchecked(&b_bytes).ok();
            match (a, b) {
                (Some(a), Some(b)) => in_place_and_count(&a, &b),
                _ => 0,
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
