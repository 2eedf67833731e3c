//! Real-time ingest with event triggers armed, against the same ingest
//! without (issue 15's target: within 1.5x), and the memory of a million
//! pending timers.
//!
//! Data: a store of USERS users (`effects_fixture::users_table`: `age`,
//! `city`, `book`) plus an EVENT field `pay`. Trigger campaign `remind`:
//! `ON EVENT book AND NOT pay WITHIN 10 MINUTES WHERE age >= 18`.
//!
//! Ingest: THREADS threads send BATCH-operation batches (50% `book`, 10%
//! `pay`, 40% sets of `age` or `city`, over random users) through the
//! server's path without HTTP: `Store::ingest`, then, when a trigger
//! watches the table, `TriggerSet::observe` (ids to rows, the condition on
//! the users' chunks, the timers, one fsynced trigger-log record).
//! Rounds of SECONDS alternate without triggers (the campaign paused) and
//! with them (running), four each; prints operations/s per round and the
//! medians, and the timers armed.
//!
//! Memory: the campaign is cancelled (its timers dropped), a second one
//! `ON EVENT book AND NOT pay WITHIN 1 HOUR` (no condition) started, and every user
//! books, observed in batches of 10,000 (without the engine's write, so
//! that only the timers grow): the resident set before and after, and the
//! time per batch.
//!
//! `cargo run --release -p segdb-benches --bin trigger_ingest -- [USERS] [THREADS] [BATCH] [SECONDS] [DIR]`
//!
//! Defaults: 1,000,000 users, 4 threads, batches of 1,000, 5 s rounds;
//! DIR (default: a new directory under the system's temporary directory)
//! is removed at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segdb_benches::effects_fixture::{rss_mib, user_id, users_table};
use segdb_campaigns::trigger::TriggerSet;
use segdb_campaigns::{Action, Actor, CampaignDef, CampaignStore, Role};
use segdb_engine::write::{parse_batch, Op};
use segdb_engine::{FieldDef, FieldKind, Store};

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

const DAY: &str = "2026-12-05";
const NOW: i64 = 1_796_464_800;

