//! `segdb bench ingest`: a real-time ingest load on a server (W11 of
//! ../shared/bench/DATASET.md) and what it does to queries.
//!
//! 1. W1–W6 through `POST /v1/query` on the idle server (medians).
//! 2. `--clients` threads send `--batch`-operation batches to
//!    `POST /v1/tables/{t}/ingest` for `--seconds` (each with its own
//!    `Idempotency-Key`; a 503 is waited out and the batch sent again),
//!    over ids of the table plus some new ones: mostly events on `--day`,
//!    some city/age sets and interest adds/removes.
//! 3. Meanwhile: a visibility probe (a batch giving a fresh id an event on
//!    `--probe-day`, then COUNTs until the marker shows: time from the ack
//!    to a COUNT that includes it), `segdb_delta_bytes` sampled from
//!    `/metrics`, and W1–W6 again under the load.
//! 4. Operations/s, ack latency p50/p90/p99/max, errors by status, the
//!    probe, the delta memory (max, last) and W1–W6 idle vs loaded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use segdb_server::client::{Client, ClientError};
use segdb_server::workload;

use crate::AnyError;

/// Flags of `segdb bench ingest`.
#[derive(clap::Args)]
pub struct IngestArgs {
    /// The server, e.g. `http://127.0.0.1:7878`.
    #[arg(long)]
    url: String,
    /// Bearer token (write role at least).
    #[arg(long)]
    token: Option<String>,
    /// Trust only this certificate (PEM) for an https:// --url.
    #[arg(long, env = "SEGDB_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// The table (the standard `users` table).
    #[arg(long, default_value = "users")]
    table: String,
    /// Threads sending batches at once.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Operations per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How long the load runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The day of the load's events (the data set's "today").
    #[arg(long, default_value = "2026-11-22")]
    day: String,
    /// The day of the visibility probe's markers (no other event on it).
    #[arg(long, default_value = "2026-01-01")]
    probe_day: String,
    /// Runs of each of W1–W6, idle and under load.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Share of operations on new ids.
    #[arg(long, default_value_t = 0.02)]
    new_ids: f64,
    /// Seed of the operations.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `p` quantile (nearest rank) of sorted values.
fn q(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    q(&v, 0.5)
}

/// Medians of W1–W6 round trips, `runs` each (after 2 warm-ups).
fn workload_medians(client: &Client, runs: usize) -> Result<Vec<(&'static str, f64)>, AnyError> {
    let mut out = Vec::new();
    for (id, text) in workload::COUNT_WORKLOADS {
        for _ in 0..2 {
            client.query(text)?;
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            client.query(text)?;
            times.push(ms(t.elapsed()));
        }
        out.push((id, median(times)));
    }
    Ok(out)
}

/// Random operations of the standard users table.
struct Ops {
    rng: Pcg64,
    rows: u64,
    next_new: &'static AtomicU64,
    new_share: f64,
    day: String,
}

impl Ops {
    fn id(&mut self) -> String {
        let n = if self.rng.gen_bool(self.new_share) {
            self.next_new.fetch_add(1, Ordering::Relaxed)
        } else {
            self.rng.gen_range(0..self.rows.max(1))
        };
        format!("u{n:09}")
    }

    fn line(&mut self, out: &mut String) {
        use std::fmt::Write;
        let id = self.id();
        let r = self.rng.gen_range(0..100);
        let _ = match r {
            0..=69 => {
                let (event, count) = match self.rng.gen_range(0..10) {
                    0..=4 => ("search", self.rng.gen_range(1..=4)),
                    5..=7 => ("view", self.rng.gen_range(1..=5)),
                    8 => ("favorite", 1),
                    _ => ("book", 1),
                };
                writeln!(
                    out,
                    r#"{{"id":"{id}","event":"{event}","day":"{}","count":{count}}}"#,
                    self.day
                )
            }
            70..=77 => writeln!(
                out,
                r#"{{"id":"{id}","set":{{"city":"c{:03}"}}}}"#,
                // Roughly Zipf-like: small numbers more often.
                (self.rng.gen_range(0.0f64..1.0).powi(3) * 300.0) as u32
            ),
            78..=84 => writeln!(
                out,
                r#"{{"id":"{id}","set":{{"age":{}}}}}"#,
                self.rng.gen_range(16..=80)
            ),
            85..=86 => writeln!(
                out,
                r#"{{"id":"{id}","set":{{"city":"c{:03}","age":{}}}}}"#,
                self.rng.gen_range(0..300),
                self.rng.gen_range(16..=80)
            ),
            87..=94 => writeln!(
                out,
                r#"{{"id":"{id}","add":{{"interests":["i{:02}"]}}}}"#,
                self.rng.gen_range(0..40)
            ),
            _ => writeln!(
                out,
                r#"{{"id":"{id}","remove":{{"interests":["i{:02}"]}}}}"#,
                self.rng.gen_range(0..40)
            ),
        };
    }

