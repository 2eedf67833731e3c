//! Power loss around writes to sets of rows (`Store::write_rows`), as
//! `crash_flush.rs` does for batches: every file goes through one
//! `FaultyFs`; for every N over the run's fsyncs the Nth fsync fails, or
//! the power goes right after it, and the store is opened again on the
//! real files. It must open, hold every acknowledged rows write (replayed
//! from the WAL, or flushed to parts), and hold the one in doubt whole or
//! not at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use segdb_engine::date::parse_iso_day;
use segdb_engine::write::{RowsChange, RowsWrite};
use segdb_engine::{CmpOp, DayRange, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions};
use segdb_engine::{LiveOptions, Schema, Store};
use segdb_storage_format::wal::FaultyFs;

const ROWS: u32 = 40;
const WRITES: u32 = 9;
const PROMOS: u32 = 3;

fn day() -> i32 {
    parse_iso_day("2026-11-22").unwrap()
}

/// What the store holds per row: `sent`, its promos, its sends that day.
type State = BTreeMap<u32, (Option<bool>, Vec<u32>, u64)>;

/// The `i`th write of a run: a BOOL, a SET value or an EVENT count, on
/// every `i % 3 + 2`th row from `i % 4`.
fn write(i: u32) -> RowsWrite {
    let rows = (i % 4..ROWS).step_by((i % 3 + 2) as usize).collect();
    let change = match i % 3 {
        0 => RowsChange::SetBool {
            field: "sent".into(),
            value: i.is_multiple_of(2),
        },
        1 => RowsChange::AddValue {
            field: "promos".into(),
            value: format!("p{}", i % PROMOS),
        },
        _ => RowsChange::AddEvent {
            field: "sends".into(),
            day: day(),
            count: u64::from(i),
        },
    };
    RowsWrite {
        rows,
        change,
        idempotency_key: Some(format!("w{i}")),
    }
}

fn apply(state: &mut State, w: &RowsWrite) {
    for &r in &w.rows {
        let s = state.entry(r).or_insert((None, Vec::new(), 0));
        match &w.change {
            RowsChange::SetBool { value, .. } => s.0 = Some(*value),
            RowsChange::AddValue { value, .. } => {
                let p: u32 = value[1..].parse().unwrap();
                if !s.1.contains(&p) {
                    s.1.push(p);
                    s.1.sort_unstable();
                }
            }
            RowsChange::AddEvent { count, .. } => s.2 += count,
        }
    }
}

struct Run {
    acked: State,
    in_doubt: Option<RowsWrite>,
}

/// The table, then the writes with a flush after every third; stops at the
/// first error.
fn run(dir: &Path, fs: &FaultyFs) -> Run {
    let mut out = Run {
        acked: State::new(),
        in_doubt: None,
    };
    let options = LiveOptions {
        wal_fs: Arc::new(fs.clone()),
        ..LiveOptions::default()
    };
    let Ok(store) = Store::open_with(dir, options) else {
        return out;
    };
    let schema = Schema {
        fields: vec![
            FieldDef::new("sent", FieldKind::Bool),
            FieldDef::new("promos", FieldKind::Set),
            FieldDef::new("sends", FieldKind::Event),
        ],
    };
    if store.create_table("t", &schema).is_err() {
        return out;
    }
    let csv: String = std::iter::once("user_id,sent\n".to_owned())
        .chain((0..ROWS).map(|r| format!("u{r},\n")))
        .collect();
    if store
        .import(
            "t",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .is_err()
    {
        return out;
    }
    for i in 1..=WRITES {
        let w = write(i);
        match store.write_rows("t", &w) {
            Ok(ack) => {
                assert_eq!(ack.operations, w.rows.len() as u64);
                apply(&mut out.acked, &w);
            }
            Err(_) => {
                out.in_doubt = Some(w);
                return out;
            }
        }
        if i % 3 == 0 && store.flush().is_err() {
            return out;
        }
    }
    out
}

/// What the store holds, read through queries.
fn found(store: &Store) -> State {
    let mut out = State::new();
    let Ok(t) = store.table("t") else {
        return out;
    };
    let rows = |e: Expr| t.rows(&e).unwrap();
    for v in [false, true] {
        for r in rows(Expr::Bool {
            field: "sent".into(),
            value: v,
        }) {
            out.entry(r).or_insert((None, Vec::new(), 0)).0 = Some(v);
        }
    }
    for p in 0..PROMOS {
        for r in rows(Expr::Value {
            field: "promos".into(),
            value: format!("p{p}"),
        }) {
            out.entry(r).or_insert((None, Vec::new(), 0)).1.push(p);
        }
    }
    let most: u64 = (1..=WRITES + 2).map(u64::from).sum();
    for n in 1..=most {
        for r in rows(Expr::EventCount {
            field: "sends".into(),
            days: DayRange {
                first: day(),
                last: day(),
            },
            op: CmpOp::Eq,
            n: n as i64,
        }) {
            out.entry(r).or_insert((None, Vec::new(), 0)).2 = n;
        }
    }
    out
}

fn crash_and_check(what: &str, inject: impl Fn(&FaultyFs)) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    inject(&fs);
    let run = run(dir.path(), &fs);
    fs.lose_unsynced_data().unwrap();
    let store = Store::open(dir.path())
        .unwrap_or_else(|e| panic!("{what}: the store does not open after the power loss: {e}"));
    let found = found(&store);
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
fn a_power_loss_at_any_fsync_keeps_every_acknowledged_rows_write() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let clean = run(dir.path(), &fs);
    assert!(clean.in_doubt.is_none());
    assert_eq!(clean.acked.len(), ROWS as usize, "every row was written");
    let syncs = fs.num_syncs();
    drop(dir);
    crash_and_check("no fault, power lost at the end", |_| {});
    for n in 1..=syncs {
        crash_and_check(&format!("fsync {n} of {syncs} fails"), |fs| {
            fs.fail_sync_at(n)
        });
        crash_and_check(&format!("power cut after fsync {n} of {syncs}"), |fs| {
            fs.cut_power_after_syncs(n)
        });
    }
}

