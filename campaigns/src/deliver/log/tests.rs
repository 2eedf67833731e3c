use std::sync::Arc;

use segdb_storage_format::wal::FaultyFs;

use super::*;
use crate::definition::{Actor, CampaignDef, Role};
use crate::lifecycle::Action;
use crate::testutil::{self, NOW, TODAY};

fn batch(variant: u32, rows: std::ops::Range<u32>, failed: Option<(u16, &str)>) -> BatchRecord {
    BatchRecord {
        campaign: 1,
        run: 1,
        variant,
        failed: failed.map(|(s, b)| (s, b.to_owned())),
        touch_day: failed.is_none().then_some(TODAY),
        rows: rows.collect(),
    }
}

/// A store with `users`, and campaign 1 ("c", marketing) in its first run.
fn setup(dir: &Path) -> (segdb_engine::Store, CampaignStore, Campaign) {
    let store = testutil::store(dir, 50);
    let campaigns = CampaignStore::open(dir).unwrap();
    let def: CampaignDef = serde_json::from_value(serde_json::json!({
        "name": "c", "table": "users", "audience": {"where": "age >= 0"},
        "channel": {"file": {"dir": "/tmp/segdb-out", "format": "csv"}},
        "variants": [{"name": "a", "weight": 1, "template": "Hi {name}"}],
        "schedule": "now"
    }))
    .unwrap();
    let ann = Actor::new("ann", Role::Write);
    campaigns.create(&store, def, &ann, NOW).unwrap();
    campaigns.act("c", Action::Start, &ann, NOW).unwrap();
    let sched = Actor::new("scheduler", Role::Admin);
    campaigns.start_runs(&store, &["c"], &sched, NOW).unwrap();
    let c = campaigns.get("c").unwrap();
    assert_eq!(c.id, 1);
    (store, campaigns, c)
}

#[test]
fn replay_after_reopen_rebuilds_sent_failed_and_touches() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let log = DeliveryLog::open(dir.path()).unwrap();
    log.record(&batch(0, 0..10, None)).unwrap();
    log.record(&batch(0, 10..20, Some((400, "bad user"))))
        .unwrap();
    log.record(&batch(0, 20..25, None)).unwrap();
    let before = log.progress(&campaigns, &c, 1).unwrap();
    drop(log);
    let log = DeliveryLog::open(dir.path()).unwrap();
    let after = log.progress(&campaigns, &c, 1).unwrap();
    assert_eq!(after, before);
    assert_eq!(after.sent, (0..10).chain(20..25).collect());
    assert_eq!(after.failed, (10..20).collect());
    assert_eq!(
        after.failures,
        [FailedBatch {
            variant: 0,
            status: 400,
            body: "bad user".into(),
            rows: 10
        }]
    );
    assert_eq!(after.touches[&TODAY], after.sent);
    // Another run has nothing.
    assert_eq!(
        log.progress(&campaigns, &c, 2).unwrap(),
        RunDelivery::default()
    );
}

#[test]
fn a_torn_tail_is_cut_and_damage_before_the_end_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let log = DeliveryLog::open(dir.path()).unwrap();
    log.record(&batch(0, 0..10, None)).unwrap();
    log.record(&batch(0, 10..20, None)).unwrap();
    let seg = log.segments().pop().unwrap();
    drop(log);
    let full = std::fs::read(&seg).unwrap();
    // Cut the last record in half: it was never acknowledged.
    std::fs::write(&seg, &full[..full.len() - 7]).unwrap();
    let log = DeliveryLog::open(dir.path()).unwrap();
    assert_eq!(
        log.progress(&campaigns, &c, 1).unwrap().sent,
        (0..10).collect()
    );
    // And the log goes on after the cut.
    log.record(&batch(0, 10..20, None)).unwrap();
    drop(log);
    let log = DeliveryLog::open(dir.path()).unwrap();
    assert_eq!(
        log.progress(&campaigns, &c, 1).unwrap().sent,
        (0..20).collect()
    );
    drop(log);
    // A flipped byte in the first record, with more after it: damage.
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[segdb_storage_format::wal::SEGMENT_HEADER_LEN + 25] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let err = DeliveryLog::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains(&seg.display().to_string()), "{err}");
}

#[test]
fn a_power_cut_at_every_fsync_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let batches: Vec<BatchRecord> = (0..6).map(|i| batch(0, i * 5..i * 5 + 5, None)).collect();
    let mut cuts = 0;
    for n in 1..=20 {
        let store_dir = tempfile::tempdir().unwrap();
        let fs = FaultyFs::new();
        fs.cut_power_after_syncs(n);
        let mut acked = RoaringBitmap::new();
        let mut in_doubt = RoaringBitmap::new();
        if let Ok(log) = DeliveryLog::open_with(store_dir.path(), Arc::new(fs.clone())) {
            for b in &batches {
                if log.record(b).is_err() {
                    in_doubt = b.rows.clone();
                    break;
                }
                acked |= &b.rows;
            }
        }
        if fs.num_syncs() < n {
            break; // the whole sequence needs fewer fsyncs
        }
        cuts += 1;
        fs.lose_unsynced_data().unwrap();
        let log = DeliveryLog::open(store_dir.path()).unwrap();
        // Campaign 1 of `campaigns` stands for the same id in this store.
        let got = log.progress(&campaigns, &c, 1).unwrap().sent;
        assert!(
            acked.is_subset(&got),
            "cut after fsync {n}: lost an acknowledged batch"
        );
        assert!(
            got.is_subset(&(&acked | &in_doubt)),
            "cut after fsync {n}: {got:?}"
        );
    }
    assert!(cuts >= 6, "only {cuts} cuts");
}

