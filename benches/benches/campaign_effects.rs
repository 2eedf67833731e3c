//! A campaign's effects over a 10M-user audience (issue 14's targets): the
//! report of the campaign in under 50 ms, and a retargeting count
//! (`clicked(c) AND NOT converted(c)`) in the time of a W1–W6 count.
//!
//! Data: a store of 10,000,000 users (`u00000000..`, INT `age` = i % 80,
//! ENUM `city` of 20 values by a hash of i, EVENT `book`: 3% of users
//! booked once in the five days from the run's), generated while
//! imported; campaign `spring` over every user (`age >= 0`): variants `a`
//! and `b` 1:1, a 10% hold-out and the goal `did(book, 7 days after
//! send)`, run 1 delivered to its 9M assigned users through the real
//! executor and delivery log (a channel that accepts every batch). Effects
//! for the sent users (`effects_fixture::effects_of`): delivered 20%,
//! clicked 5% (a quarter of them twice), converted 1%, spread over three
//! days, attributed by `segdb_campaigns::effects::attribute` and written
//! with `Store::write_tallied` in batches of 1M users' effects, then
//! flushed to part files.
//!
//! Measured:
//! - `report`: `segdb_campaigns::report::report` of the campaign (both
//!   variants and the hold-out: audience, sent, failed, users and events
//!   per effect, rates, per-day series, the goal's rate, its uplift over
//!   the hold-out with its interval and p-value);
//! - `retarget_count`: `clicked(spring) AND NOT converted(spring)` as the
//!   binder makes it, counted;
//! - `w_count`: a W1-like count on the same store, `city = 'c03' AND age
//!   BETWEEN 25 AND 35`;
//! - `retarget_freeze`: the retargeting segment's bitmap (what a new
//!   campaign on it freezes).
//!
//! Building the store takes a minute or two (an import of 10M rows, a
//! delivery of 9M messages); run with
//! `cargo bench -p segdb-benches --bench campaign_effects`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use segdb_benches::effects_fixture::{
    city_of, delivered_campaign, effects_of, users_table, CAMPAIGN,
};
use segdb_campaigns::audience::freeze;
use segdb_campaigns::effects::{attribute, day_of, effect_value, Effect, EFFECTS_FIELD};
use segdb_campaigns::report::report;
use segdb_engine::{Expr, FieldKind, Store};

const USERS: u32 = 10_000_000;
/// 2026-12-01T00:00:00Z.
const NOW: i64 = 1_796_083_200;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t0 = Instant::now();
    users_table(&store, USERS, day_of(NOW)).unwrap();
    let (campaigns, log) = delivered_campaign(&store, dir.path(), NOW).unwrap();
    let built = t0.elapsed();
    let camp = campaigns.get(CAMPAIGN).unwrap();
    let runs = campaigns.run_groups(&camp, Some(&log)).unwrap();
    store
        .ensure_system_field("users", EFFECTS_FIELD, FieldKind::Set)
        .unwrap();
    let t1 = Instant::now();
    let sent: Vec<u32> = runs[0].sent.iter().collect();
    let mut lines = Vec::new();
    let mut effects = 0u64;
    for chunk in sent.chunks(1_000_000) {
        lines.clear();
        for &row in chunk {
            // Row ids are import order, so row i is user i.
            effects_of(row, NOW + 600, &mut lines);
        }
        let table = store.table("users").unwrap();
        let intake = attribute(&table, camp.id, &runs, &lines, None)
            .unwrap()
            .unwrap();
        assert_eq!(intake.unattributed, 0);
        effects += intake.attributed;
        drop(table);
        store.write_tallied("users", &intake.write).unwrap();
    }
    store.flush().unwrap();
    println!(
        "store of {USERS} users, campaign run delivered to {} in {:.1} s; {effects} effects written in {:.1} s",
        runs[0].sent.len(),
        built.as_secs_f64(),
        t1.elapsed().as_secs_f64()
    );

    let today = day_of(NOW) + 3;
    let r = report(&store, &campaigns, Some(&log), CAMPAIGN, today).unwrap();
    for g in &r.runs[0].groups {
        println!(
            "{:>8}: audience {}, sent {}, users {:?}, events {:?}, {} days, goal {:?}",
            g.group,
            g.audience,
            g.sent,
            g.users,
            g.events,
            g.days.len(),
            g.goal
        );
    }
    let has = |e: Effect| Expr::Value {
        field: EFFECTS_FIELD.to_owned(),
        value: effect_value(camp.id, 1, e),
    };
    let retarget = Expr::And(vec![
        has(Effect::Clicked),
        Expr::Not(Box::new(has(Effect::Converted))),
    ]);
    let w = Expr::And(vec![
        Expr::Value {
            field: "city".into(),
            value: "c03".into(),
        },
        Expr::IntBetween {
            field: "age".into(),
            lo: 25,
            hi: 35,
        },
    ]);
    let table = store.table("users").unwrap();
    let expected = sent
        .iter()
        .filter(|&&i| i % 20 == 0 && i % 100 != 0)
        .count() as u64;
    assert_eq!(table.count(&retarget).unwrap(), expected);
    let w_expected = (0..USERS)
        .filter(|&i| city_of(i) == 3 && (25..=35).contains(&(i % 80)))
        .count() as u64;
    assert_eq!(table.count(&w).unwrap(), w_expected);
    println!("retargeting count {expected}; W-style count {w_expected}");

    let mut g = c.benchmark_group("campaign_effects_10M");
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("report", |b| {
        b.iter(|| {
            report(&store, &campaigns, Some(&log), CAMPAIGN, today)
                .unwrap()
                .runs
                .len()
        })
    });
    g.bench_function("retarget_count", |b| {
        b.iter(|| table.count(&retarget).unwrap())
    });
    g.bench_function("w_count", |b| b.iter(|| table.count(&w).unwrap()));
    g.bench_function("retarget_freeze", |b| {
        b.iter(|| freeze(&table, &retarget).unwrap().len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
