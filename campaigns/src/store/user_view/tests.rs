//! A user's view against the run's own files: every row of the table, in
//! two campaigns (one with a hold-out, two variants, part of a variant
//! delivered, some on a later day, and effects reported), equals what
//! `load_run`, the delivery log and the reported lines say.

use super::*;
use crate::definition::{Actor, CampaignDef, Role};
use crate::deliver::log::BatchRecord;
use crate::effects::intake;
use crate::lifecycle::Action;
use crate::testutil::{self, NOW, TODAY};

const ROWS: u32 = 60;

fn def(name: &str, audience: &str, holdout: f64) -> CampaignDef {
    serde_json::from_value(serde_json::json!({
        "name": name, "table": "users",
        "audience": {"where": audience},
        "channel": {"file": {"dir": "/tmp/segdb-out", "format": "jsonl"}},
        "variants": [
            {"name": "a", "weight": 1, "template": "Hi"},
            {"name": "b", "weight": 1, "template": "Hello"}
        ],
        "holdout": holdout,
        "schedule": "now"
    }))
    .unwrap()
}

#[test]
fn every_row_equals_its_runs_delivery_and_effects() {
    let dir = tempfile::tempdir().unwrap();
    let s = testutil::store(dir.path(), ROWS);
    let c = CampaignStore::open(dir.path()).unwrap();
    let ann = Actor::new("ann", Role::Write);
    c.create(&s, def("spring", "city = 'c0'", 0.25), &ann, NOW)
        .unwrap();
    c.create(&s, def("later", "age >= 10", 0.0), &ann, NOW + 60)
        .unwrap();
    for n in ["spring", "later"] {
        c.act(n, Action::Start, &ann, NOW).unwrap();
    }
    let sched = Actor::new("scheduler", Role::Admin);
    c.start_runs(&s, &["spring"], &sched, NOW).unwrap();
    c.start_runs(&s, &["later"], &sched, NOW + 60).unwrap();
    let spring = c.load_run("spring", 1).unwrap();
    let later = c.load_run("later", 1).unwrap();
    assert!(!spring.holdout.is_empty() && spring.variants.iter().all(|v| v.len() > 1));
    // Spring's variant a: its first two users sent today, the next one
    // tomorrow (a touch that day), the rest not yet.
    let a: Vec<u32> = spring.variants[0].iter().collect();
    let log = DeliveryLog::open(dir.path()).unwrap();
    for (rows, day) in [(&a[..2], TODAY), (&a[2..3], TODAY + 1)] {
        log.record(&BatchRecord {
            campaign: 1,
            run: 1,
            variant: 0,
            failed: None,
            touch_day: Some(day),
            rows: rows.iter().copied().collect(),
        })
        .unwrap();
    }
    let table = s.table("users").unwrap();
    let id_of = |row: u32| {
        (0..ROWS)
            .map(|i| format!("u{i}"))
            .find(|id| table.row_of(id).unwrap() == Some(row))
            .unwrap()
    };
    // Effects: the first user clicked and was delivered; the second only
    // delivered; a hold-out user's click is unattributed (not theirs).
    let held = spring.holdout.min().unwrap();
    let lines = [
        (a[0], "delivered"),
        (a[0], "clicked"),
        (a[1], "delivered"),
        (held, "clicked"),
    ]
    .iter()
    .map(|(r, e)| {
        format!(
            "{{\"id\":\"{}\",\"effect\":\"{e}\",\"at\":\"2026-11-22T13:00:00Z\"}}\n",
            id_of(*r)
        )
    })
    .collect::<String>();
    intake(&s, &c, Some(&log), "spring", &lines, None, NOW + 3600).unwrap();
    drop(table);
    let table = s.table("users").unwrap();

    for row in 0..ROWS {
        let v = c
            .user_view(Some(&log), &table, row, TODAY + 1, 50, |_| true)
            .unwrap();
        assert_eq!((v.runs_read, v.runs_total), (2, 2));
        let mut want = Vec::new();
        // Newest first: `later` started a minute after `spring`.
        for (name, id, run) in [("later", 2, &later), ("spring", 1, &spring)] {
            if !run.audience.contains(row) {
                continue;
            }
            let group = if run.holdout.contains(row) {
                UserGroup::Holdout
            } else {
                let i = run.variants.iter().position(|v| v.contains(row)).unwrap();
                UserGroup::Variant {
                    index: i,
                    name: ["a", "b"][i].to_owned(),
                }
            };
            let sent_day = match a.iter().position(|&x| x == row) {
                Some(0 | 1) if name == "spring" => Some(TODAY),
                Some(2) if name == "spring" => Some(TODAY + 1),
                _ => None,
            };
            let effects = match a.iter().position(|&x| x == row) {
                Some(0) if name == "spring" => vec![Effect::Delivered, Effect::Clicked],
                Some(1) if name == "spring" => vec![Effect::Delivered],
                _ => vec![],
            };
            want.push(UserRun {
                campaign: name.to_owned(),
                campaign_id: id,
                state: c.get(name).unwrap().state,
                run: 1,
                run_day: TODAY,
                group,
                sent_day,
                effects,
            });
        }
        assert_eq!(v.runs, want, "row {row}");
    }

    // The bound: the newest run only, and the count of all of them.
    let v = c
        .user_view(Some(&log), &table, a[0], TODAY, 1, |_| true)
        .unwrap();
    assert_eq!((v.runs_read, v.runs_total), (1, 2));
    assert!(v.runs.iter().all(|r| r.campaign == "later"));
    // The campaigns the caller may not see are not read at all.
    let v = c
        .user_view(Some(&log), &table, a[0], TODAY, 50, |c| {
            c.def.name != "spring"
        })
        .unwrap();
    assert_eq!(v.runs_total, 1);
    assert!(v.runs.iter().all(|r| r.campaign == "later"));
    // Without the log, nothing checkpointed is sent yet.
    let v = c
        .user_view(None, &table, a[0], TODAY, 50, |_| true)
        .unwrap();
    assert!(v.runs.iter().all(|r| r.sent_day.is_none()));
}