#[test]
fn a_checkpoint_folds_touches_once_writes_the_run_and_drops_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let log = DeliveryLog::open(dir.path()).unwrap();
    log.record(&batch(0, 0..10, None)).unwrap();
    log.record(&batch(0, 10..12, Some((422, "no")))).unwrap();
    let want = log.progress(&campaigns, &c, 1).unwrap();
    // A checkpoint interrupted after folding the touches (before its
    // "flushed" record): the fold is done again, and counted once.
    assert!(campaigns
        .fold_run_touches("users", 1, 1, TODAY, &[(1, want.touches[&TODAY].clone())])
        .unwrap());
    log.checkpoint(&campaigns, &c, 1).unwrap();
    let touches = campaigns.touches("users", TODAY).unwrap();
    assert_eq!(touches.table.day(TODAY).len(), 1, "one level: touched once");
    assert_eq!(touches.table.day(TODAY)[0], (0..10).collect());
    assert_eq!(touches.campaign(1).day(TODAY)[0], (0..10).collect());
    drop(log);
    // The run now reads from its directory, whether or not the log still
    // holds its records.
    let log = DeliveryLog::open(dir.path()).unwrap();
    let got = log.progress(&campaigns, &c, 1).unwrap();
    assert_eq!(
        (got.sent, got.failed, got.failures),
        (want.sent, want.failed, want.failures)
    );
    assert!(log.pending_touches(1).is_empty());
    let (files_before, damage) = campaigns.verify();
    assert!(damage.is_empty(), "{damage:?}");
    // Damage in a checkpointed file names it, and verify finds it.
    let sent = dir.path().join("campaigns.d/runs/1-1/sent.roar");
    let mut bytes = std::fs::read(&sent).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&sent, bytes).unwrap();
    let err = log.progress(&campaigns, &c, 1).unwrap_err().to_string();
    assert!(err.contains("sent.roar"), "{err}");
    let (files, damage) = campaigns.verify();
    assert_eq!(files, files_before);
    assert_eq!(damage.len(), 1);
    assert!(damage[0].to_string().contains("sent.roar"), "{damage:?}");
}

#[test]
fn checkpointed_runs_let_segments_go() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let log = DeliveryLog::open(dir.path()).unwrap();
    // Records of ~260 KB each (32 bitmap containers) (a bitmap of scattered rows) fill 8 MiB
    // segments quickly.
    let wide: RoaringBitmap = (0..300_000u32).map(|i| i * 7).collect();
    for _ in 0..40 {
        log.record(&BatchRecord {
            rows: wide.clone(),
            ..batch(0, 0..1, None)
        })
        .unwrap();
    }
    assert!(log.segments().len() > 1);
    log.checkpoint(&campaigns, &c, 1).unwrap();
    assert_eq!(log.segments().len(), 1);
}

#[test]
fn records_after_a_checkpoint_add_to_it_and_fold_their_own_touches() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let log = DeliveryLog::open(dir.path()).unwrap();
    log.record(&batch(0, 0..10, None)).unwrap();
    log.record(&batch(0, 10..12, Some((400, "first")))).unwrap();
    log.checkpoint(&campaigns, &c, 1).unwrap();
    log.record(&batch(0, 12..20, None)).unwrap();
    log.record(&batch(0, 20..22, Some((400, "second"))))
        .unwrap();
    let check = |log: &DeliveryLog| {
        let got = log.progress(&campaigns, &c, 1).unwrap();
        assert_eq!(got.sent, (0..10).chain(12..20).collect());
        assert_eq!(got.failed, (10..12).chain(20..22).collect());
        let bodies: Vec<&str> = got.failures.iter().map(|f| f.body.as_str()).collect();
        assert_eq!(bodies, ["first", "second"]);
    };
    check(&log);
    drop(log);
    let log = DeliveryLog::open(dir.path()).unwrap();
    check(&log);
    log.checkpoint(&campaigns, &c, 1).unwrap();
    check(&log);
    let touches = campaigns.touches("users", TODAY).unwrap();
    assert_eq!(
        touches.table.day(TODAY),
        [(0..10).chain(12..20).collect::<RoaringBitmap>()]
    );
}

#[test]
fn a_checkpoint_cut_after_its_fold_then_more_records_folds_only_the_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, campaigns, c) = setup(dir.path());
    let log = DeliveryLog::open(dir.path()).unwrap();
    log.record(&batch(0, 0..10, None)).unwrap();
    // A checkpoint cut after folding record 1's touches.
    let first = log.progress(&campaigns, &c, 1).unwrap().touches[&TODAY].clone();
    assert!(campaigns
        .fold_run_touches("users", 1, 1, TODAY, &[(1, first)])
        .unwrap());
    // The run goes on, and its next checkpoint folds record 2 alone.
    log.record(&batch(0, 10..20, None)).unwrap();
    log.checkpoint(&campaigns, &c, 1).unwrap();
    let touches = campaigns.touches("users", TODAY).unwrap();
    assert_eq!(
        touches.table.day(TODAY),
        [(0..20).collect::<RoaringBitmap>()]
    );
    assert_eq!(
        touches.campaign(1).day(TODAY),
        [(0..20).collect::<RoaringBitmap>()]
    );
}
