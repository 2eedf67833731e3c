//! Power loss during flush and compaction, not only in the WAL (redb's
//! `tests/crash_consistency.rs` is the model). Every file the store writes
//! goes through one `FaultyFs`: the WAL, the parts and dictionary parts of
//! an import, a flush and a compaction, the idempotency key file, a
//! snapshot segment's file and every manifest. For every N over the run's
//! fsyncs and renames, a fresh store takes an import, random batches
//! through the live path with flushes, a compaction and a snapshot segment
//! while the Nth fsync fails (its data lost, as Linux may drop the pages),
//! the power goes right after the Nth fsync (every later change fails), or
//! the Nth rename fails without happening; the run stops at the first
//! error, the power goes (whatever was not fsynced is lost), and the store
//! is opened again on the real files. It must open, hold everything
//! acknowledged, and hold the one operation in doubt whole or not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use segdb_engine::write::parse_batch;
use segdb_engine::{Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, LiveOptions};
use segdb_engine::{Schema, SegmentDef, Store};
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

/// What a run acknowledged: the model of its acknowledged import and
/// batches, the writes of the one whose outcome is unknown (it failed),
/// and the snapshot segment (`Some(true)` made, `None` in doubt).
struct Run {
    acked: BTreeMap<String, String>,
    in_doubt: Option<Writes>,
    segment: Option<bool>,
}

/// Batches through the live path on a store whose files go through `fs`,
/// a flush after every third, then a compaction; stops at the first error.
fn run(dir: &Path, fs: &FaultyFs, seed: u64) -> Run {
    let options = LiveOptions {
        wal_fs: Arc::new(fs.clone()),
        ..LiveOptions::default()
    };
    let mut out = Run {
        acked: BTreeMap::new(),
        in_doubt: None,
        segment: Some(false),
    };
    // Creating the store or the table may fail too: nothing is acknowledged.
    let Ok(store) = Store::open_with(dir, options) else {
        return out;
    };
    let schema = Schema {
        fields: vec![FieldDef::new("city", FieldKind::Enum)],
    };
    if store.create_table("t", &schema).is_err() {
        return out;
    }
    let imported: Writes = (0..IDS)
        .map(|k| (format!("u{k}"), format!("c{}", k % CITIES)))
        .collect();
    let csv: String = std::iter::once("user_id,city\n".to_owned())
        .chain(imported.iter().map(|(id, city)| format!("{id},{city}\n")))
        .collect();
    let opts = ImportOptions::default();
    match store.import("t", ImportFormat::Csv, csv.as_bytes(), &opts) {
        Ok(_) => apply(&mut out.acked, &imported),
        Err(_) => {
            out.in_doubt = Some(imported);
            return out;
        }
    }
    let mut rng = Rng(seed);
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
    if store.compact("t").is_err() {
        return out;
    }
    let def = SegmentDef::Snapshot {
        rows: vec![0, 1],
        text: None,
    };
    out.segment = match store.create_segment("firsts", "t", def, false) {
        Ok(_) => Some(true),
        Err(_) => None,
    };
    out
}

/// Every row's city in the store.
fn cities(store: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(t) = store.table("t") else {
        return out;
    };
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
    match (run.segment, store.segment("firsts")) {
        (Some(false), None) | (None, None) => {}
        (Some(true) | None, Some(_)) => {
            let rows = store.snapshot_expr("firsts").unwrap();
            assert_eq!(store.table("t").unwrap().count(&rows).unwrap(), 2, "{what}");
        }
        (made, found) => panic!("{what}: segment made {made:?}, found {found:?}"),
    }
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
    // The table and the import (part, dictionary part, manifest), three
    // flushes (a delta part, the keys and the manifest each), the
    // compaction (part, manifest) and the segment (file, manifest): at
    // least 18 renames, all through the faulty layer.
    assert!(clean.segment == Some(true));
    assert!(renames >= 18, "{renames} renames");
    crash_and_check("no fault, power lost at the end", seed, |_| {});
    for n in 1..=syncs {
        crash_and_check(&format!("fsync {n} of {syncs} fails"), seed, |fs| {
            fs.fail_sync_at(n)
        });
    }
    for n in 1..=syncs {
        crash_and_check(
            &format!("power cut after fsync {n} of {syncs}"),
            seed,
            |fs| fs.cut_power_after_syncs(n),
        );
    }
    for n in 1..=renames {
        crash_and_check(&format!("rename {n} of {renames} fails"), seed, |fs| {
            fs.fail_rename_at(n)
        });
    }
    println!(
        "{syncs} fsyncs each failed once and each followed by a power cut, {renames} renames each \
         failed once; every store opened whole"
    );
}
