//! `segdb bench`: W1–W6 on a local store, or over HTTP against a server.

use std::time::Instant;

use segdb_engine::Store;
use segdb_server::{exec, workload};

use crate::AnyError;

fn anon_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub fn bench(data: &std::path::Path, runs: usize, only: &[String]) -> Result<(), AnyError> {
    let start = Instant::now();
    let store = Store::open(data)?;
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let t = store.table("users")?;
    outln!(
        "store {}: {} rows in {} shards, {} bytes on disk",
        data.display(),
        t.num_rows(),
        t.num_shards(),
        t.bytes_on_disk()
    );
    outln!("open: {open_ms:.2} ms");
    outln!("threads: {}", rayon::current_num_threads());
    outln!(
        "{:<4} {:>12} {:>10} {:>10} {:>10}",
        "id",
        "count",
        "median ms",
        "p90 ms",
        "min ms"
    );
    let catalog = exec::StoreCatalog(&store);
    for (id, text) in workload::COUNT_WORKLOADS {
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(id)) {
            continue;
        }
        let stmt = segdb_query_lang::parse_and_bind(text, &catalog, segdb_engine::date::today())?;
        let Some(segdb_query_lang::Statement::Select(sel)) = stmt.into_iter().next() else {
            return Err(format!("{id} is not a SELECT").into());
        };
        let mut count = 0;
        for _ in 0..5 {
            count = t.count(&sel.filter)?;
        }
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let s = Instant::now();
                let _ = t.count(&sel.filter);
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        outln!(
            "{id:<4} {count:>12} {:>10.3} {:>10.3} {:>10.3}",
            q(0.5),
            q(0.9),
            times[0]
        );
    }
    if let Some(kib) = anon_rss_kib() {
        outln!(
            "heap (anonymous RSS) after W1-W6: {:.1} MiB = {:.1}% of bytes on disk",
            kib as f64 / 1024.0,
            kib as f64 * 1024.0 * 100.0 / t.bytes_on_disk().max(1) as f64
        );
    }
    Ok(())
}

/// W1–W6 through a server's `POST /v1/query`: `concurrency` clients send
/// `runs` requests of each workload in all; reports each workload's count,
/// median, p90 and p99 round trip, the server's median evaluation time, and
/// requests per second.
pub fn bench_url(
    url: &str,
    token: Option<String>,
    concurrency: usize,
    runs: usize,
    only: &[String],
) -> Result<(), AnyError> {
    let client = segdb_server::client::Client::new(url, token);
    let concurrency = concurrency.max(1);
    outln!("server {url}, {concurrency} clients");
    outln!(
        "{:<4} {:>12} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "id",
        "count",
        "median ms",
        "p90 ms",
        "p99 ms",
        "server ms",
        "req/s"
    );
    for (id, text) in workload::COUNT_WORKLOADS {
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(id)) {
            continue;
        }
        let first = client.query(text)?;
        let count = first["rows"][0][0].clone();
        for _ in 0..5 {
            client.query(text)?;
        }
        let per_client = runs.max(1).div_ceil(concurrency);
        let start = Instant::now();
        let results: Vec<Result<Vec<(f64, f64)>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..concurrency)
                .map(|_| {
                    let client = client.clone();
                    s.spawn(move || {
                        (0..per_client)
                            .map(|_| {
                                let t = Instant::now();
                                let v = client.query(text).map_err(|e| e.to_string())?;
                                Ok((
                                    t.elapsed().as_secs_f64() * 1e3,
                                    v["elapsed_ms"].as_f64().unwrap_or(f64::NAN),
                                ))
                            })
                            .collect::<Result<Vec<_>, String>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a client thread failed".into()))
                })
                .collect()
        });
        let wall = start.elapsed().as_secs_f64();
        let mut round = Vec::new();
        let mut server = Vec::new();
        for r in results {
            for (a, b) in r? {
                round.push(a);
                server.push(b);
            }
        }
        round.sort_by(|a, b| a.total_cmp(b));
        server.sort_by(|a, b| a.total_cmp(b));
        let q = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        outln!(
            "{id:<4} {count:>12} {:>10.3} {:>10.3} {:>10.3} {:>12.3} {:>10.0}",
            q(&round, 0.5),
            q(&round, 0.9),
            q(&round, 0.99),
            q(&server, 0.5),
            round.len() as f64 / wall
        );
    }
    Ok(())
}