    fn batch(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n * 72);
        for _ in 0..n {
            self.line(&mut s);
        }
        s
    }
}

/// What the ingest threads saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    operations: u64,
    batches: u64,
    duplicates: u64,
    errors: BTreeMap<String, u64>,
}

/// Sends `body` with `key` until it is acknowledged (a 503 is waited out
/// and retried); every other failure is counted and the batch dropped.
fn send(client: &Client, path: &str, key: &str, body: &[u8], tally: &mut Tally, stop: &AtomicBool) {
    loop {
        let t = Instant::now();
        let r = client.request(
            "POST",
            path,
            &[
                ("content-type", "application/x-ndjson"),
                ("idempotency-key", key),
            ],
            Some(body),
        );
        let elapsed = ms(t.elapsed());
        match r {
            Ok(r) if r.status == 200 => {
                let v = r.json();
                tally.latencies.push(elapsed);
                tally.batches += 1;
                tally.operations += v["operations"].as_u64().unwrap_or(0);
                tally.duplicates += u64::from(v["duplicate"].as_bool().unwrap_or(false));
                return;
            }
            Ok(r) if r.status == 503 => {
                *tally.errors.entry("503".into()).or_default() += 1;
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let wait = r
                    .retry_after
                    .as_deref()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map_or(0.2, |s| s.clamp(0.01, 1.0));
                std::thread::sleep(Duration::from_secs_f64(wait));
            }
            Ok(r) => {
                let code = r.json()["error"]["code"].as_str().unwrap_or("").to_owned();
                *tally
                    .errors
                    .entry(format!("{} {code}", r.status))
                    .or_default() += 1;
                return;
            }
            Err(e) => {
                let what = match e {
                    ClientError::Transport(_) => "transport".to_owned(),
                    ClientError::Api { status, .. } => status.to_string(),
                };
                *tally.errors.entry(what).or_default() += 1;
                return;
            }
        }
    }
}

/// `segdb_delta_bytes` (and `segdb_flushes_total`) from `/metrics`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn scrape(client: &Client) -> Option<String> {
    let r = client.request("GET", "/metrics", &[], None).ok()?;
    (r.status == 200).then(|| r.text())
}

