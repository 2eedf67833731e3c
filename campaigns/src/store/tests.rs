//! Campaigns on disk: creation, transitions with their history, runs
//! frozen and read back after a reopen, caps across runs, damage.

use roaring::RoaringBitmap;

use super::*;
use crate::definition::{Audience, CampaignDef, Cap, Kind, Role};
use crate::lifecycle::{Action, Paused, State};
use crate::testutil::{self, NOW, TODAY};
use segdb_storage_format::wal::RealFs;

fn def(name: &str, audience: &str) -> CampaignDef {
    serde_json::from_value(serde_json::json!({
        "name": name, "table": "users",
        "audience": {"where": audience},
        "channel": {"file": {"dir": "/tmp/segdb-out", "format": "jsonl"}},
        "variants": [
            {"name": "a", "weight": 1, "template": "Hi {name}"},
            {"name": "b", "weight": 1, "template": "Hello {name}"}
        ],
        "schedule": "now"
    }))
    .unwrap()
}

fn ann() -> Actor {
    Actor::new("ann", Role::Write)
}
fn boss() -> Actor {
    Actor::new("boss", Role::Admin)
}
fn scheduler() -> Actor {
    Actor::new("scheduler", Role::Admin)
}

/// Creates and starts `def` (no approval): scheduled.
fn scheduled(c: &CampaignStore, s: &Store, def: CampaignDef) -> Campaign {
    let name = def.name.clone();
    c.create(s, def, &ann(), NOW).unwrap();
    c.act(&name, Action::Start, &ann(), NOW).unwrap()
}

#[test]
fn campaigns_and_their_history_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 30);
    let c = CampaignStore::open(dir.path()).unwrap();
    let mut d = def("spring", "city = 'c0'");
    d.approval_required = true;
    let created = c.create(&s, d.clone(), &ann(), NOW).unwrap();
    assert_eq!((created.id, created.state), (1, State::Draft));
    assert!(matches!(
        c.create(&s, d.clone(), &ann(), NOW),
        Err(CampaignError::AlreadyExists(n)) if n == "spring"
    ));
    let reader = Actor::new("rae", Role::Read);
    let mut other = d.clone();
    other.name = "other".into();
    assert!(matches!(
        c.create(&s, other, &reader, NOW),
        Err(CampaignError::Forbidden(_))
    ));
    assert_eq!(
        c.act("spring", Action::Start, &ann(), NOW + 1)
            .unwrap()
            .state,
        State::PendingApproval
    );
    // The creator cannot approve, even as an admin; another admin can.
    let ann_admin = Actor::new("ann", Role::Admin);
    assert!(matches!(
        c.act("spring", Action::Approve, &ann_admin, NOW + 2),
        Err(CampaignError::Forbidden(_))
    ));
    c.act("spring", Action::Approve, &boss(), NOW + 3).unwrap();
    c.act("spring", Action::Pause, &ann(), NOW + 4).unwrap();
    // An illegal action answers with the current state and changes nothing.
    match c.act("spring", Action::Approve, &boss(), NOW + 5) {
        Err(CampaignError::Conflict(e)) => {
            assert_eq!(e.current, State::Paused(Paused::Scheduled));
            assert_eq!(e.to_string(), "cannot approve a campaign that is paused");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.act("spring", Action::RunStarted, &boss(), NOW),
        Err(CampaignError::Forbidden(_))
    ));
    assert!(matches!(
        c.act("autumn", Action::Start, &ann(), NOW),
        Err(CampaignError::NotFound(_))
    ));
    let before = c.get("spring").unwrap();
    drop(c);
    let c = CampaignStore::open(dir.path()).unwrap();
    let after = c.get("spring").unwrap();
    assert_eq!(after, before);
    assert_eq!(after.def, d);
    let trail: Vec<(Option<Action>, &str, State)> = after
        .history
        .iter()
        .map(|h| (h.action, h.actor.name.as_str(), h.to))
        .collect();
    assert_eq!(
        trail,
        vec![
            (None, "ann", State::Draft),
            (Some(Action::Start), "ann", State::PendingApproval),
            (Some(Action::Approve), "boss", State::Scheduled),
            (Some(Action::Pause), "ann", State::Paused(Paused::Scheduled)),
        ]
    );
    // Ids are never reused.
    let next = c.create(&s, def("autumn", "age > 1"), &ann(), NOW).unwrap();
    assert_eq!(next.id, 2);
}

