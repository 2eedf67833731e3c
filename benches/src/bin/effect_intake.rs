//! Effect intake throughput, durable (issue 14's target: at least 200,000
//! effects/s): K threads push batches of B JSON lines through
//! `segdb_campaigns::effects::intake` (parse, attribute to the run,
//! one engine write acknowledged once its WAL record is fsynced: the
//! server's `POST /v1/campaigns/{name}/effects` without HTTP), while a
//! background thread runs `Store::maintain` (flush, compaction) every
//! 100 ms.
//!
//! Data: a store of USERS users (`effects_fixture`), campaign `spring`
//! over all of them (variants 1:1, a 10% hold-out), run 1 delivered to its
//! assigned users. Each line is a random user's effect: 99% of lines are
//! users the run sent to (60% delivered, 10% opened, 20% clicked, 10%
//! converted), 1% hold-out users (counted apart, unattributed); times
//! over the three days after the run.
//!
//! Prints effects/s over the wall time (the lines' text is made by each
//! thread before its batch and is not in the batch latency), batch
//! latency p50/p99, the WAL's records per fsync, the resident set, then
//! the time of each stage of an intake (one thread, run after the
//! others): parsing, reading the run's groups, attribution, the write.
//!
//! `cargo run --release -p segdb-benches --bin effect_intake -- [USERS] [EFFECTS] [BATCH] [THREADS] [DIR]`
//!
//! Defaults: 1,000,000 users, 2,000,000 effects, batches of 10,000
//! lines, 4 threads; DIR (default: a new directory under the system's
//! temporary directory) is removed at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use segdb_benches::effects_fixture::{
    delivered_campaign, json_line, rss_mib, user_id, users_table, CAMPAIGN,
};
use segdb_campaigns::deliver::DeliveryLog;
use segdb_campaigns::effects::{attribute, day_of, intake, parse_lines, Effect, EffectLine};
use segdb_campaigns::CampaignStore;
use segdb_engine::Store;

/// 2026-12-01T00:00:00Z.
const NOW: i64 = 1_796_083_200;

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

struct Args {
    users: u32,
    effects: u64,
    batch: usize,
    threads: usize,
    dir: PathBuf,
}

fn args() -> Option<Args> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> Option<u64> {
        match a.get(i) {
            None => Some(default),
            Some(s) => s.parse().ok().filter(|&n| n > 0),
        }
    };
    Some(Args {
        users: u32::try_from(num(0, 1_000_000)?).ok()?,
        effects: num(1, 2_000_000)?,
        batch: usize::try_from(num(2, 10_000)?).ok()?,
        threads: usize::try_from(num(3, 4)?).ok()?,
        dir: a.get(4).map(PathBuf::from).unwrap_or_else(|| {
            std::env::temp_dir().join(format!("segdb-effects-bench-{}", std::process::id()))
        }),
    })
}

