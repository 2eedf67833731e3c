use std::collections::HashMap;

use proptest::prelude::*;
use roaring::RoaringBitmap;
use segdb_engine::{FieldDef, FieldKind, Store};

use super::timers::Timers;
use super::*;
use crate::definition::{Actor, CampaignDef, Role};
use crate::lifecycle::Action;
use crate::store::{CampaignStore, Fired};
use crate::testutil::{self, NOW, TODAY};

/// The timers as a plain list: per row its deadline, per row when its
/// last timer came due.
#[derive(Default)]
struct Model {
    pending: HashMap<u32, i64>,
    last: HashMap<u32, i64>,
    fired_through: Option<i64>,
}

#[derive(Debug, Clone)]
enum Step {
    Arm(Vec<u32>),
    Cancel(Vec<u32>),
    Fire,
    FireFails,
}

fn step() -> impl Strategy<Value = (Step, i64)> {
    let rows = proptest::collection::vec(0u32..40, 0..8);
    (
        prop_oneof![
            3 => rows.clone().prop_map(Step::Arm),
            2 => rows.prop_map(Step::Cancel),
            2 => Just(Step::Fire),
            1 => Just(Step::FireFails),
        ],
        0i64..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Arming, cancelling and fires against the list: the rows each fire
    /// takes are those due, a cancel after the deadline cancels nothing,
    /// re-entry holds a user back, and a failed fire loses nothing.
    #[test]
    fn timers_follow_the_model(
        steps in proptest::collection::vec(step(), 1..60),
        within in 0i64..30,
        reentry in 0i64..50,
    ) {
        let mut t = Timers::new(None);
        let mut m = Model::default();
        let mut now = 1_000i64;
        for (s, dt) in steps {
            now += dt;
            match s {
                Step::Arm(mut rows) => {
                    rows.sort_unstable();
                    rows.dedup();
                    let floor = m.fired_through.map_or(i64::MIN, |f| f + 1);
                    let deadline = (now + within).max(floor);
                    let want: Vec<u32> = rows
                        .iter()
                        .copied()
                        .filter(|r| !m.pending.contains_key(r))
                        .filter(|r| m.last.get(r).is_none_or(|&l| now >= l + reentry))
                        .collect();
                    for &r in &want {
                        m.pending.insert(r, deadline);
                    }
                    let (got, d) = t.arm(&rows, now, within, reentry);
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(d, deadline);
                }
                Step::Cancel(mut rows) => {
                    rows.sort_unstable();
                    rows.dedup();
                    let want: Vec<u32> = rows
                        .iter()
                        .copied()
                        .filter(|r| m.pending.get(r).is_some_and(|&d| d > now))
                        .collect();
                    for r in &want {
                        m.pending.remove(r);
                    }
                    prop_assert_eq!(t.cancel(&rows, now), want);
                }
                Step::Fire | Step::FireFails => {
                    let mut want: Vec<(u32, i64)> = m
                        .pending
                        .iter()
                        .filter(|(_, &d)| d <= now)
                        .map(|(&r, &d)| (r, d))
                        .collect();
                    want.sort_unstable();
                    let got = t.take_due(now);
                    let got_rows: Vec<u32> = got.as_ref().map(|d| d.rows.iter().collect()).unwrap_or_default();
                    prop_assert_eq!(&got_rows, &want.iter().map(|p| p.0).collect::<Vec<_>>());
                    if matches!(s, Step::Fire) {
                        for (r, d) in want {
                            m.pending.remove(&r);
                            m.last.insert(r, d);
                        }
                        if got.is_some() {
                            t.fired(now);
                            m.fired_through = Some(now);
                        }
                    } else {
                        t.release();
                    }
                }
            }
            prop_assert_eq!(t.len(), m.pending.len());
            prop_assert_eq!(t.next_deadline(), m.pending.values().min().copied());
            for r in 0..40 {
                prop_assert_eq!(t.deadline_of(r), m.pending.get(&r).copied());
            }
        }
    }
}

const MIN: i64 = 60_000;

fn trigger_def(within_seconds: u32, reentry_seconds: u32) -> CampaignDef {
    serde_json::from_value(serde_json::json!({
        "name": "remind", "table": "users", "audience": {"where": "age >= 0"},
        "channel": {"file": {"dir": "/out", "format": "jsonl"}},
        "variants": [{"name": "a", "weight": 1, "template": "pay {name}"},
                     {"name": "b", "weight": 1, "template": "please pay"}],
        "holdout": 0.2,
        "schedule": {"on_event": {"event": "view", "and_not": {"event": "pay", "within_seconds": within_seconds},
                     "where": "city != 'c2'", "reentry_seconds": reentry_seconds}},
    }))
    .unwrap()
}

fn setup(dir: &std::path::Path) -> (Store, CampaignStore) {
    let store = testutil::store(dir, 300);
    store
        .add_field("users", FieldDef::new("pay", FieldKind::Event))
        .unwrap();
    let campaigns = CampaignStore::open(dir).unwrap();
    let ann = Actor::new("ann", Role::Write);
    campaigns
        .create(&store, trigger_def(600, 3600), &ann, NOW)
        .unwrap();
    campaigns.act("remind", Action::Start, &ann, NOW).unwrap();
    (store, campaigns)
}

/// Ingests `lines` (events of today) and observes them at `at` ms.
fn write(store: &Store, set: &TriggerSet, events: &[(&str, u32)], at: i64) -> Observed {
    let day = segdb_engine::date::format_iso_day(TODAY);
    let lines: String = events
        .iter()
        .map(|(e, i)| format!("{{\"id\":\"u{i}\",\"event\":\"{e}\",\"day\":\"{day}\"}}\n"))
        .collect();
    let t = store.table("users").unwrap();
    let batch = segdb_engine::write::parse_batch(t.schema(), &lines).unwrap();
    let ops = batch.ops.clone();
    store.ingest("users", batch).unwrap();
    set.observe(store, "users", &ops, at).unwrap()
}

/// `remind` fired by the scheduler for `due`, timers due through
/// `through`, at `now`.
fn fire(
    campaigns: &CampaignStore,
    store: &Store,
    due: &RoaringBitmap,
    through: i64,
    now: i64,
) -> Fired {
    let scheduler = Actor::new("scheduler", Role::Admin);
    campaigns
        .fire(store, "remind", due, through, &scheduler, now, None)
        .unwrap()
}

#[test]
fn a_batch_arms_cancels_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, campaigns) = setup(dir.path());
    let set = TriggerSet::open(dir.path(), &campaigns.list()).unwrap();
    let t0 = NOW * 1000;
    // Users 0..9 view; user 2 (city c2) fails the condition; user 3 views
    // then pays in the same batch; user 4 pays then views.
    let mut events: Vec<(&str, u32)> = (0..10).map(|i| ("view", i)).collect();
    events.push(("pay", 3));
    events.insert(0, ("pay", 4));
    let o = write(&store, &set, &events, t0);
    // Rows 2, 5, 8 have city c2; 3 paid after viewing.
    assert_eq!(
        o,
        Observed {
            armed: 6,
            cancelled: 0
        }
    );
    assert_eq!(set.next_deadline(), Some(t0 + 10 * MIN));
    // A view again arms nothing (pending); a pay inside the window cancels.
    let o = write(&store, &set, &[("view", 0), ("pay", 1)], t0 + MIN);
    assert_eq!(
        o,
        Observed {
            armed: 0,
            cancelled: 1
        }
    );
    assert_eq!(set.pending(None), 5);
    drop(set);
    let set = TriggerSet::open(dir.path(), &campaigns.list()).unwrap();
    assert_eq!(set.pending(None), 5);
    assert!(set.take_due(t0 + 10 * MIN - 1).is_empty());
    let due = set.take_due(t0 + 10 * MIN);
    assert_eq!(due.len(), 1);
    let rows: Vec<u32> = due[0].due.rows.iter().collect();
    assert_eq!(rows, vec![0, 4, 6, 7, 9]);
    // A pay after the deadline cancels nothing: the timer is due.
    let o = write(&store, &set, &[("pay", 0)], t0 + 10 * MIN + 1);
    assert_eq!(o.cancelled, 0);
    // The fire: a run started with the due users in the audience.
    let now = NOW + 600;
    let f = fire(
        &campaigns,
        &store,
        &due[0].due.rows,
        due[0].due.through,
        now,
    );
    let Fired::Done {
        run: 1,
        started: true,
        due: 5,
        outside: 0,
        already: 0,
        holdout,
        capped: 0,
        sendable,
    } = f
    else {
        panic!("{f:?}");
    };
    assert_eq!(holdout + sendable, 5);
    set.fired(due[0].id, due[0].due.through, 5);
    // Reopened, the fired timers stay fired (the catalog says so).
    drop(set);
    let set = TriggerSet::open(dir.path(), &campaigns.list()).unwrap();
    assert_eq!(set.pending(None), 0);
    // Re-entry: user 6 views again within the hour: nothing; after: armed.
    let o = write(&store, &set, &[("view", 6)], t0 + 20 * MIN);
    assert_eq!(o.armed, 0);
    let o = write(&store, &set, &[("view", 6), ("view", 1)], t0 + 71 * MIN);
    assert_eq!(o.armed, 2);
    // A checkpoint, more, and a reopen: the same timers.
    set.checkpoint().unwrap();
    write(&store, &set, &[("view", 7)], t0 + 69 * MIN);
    drop(set);
    let set = TriggerSet::open(dir.path(), &campaigns.list()).unwrap();
    assert_eq!(set.pending(None), 2, "7 is in its re-entry interval");
    let due = set.take_due(t0 + 90 * MIN);
    assert_eq!(due[0].due.rows.iter().collect::<Vec<_>>(), vec![1, 6]);
    // The second fire extends the day's run: 6 is in it already (a day's
    // run holds a user once); fired again (a crash before `fired`),
    // nobody is added twice.
    let f = fire(
        &campaigns,
        &store,
        &due[0].due.rows,
        due[0].due.through,
        now + 3600,
    );
    let Fired::Done {
        run: 1,
        started: false,
        due: 2,
        already: 1,
        holdout,
        sendable,
        ..
    } = f
    else {
        panic!("{f:?}");
    };
    assert_eq!(holdout + sendable, 1);
    let f = fire(
        &campaigns,
        &store,
        &due[0].due.rows,
        due[0].due.through,
        now + 3601,
    );
    assert!(
        matches!(
            f,
            Fired::Done {
                run: 1,
                already: 2,
                holdout: 0,
                sendable: 0,
                ..
            }
        ),
        "{f:?}"
    );
    let c = campaigns.get("remind").unwrap();
    assert_eq!(c.runs.len(), 1);
    assert_eq!(c.runs[0].audience, 6);
    let run = campaigns.load_run("remind", 1).unwrap();
    let want: RoaringBitmap = [0u32, 4, 6, 7, 9].into_iter().collect();
    assert_eq!(run.audience, want | RoaringBitmap::from_iter([1u32]));
    // Groups partition the audience; assignment is the hash's, so the
    // same as a run frozen at once would give.
    let mut all = run.holdout.clone() | &run.capped;
    for v in &run.variants {
        assert!(v.is_disjoint(&all));
        all |= v;
    }
    assert_eq!(all, run.audience);
    // Reopening the campaigns keeps only the last generation's files.
    let again = CampaignStore::open(dir.path()).unwrap();
    assert_eq!(again.load_run("remind", 1).unwrap(), run);
    let gens: Vec<String> = std::fs::read_dir(
        dir.path()
            .join("campaigns.d/runs")
            .join(format!("{}-1", c.id)),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .filter(|n| n.starts_with('g'))
    .collect();
    assert_eq!(gens, vec!["g3".to_owned()]);
}