#[test]
fn a_refused_definition_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 3);
    let c = CampaignStore::open(dir.path()).unwrap();
    let mut d = def("spring", "cty = 'c0'");
    assert!(matches!(
        c.create(&s, d.clone(), &ann(), NOW),
        Err(CampaignError::Invalid(_))
    ));
    assert!(c.list().is_empty());
    assert!(!dir.path().join("campaigns.d/catalog.camp").exists());
    d.audience = Audience::Where("city = 'c0'".into());
    assert_eq!(c.create(&s, d, &ann(), NOW).unwrap().id, 1);
}

#[test]
fn a_run_is_frozen_and_reads_back_the_same_after_later_writes_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 300);
    let c = CampaignStore::open(dir.path()).unwrap();
    let mut d = def("spring", "city = 'c0'");
    d.holdout = 0.2;
    scheduled(&c, &s, d);
    let started = c.start_runs(&s, &["spring"], &scheduler(), NOW).unwrap();
    let run = &started[0].run;
    assert_eq!((run.number, run.day, run.audience), (1, TODAY, 100));
    assert_eq!(
        run.holdout + run.capped + run.variants.iter().sum::<u64>(),
        100
    );
    assert_eq!(c.get("spring").unwrap().state, State::Running);
    let frozen = c.load_run("spring", 1).unwrap();
    // New rows that match the audience do not join the run.
    let t = s.table("users").unwrap();
    let batch = segdb_engine::write::parse_batch(
        t.schema(),
        "{\"id\":\"late1\",\"set\":{\"city\":\"c0\"}}\n{\"id\":\"late2\",\"set\":{\"city\":\"c0\"}}",
    )
    .unwrap();
    s.ingest("users", batch).unwrap();
    assert_eq!(c.load_run("spring", 1).unwrap(), frozen);
    drop(c);
    let c = CampaignStore::open(dir.path()).unwrap();
    assert_eq!(c.load_run("spring", 1).unwrap(), frozen);
    // The groups are the plan's: every row once, variants by the hash.
    let t = s.table("users").unwrap();
    for r in &frozen.audience {
        let id = t.external_id(r).unwrap();
        let i: u32 = id[1..].parse().unwrap();
        assert_eq!(i % 3, 0, "{id}");
        match crate::plan::assign(1, r, 0.2, &[1, 1]) {
            None => assert!(frozen.holdout.contains(r)),
            Some(v) => assert!(frozen.variants[v].contains(r)),
        }
    }
    // Running it again is illegal; finishing a one-off run ends it.
    assert!(matches!(
        c.start_runs(&s, &["spring"], &scheduler(), NOW),
        Err(CampaignError::Conflict(_))
    ));
    let done = c
        .finish_run("spring", false, &scheduler(), NOW + 60)
        .unwrap();
    assert_eq!(done.state, State::Done);
    assert_eq!(done.runs[0].finished_at, Some(NOW + 60));
}

#[test]
fn a_daily_campaign_freezes_a_fresh_audience_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 30);
    let c = CampaignStore::open(dir.path()).unwrap();
    let mut d = def("daily", "city = 'c1'");
    d.schedule = crate::definition::Schedule::Daily("09:00".into());
    scheduled(&c, &s, d);
    c.start_runs(&s, &["daily"], &scheduler(), NOW).unwrap();
    let again = c
        .finish_run("daily", false, &scheduler(), NOW + 60)
        .unwrap();
    assert_eq!(again.state, State::Scheduled);
    let t = s.table("users").unwrap();
    let batch =
        segdb_engine::write::parse_batch(t.schema(), "{\"id\":\"new\",\"set\":{\"city\":\"c1\"}}")
            .unwrap();
    s.ingest("users", batch).unwrap();
    let runs = c
        .start_runs(&s, &["daily"], &scheduler(), NOW + 86_400)
        .unwrap();
    assert_eq!((runs[0].run.number, runs[0].run.day), (2, TODAY + 1));
    assert_eq!(c.load_run("daily", 1).unwrap().audience.len(), 10);
    assert_eq!(c.load_run("daily", 2).unwrap().audience.len(), 11);
}

