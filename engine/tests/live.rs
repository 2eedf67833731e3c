//! Real-time writes through failures: a torn WAL tail, a damaged record in
//! the middle, a failing fsync, a full disk, back-pressure, idempotent
//! retries across restarts and flushes, and atomic batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use segdb_engine::write::{parse_batch, Batch};
use segdb_engine::{EngineError, Expr, FieldDef, FieldKind, LiveOptions, Schema, Store};
use segdb_storage_format::wal::FaultyFs;

fn schema() -> Schema {
    Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("search", FieldKind::Event),
        ],
    }
}

fn new_store(dir: &Path, options: LiveOptions) -> Store {
    let s = Store::open_with(dir, options).unwrap();
    s.create_table("t", &schema()).unwrap();
    s
}

/// Batch `i`: a new id `n{i}` in city `c{i % 3}`, and 2 searches of `u0`.
fn batch(store: &Store, i: u32) -> Batch {
    let t = store.table("t").unwrap();
    let text = format!(
        "{{\"id\":\"n{i}\",\"set\":{{\"city\":\"c{}\"}}}}\n{{\"id\":\"u0\",\"event\":\"search\",\"day\":\"2026-11-22\",\"count\":2}}\n",
        i % 3
    );
    parse_batch(t.schema(), &text).unwrap()
}

/// (rows, searches of u0 on the day): both tell how many batches applied.
fn state(store: &Store) -> (u64, u64) {
    let t = store.table("t").unwrap();
    let day = segdb_engine::date::parse_iso_day("2026-11-22").unwrap();
    let p = t
        .profile(
            "u0",
            segdb_engine::DayRange {
                first: day,
                last: day,
            },
        )
        .unwrap();
    let searches = match p {
        None => 0,
        Some(p) => match &p.fields[1].1 {
            segdb_engine::ProfileValue::Events(days) => days.iter().map(|d| d.1).sum(),
            other => panic!("{other:?}"),
        },
    };
    (t.num_rows(), searches)
}

/// A store whose WAL goes through a `FaultyFs` (returned to inject faults).
fn faulty_store(dir: &Path) -> (Store, FaultyFs) {
    let fs = FaultyFs::new();
    let options = LiveOptions {
        wal_fs: Arc::new(fs.clone()),
        ..LiveOptions::default()
    };
    (new_store(dir, options), fs)
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn batches_are_visible_at_once_and_survive_a_reopen_and_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path(), LiveOptions::default());
    for i in 0..5 {
        let ack = s.ingest("t", batch(&s, i)).unwrap();
        assert_eq!(ack.operations, 2);
        assert!(!ack.duplicate);
        // u0 and n0..=ni.
        assert_eq!(state(&s), (u64::from(i) + 2, 2 * (u64::from(i) + 1)));
    }
    let c0 = Expr::Value {
        field: "city".into(),
        value: "c0".into(),
    };
    assert_eq!(s.table("t").unwrap().count(&c0).unwrap(), 2);
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.recovery().replayed_batches, 5);
    assert_eq!(state(&s), (6, 10));
    let report = s.flush().unwrap();
    assert_eq!(report.flushed_seq, 5);
    assert!(report.parts >= 1);
    s.ingest("t", batch(&s, 5)).unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    // Only the batch after the flush is replayed.
    assert_eq!(s.recovery().replayed_batches, 1);
    assert_eq!(state(&s), (7, 12));
    assert_eq!(s.table("t").unwrap().count(&c0).unwrap(), 2);
    assert_eq!(s.compact("t").unwrap().len(), 0, "one layer per shard yet");
    s.flush().unwrap();
    let merged = s.compact("t").unwrap();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].layers, 2);
    assert_eq!(state(&s), (7, 12));
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(state(&s), (7, 12));
    assert_eq!(s.recovery().replayed_batches, 0);
}

#[test]
fn a_torn_last_record_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path(), LiveOptions::default());
    for i in 0..3 {
        s.ingest("t", batch(&s, i)).unwrap();
    }
    drop(s);
    let last = wal_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(len - 7).unwrap();
    let s = Store::open(dir.path()).unwrap();
    let torn = s.recovery().torn_tail.clone().expect("a torn tail");
    assert!(torn.contains("wal-"), "{torn}");
    assert_eq!(s.recovery().replayed_batches, 2);
    assert_eq!(state(&s), (3, 4));
    // Writing goes on after the cut.
    s.ingest("t", batch(&s, 9)).unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(state(&s), (4, 6));
}

#[test]
fn a_damaged_middle_record_stops_the_start_unless_told_to_drop_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path(), LiveOptions::default());
    for i in 0..4 {
        s.ingest("t", batch(&s, i)).unwrap();
    }
    drop(s);
    let file = wal_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    // Inside the second record's payload: header 32 bytes, then records of
    // equal length.
    let rec = (bytes.len() - 32) / 4;
    let at = 32 + rec + rec / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let err = Store::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("offset"), "{err}");
    let s = Store::open_with(
        dir.path(),
        LiveOptions {
            truncate_wal_at_corruption: true,
            ..LiveOptions::default()
        },
    )
    .unwrap();
    assert!(s.recovery().dropped_at_corruption.is_some());
    assert_eq!(state(&s), (2, 2));
}

