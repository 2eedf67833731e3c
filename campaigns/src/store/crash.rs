//! Crash consistency of campaign files (the style of the engine's
//! `tests/crash_flush.rs`): a fixed sequence of operations runs with every
//! write through a `FaultyFs`; for every fsync and rename of a clean run,
//! one run fails that fsync, one cuts the power right after it and one
//! fails that rename. The sequence stops at the first error; what was not
//! fsynced is lost, the campaigns are reopened on the real files, and
//! what they hold must be the state after the acknowledged operations, or
//! after the one in doubt as well: whole or absent, never a mix. Every
//! run the catalog names reads back with the clean run's bitmaps.

use std::path::Path;
use std::sync::Arc;

use segdb_engine::Store;
use segdb_storage_format::wal::FaultyFs;

use super::*;
use crate::definition::{Cap, Kind, Role};
use crate::lifecycle::Action;
use crate::testutil::{self, NOW, TODAY};

/// What a reopen shows: the catalog, the table cap, the touches.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    campaigns: Vec<Campaign>,
    cap: Option<Cap>,
    touches: TableTouches,
}

fn seen(c: &CampaignStore) -> Seen {
    Seen {
        campaigns: c.list(),
        cap: c.table_cap("users"),
        touches: c.touches("users", TODAY).unwrap(),
    }
}

fn def(name: &str, audience: &str, priority: i32) -> CampaignDef {
    serde_json::from_value(serde_json::json!({
        "name": name, "table": "users",
        "audience": {"where": audience},
        "channel": {"file": {"dir": "/tmp/segdb-out", "format": "csv"}},
        "variants": [
            {"name": "a", "weight": 1, "template": "Hi {name}"},
            {"name": "b", "weight": 3, "template": "Yo {name}"}
        ],
        "holdout": 0.2, "priority": priority,
        "schedule": "now"
    }))
    .unwrap()
}

/// Runs the sequence on campaigns in `dir` through `fs`; returns how many
/// operations were acknowledged, whether one more failed (it is then in
/// doubt), and the state after each acknowledged one (`[0]`: before any).
fn run(store: &Store, dir: &Path, fs: &FaultyFs) -> (usize, bool, Vec<Seen>) {
    let c = match CampaignStore::open_with(dir, Arc::new(fs.clone())) {
        Ok(c) => c,
        Err(_) => return (0, true, Vec::new()),
    };
    let ann = Actor::new("ann", Role::Write);
    let boss = Actor::new("boss", Role::Admin);
    let sched = Actor::new("scheduler", Role::Admin);
    let sent = |name: &str| -> Result<roaring::RoaringBitmap, CampaignError> {
        let r = c.load_run(name, 1)?;
        Ok(r.variants
            .iter()
            .fold(roaring::RoaringBitmap::new(), |a, v| a | v))
    };
    type Op<'a> = Box<dyn Fn() -> Result<(), CampaignError> + 'a>;
    let ops: Vec<Op<'_>> = vec![
        Box::new(|| {
            c.create(store, def("a", "age >= 10", 1), &ann, NOW)
                .map(drop)
        }),
        Box::new(|| c.act("a", Action::Start, &ann, NOW).map(drop)),
        Box::new(|| {
            c.create(store, def("b", "city = 'c1'", 5), &ann, NOW)
                .map(drop)
        }),
        Box::new(|| c.act("b", Action::Start, &ann, NOW).map(drop)),
        Box::new(|| c.set_table_cap(store, "users", Some(Cap { max: 1, days: 3 }), &boss)),
        Box::new(|| c.start_runs(store, &["a", "b"], &sched, NOW).map(drop)),
        Box::new(|| c.record_touches("users", 2, Kind::Marketing, TODAY, &sent("b")?)),
        Box::new(|| c.record_touches("users", 1, Kind::Marketing, TODAY, &sent("a")?)),
        Box::new(|| c.finish_run("a", false, &sched, NOW + 5).map(drop)),
        Box::new(|| c.finish_run("b", false, &sched, NOW + 6).map(drop)),
    ];
    let mut states = vec![seen(&c)];
    for (i, op) in ops.iter().enumerate() {
        if op().is_err() {
            return (i, true, states);
        }
        states.push(seen(&c));
    }
    (ops.len(), false, states)
}

/// A clean run: the states after 0, 1, … operations, the runs' bitmaps,
/// and how many fsyncs and renames there are to hit.
fn clean_run(store: &Store) -> (Vec<Seen>, Vec<RunBitmaps>, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let (done, failed, states) = run(store, dir.path(), &fs);
    assert!(!failed && done == 10);
    let c = CampaignStore::open(dir.path()).unwrap();
    assert_eq!(seen(&c), states[done]);
    let runs = vec![c.load_run("a", 1).unwrap(), c.load_run("b", 1).unwrap()];
    (states, runs, fs.num_syncs(), fs.num_renames())
}

fn crash_and_check(
    what: &str,
    store: &Store,
    states: &[Seen],
    runs: &[RunBitmaps],
    inject: impl Fn(&FaultyFs),
) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    inject(&fs);
    let (acked, in_doubt, _) = run(store, dir.path(), &fs);
    fs.lose_unsynced_data().unwrap();
    let c = CampaignStore::open(dir.path())
        .unwrap_or_else(|e| panic!("{what}: the campaigns do not open after the power loss: {e}"));
    let found = seen(&c);
    let ok = found == states[acked] || (in_doubt && found == states[acked + 1]);
    assert!(
        ok,
        "{what}: after {acked} acknowledged operations (one more in doubt: {in_doubt}) found {found:#?}"
    );
    for (i, name) in ["a", "b"].iter().enumerate() {
        if c.get(name).is_ok_and(|x| !x.runs.is_empty()) {
            assert_eq!(
                &c.load_run(name, 1).unwrap(),
                &runs[i],
                "{what}: run of {name}"
            );
        }
    }
    // No run directory is left that the catalog does not name.
    let named: usize = found.campaigns.iter().map(|c| c.runs.len()).sum();
    let on_disk = std::fs::read_dir(dir.path().join(CAMPAIGNS_DIR).join("runs"))
        .unwrap()
        .count();
    assert_eq!(on_disk, named, "{what}");
}

#[test]
fn a_power_loss_at_any_fsync_or_rename_leaves_campaigns_whole() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = testutil::store(store_dir.path(), 40);
    let (states, runs, syncs, renames) = clean_run(&store);
    // Five catalog writes, two runs of five bitmaps, two touch files, the
    // runs' catalog write and two more: every one through the layer.
    assert!(
        syncs >= 20 && renames >= 20,
        "{syncs} fsyncs, {renames} renames"
    );
    assert_ne!(states[5], states[6]);
    crash_and_check("no fault", &store, &states, &runs, |_| {});
    for n in 1..=syncs {
        crash_and_check(&format!("fsync {n} fails"), &store, &states, &runs, |fs| {
            fs.fail_sync_at(n)
        });
        crash_and_check(
            &format!("power cut after fsync {n}"),
            &store,
            &states,
            &runs,
            |fs| fs.cut_power_after_syncs(n),
        );
    }
    for n in 1..=renames {
        crash_and_check(&format!("rename {n} fails"), &store, &states, &runs, |fs| {
            fs.fail_rename_at(n)
        });
    }
    println!(
        "{syncs} fsyncs each failed once and each followed by a power cut, {renames} renames \
         each failed once; the campaigns opened whole every time"
    );
}