#[test]
fn caps_and_priority_hold_across_runs_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 60);
    let c = CampaignStore::open(dir.path()).unwrap();
    c.set_table_cap(&s, "users", Some(Cap { max: 1, days: 7 }), &boss())
        .unwrap();
    assert!(matches!(
        c.set_table_cap(&s, "users", Some(Cap { max: 1, days: 7 }), &ann()),
        Err(CampaignError::Forbidden(_))
    ));
    // Two campaigns over the same users start together; `high` goes first.
    let mut low = def("low", "age >= 0");
    low.priority = 1;
    let mut high = def("high", "city = 'c0'");
    high.priority = 5;
    let mut receipt = def("receipt", "age >= 0");
    receipt.kind = Kind::Transactional;
    for d in [low, high, receipt] {
        scheduled(&c, &s, d);
    }
    let runs = c
        .start_runs(&s, &["low", "high", "receipt"], &scheduler(), NOW)
        .unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["high", "low", "receipt"]);
    let high_run = c.load_run("high", 1).unwrap();
    let low_run = c.load_run("low", 1).unwrap();
    let receipt_run = c.load_run("receipt", 1).unwrap();
    let high_sent: RoaringBitmap = high_run
        .variants
        .iter()
        .fold(RoaringBitmap::new(), |a, v| a | v);
    assert_eq!(high_sent.len(), 20);
    assert_eq!(low_run.capped, high_sent);
    assert_eq!(receipt_run.capped.len(), 0);
    // The sends are recorded as touches (the transactional ones are not);
    // after a reopen, the next day's runs see them.
    let low_sent: RoaringBitmap = low_run
        .variants
        .iter()
        .fold(RoaringBitmap::new(), |a, v| a | v);
    let high_c = c.get("high").unwrap();
    let low_c = c.get("low").unwrap();
    let receipt_c = c.get("receipt").unwrap();
    c.record_touches("users", high_c.id, Kind::Marketing, TODAY, &high_sent)
        .unwrap();
    c.record_touches("users", low_c.id, Kind::Marketing, TODAY, &low_sent)
        .unwrap();
    c.record_touches(
        "users",
        receipt_c.id,
        Kind::Transactional,
        TODAY,
        &receipt_run.audience,
    )
    .unwrap();
    for name in ["low", "high", "receipt"] {
        c.finish_run(name, false, &scheduler(), NOW + 10).unwrap();
    }
    drop(c);
    let c = CampaignStore::open(dir.path()).unwrap();
    let touches = c.touches("users", TODAY + 1).unwrap();
    for r in 0..60 {
        assert_eq!(touches.table.count(TODAY, r), 1, "row {r}");
        let own = if high_sent.contains(r) {
            high_c.id
        } else {
            low_c.id
        };
        assert_eq!(touches.campaign(own).count(TODAY, r), 1, "row {r}");
    }
    assert!(touches.campaign(receipt_c.id).days().next().is_none());
    scheduled(&c, &s, def("next", "age >= 0"));
    let runs = c
        .start_runs(&s, &["next"], &scheduler(), NOW + 86_400)
        .unwrap();
    // Everyone had one message within 7 days: all capped.
    assert_eq!((runs[0].run.audience, runs[0].run.capped), (60, 60));
    // Past the window, nobody is.
    scheduled(&c, &s, def("later", "age >= 0"));
    let runs = c
        .start_runs(&s, &["later"], &scheduler(), NOW + 7 * 86_400)
        .unwrap();
    assert_eq!(runs[0].run.capped, 0);
}