#[test]
fn a_fire_waits_while_paused_and_is_gone_once_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let (store, campaigns) = setup(dir.path());
    let ann = Actor::new("ann", Role::Write);
    let due: RoaringBitmap = [1u32, 2].into_iter().collect();
    campaigns.act("remind", Action::Pause, &ann, NOW).unwrap();
    let set = TriggerSet::open(dir.path(), &campaigns.list()).unwrap();
    assert!(!set.watches("users"), "a paused trigger arms nothing");
    let f = fire(&campaigns, &store, &due, NOW * 1000, NOW);
    assert_eq!(f, Fired::Wait);
    campaigns.act("remind", Action::Resume, &ann, NOW).unwrap();
    set.refresh(&campaigns.list());
    assert!(set.watches("users"));
    let f = fire(&campaigns, &store, &due, NOW * 1000, NOW);
    // Row 2 (c2) is still in the audience: the condition is checked when
    // the event is written, the audience when the timer fires.
    assert!(
        matches!(
            f,
            Fired::Done {
                started: true,
                due: 2,
                outside: 0,
                ..
            }
        ),
        "{f:?}"
    );
    // A run of an earlier day still delivering: wait.
    let f = fire(&campaigns, &store, &due, NOW * 1000, NOW + 86_400);
    assert_eq!(f, Fired::Wait);
    campaigns.act("remind", Action::Cancel, &ann, NOW).unwrap();
    let f = fire(&campaigns, &store, &due, NOW * 1000, NOW);
    assert_eq!(f, Fired::Gone);
    set.refresh(&campaigns.list());
    assert_eq!(set.pending(None), 0);
}

