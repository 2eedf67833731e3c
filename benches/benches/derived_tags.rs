//! Derived tags over 10M users (issue 15's targets): GROUP BY a 4-branch
//! tag within 2x of the same four counts run apart, a tag in WHERE within
//! 1.5x of its expression written out, and creating a tag instant.
//!
//! Data: the campaign benches' store of 10,000,000 users
//! (`effects_fixture::users_table`: INT `age` = i % 80, ENUM `city` of 20
//! values by a hash of i, EVENT `book`: 3% of users booked once in the
//! five days from `BOOK_DAY`), generated while imported. The tag:
//!
//! ```sql
//! CREATE TAG lifecycle ON users AS CASE WHEN did(book, last 7 days) THEN 'active'
//!   WHEN age >= 65 THEN 'senior' WHEN city = 'c03' THEN 'local' ELSE 'other' END
//! ```
//!
//! Statements are bound by query-lang against the store (as the server
//! binds them) and run on the engine; `AS OF` the last booking day.
//!
//! Measured:
//! - `group_by_tag`: `SELECT lifecycle, COUNT(*) FROM users GROUP BY
//!   lifecycle` (each value's rows cached per table snapshot, so every run
//!   after the first reads them from memory);
//! - `group_by_tag_uncached`: the same with the cache taken out of the
//!   bound expressions (each run evaluates every value, as the first
//!   statement on a new snapshot does);
//! - `four_counts`: the four `SELECT COUNT(*) … WHERE <value's rule
//!   written out>` one after the other;
//! - `where_tag` / `where_tag_uncached` / `where_written_out`:
//!   `SELECT COUNT(*) FROM users WHERE lifecycle = 'local' AND age < 40`
//!   against the same with the rule written out;
//! - `create_tag`: `CREATE OR REPLACE TAG` of the definition, bound and
//!   committed (a manifest write: no backfill).
//!
//! Building the store takes about a minute; run with
//! `cargo bench -p segdb-benches --bench derived_tags`.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use segdb_benches::effects_fixture::users_table;
use segdb_campaigns::audience::StoreCatalog;
use segdb_engine::date::{format_iso_day, parse_iso_day, Day};
use segdb_engine::group_by::GroupOrder;
use segdb_engine::{Expr, Store};
use segdb_query_lang::{parse_and_bind, Projection, Statement};

const USERS: u32 = 10_000_000;

const DEFINITION: &str = "CASE WHEN did(book, last 7 days) THEN 'active' WHEN age >= 65 \
    THEN 'senior' WHEN city = 'c03' THEN 'local' ELSE 'other' END";

/// The four values' rules written out, as a user would without the tag.
const WRITTEN_OUT: [&str; 4] = [
    "did(book, last 7 days)",
    "age >= 65 AND NOT did(book, last 7 days)",
    "city = 'c03' AND NOT (did(book, last 7 days) OR age >= 65)",
    "NOT (did(book, last 7 days) OR age >= 65 OR city = 'c03')",
];

fn bind(store: &Store, text: &str, today: Day) -> Statement {
    let catalog = StoreCatalog(store, None);
    parse_and_bind(text, &catalog, today)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .pop()
        .unwrap()
}

fn select(store: &Store, text: &str, today: Day) -> segdb_query_lang::BoundSelect {
    match bind(store, text, today) {
        Statement::Select(s) => s,
        other => panic!("{text}: {other:?}"),
    }
}

/// `e` without its `Cached` wrappers: evaluated afresh every time.
fn uncached(e: &Expr) -> Expr {
    match e {
        Expr::Cached(x) => uncached(x),
        Expr::And(xs) => Expr::And(xs.iter().map(uncached).collect()),
        Expr::Or(xs) => Expr::Or(xs.iter().map(uncached).collect()),
        Expr::Not(x) => Expr::Not(Box::new(uncached(x))),
        other => other.clone(),
    }
}

