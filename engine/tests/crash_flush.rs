//! Power loss during flush and compaction, not only in the WAL (redb's
//! `tests/crash_consistency.rs` is the model). The WAL, every part and
//! dictionary part a flush or a compaction writes, the idempotency key
//! file and their manifests go through one `FaultyFs`. For every N over
//! the run's fsyncs and renames, a fresh store takes random batches
//! through the live path with flushes and a compaction while the Nth
//! fsync fails (its data lost, as Linux may drop the pages) or the Nth
//! rename fails without happening; the run stops at the first error, the
//! power goes (whatever was not fsynced is lost), and the store is opened
//! again on the real files. It must open, hold every acknowledged batch,
//! and hold the one batch in doubt whole or not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use segdb_engine::write::parse_batch;
use segdb_engine::{Expr, FieldDef, FieldKind, LiveOptions, Schema, Store};
use segdb_storage_format::wal::FaultyFs;

const IDS: u64 = 12;
const CITIES: u64 = 3;
const BATCHES: u64 = 10;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A batch: three rows set to a random city each.
type Writes = Vec<(String, String)>;

fn batch_writes(rng: &mut Rng) -> Writes {
    (0..3)
        .map(|_| {
            (
                format!("u{}", rng.next() % IDS),
                format!("c{}", rng.next() % CITIES),
            )
        })
        .collect()
}

fn apply(model: &mut BTreeMap<String, String>, writes: &Writes) {
    for (id, city) in writes {
        model.insert(id.clone(), city.clone());
    }
}

/// What a run acknowledged: the model of its acknowledged batches, and the
/// writes of a batch whose outcome is unknown (its ingest failed).
struct Run {
    acked: BTreeMap<String, String>,
    in_doubt: Option<Writes>,
}

/// Batches through the live path on a store whose files go through `fs`,
/// a flush after every third, then a compaction; stops at the first error.
fn run(dir: &Path, fs: &FaultyFs, seed: u64) -> Run {
    let options = LiveOptions {
        wal_fs: Arc::new(fs.clone()),
        ..LiveOptions::default()
    };
    let store = Store::open_with(dir, options).unwrap();
    let schema = Schema {
        fields: vec![FieldDef::new("city", FieldKind::Enum)],
    };
    store.create_table("t", &schema).unwrap();
    let mut rng = Rng(seed);
    let mut out = Run {
        acked: BTreeMap::new(),
        in_doubt: None,
    };
    for i in 0..BATCHES {
        let writes = batch_writes(&mut rng);
        let text: String = writes
            .iter()
            .map(|(id, city)| format!("{{\"id\":\"{id}\",\"set\":{{\"city\":\"{city}\"}}}}\n"))
            .collect();
        let batch = parse_batch(store.table("t").unwrap().schema(), &text).unwrap();
        match store.ingest("t", batch) {
            Ok(_) => apply(&mut out.acked, &writes),
            Err(_) => {
                out.in_doubt = Some(writes);
                return out;
            }
        }
        if i % 3 == 2 && store.flush().is_err() {
            return out;
        }
    }
    let _ = store.compact("t");
    out
}

/// Every row's city in the store.
fn cities(store: &Store) -> BTreeMap<String, String> {
    let t = store.table("t").unwrap();
    let mut out = BTreeMap::new();
    for c in 0..CITIES {
        let city = format!("c{c}");
        let e = Expr::Value {
            field: "city".into(),
            value: city.clone(),
        };
        for row in t.rows(&e).unwrap() {
            out.insert(t.external_id(row).unwrap().to_owned(), city.clone());
        }
    }
    out
}

/// Runs with `inject` on a fresh store, cuts the power, reopens and checks.
fn crash_and_check(what: &str, seed: u64, inject: impl Fn(&FaultyFs)) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    inject(&fs);
    let run = run(dir.path(), &fs, seed);
    fs.lose_unsynced_data().unwrap();
    let store = Store::open(dir.path())
        .unwrap_or_else(|e| panic!("{what}: the store does not open after the power loss: {e}"));
    let found = cities(&store);
    let mut with_doubt = run.acked.clone();
    if let Some(w) = &run.in_doubt {
        apply(&mut with_doubt, w);
    }
    assert!(
        found == run.acked || found == with_doubt,
        "{what}: found {found:?}\nacknowledged {:?}\nin doubt {:?}",
        run.acked,
        run.in_doubt
    );
}

#[test]
fn a_power_loss_at_any_fsync_or_rename_of_flush_and_compaction_loses_no_acknowledged_write() {
    let seed = 7;
    // A run without faults: how many fsyncs and renames there are to hit.
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let clean = run(dir.path(), &fs, seed);
    assert!(clean.in_doubt.is_none());
    let (syncs, renames) = (fs.num_syncs(), fs.num_renames());
    drop(dir);
    // Three flushes (a delta part, the keys and the manifest each, and a
    // dictionary part while there are new ids) and the compaction (part,
    // manifest): at least 11 renames, all through the faulty layer.
    assert!(renames >= 11, "{renames} renames");
    crash_and_check("no fault, power lost at the end", seed, |_| {});
    for n in 1..=syncs {
        crash_and_check(&format!("fsync {n} of {syncs} fails"), seed, |fs| {
            fs.fail_sync_at(n)
        });
    }
    for n in 1..=renames {
        crash_and_check(&format!("rename {n} of {renames} fails"), seed, |fs| {
            fs.fail_rename_at(n)
        });
    }
    println!("{syncs} fsyncs and {renames} renames each failed once; every store opened whole");
}
