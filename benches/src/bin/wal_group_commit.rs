//! Group commit of the WAL on a real disk: N threads append records in a
//! loop under the `Always` policy (every append waits for its fsync), for
//! 1 to 16 threads and two payload sizes (100 bytes, and 32 KiB, about an
//! encoded 1,000-operation ingest batch). Prints records per fsync,
//! appends per second, MB/s and the append latency (p50, p99).
//!
//! `cargo run --release -p segdb-benches --bin wal_group_commit -- [DIR] [SECONDS_PER_CASE]`
//!
//! DIR (default: a new directory under the system's temporary directory)
//! must be on the disk to measure; it is removed at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use segdb_storage_format::wal::{WalOptions, WalWriter};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let root = args.next().map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("segdb-wal-bench-{}", std::process::id()))
    });
    let seconds: f64 = match args.next().map(|s| s.parse()) {
        None => 2.0,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("usage: wal_group_commit [DIR] [SECONDS_PER_CASE]");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "WAL group commit, policy Always, {seconds} s per case, in {}",
        root.display()
    );
    println!(
        "{:>7} {:>8} {:>9} {:>7} {:>12} {:>10} {:>8} {:>9} {:>9}",
        "threads",
        "payload",
        "records",
        "fsyncs",
        "recs/fsync",
        "appends/s",
        "MB/s",
        "p50 ms",
        "p99 ms"
    );
    for payload_len in [100usize, 32 << 10] {
        for threads in [1usize, 2, 4, 8, 16] {
            let dir = root.join(format!("t{threads}-p{payload_len}"));
            if let Err(e) = run_case(&dir, threads, payload_len, Duration::from_secs_f64(seconds)) {
                eprintln!("error: {e}");
                let _ = std::fs::remove_dir_all(&root);
                return ExitCode::FAILURE;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    ExitCode::SUCCESS
}

fn run_case(
    dir: &std::path::Path,
    threads: usize,
    payload_len: usize,
    duration: Duration,
) -> Result<(), segdb_storage_format::FormatError> {
    let wal = WalWriter::open(dir, WalOptions::default())?;
    let payload = vec![0x5au8; payload_len];
    let started = Instant::now();
    let deadline = started + duration;
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (wal, payload) = (&wal, &payload);
                scope.spawn(move || {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        wal.append(payload)?;
                        lat.push(t.elapsed());
                    }
                    Ok::<_, segdb_storage_format::FormatError>(lat)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            match h.join() {
                Ok(Ok(lat)) => all.extend(lat),
                Ok(Err(e)) => return Err(e),
                Err(_) => panic!("an appender panicked"),
            }
        }
        Ok(all)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = wal.stats();
    let mut latencies = latencies;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{:>7} {:>8} {:>9} {:>7} {:>12.1} {:>10.0} {:>8.1} {:>9.2} {:>9.2}",
        threads,
        payload_len,
        stats.records,
        stats.syncs,
        stats.records as f64 / stats.syncs.max(1) as f64,
        stats.records as f64 / elapsed,
        stats.records as f64 * payload_len as f64 / elapsed / 1e6,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
