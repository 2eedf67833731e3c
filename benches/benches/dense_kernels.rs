//! The dense chunk kernels on one chunk (65,536 rows) and one container:
//! arrays of 4,096 values (the most an array holds, one row in 16), 1,024
//! (one in 64) and 64, a bitmap container, and runs; the chunk they meet
//! has every other row. `cargo bench -p segdb-benches --bench
//! dense_kernels`.

use criterion::{criterion_group, criterion_main, Criterion};
use segdb_storage_format::bitmap::Container;
use segdb_storage_format::dense::{self, Words, WORDS};

fn array(step: u32) -> Vec<u8> {
    (0..65_536u32)
        .step_by(step as usize)
        .flat_map(|v| (v as u16).to_le_bytes())
        .collect()
}

fn bench(c: &mut Criterion) {
    let half: Box<Words> = Box::new([0x5555_5555_5555_5555; WORDS]);
    let bitmap: Vec<u8> = (0..WORDS as u64)
        .flat_map(|w| (w.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes())
        .collect();
    // Runs of 100 rows every 1,000.
    let runs: Vec<u8> = (0..65u16)
        .flat_map(|i| [(i * 1000).to_le_bytes(), 99u16.to_le_bytes()].concat())
        .collect();
    let inputs: Vec<(String, Vec<u8>)> = vec![
        ("array_4096".into(), array(16)),
        ("array_2048".into(), array(32)),
        ("array_1024".into(), array(64)),
        ("array_256".into(), array(256)),
        ("array_64".into(), array(1024)),
    ];
    let mut g = c.benchmark_group("dense");
    let mut dst: Box<Words> = half.clone();
    let mut each = |name: &str, c: Container<'_>| {
        g.bench_function(format!("or_with/{name}"), |b| {
            b.iter(|| {
                dst.copy_from_slice(&half[..]);
                dense::or_with(&mut dst, c);
                dst[7]
            })
        });
        g.bench_function(format!("and_with/{name}"), |b| {
            b.iter(|| {
                dst.copy_from_slice(&half[..]);
                dense::and_with(&mut dst, c);
                dst[7]
            })
        });
        g.bench_function(format!("andnot_with/{name}"), |b| {
            b.iter(|| {
                dst.copy_from_slice(&half[..]);
                dense::andnot_with(&mut dst, c);
                dst[7]
            })
        });
        g.bench_function(format!("load/{name}"), |b| {
            b.iter(|| {
                dense::load(&mut dst, c);
                dst[7]
            })
        });
        g.bench_function(format!("and_count_with/{name}"), |b| {
            b.iter(|| dense::and_count_with(&half, c))
        });
    };
    for (name, bytes) in &inputs {
        each(name, Container::Array(bytes));
    }
    each("bitmap", Container::Bitmap(&bitmap));
    each("runs", Container::Run(&runs));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
