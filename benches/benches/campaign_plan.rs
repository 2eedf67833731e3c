//! What a campaign run costs at its start, over a 10M-user audience (issue
//! 13's target: under 50 ms on the development machine): freezing the
//! audience (binding its WHERE and evaluating it into a RoaringBitmap),
//! then the hold-out, both frequency caps and the assignment to variants
//! (`segdb_campaigns::plan::plan_runs`), and both together.
//!
//! Data: a store with one table of 10,000,000 users (`u0000000..`, an INT
//! `age` = i % 80, generated while imported), audience `age >= 0` (every
//! user). The campaign has a 10% hold-out and variants weighted 1:1:2; the
//! table-wide cap is 3 messages in 7 days and the campaign's own 1 in 7
//! days. Past touches: on each of the 7 days, every user with `(i * 7 +
//! day) % 10 < 3` (30% a day, so about half the users reach the cap of 3),
//! and the campaign's own touches on one day for 5% of users.
//!
//! `external_ids_hashed` is the alternative `plan.rs` turned down: reading
//! every audience user's external id from the dictionary
//! (`Table::for_each_external_id`, batched lookups) and hashing its bytes,
//! which an assignment by external id would need on top of everything
//! else.
//!
//! Building the store takes a while (an import of 10M rows); run with
//! `cargo bench -p segdb-benches --bench campaign_plan`.

use std::io::Read;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use roaring::RoaringBitmap;
use segdb_campaigns::audience::{bind_audience, freeze};
use segdb_campaigns::plan::{plan_runs, PlanCampaign};
use segdb_campaigns::touches::Touches;
use segdb_campaigns::{Audience, Cap, Kind};
use segdb_engine::{FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

const USERS: u32 = 10_000_000;
const DAY: i32 = 20_779;

/// The CSV `user_id,age` of [`USERS`] rows, made as it is read.
struct Users {
    next: u32,
    line: Vec<u8>,
    at: usize,
}

impl Read for Users {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if self.at == self.line.len() {
                self.line.clear();
                self.at = 0;
                if self.next == 0 {
                    self.line.extend_from_slice(b"user_id,age\n");
                }
                if self.next == USERS {
                    break;
                }
                let i = self.next;
                self.line
                    .extend_from_slice(format!("u{i:07},{}\n", i % 80).as_bytes());
                self.next += 1;
            }
            let k = (self.line.len() - self.at).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&self.line[self.at..self.at + k]);
            self.at += k;
            n += k;
        }
        Ok(n)
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let schema = Schema {
        fields: vec![FieldDef::new("age", FieldKind::Int)],
    };
    store.create_table("users", &schema).unwrap();
    let users = Users {
        next: 0,
        line: Vec::new(),
        at: 0,
    };
    store
        .import("users", ImportFormat::Csv, users, &ImportOptions::default())
        .unwrap();
    let table = store.table("users").unwrap();
    let audience = Audience::Where("age >= 0".into());

    let mut table_touches = Touches::new();
    for d in 0..7 {
        let rows: RoaringBitmap = (0..USERS)
            .filter(|i| (i.wrapping_mul(7) + d as u32) % 10 < 3)
            .collect();
        table_touches.add(DAY - d, &rows);
    }
    let mut own = Touches::new();
    own.add(DAY - 2, &(0..USERS).filter(|i| i % 20 == 0).collect());
    let table_cap = Some(Cap { max: 3, days: 7 });
    let campaign = |audience: RoaringBitmap| PlanCampaign {
        id: 1,
        priority: 0,
        kind: Kind::Marketing,
        holdout: 0.1,
        weights: vec![1, 1, 2],
        cap: Some(Cap { max: 1, days: 7 }),
        own_touches: &own,
        audience,
    };

    let frozen = {
        let expr = bind_audience(&store, "users", &audience, DAY, None).unwrap();
        freeze(&table, &expr).unwrap()
    };
    let plans = plan_runs(
        vec![campaign(frozen.clone())],
        table_cap,
        &table_touches,
        DAY,
    );
    println!(
        "audience {}, hold-out {}, capped {}, variants {:?}",
        plans[0].audience.len(),
        plans[0].holdout.len(),
        plans[0].capped.len(),
        plans[0]
            .variants
            .iter()
            .map(RoaringBitmap::len)
            .collect::<Vec<_>>()
    );

    let mut g = c.benchmark_group("campaign_run_start_10M");
    g.sample_size(20);
    g.bench_function("freeze", |b| {
        b.iter(|| {
            let expr = bind_audience(&store, "users", &audience, DAY, None).unwrap();
            freeze(&table, &expr).unwrap().len()
        })
    });
    g.bench_function("holdout_caps_assignment", |b| {
        b.iter_batched(
            || frozen.clone(),
            |rows| {
                plan_runs(vec![campaign(rows)], table_cap, &table_touches, DAY)[0]
                    .capped
                    .len()
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("freeze_holdout_caps_assignment", |b| {
        b.iter(|| {
            let expr = bind_audience(&store, "users", &audience, DAY, None).unwrap();
            let rows = freeze(&table, &expr).unwrap();
            plan_runs(vec![campaign(rows)], table_cap, &table_touches, DAY)[0]
                .capped
                .len()
        })
    });
    let all_rows: Vec<u32> = frozen.iter().collect();
    g.bench_function("external_ids_hashed", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            table
                .for_each_external_id(&all_rows, |_, id| {
                    acc ^= segdb_storage_format::dictionary::hash_id(id);
                    true
                })
                .unwrap();
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