#[test]
fn trigger_definitions_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = setup(dir.path());
    let check = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(trigger_def(600, 0)).unwrap();
        v["name"] = "t2".into();
        edit(&mut v);
        let def: CampaignDef = serde_json::from_value(v).unwrap();
        crate::validate(&store, &def, TODAY)
            .map(|_| ())
            .map_err(|e| match e {
                CampaignError::Invalid(d) => (d.path, d.message, d.hint),
                other => panic!("{other:?}"),
            })
    };
    assert_eq!(check(&|_| {}), Ok(()));
    let e = check(&|v| v["schedule"]["on_event"]["event"] = "veiw".into()).unwrap_err();
    assert_eq!(e.0, "schedule.on_event.event");
    assert_eq!(e.2.as_deref(), Some("did you mean `view`?"));
    let e = check(&|v| v["schedule"]["on_event"]["and_not"]["event"] = "city".into()).unwrap_err();
    assert_eq!(e.0, "schedule.on_event.and_not.event");
    assert!(e.1.contains("ENUM field"), "{}", e.1);
    let e =
        check(&|v| v["schedule"]["on_event"]["and_not"]["within_seconds"] = 0.into()).unwrap_err();
    assert_eq!(e.0, "schedule.on_event.and_not.within_seconds");
    let e = check(&|v| v["schedule"]["on_event"]["reentry_seconds"] = 400_000_000u32.into())
        .unwrap_err();
    assert_eq!(e.0, "schedule.on_event.reentry_seconds");
    let e = check(&|v| v["schedule"]["on_event"]["where"] = "citty = 'c1'".into()).unwrap_err();
    assert_eq!(e.0, "schedule.on_event.where");
    let e = check(&|v| {
        v["split"] = serde_json::json!({"copy_race": {"test_share": 0.1, "window_minutes": 60}})
    })
    .unwrap_err();
    assert_eq!(e.0, "split");
}

#[test]
fn damage_to_the_snapshot_or_the_log_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, campaigns) = setup(dir.path());
    let set = TriggerSet::open(dir.path(), &campaigns.list()).unwrap();
    write(&store, &set, &[("view", 0), ("view", 1)], NOW * 1000);
    set.checkpoint().unwrap();
    write(&store, &set, &[("view", 4)], NOW * 1000);
    drop(set);
    assert_eq!(verify(dir.path()).unwrap().unwrap().files, 2);
    let snapshot = dir.path().join("campaigns.d/triggers/timers.camp");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[30] ^= 1;
    std::fs::write(&snapshot, &bytes).unwrap();
    for e in [
        TriggerSet::open(dir.path(), &campaigns.list()).unwrap_err(),
        verify(dir.path()).unwrap_err(),
    ] {
        match e {
            CampaignError::Corrupt { path, .. } => assert_eq!(path, snapshot),
            other => panic!("{other:?}"),
        }
    }
}