fn main() -> ExitCode {
    let Some(args) = args() else {
        eprintln!("usage: effect_intake [USERS] [EFFECTS] [BATCH] [THREADS] [DIR]");
        return ExitCode::FAILURE;
    };
    let result = run(&args);
    let _ = std::fs::remove_dir_all(&args.dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `n` lines: 99% effects of users in `sent`, 1% of users in `apart`.
fn batch_text(
    rng: &mut Rng,
    n: usize,
    sent: &[u32],
    apart: &[u32],
    lines: &mut Vec<EffectLine>,
) -> String {
    lines.clear();
    for _ in 0..n {
        let row = if rng.below(100) == 0 {
            apart[rng.below(apart.len() as u64) as usize]
        } else {
            sent[rng.below(sent.len() as u64) as usize]
        };
        let effect = match rng.below(10) {
            0..=5 => Effect::Delivered,
            6 => Effect::Opened,
            7 | 8 => Effect::Clicked,
            _ => Effect::Converted,
        };
        lines.push(EffectLine {
            id: user_id(row),
            effect,
            at: NOW + 60 + rng.below(3 * 86_400) as i64,
            run: None,
        });
    }
    let mut s = String::with_capacity(n * 72);
    for l in lines.iter() {
        json_line(l, &mut s);
    }
    s
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&a.dir)?;
    let store = Arc::new(Store::open(&a.dir)?);
    users_table(&store, a.users, day_of(NOW))?;
    let (campaigns, log) = delivered_campaign(&store, &a.dir, NOW)?;
    let c = campaigns.get(CAMPAIGN)?;
    let frozen = campaigns.load_run(CAMPAIGN, 1)?;
    let sent: Vec<u32> = frozen
        .variants
        .iter()
        .fold(RoaringBitmap::new(), |acc, v| acc | v)
        .iter()
        .collect();
    let apart: Vec<u32> = frozen.holdout.iter().collect();
    println!(
        "store of {} users, run 1 sent to {} (hold-out {}), in {}; RSS {:.0} MiB",
        a.users,
        sent.len(),
        apart.len(),
        a.dir.display(),
        rss_mib().0
    );
    let (campaigns, log) = (Arc::new(campaigns), Arc::new(log));
    let (sent, apart) = (Arc::new(sent), Arc::new(apart));

    let stop = Arc::new(AtomicBool::new(false));
    let maint = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = store.maintain() {
                    eprintln!("maintain: {e}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let batches = a.effects.div_ceil(a.batch as u64);
    let next = Arc::new(AtomicU64::new(0));
    let before = store.live_stats();
    let started = Instant::now();
    let workers: Vec<_> = (0..a.threads)
        .map(|t| {
            let (store, campaigns, log) = (store.clone(), campaigns.clone(), log.clone());
            let (sent, apart, next) = (sent.clone(), apart.clone(), next.clone());
            let (batch, effects) = (a.batch, a.effects);
            std::thread::spawn(move || -> Result<(Vec<Duration>, u64, u64), String> {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678));
                let mut lines = Vec::new();
                let (mut lat, mut attributed, mut unattributed) = (Vec::new(), 0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= batches {
                        break;
                    }
                    let n = (effects - i * batch as u64).min(batch as u64) as usize;
                    let text = batch_text(&mut rng, n, &sent, &apart, &mut lines);
                    let t0 = Instant::now();
                    let ans = intake(
                        &store,
                        &campaigns,
                        Some(&log),
                        CAMPAIGN,
                        &text,
                        None,
                        NOW + 4 * 86_400,
                    )
                    .map_err(|e| format!("intake: {e:?}"))?;
                    lat.push(t0.elapsed());
                    attributed += ans.attributed;
                    unattributed += ans.unattributed;
                }
                Ok((lat, attributed, unattributed))
            })
        })
        .collect();
    let mut lat = Vec::new();
    let (mut attributed, mut unattributed) = (0, 0);
    for w in workers {
        let (l, x, y) = w.join().map_err(|_| "a worker panicked")??;
        lat.extend(l);
        attributed += x;
        unattributed += y;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    maint
        .join()
        .map_err(|_| "the maintenance thread panicked")?;
    if attributed + unattributed != a.effects {
        return Err(format!("{attributed} + {unattributed} of {} effects", a.effects).into());
    }
    lat.sort();
    let q = |p: f64| ms(lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]);
    let s = store.live_stats();
    let (rss, peak) = rss_mib();
    println!(
        "{} threads x {}-line batches: {} effects ({attributed} attributed, {unattributed} apart) in {secs:.2} s = {:.0} effects/s",
        a.threads,
        a.batch,
        a.effects,
        a.effects as f64 / secs
    );
    println!(
        "batch latency ms: p50 {:.2} p99 {:.2} max {:.2}",
        q(0.5),
        q(0.99),
        q(1.0)
    );
    println!(
        "WAL: {} records in {} fsyncs; flushes {}; RSS {rss:.0} MiB, peak {peak:.0} MiB",
        s.wal.records - before.wal.records,
        s.wal.syncs - before.wal.syncs,
        s.flushes - before.flushes
    );
    stages(&store, &campaigns, &log, &c, a, &sent, &apart)
}

/// The time of each stage of an intake, one thread, 20 batches (and,
/// apart, the time of attribution's lookups of the lines' ids alone).
fn stages(
    store: &Store,
    campaigns: &CampaignStore,
    log: &DeliveryLog,
    c: &segdb_campaigns::Campaign,
    a: &Args,
    sent: &[u32],
    apart: &[u32],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng(7);
    let mut lines = Vec::new();
    let mut t = [Duration::ZERO; 4];
    let mut lookups = Duration::ZERO;
    let n = 20;
    for _ in 0..n {
        let text = batch_text(&mut rng, a.batch, sent, apart, &mut lines);
        let t0 = Instant::now();
        let parsed = parse_lines(&text).map_err(|e| e.message)?;
        let t1 = Instant::now();
        let runs = campaigns.run_groups(c, Some(log))?;
        let t2 = Instant::now();
        let table = store.table("users")?;
        let done = attribute(&table, c.id, &runs, &parsed, None)?.map_err(|e| e.message)?;
        let t3 = Instant::now();
        for l in &parsed {
            table.row_of(&l.id)?;
        }
        lookups += t3.elapsed();
        drop(table);
        let t3 = Instant::now();
        store.write_tallied("users", &done.write)?;
        let t4 = Instant::now();
        for (s, d) in t.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *s += d;
        }
    }
    let per = |d: Duration| ms(d) / f64::from(n);
    println!(
        "stages, one thread, mean of {n} batches of {} (ms): parse {:.2}, run groups {:.2}, attribute {:.2} (its id lookups alone {:.2}), write (fsync) {:.2}",
        a.batch,
        per(t[0]),
        per(t[1]),
        per(t[2]),
        per(lookups),
        per(t[3])
    );
    Ok(())
}