fn groups_of(s: &segdb_query_lang::BoundSelect) -> Vec<(String, Expr)> {
    match &s.projection {
        Projection::GroupByTag { groups, .. } => groups.clone(),
        other => panic!("{other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let book_day = parse_iso_day("2026-11-18").unwrap();
    let t0 = Instant::now();
    users_table(&store, USERS, book_day).unwrap();
    store.flush().unwrap();
    println!(
        "store of {USERS} users built in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let today = book_day + 4;
    let as_of = format!("AS OF '{}'", format_iso_day(today));

    let t1 = Instant::now();
    let created = bind(
        &store,
        &format!("CREATE TAG lifecycle ON users AS {DEFINITION}"),
        today,
    );
    let Statement::CreateTag(tag) = created else {
        panic!("{created:?}")
    };
    store
        .create_tag(&tag.name, &tag.table, &tag.text, tag.uses.clone(), false)
        .unwrap();
    println!(
        "CREATE TAG once: {:.3} ms",
        t1.elapsed().as_secs_f64() * 1e3
    );
    let table = store.table("users").unwrap();

    let group = select(
        &store,
        &format!("SELECT lifecycle, COUNT(*) FROM users GROUP BY lifecycle {as_of}"),
        today,
    );
    let groups = groups_of(&group);
    let plain: Vec<(String, Expr)> = groups
        .iter()
        .map(|(v, e)| (v.clone(), uncached(e)))
        .collect();
    let counts: Vec<Expr> = WRITTEN_OUT
        .iter()
        .map(|w| {
            select(
                &store,
                &format!("SELECT COUNT(*) FROM users WHERE {w} {as_of}"),
                today,
            )
            .filter
        })
        .collect();
    // The same answers three ways.
    let by_tag = table
        .group_by_exprs(&Expr::All, &groups, GroupOrder::Value, 0, None)
        .unwrap();
    let by_plain = table
        .group_by_exprs(&Expr::All, &plain, GroupOrder::Value, 0, None)
        .unwrap();
    assert_eq!(by_tag, by_plain);
    let mut apart: Vec<(String, u64)> = ["active", "senior", "local", "other"]
        .iter()
        .zip(&counts)
        .map(|(v, e)| (v.to_string(), table.count(e).unwrap()))
        .collect();
    apart.sort();
    assert_eq!(by_tag, apart);
    println!("groups: {by_tag:?}; cache {:?}", table.expr_cache_stats());

    let where_tag = select(
        &store,
        &format!("SELECT COUNT(*) FROM users WHERE lifecycle = 'local' AND age < 40 {as_of}"),
        today,
    )
    .filter;
    let where_plain = uncached(&where_tag);
    let written = select(
        &store,
        &format!(
            "SELECT COUNT(*) FROM users WHERE city = 'c03' AND NOT (did(book, last 7 days) \
             OR age >= 65) AND age < 40 {as_of}"
        ),
        today,
    )
    .filter;
    let n = table.count(&where_tag).unwrap();
    assert_eq!(n, table.count(&written).unwrap());
    assert_eq!(n, table.count(&where_plain).unwrap());
    println!("where: {n} rows");

    let mut g = c.benchmark_group("derived_tags");
    g.sample_size(30);
    g.bench_function("group_by_tag", |b| {
        b.iter(|| {
            table
                .group_by_exprs(&Expr::All, &groups, GroupOrder::Value, 0, None)
                .unwrap()
        })
    });
    g.bench_function("group_by_tag_uncached", |b| {
        b.iter(|| {
            table
                .group_by_exprs(&Expr::All, &plain, GroupOrder::Value, 0, None)
                .unwrap()
        })
    });
    g.bench_function("four_counts", |b| {
        b.iter(|| counts.iter().map(|e| table.count(e).unwrap()).sum::<u64>())
    });
    g.bench_function("where_tag", |b| b.iter(|| table.count(&where_tag).unwrap()));
    g.bench_function("where_tag_uncached", |b| {
        b.iter(|| table.count(&where_plain).unwrap())
    });
    g.bench_function("where_written_out", |b| {
        b.iter(|| table.count(&written).unwrap())
    });
    g.bench_function("create_tag", |b| {
        b.iter(|| {
            let Statement::CreateTag(tag) = bind(
                &store,
                &format!("CREATE OR REPLACE TAG lifecycle ON users AS {DEFINITION}"),
                today,
            ) else {
                unreachable!()
            };
            store
                .create_tag(&tag.name, &tag.table, &tag.text, tag.uses, true)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