#[test]
fn damage_in_a_record_already_flushed_does_not_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path(), LiveOptions::default());
    for i in 0..2 {
        s.ingest("t", batch(&s, i)).unwrap();
    }
    s.flush().unwrap();
    for i in 2..4 {
        s.ingest("t", batch(&s, i)).unwrap();
    }
    drop(s);
    // The active segment still holds records 1 and 2 (flushed): damage the
    // payload of the first.
    let file = wal_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let rec = (bytes.len() - 32) / 4;
    bytes[32 + rec / 2] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.recovery().replayed_batches, 2);
    assert_eq!(state(&s), (5, 8));
    s.ingest("t", batch(&s, 4)).unwrap();
    drop(s);
    assert_eq!(state(&Store::open(dir.path()).unwrap()), (6, 10));
}

#[test]
fn a_failing_fsync_gets_an_error_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (s, fs) = faulty_store(dir.path());
    s.ingest("t", batch(&s, 0)).unwrap();
    fs.fail_sync_at(fs.num_syncs() + 1);
    let err = s.ingest("t", batch(&s, 1)).unwrap_err();
    assert!(matches!(err, EngineError::WalFailed(_)), "{err}");
    assert!(!err.is_client_error());
    assert_eq!(state(&s), (2, 2), "nothing of the failed batch");
    // Later batches are refused too, until a restart.
    assert!(matches!(
        s.ingest("t", batch(&s, 2)),
        Err(EngineError::WalFailed(_))
    ));
    assert!(s.live_stats().wal_failed);
    fs.lose_unsynced_data().unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    // The acknowledged batch is there; the failed one is not, or whole.
    let st = state(&s);
    assert!(st == (2, 2) || st == (3, 4), "{st:?}");
    s.ingest("t", batch(&s, 3)).unwrap();
}

#[test]
fn a_full_disk_refuses_the_batch_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (s, fs) = faulty_store(dir.path());
    s.ingest("t", batch(&s, 0)).unwrap();
    fs.fill_disk_after(10);
    let err = s.ingest("t", batch(&s, 1)).unwrap_err();
    assert!(matches!(err, EngineError::WalFailed(_)), "{err}");
    assert_eq!(state(&s), (2, 2));
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    let st = state(&s);
    assert_eq!(st, (2, 2), "a half-written record is a torn tail");
    assert!(s.recovery().torn_tail.is_some());
}

#[test]
fn idempotent_retries_are_acknowledged_once_across_restarts_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path(), LiveOptions::default());
    let keyed = |s: &Store, i: u32, key: &str| Batch {
        idempotency_key: Some(key.into()),
        ..batch(s, i)
    };
    let first = s.ingest("t", keyed(&s, 0, "k0")).unwrap();
    let again = s.ingest("t", keyed(&s, 0, "k0")).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.seq, first.seq);
    assert_eq!(state(&s), (2, 2), "events did not double");
    let err = s.ingest("t", keyed(&s, 1, "k0")).unwrap_err();
    assert!(matches!(err, EngineError::IdempotencyConflict(_)), "{err}");
    drop(s);
    // After a restart (from the WAL)…
    let s = Store::open(dir.path()).unwrap();
    assert!(s.ingest("t", keyed(&s, 0, "k0")).unwrap().duplicate);
    s.ingest("t", keyed(&s, 1, "k1")).unwrap();
    s.flush().unwrap();
    drop(s);
    // …and after a flush (from the key file).
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.recovery().replayed_batches, 0);
    assert!(s.ingest("t", keyed(&s, 0, "k0")).unwrap().duplicate);
    assert!(s.ingest("t", keyed(&s, 1, "k1")).unwrap().duplicate);
    assert_eq!(state(&s), (3, 4));
    // Another table's key space is its own.
    s.create_table("t2", &schema()).unwrap();
    let other = parse_batch(&schema(), "{\"id\":\"x\",\"set\":{\"city\":\"c1\"}}").unwrap();
    let ack = s
        .ingest(
            "t2",
            Batch {
                idempotency_key: Some("k0".into()),
                ..other
            },
        )
        .unwrap();
    assert!(!ack.duplicate);
}

#[test]
fn a_full_delta_refuses_batches_until_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(
        dir.path(),
        LiveOptions {
            max_delta_bytes: 1,
            ..LiveOptions::default()
        },
    );
    s.ingest("t", batch(&s, 0)).unwrap();
    let err = s.ingest("t", batch(&s, 1)).unwrap_err();
    assert!(
        matches!(err, EngineError::Overloaded { retry_after_ms, .. } if retry_after_ms > 0),
        "{err}"
    );
    assert_eq!(state(&s), (2, 2));
    assert_eq!(s.live_stats().overloaded, 1);
    s.flush().unwrap();
    assert_eq!(s.live_stats().delta_bytes, 0);
    s.ingest("t", batch(&s, 1)).unwrap();
    assert_eq!(state(&s), (3, 4));
}

#[test]
fn an_import_alongside_flushes_the_delta_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = new_store(dir.path(), LiveOptions::default());
    s.ingest("t", batch(&s, 0)).unwrap();
    s.import(
        "t",
        segdb_engine::ImportFormat::Events,
        "user_id,event,day,count\nu0,search,2026-11-22,5\n".as_bytes(),
        &segdb_engine::ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(state(&s), (2, 7));
    s.ingest("t", batch(&s, 1)).unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(state(&s), (3, 9), "no batch replayed twice");
}