#[test]
fn a_rows_write_replays_from_the_wal_and_a_retry_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let mut acked = run(dir.path(), &fs).acked;
    // Two writes past the last flush: reopening replays them.
    let store = Store::open(dir.path()).unwrap();
    for i in [WRITES + 1, WRITES + 2] {
        store.write_rows("t", &write(i)).unwrap();
        apply(&mut acked, &write(i));
    }
    assert_eq!(found(&store), acked);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recovery().replayed_batches, 2);
    let rows = (write(WRITES + 1).rows.len() + write(WRITES + 2).rows.len()) as u64;
    assert_eq!(store.recovery().replayed_operations, rows);
    assert_eq!(found(&store), acked);
    // A retry of the last write, same key: acknowledged, not applied.
    let ack = store.write_rows("t", &write(WRITES + 2)).unwrap();
    assert!(ack.duplicate);
    assert_eq!(found(&store), acked);
    // The WAL holds each write as one record of a bitmap, not a line per
    // row: 11 writes of up to 20 rows fit in a few hundred bytes each.
    let wal: u64 = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(wal < 11 * 300, "{wal} bytes of WAL");
}

#[test]
fn a_bad_rows_write_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFs::new();
    let clean = run(dir.path(), &fs);
    let store = Store::open(dir.path()).unwrap();
    let bad = |rows: Vec<u32>, change: RowsChange| RowsWrite {
        rows,
        change,
        idempotency_key: None,
    };
    let set = |field: &str| RowsChange::SetBool {
        field: field.into(),
        value: true,
    };
    for (w, says) in [
        (bad(vec![1, 2, ROWS], set("sent")), "not a row of `t`"),
        (bad(vec![3, 2], set("sent")), "sorted and distinct"),
        (bad(vec![2, 2], set("sent")), "sorted and distinct"),
        (bad(vec![1], set("nope")), "nope"),
        (bad(vec![1], set("promos")), "BOOL"),
        (
            bad(
                vec![1],
                RowsChange::AddEvent {
                    field: "sends".into(),
                    day: day(),
                    count: 0,
                },
            ),
            "1 or more",
        ),
        (
            bad(
                vec![1],
                RowsChange::AddValue {
                    field: "promos".into(),
                    value: String::new(),
                },
            ),
            "1 to 256 bytes",
        ),
        (
            bad(
                vec![1],
                RowsChange::AddEvent {
                    field: "sends".into(),
                    day: day(),
                    count: u64::from(u32::MAX),
                },
            ),
            "past the limit",
        ),
    ] {
        let err = store.write_rows("t", &w).unwrap_err().to_string();
        assert!(err.contains(says), "{w:?}: {err}");
    }
    assert_eq!(found(&store), clean.acked);
}
