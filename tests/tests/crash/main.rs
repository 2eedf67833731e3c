//! Crash test of real-time ingest through the real `segdb` binary.
//!
//! A server runs on a temporary store with small flush thresholds (so that
//! flushes and compactions happen all the time). Client threads stream
//! `POST /v1/tables/t/ingest` batches, each with its own `Idempotency-Key`,
//! and record every batch answered 200 with the `seq` it got. The server is
//! killed with SIGKILL (`Child::kill`) at random moments, some of them
//! right after a flush wrote the key file or the manifest, and started
//! again on the same directory. After each restart:
//!
//! 1. every batch that was in flight at the kill (sent, no answer) is sent
//!    again with its key: it must be answered 200, `duplicate: true` with
//!    its old `seq` if it had landed, or applied now (a new `seq`);
//! 2. a model rebuilt from the acknowledged batches in `seq` order must
//!    agree with the server: COUNT(*), counts per city, per interest, age
//!    ranges, vip true/false/null, EVENT count thresholds over windows, a
//!    few combinations, and the profile of a sample of rows (every field,
//!    event counts per day: exact sums).
//!
//! A batch half applied, an acknowledged batch lost, or a retry applied
//! twice shows up as a disagreement (events add up, so a lost or doubled
//! batch changes a count).
//!
//! The binary: `SEGDB_BIN` if set; else `target/<profile>/segdb` next to
//! this test's executable (the parent of `deps/`), first brought up to date
//! with `$CARGO build -p segdb-server --bin segdb` (a no-op when it is
//! fresh; skipped if cargo cannot be run, when the binary must exist).
//!
//! Found by this test (2026-11-23), fixed: a flush saved only the
//! idempotency keys of batches whose `Store::ingest` call had finished,
//! though it flushed every *published* batch; a batch killed between its
//! publish and its answer lost its key, and its retry after the restart was
//! applied a second time. Keys now become done when their batch is applied.
//!
//! Knobs: `SEGDB_CRASH_KILLS` (kills, 24 by default; e.g. 500 for a long
//! run), `SEGDB_CRASH_SEED` (the random seed; printed at the start, so a
//! failure can be replayed as far as timing allows), `SEGDB_CRASH_CLIENTS`
//! (ingest threads, 4), `SEGDB_CRASH_KEEP=1` (keep the store directory and
//! print its path).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use segdb_server::client::{Client, ClientError};
use serde_json::{json, Value};

mod check;
mod model;
mod server;

use check::*;
use model::*;
use server::*;

const TABLE: &str = "t";
const CITIES: usize = 10;
const INTERESTS: usize = 10;
/// Ids `u0000`… picked at random from this many; fresh ids `n…` are new.
const BASE_IDS: u64 = 300;
/// The EVENT days: the 30 days ending 2026-11-22.
const LAST_DAY: &str = "2026-11-22";

