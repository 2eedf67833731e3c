//! Real-time writes through the engine alone (no HTTP): N threads each
//! parse and ingest batches of JSON-lines operations into a copy of a
//! generated `users` store, while a background thread runs
//! `Store::maintain` (flush, compaction) every 100 ms. Prints
//! operations/s, acknowledgement latency and the delta's size.
//!
//! `cargo run --release -p segdb-benches --bin ingest_engine -- STORE_COPY [threads] [batch] [seconds]`
//! (the store is written to: use a copy).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segdb_engine::write::parse_batch;
use segdb_engine::{LiveOptions, Store};

/// xorshift64*: deterministic per thread, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One batch of the mix: 60% events, 15% city, 10% age, 10% add and 5%
/// remove interests; ids over the table's rows plus 1% new ones.
fn batch_text(rng: &mut Rng, n: usize, rows: u64) -> String {
    let mut s = String::with_capacity(n * 64);
    for _ in 0..n {
        let id = rng.below(rows + rows / 100 + 1);
        let p = rng.below(100);
        let line = match p {
            0..=59 => {
                let ev = ["search", "view", "favorite", "book"][rng.below(4) as usize];
                format!(
                    "{{\"id\":\"u{id:09}\",\"event\":\"{ev}\",\"day\":\"2026-11-22\",\"count\":{}}}",
                    1 + rng.below(3)
                )
            }
            60..=74 => format!(
                "{{\"id\":\"u{id:09}\",\"set\":{{\"city\":\"c{:03}\"}}}}",
                rng.below(300)
            ),
            75..=84 => format!(
                "{{\"id\":\"u{id:09}\",\"set\":{{\"age\":{}}}}}",
                16 + rng.below(65)
            ),
            85..=94 => format!(
                "{{\"id\":\"u{id:09}\",\"add\":{{\"interests\":[\"i{:02}\"]}}}}",
                rng.below(40)
            ),
            _ => format!(
                "{{\"id\":\"u{id:09}\",\"remove\":{{\"interests\":[\"i{:02}\"]}}}}",
                rng.below(40)
            ),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: ingest_engine STORE_COPY [threads] [batch] [seconds]");
        std::process::exit(2);
    };
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let batch: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seconds: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(10);
    let opened = Instant::now();
    let store = Arc::new(
        Store::open_with(std::path::Path::new(dir), LiveOptions::default()).expect("open"),
    );
    println!(
        "opened in {:.1} ms (replayed {} batches)",
        opened.elapsed().as_secs_f64() * 1e3,
        store.recovery().replayed_batches
    );
    let rows = store.table("users").expect("users").num_rows();
    let stop = Arc::new(AtomicBool::new(false));
    let max_delta = Arc::new(AtomicU64::new(0));
    let maint = {
        let (store, stop, max_delta) = (store.clone(), stop.clone(), max_delta.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = store.maintain() {
                    eprintln!("maintain: {e}");
                }
                max_delta.fetch_max(store.live_stats().delta_bytes, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678));
                let schema = store.table("users").expect("users").schema().clone();
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let text = batch_text(&mut rng, batch, rows);
                    let t0 = Instant::now();
                    let b = parse_batch(&schema, &text).expect("a valid batch");
                    match store.ingest("users", b) {
                        Ok(_) => lat.push(t0.elapsed()),
                        Err(e) => {
                            errors += 1;
                            if errors < 3 {
                                eprintln!("ingest: {e}");
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().expect("worker");
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    maint.join().expect("maintenance thread");
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    let ops = lat.len() as f64 * batch as f64;
    let s = store.live_stats();
    println!(
        "{threads} threads x {batch}-op batches for {elapsed:.1} s: {} batches, {:.0} operations/s, {errors} errors",
        lat.len(),
        ops / elapsed
    );
    println!(
        "ack latency ms: p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
    println!(
        "WAL: {} records in {} fsyncs ({:.1} per fsync); flushes {}, compactions {}, last flush {} ms",
        s.wal.records,
        s.wal.syncs,
        s.wal.records as f64 / s.wal.syncs.max(1) as f64,
        s.flushes,
        s.compactions,
        s.last_flush_ms
    );
    println!(
        "delta bytes: max {} (sampled every 100 ms), at the end {}",
        max_delta.load(Ordering::Relaxed),
        s.delta_bytes
    );
}