fn batch_text(rng: &mut Rng, n: usize, users: u32) -> String {
    let mut s = String::with_capacity(n * 64);
    for _ in 0..n {
        let id = user_id(rng.below(u64::from(users)) as u32);
        let line = match rng.below(10) {
            0..=4 => format!("{{\"id\":\"{id}\",\"event\":\"book\",\"day\":\"{DAY}\"}}"),
            5 => format!("{{\"id\":\"{id}\",\"event\":\"pay\",\"day\":\"{DAY}\"}}"),
            6 | 7 => format!("{{\"id\":\"{id}\",\"set\":{{\"age\":{}}}}}", rng.below(80)),
            _ => format!(
                "{{\"id\":\"{id}\",\"set\":{{\"city\":\"c{:02}\"}}}}",
                rng.below(20)
            ),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn trigger(name: &str, within: u32, condition: bool) -> Result<CampaignDef, serde_json::Error> {
    let mut def = serde_json::json!({
        "name": name, "table": "users", "audience": {"where": "age >= 0"},
        "channel": {"file": {"dir": "/tmp/segdb-trigger-bench", "format": "jsonl"}},
        "variants": [{"name": "a", "weight": 1, "template": "Finish your booking"}],
        "schedule": {"on_event": {"event": "book",
            "and_not": {"event": "pay", "within_seconds": within},
            "where": "age >= 18"}},
    });
    if !condition {
        def["schedule"]["on_event"]
            .as_object_mut()
            .map(|o| o.remove("where"));
    }
    serde_json::from_value(def)
}

/// One round: operations/s over `seconds`, and the mean time of a batch's
/// ingest and of its observation.
fn round(
    store: &Arc<Store>,
    set: &Arc<TriggerSet>,
    threads: usize,
    batch: usize,
    seconds: u64,
    users: u32,
    seed: u64,
) -> (f64, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, set, stop) = (store.clone(), set.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ ((t as u64 + 1) * 0x9E37_79B9_7F4A_7C15));
                let schema = store.table("users").expect("users").schema().clone();
                let mut ops = 0u64;
                let mut at = NOW * 1000;
                let (mut ingest_t, mut observe_t, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
                while !stop.load(Ordering::Relaxed) {
                    let text = batch_text(&mut rng, batch, users);
                    let b = parse_batch(&schema, &text).expect("a valid batch");
                    let watched: Option<Vec<Op>> = set.watches("users").then(|| b.ops.clone());
                    let t0 = Instant::now();
                    store.ingest("users", b).expect("ingest");
                    let t1 = Instant::now();
                    if let Some(ops) = watched {
                        at += 1;
                        set.observe(&store, "users", &ops, at).expect("observe");
                    }
                    ingest_t += t1 - t0;
                    observe_t += t1.elapsed();
                    n += 1;
                    ops += batch as u64;
                }
                (ops, ingest_t / n.max(1), observe_t / n.max(1))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let (mut ops, mut ingest_t, mut observe_t) = (0, Duration::ZERO, Duration::ZERO);
    for w in workers {
        let (o, i, b) = w.join().expect("worker");
        ops += o;
        ingest_t += i / threads as u32;
        observe_t += b / threads as u32;
    }
    (
        ops as f64 / started.elapsed().as_secs_f64(),
        ingest_t,
        observe_t,
    )
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trigger_ingest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let users = arg(1, 1_000_000) as u32;
    let threads = arg(2, 4) as usize;
    let batch = arg(3, 1000) as usize;
    let seconds = arg(4, 5);
    let dir = match args.get(5) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("segdb-trigger-ingest-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let made = Instant::now();
    let store = Arc::new(Store::open(&dir)?);
    users_table(&store, users, 20_790)?;
    store.add_field("users", FieldDef::new("pay", FieldKind::Event))?;
    println!(
        "{users} users made in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    let campaigns = CampaignStore::open(&dir)?;
    let ann = Actor::new("bench", Role::Write);
    campaigns.create(&store, trigger("remind", 600, true)?, &ann, NOW)?;
    campaigns.act("remind", Action::Start, &ann, NOW)?;
    campaigns.act("remind", Action::Pause, &ann, NOW)?;
    let set = Arc::new(TriggerSet::open(&dir, &campaigns.list())?);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for r in 0..8u64 {
        let armed = r % 2 == 1;
        let action = if armed { Action::Resume } else { Action::Pause };
        if r > 0 || armed {
            campaigns.act("remind", action, &ann, NOW)?;
        }
        set.refresh(&campaigns.list());
        assert_eq!(set.watches("users"), armed);
        let (ops, ingest_t, observe_t) =
            round(&store, &set, threads, batch, seconds, users, r * 7919 + 1);
        println!(
            "round {}: triggers {}: {ops:.0} operations/s; a batch's ingest {:.2} ms, its observation {:.2} ms",
            r + 1,
            if armed { "armed" } else { "off  " },
            ingest_t.as_secs_f64() * 1e3,
            observe_t.as_secs_f64() * 1e3
        );
        if armed { &mut with } else { &mut without }.push(ops);
        store.maintain()?;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[1] + v[2]) / 2.0
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "{threads} threads x {batch}-op batches, {seconds} s rounds: median {wo:.0} operations/s without triggers, {w:.0} with ({:.2}x); timers armed {}, cancelled {}, pending {}",
        wo / w,
        set.stats.armed.load(Ordering::Relaxed),
        set.stats.cancelled.load(Ordering::Relaxed),
        set.pending(None)
    );

    // A million pending timers.
    campaigns.act("remind", Action::Cancel, &ann, NOW)?;
    campaigns.create(&store, trigger("hold", 3600, false)?, &ann, NOW)?;
    campaigns.act("hold", Action::Start, &ann, NOW)?;
    set.refresh(&campaigns.list());
    let schema = store.table("users")?.schema().clone();
    let (before, _) = rss_mib();
    let started = Instant::now();
    let mut lat = Vec::new();
    for first in (0..users).step_by(10_000) {
        let text: String = (first..(first + 10_000).min(users))
            .map(|i| {
                format!(
                    "{{\"id\":\"{}\",\"event\":\"book\",\"day\":\"{DAY}\"}}\n",
                    user_id(i)
                )
            })
            .collect();
        let ops = parse_batch(&schema, &text)?.ops;
        let t0 = Instant::now();
        set.observe(&store, "users", &ops, NOW * 1000 + 10_000_000)?;
        lat.push(t0.elapsed());
    }
    let (after, hwm) = rss_mib();
    lat.sort();
    let pending = set.pending(None);
    println!(
        "{pending} timers pending (every user): resident set {before:.1} -> {after:.1} MiB (+{:.1} MiB, {:.0} bytes a timer; peak {hwm:.1} MiB); {:.1} s in all, a 10,000-event batch observed in median {:.2} ms",
        after - before,
        (after - before) * 1048576.0 / pending.max(1) as f64,
        started.elapsed().as_secs_f64(),
        lat[lat.len() / 2].as_secs_f64() * 1e3
    );
    let log_bytes = set.log_bytes();
    let t0 = Instant::now();
    set.checkpoint()?;
    println!(
        "snapshot of the timers written in {:.1} ms (the trigger log held {log_bytes} bytes)",
        t0.elapsed().as_secs_f64() * 1e3
    );
    drop(set);
    let t0 = Instant::now();
    let set = TriggerSet::open(&dir, &campaigns.list())?;
    println!(
        "reopened ({} timers) in {:.1} ms",
        set.pending(None),
        t0.elapsed().as_secs_f64() * 1e3
    );
    if args.get(5).is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