pub fn bench_ingest(a: IngestArgs) -> Result<(), AnyError> {
    let client = crate::client(&a.url, a.token.clone(), a.ca_cert.as_deref())?;
    let info = client
        .request("GET", &format!("/v1/tables/{}", a.table), &[], None)?
        .into_result()?;
    let rows = info["rows"].as_u64().ok_or("the table has no row count")?;
    let clients = a.clients.max(1);
    outln!(
        "server {}, table {} ({rows} rows); {clients} clients x {}-operation batches for {} s",
        a.url,
        a.table,
        a.batch,
        a.seconds
    );

    // 1. Idle.
    let idle = workload_medians(&client, a.runs)?;
    let before = scrape(&client).unwrap_or_default();

    // The probe's baseline: markers of earlier runs.
    let probe_filter = format!(
        "SELECT COUNT(*) FROM {} WHERE did(search, '{}'..'{}')",
        a.table, a.probe_day, a.probe_day
    );
    let count = |c: &Client| -> Result<u64, String> {
        let v = c.query(&probe_filter).map_err(|e| e.to_string())?;
        v["rows"][0][0]
            .as_u64()
            .ok_or_else(|| format!("`{probe_filter}` answered {v}"))
    };
    let probe_base = count(&client)?;

    let next_new: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(
        rows + 1_000_000_000 * (a.seed % 4 + 1),
    )));
    let stop = AtomicBool::new(false);
    let delta = Mutex::new((0f64, 0f64, 0usize)); // max, last, samples
    let probes = Mutex::new(Vec::<(f64, f64, u32)>::new()); // ack ms, ack->visible ms, queries
    let path = format!("/v1/tables/{}/ingest", a.table);
    let run = std::process::id();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);

    let (tallies, loaded) = std::thread::scope(|s| -> Result<_, AnyError> {
        let mut handles = Vec::new();
        for t in 0..clients {
            let (client, path, stop, day) = (client.clone(), &path, &stop, a.day.clone());
            let (batch, seed, new_share) = (a.batch, a.seed, a.new_ids);
            handles.push(s.spawn(move || {
                let mut ops = Ops {
                    rng: Pcg64::seed_from_u64(seed.wrapping_add(t as u64 * 7919)),
                    rows,
                    next_new,
                    new_share,
                    day,
                };
                let mut tally = Tally::default();
                let mut n = 0u64;
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    let body = ops.batch(batch);
                    n += 1;
                    let key = format!("bench-{run}-{seed}-{t}-{n}");
                    send(&client, path, &key, body.as_bytes(), &mut tally, stop);
                }
                tally
            }));
        }
        // The delta's memory.
        s.spawn(|| {
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                if let Some(v) = scrape(&client).and_then(|t| metric(&t, "segdb_delta_bytes")) {
                    let mut d = delta.lock().unwrap();
                    d.0 = d.0.max(v);
                    d.1 = v;
                    d.2 += 1;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        // The visibility probe.
        let probe = s.spawn(|| -> Result<(), String> {
            let mut seen = probe_base;
            let mut n = 0u64;
            std::thread::sleep(Duration::from_millis(500));
            while Instant::now() + Duration::from_secs(1) < deadline
                && !stop.load(Ordering::Relaxed)
            {
                n += 1;
                let body = format!(
                    r#"{{"id":"probe-{run}-{n}","event":"search","day":"{}","count":1}}"#,
                    a.probe_day
                );
                let mut tally = Tally::default();
                let t = Instant::now();
                send(
                    &client,
                    &path,
                    &format!("probe-{run}-{n}"),
                    body.as_bytes(),
                    &mut tally,
                    &stop,
                );
                if tally.batches == 0 {
                    continue; // counted nowhere: the load's tallies say why
                }
                let acked = Instant::now();
                let ack_ms = ms(acked - t);
                let mut queries = 0u32;
                loop {
                    queries += 1;
                    let c = count(&client)?;
                    if c > seen {
                        seen = c;
                        break;
                    }
                    if acked.elapsed() > Duration::from_secs(10) {
                        return Err(format!("probe {n} not visible 10 s after its ack"));
                    }
                }
                probes
                    .lock()
                    .unwrap()
                    .push((ack_ms, ms(acked.elapsed()), queries));
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok(())
        });
        // W1–W6 under the load (after it got going).
        std::thread::sleep(Duration::from_millis(1000).min(Duration::from_secs(a.seconds) / 4));
        let loaded = workload_medians(&client, a.runs);
        let loaded_in_time = Instant::now() < deadline;
        if loaded.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let tallies: Vec<Tally> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        probe.join().unwrap()?;
        Ok((tallies, (loaded?, loaded_in_time)))
    })?;
    let (loaded, loaded_in_time) = loaded;
    let wall = started.elapsed().as_secs_f64();

    let mut all = Tally::default();
    for t in tallies {
        all.latencies.extend(t.latencies);
        all.operations += t.operations;
        all.batches += t.batches;
        all.duplicates += t.duplicates;
        for (k, v) in t.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    all.latencies.sort_by(|a, b| a.total_cmp(b));
    let after = scrape(&client).unwrap_or_default();
    let diff =
        |name: &str| metric(&after, name).unwrap_or(0.0) - metric(&before, name).unwrap_or(0.0);

    outln!("");
    outln!(
        "ingest: {} operations in {} batches in {wall:.1} s = {:.0} operations/s ({:.1} batches/s)",
        all.operations,
        all.batches,
        all.operations as f64 / wall,
        all.batches as f64 / wall
    );
    outln!(
        "ack latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        q(&all.latencies, 0.5),
        q(&all.latencies, 0.9),
        q(&all.latencies, 0.99),
        all.latencies.last().copied().unwrap_or(f64::NAN)
    );
    if all.errors.is_empty() {
        outln!("errors: none");
    } else {
        let list: Vec<String> = all
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        outln!("errors by status: {}", list.join(", "));
    }
    if all.duplicates > 0 {
        outln!(
            "acknowledged as duplicates (503 retries that had landed): {}",
            all.duplicates
        );
    }
    outln!(
        "flushes during the run: {:.0}, compactions: {:.0}",
        diff("segdb_flushes_total"),
        diff("segdb_compactions_total")
    );
    let (dmax, dlast, samples) = *delta.lock().unwrap();
    outln!(
        "delta memory (segdb_delta_bytes, {samples} samples): max {:.1} MiB, last {:.1} MiB",
        dmax / (1 << 20) as f64,
        dlast / (1 << 20) as f64
    );
    let probes = probes.into_inner().unwrap();
    if probes.is_empty() {
        outln!("visibility probe: no probe acknowledged");
    } else {
        let vis: Vec<f64> = probes.iter().map(|p| p.1).collect();
        let acks: Vec<f64> = probes.iter().map(|p| p.0).collect();
        let first_try = probes.iter().filter(|p| p.2 == 1).count();
        let mut sorted = vis.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        outln!(
            "visibility probe: {} markers; visible in the first COUNT after the ack: {first_try}/{}; \
             ack -> visible COUNT answered: median {:.1} ms, max {:.1} ms (probe ack median {:.1} ms)",
            probes.len(),
            probes.len(),
            median(vis),
            sorted.last().copied().unwrap_or(f64::NAN),
            median(acks)
        );
    }
    if !loaded_in_time {
        outln!("(W1–W6 under load ran past the end of the load: raise --seconds)");
    }
    outln!("");
    outln!(
        "{:<4} {:>12} {:>12} {:>8}",
        "id",
        "idle ms",
        "loaded ms",
        "ratio"
    );
    for ((id, i), (_, l)) in idle.iter().zip(&loaded) {
        outln!("{id:<4} {i:>12.3} {l:>12.3} {:>8.2}", l / i);
    }
    Ok(())
}
