//! `segdb bench`: W1–W10 on a local store, or over HTTP against a server.

use std::time::Instant;

use segdb_engine::Store;
use segdb_server::client::Client;
use segdb_server::{exec, workload};

use crate::AnyError;

/// Runs `f` 5 times to warm up, then `runs` times; prints its answer and
/// the median, p90 and fastest times.
fn time(
    id: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<u64, AnyError>,
) -> Result<(), AnyError> {
    let mut count = 0;
    for _ in 0..5 {
        count = f()?;
    }
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let s = Instant::now();
        f()?;
        times.push(s.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    outln!(
        "{id:<4} {count:>12} {:>10.3} {:>10.3} {:>10.3}",
        q(0.5),
        q(0.9),
        times[0]
    );
    Ok(())
}

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
    let dict = t.dictionary_bytes();
    outln!(
        "bytes: {} in parts (bitmaps), {dict} in the id dictionary ({:.2} bytes per id)",
        t.bytes_on_disk() - dict,
        dict as f64 / t.num_rows().max(1) as f64
    );
    outln!("open: {open_ms:.2} ms");
    outln!("threads: {}", rayon::current_num_threads());
    outln!(
        "kernels: {} (SEGDB_CPU=baseline or avx2 for the others)",
        segdb_storage_format::cpu::level()
    );
    outln!(
        "{:<4} {:>12} {:>10} {:>10} {:>10}",
        "id",
        "count",
        "median ms",
        "p90 ms",
        "min ms"
    );
    let catalog = exec::StoreCatalog::new(&store);
    let wanted = |id: &str| only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let filter_of = |text: &str| -> Result<segdb_engine::Expr, AnyError> {
        let stmt = segdb_query_lang::parse_and_bind(text, &catalog, segdb_engine::date::today())?;
        match stmt.into_iter().next() {
            Some(segdb_query_lang::Statement::Select(sel)) => Ok(sel.filter),
            _ => Err(format!("`{text}` is not a SELECT").into()),
        }
    };
    for (id, text) in workload::COUNT_WORKLOADS {
        if wanted(id) {
            let filter = filter_of(text)?;
            time(id, runs, || Ok(t.count(&filter)?))?;
        }
    }
    // W7: insight of the W1 segment.
    if wanted("W7") {
        let filter = filter_of(workload::COUNT_WORKLOADS[0].1)?;
        let opts = workload::w7_options();
        time("W7", runs, || Ok(t.insight(&filter, &opts)?.segment_rows))?;
    }
    // W8: every id of the W3 segment, formatted as CSV lines shard by shard
    // (as `GET /v1/segments/{name}/ids` streams them, each group of shards
    // evaluated and formatted in one round of the pool).
    if wanted("W8") {
        let filter = filter_of(workload::COUNT_WORKLOADS[2].1)?;
        time("W8", runs, || {
            let mut n = 0u64;
            t.for_each_shard_page(
                None,
                &filter,
                0,
                None,
                |rows| {
                    t.format_external_ids(rows, |id, out| {
                        out.extend_from_slice(id);
                        out.push(b'\n');
                    })
                },
                |text, rows| {
                    std::hint::black_box(&text);
                    n += rows as u64;
                    Ok(std::ops::ControlFlow::Continue(()))
                },
            )?;
            Ok(n)
        })?;
    }
    // W9: the 10 cities with most users inside W2.
    if wanted("W9") {
        let stmt =
            segdb_query_lang::parse_and_bind(workload::W9, &catalog, segdb_engine::date::today())?;
        let stmt = stmt.into_iter().next().ok_or("W9 is empty")?;
        time("W9", runs, || {
            Ok(exec::run_statement(&store, stmt.clone())?.rows.len() as u64)
        })?;
    }
    // W10: one user's profile, with the segments it is in.
    if wanted("W10") {
        let last = segdb_engine::date::today();
        let window = segdb_engine::DayRange {
            first: last - 29,
            last,
        };
        time("W10", runs, || {
            let p = segdb_server::profile::profile(
                &store,
                "users",
                workload::W10_ID,
                window,
                &exec::Access::FULL,
            )?
            .ok_or("W10: no such user")?;
            Ok(p.fields.len() as u64)
        })?;
    }
    if let Some(kib) = anon_rss_kib() {
        outln!(
            "heap (anonymous RSS) after the workloads: {:.1} MiB = {:.1}% of bytes on disk",
            kib as f64 / 1024.0,
            kib as f64 * 1024.0 * 100.0 / t.bytes_on_disk().max(1) as f64
        );
    }
    Ok(())
}

/// One request of a workload: its answer's figure (a count) and the
/// server's own time in ms (NaN when the answer does not say).
type Request<'a> = Box<dyn Fn(&Client) -> Result<(String, f64), String> + Sync + 'a>;