fn days() -> Vec<String> {
    let mut d: Vec<String> = (24..=31).map(|i| format!("2026-10-{i:02}")).collect();
    d.extend((1..=22).map(|i| format!("2026-11-{i:02}")));
    d
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{v}` is not a number")),
        Err(_) => default,
    }
}

/// How a kill is timed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After a random time.
    Random,
    /// Right after a flush saved the idempotency keys (before or just after
    /// its manifest).
    KeysSaved,
    /// Right after a new manifest (a flush or a compaction committed).
    Manifest,
}

fn mtime(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.ino_or_len()))
}

trait InoOrLen {
    fn ino_or_len(&self) -> u64;
}

impl InoOrLen for std::fs::Metadata {
    #[cfg(unix)]
    fn ino_or_len(&self) -> u64 {
        std::os::unix::fs::MetadataExt::ino(self)
    }
    #[cfg(not(unix))]
    fn ino_or_len(&self) -> u64 {
        self.len()
    }
}

/// Waits until `file` is replaced (new inode or mtime), at most `limit`.
fn wait_for_change(file: &Path, limit: Duration) -> bool {
    let before = mtime(file);
    let start = Instant::now();
    while start.elapsed() < limit {
        if mtime(file) != before {
            return true;
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    false
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let kills = env_num("SEGDB_CRASH_KILLS", 24) as usize;
    let clients = env_num("SEGDB_CRASH_CLIENTS", 4) as usize;
    let seed = env_num(
        "SEGDB_CRASH_SEED",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    eprintln!("crash test: {kills} kills, {clients} clients, SEGDB_CRASH_SEED={seed}");
    let bin = segdb_bin();
    let tmp = tempfile::tempdir().unwrap();
    let data = if std::env::var_os("SEGDB_CRASH_KEEP").is_some() {
        let d = std::env::temp_dir().join(format!("segdb-crash-{seed}"));
        eprintln!("store (kept): {}", d.display());
        d
    } else {
        tmp.path().join("store")
    };
    let mut rng = Pcg64::seed_from_u64(seed);
    let started = Instant::now();

    let mut server = Some(Server::start(&bin, &data));
    {
        let c = Client::new(&server.as_ref().unwrap().url, None);
        c.query(&format!(
            "CREATE TABLE {TABLE} (city ENUM, interests SET, age INT, vip BOOL, search EVENT)"
        ))
        .unwrap();
    }
    let fresh = Arc::new(AtomicU64::new(0));
    let mut gens: Vec<Gen> = (0..clients)
        .map(|t| Gen {
            rng: Pcg64::seed_from_u64(seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            thread: t,
            n: 0,
            run: seed,
            fresh: fresh.clone(),
            days: days(),
        })
        .collect();
    // Every acknowledged batch by seq; a seq is never given twice.
    let mut acked: BTreeMap<u64, Batch> = BTreeMap::new();
    let (mut retried_dup, mut retried_new, mut flush_kills) = (0, 0, 0);
    let mut last_check = Duration::ZERO;

    for k in 0..kills {
        let at = match k % 3 {
            0 => KillAt::Random,
            1 => KillAt::KeysSaved,
            _ => KillAt::Manifest,
        };
        let stop = AtomicBool::new(false);
        let url = server.as_ref().unwrap().url.clone();
        let logs: Vec<ThreadLog> = std::thread::scope(|s| {
            let handles: Vec<_> = gens
                .iter_mut()
                .map(|g| {
                    let (url, stop) = (&url, &stop);
                    s.spawn(move || client_thread(url, g, stop))
                })
                .collect();
            // Let the load run, then kill at the chosen moment.
            let warm = Duration::from_millis(rng.gen_range(100..900));
            std::thread::sleep(warm);
            let hit = match at {
                KillAt::Random => false,
                KillAt::KeysSaved => {
                    wait_for_change(&data.join("IDEMPOTENCY"), Duration::from_secs(3))
                }
                KillAt::Manifest => wait_for_change(&data.join("MANIFEST"), Duration::from_secs(3)),
            };
            if hit {
                flush_kills += 1;
                // Sometimes a little later: inside the manifest write or
                // the WAL cleanup after it.
                if rng.gen_bool(0.5) {
                    std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
                }
            }
            server.take().unwrap().kill();
            stop.store(true, Ordering::Relaxed);
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let restarted = Server::start(&bin, &data);
        let client = Client::new(&restarted.url, None);
        server = Some(restarted);
        let mut lost = Vec::new();
        for log in logs {
            for (seq, b) in log.acked {
                if let Some(old) = acked.insert(seq, b) {
                    panic!("seq {seq} was acknowledged twice (batch {})", old.key);
                }
            }
            lost.extend(log.lost);
        }
        // Batches without an answer: send them again with their keys.
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut retried: Vec<(u64, bool, Batch)> = Vec::new();
        for b in lost {
            touched.extend(b.ops.iter().map(|o| o.id().to_owned()));
            match send(&client, &b) {
                Sent::Acked(seq, dup) => {
                    if dup {
                        retried_dup += 1;
                        // Its old seq: it must not be one we know already.
                        assert!(
                            !acked.contains_key(&seq),
                            "retry of {} answered duplicate with seq {seq} of batch {}",
                            b.key,
                            acked[&seq].key
                        );
                    } else {
                        retried_new += 1;
                    }
                    retried.push((seq, dup, b.clone()));
                    if let Some(old) = acked.insert(seq, b) {
                        panic!("seq {seq} given to two batches ({})", old.key);
                    }
                }
                Sent::Lost => panic!("the restarted server went away"),
            }
        }
        // The model, rebuilt from every acknowledged batch in seq order.
        let t = Instant::now();
        let mut model = Model::default();
        for b in acked.values() {
            for op in &b.ops {
                model.apply(op);
            }
        }
        let mut ids: Vec<String> = touched.into_iter().collect();
        let all: Vec<&String> = model.rows.keys().collect();
        for _ in 0..60.min(all.len()) {
            ids.push(all[rng.gen_range(0..all.len())].clone());
        }
        ids.push("never-written".into());
        let retried: Vec<(u64, bool, &Batch)> =
            retried.iter().map(|(s, d, b)| (*s, *d, b)).collect();
        check(
            &client,
            &model,
            &ids,
            &retried,
            &format!("after kill {} ({at:?}, seed {seed})", k + 1),
        );
        last_check = t.elapsed();
        eprintln!(
            "kill {:>3} {:<9} {:>6} batches acknowledged, {} rows, check {:.0} ms",
            k + 1,
            format!("{at:?}"),
            acked.len(),
            model.rows.len(),
            last_check.as_secs_f64() * 1e3
        );
    }

    // A clean stop and start at the end: every row checked.
    let mut model = Model::default();
    for b in acked.values() {
        for op in &b.ops {
            model.apply(op);
        }
    }
    server.take().unwrap().terminate();
    let server = Server::start(&bin, &data);
    let client = Client::new(&server.url, None);
    let ids: Vec<String> = model.rows.keys().cloned().collect();
    check(&client, &model, &ids, &[], "after a clean restart");
    server.terminate();
    let ops: usize = acked.values().map(|b| b.ops.len()).sum();
    eprintln!(
        "crash test: {kills} kills ({flush_kills} right after a flush wrote), {} batches ({ops} operations) acknowledged, \
         {retried_dup} retries found applied, {retried_new} applied on retry, {} rows, {:.1} s (last check {:.0} ms)",
        acked.len(),
        model.rows.len(),
        started.elapsed().as_secs_f64(),
        last_check.as_secs_f64() * 1e3
    );
    assert!(
        acked.len() > kills,
        "too few batches were acknowledged: {}",
        acked.len()
    );
}