#[test]
fn damaged_run_files_are_errors_naming_the_file_never_fewer_users() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 200);
    let c = CampaignStore::open(dir.path()).unwrap();
    let mut d = def("spring", "age >= 0");
    d.holdout = 0.1;
    scheduled(&c, &s, d);
    c.start_runs(&s, &["spring"], &scheduler(), NOW).unwrap();
    let run_dir = dir.path().join("campaigns.d/runs/1-1");
    let variant = run_dir.join("variant-0.roar");
    let good = std::fs::read(&variant).unwrap();
    // A flipped bit.
    let mut bad = good.clone();
    bad[30] ^= 1;
    std::fs::write(&variant, &bad).unwrap();
    let err = c.load_run("spring", 1).unwrap_err();
    assert!(
        matches!(&err, CampaignError::Corrupt { path, .. } if path == &variant),
        "{err}"
    );
    assert!(err.to_string().contains("variant-0.roar"), "{err}");
    std::fs::write(&variant, &good).unwrap();
    c.load_run("spring", 1).unwrap();
    // A well-formed file with fewer rows put in place of the audience.
    let audience = run_dir.join("audience.roar");
    let real = crate::checked::read_bitmap(&audience).unwrap();
    let smaller: RoaringBitmap = real.iter().skip(1).collect();
    crate::checked::write_bitmap(&RealFs, &audience, &smaller).unwrap();
    let err = c.load_run("spring", 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("holds 199 rows, the run recorded 200"),
        "{err}"
    );
    crate::checked::write_bitmap(&RealFs, &audience, &real).unwrap();
    // A hold-out holding a row of no audience.
    let holdout = run_dir.join("holdout.roar");
    let mut h = crate::checked::read_bitmap(&holdout).unwrap();
    let first = h.min().unwrap();
    h.remove(first);
    h.insert(1_000_000);
    crate::checked::write_bitmap(&RealFs, &holdout, &h).unwrap();
    let err = c.load_run("spring", 1).unwrap_err();
    assert!(
        err.to_string().contains("outside the run's audience"),
        "{err}"
    );
    // A missing file.
    std::fs::remove_file(&holdout).unwrap();
    let err = c.load_run("spring", 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("holdout.roar: the file is missing"),
        "{err}"
    );
    // A damaged catalog: the campaigns do not open.
    drop(c);
    let catalog = dir.path().join("campaigns.d/catalog.camp");
    let mut bytes = std::fs::read(&catalog).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&catalog, &bytes).unwrap();
    let err = CampaignStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, CampaignError::Corrupt { path, .. } if path == &catalog),
        "{err}"
    );
}

#[test]
fn a_run_the_catalog_does_not_name_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 10);
    let c = CampaignStore::open(dir.path()).unwrap();
    scheduled(&c, &s, def("spring", "age >= 0"));
    // As if a crash struck after the bitmaps and before the catalog.
    let orphan = dir.path().join("campaigns.d/runs/1-1");
    std::fs::create_dir_all(&orphan).unwrap();
    crate::checked::write_bitmap(&RealFs, &orphan.join("audience.roar"), &(0..10).collect())
        .unwrap();
    drop(c);
    let c = CampaignStore::open(dir.path()).unwrap();
    assert!(!orphan.exists());
    assert_eq!(c.get("spring").unwrap().state, State::Scheduled);
    let runs = c.start_runs(&s, &["spring"], &scheduler(), NOW).unwrap();
    assert_eq!(runs[0].run.number, 1);
    assert_eq!(c.load_run("spring", 1).unwrap().audience.len(), 10);
}

#[test]
fn due_campaigns_follow_their_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 10);
    let c = CampaignStore::open(dir.path()).unwrap();
    let midnight = i64::from(TODAY) * 86_400;
    let with = |name: &str, schedule: serde_json::Value, priority: i32| {
        let mut d = def(name, "age >= 0");
        d.schedule = serde_json::from_value(schedule).unwrap();
        d.priority = priority;
        d
    };
    // Scheduled at NOW (12:00).
    scheduled(&c, &s, with("now_low", serde_json::json!("now"), 1));
    scheduled(&c, &s, with("now_high", serde_json::json!("now"), 9));
    scheduled(
        &c,
        &s,
        with(
            "evening",
            serde_json::json!({"at": "2026-11-22T18:00:00Z"}),
            0,
        ),
    );
    scheduled(
        &c,
        &s,
        with("daily", serde_json::json!({"daily": "09:30"}), 0),
    );
    c.create(&s, with("draft", serde_json::json!("now"), 0), &ann(), NOW)
        .unwrap();
    assert_eq!(c.due(NOW - 1), Vec::<String>::new());
    assert_eq!(c.due(NOW), ["now_high", "now_low"]);
    let names = c.due(NOW);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    c.start_runs(&s, &names, &scheduler(), NOW).unwrap();
    for n in names {
        c.finish_run(n, false, &scheduler(), NOW + 1).unwrap();
    }
    assert_eq!(c.due(midnight + 18 * 3600), ["evening"]);
    let tomorrow_930 = midnight + 86_400 + 9 * 3600 + 1800;
    assert_eq!(c.due(tomorrow_930), ["evening", "daily"]);
    c.start_runs(&s, &["daily"], &scheduler(), tomorrow_930)
        .unwrap();
    assert_eq!(c.due(tomorrow_930), ["evening"]);
    c.finish_run("daily", false, &scheduler(), tomorrow_930 + 5)
        .unwrap();
    assert_eq!(c.due(tomorrow_930 + 86_400 - 1), ["evening"]);
    assert_eq!(c.due(tomorrow_930 + 86_400), ["evening", "daily"]);
}