/// Sends `runs` requests in all from `concurrency` clients (after 5
/// warm-up requests) and prints the round-trip median, p90 and p99, the
/// server's median time and the requests per second.
fn measure(
    client: &Client,
    id: &str,
    runs: usize,
    concurrency: usize,
    request: &Request<'_>,
) -> Result<(), AnyError> {
    let mut figure = String::new();
    for _ in 0..5 {
        figure = request(client)?.0;
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
                            let (_, server_ms) = request(&client)?;
                            Ok((t.elapsed().as_secs_f64() * 1e3, server_ms))
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
    let (mut round, mut server) = (Vec::new(), Vec::new());
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
        "{id:<4} {figure:>12} {:>10.3} {:>10.3} {:>10.3} {:>12.3} {:>10.0}",
        q(&round, 0.5),
        q(&round, 0.9),
        q(&round, 0.99),
        q(&server, 0.5),
        round.len() as f64 / wall
    );
    Ok(())
}

/// The expression after WHERE of a workload statement.
fn where_of(text: &str) -> &str {
    let w = text.split_once(" WHERE ").map_or("", |(_, w)| w);
    w.split(" AS OF ").next().unwrap_or(w)
}

/// W1–W10 through a server's HTTP API: W1–W6 and W9 as `POST /v1/query`,
/// W7 as `POST /v1/insight`, W8 as a streamed CSV export of the W3
/// segment, W10 as `GET /v1/tables/users/profiles/{id}`. `concurrency`
/// clients send `runs` requests of each in all.
pub fn bench_url(
    url: &str,
    client: Client,
    concurrency: usize,
    runs: usize,
    only: &[String],
) -> Result<(), AnyError> {
    let concurrency = concurrency.max(1);
    outln!("server {url}, {concurrency} clients");
    outln!(
        "{:<4} {:>12} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "id",
        "answer",
        "median ms",
        "p90 ms",
        "p99 ms",
        "server ms",
        "req/s"
    );
    let query = |text: &'static str| -> Request<'static> {
        Box::new(move |c: &Client| {
            let v = c.query(text).map_err(|e| e.to_string())?;
            Ok((
                v["rows"][0][0].to_string(),
                v["elapsed_ms"].as_f64().unwrap_or(f64::NAN),
            ))
        })
    };
    let (w1, w3) = (
        workload::COUNT_WORKLOADS[0].1,
        workload::COUNT_WORKLOADS[2].1,
    );
    let w7 = serde_json::json!({
        "table": "users",
        "where": where_of(w1),
        "fields": ["gender", "city", "education", "os", "member_level", "product", "interests", "age", "income"],
        "bucket_width": {"age": 5},
    })
    .to_string();
    let w8 = format!(
        "SELECT user_id FROM users WHERE {} AS OF '2026-11-22'",
        where_of(w3)
    );
    let mut list: Vec<(&str, Request<'_>)> = workload::COUNT_WORKLOADS
        .iter()
        .map(|&(id, text)| (id, query(text)))
        .collect();
    list.push((
        "W7",
        Box::new(|c: &Client| {
            let v = c
                .request(
                    "POST",
                    "/v1/insight",
                    &[("content-type", "application/json")],
                    Some(w7.as_bytes()),
                )
                .map_err(|e| e.to_string())?
                .into_result()
                .map_err(|e| e.to_string())?;
            Ok((
                v["segment_rows"].to_string(),
                v["elapsed_ms"].as_f64().unwrap_or(f64::NAN),
            ))
        }),
    ));
    list.push((
        "W8",
        Box::new(|c: &Client| {
            let r = c
                .request(
                    "POST",
                    "/v1/query",
                    &[("accept", "text/csv")],
                    Some(w8.as_bytes()),
                )
                .map_err(|e| e.to_string())?;
            if r.status != 200 {
                return Err(r.text());
            }
            let ids = r.body.iter().filter(|&&b| b == b'\n').count() - 1;
            Ok((ids.to_string(), f64::NAN))
        }),
    ));
    list.push(("W9", query(workload::W9)));
    list.push((
        "W10",
        Box::new(|c: &Client| {
            let path = format!("/v1/tables/users/profiles/{}", workload::W10_ID);
            let v = c
                .request("GET", &path, &[], None)
                .map_err(|e| e.to_string())?
                .into_result()
                .map_err(|e| e.to_string())?;
            Ok((
                v["fields"].as_object().map_or(0, |f| f.len()).to_string(),
                f64::NAN,
            ))
        }),
    ));
    for (id, request) in &list {
        if only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(id)) {
            measure(&client, id, runs, concurrency, request)?;
        }
    }
    Ok(())
}