#[test]
fn touches_past_the_longest_window_are_pruned_and_a_dropped_table_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 10);
    let c = CampaignStore::open(dir.path()).unwrap();
    let rows: RoaringBitmap = (0..5).collect();
    let old = TODAY - crate::touches::MAX_CAP_DAYS as i32;
    c.record_touches("users", 1, Kind::Marketing, old, &rows)
        .unwrap();
    c.record_touches("users", 1, Kind::Marketing, old + 1, &rows)
        .unwrap();
    let files = |c: &CampaignStore| {
        let mut names: Vec<String> = std::fs::read_dir(c.dir.join("touches/users"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files(&c).len(), 2);
    c.record_touches("users", 1, Kind::Marketing, TODAY, &rows)
        .unwrap();
    // `old` is outside the 90 days ending TODAY; `old + 1` is the first.
    assert_eq!(
        files(&c),
        [format!("{}.camp", old + 1), format!("{TODAY}.camp")]
    );
    let t = c.touches("users", TODAY).unwrap();
    assert_eq!(t.table.days().collect::<Vec<_>>(), [old + 1, TODAY]);
    // A campaign whose table is dropped fails to start, naming the table.
    scheduled(&c, &s, def("spring", "age >= 0"));
    s.drop_table("users").unwrap();
    match c.start_runs(&s, &["spring"], &scheduler(), NOW) {
        Err(CampaignError::Invalid(e)) => assert_eq!(e.path, "table"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.get("spring").unwrap().state, State::Scheduled);
}

#[test]
fn a_campaign_is_deleted_unless_a_run_is_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 10);
    let c = CampaignStore::open(dir.path()).unwrap();
    scheduled(&c, &s, def("spring", "age >= 0"));
    c.start_runs(&s, &["spring"], &scheduler(), NOW).unwrap();
    let run_dir = dir.path().join("campaigns.d/runs/1-1");
    assert!(run_dir.is_dir());
    let reader = Actor::new("rae", Role::Read);
    assert!(matches!(
        c.delete("spring", &reader),
        Err(CampaignError::Forbidden(_))
    ));
    match c.delete("spring", &ann()) {
        Err(CampaignError::Conflict(e)) => {
            assert_eq!(e.current, State::Running);
            assert_eq!(e.to_string(), "cannot delete a campaign that is running");
        }
        other => panic!("{other:?}"),
    }
    c.act("spring", Action::Pause, &ann(), NOW).unwrap();
    assert!(matches!(
        c.delete("spring", &ann()),
        Err(CampaignError::Conflict(_))
    ));
    c.act("spring", Action::Cancel, &ann(), NOW).unwrap();
    let gone = c.delete("spring", &ann()).unwrap();
    assert_eq!(gone.state, State::Cancelled);
    assert!(matches!(c.get("spring"), Err(CampaignError::NotFound(_))));
    assert!(matches!(
        c.delete("spring", &ann()),
        Err(CampaignError::NotFound(_))
    ));
    assert!(!run_dir.exists());
    drop(c);
    let c = CampaignStore::open(dir.path()).unwrap();
    assert!(c.list().is_empty());
    // The name is free again, with a new id.
    assert_eq!(
        c.create(&s, def("spring", "age >= 0"), &ann(), NOW)
            .unwrap()
            .id,
        2
    );
}

#[test]
fn verify_reads_every_file_and_names_the_damaged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), 20);
    let c = CampaignStore::open(dir.path()).unwrap();
    scheduled(&c, &s, def("spring", "age >= 0"));
    c.start_runs(&s, &["spring"], &scheduler(), NOW).unwrap();
    c.record_touches("users", 1, Kind::Marketing, TODAY, &(0..20).collect())
        .unwrap();
    // Three bitmaps and two variants, one touch file.
    let (files, damage) = c.verify();
    assert_eq!((files, damage.len()), (6, 0));
    let touch = dir
        .path()
        .join(format!("campaigns.d/touches/users/{TODAY}.camp"));
    let mut bytes = std::fs::read(&touch).unwrap();
    bytes[28] ^= 4;
    std::fs::write(&touch, &bytes).unwrap();
    std::fs::remove_file(dir.path().join("campaigns.d/runs/1-1/capped.roar")).unwrap();
    let (_, damage) = c.verify();
    let shown: Vec<String> = damage.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].contains("capped.roar: the file is missing"),
        "{shown:?}"
    );
    assert!(
        shown[1].contains(&format!("{TODAY}.camp: checksum mismatch")),
        "{shown:?}"
    );
}
