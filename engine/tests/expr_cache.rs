//! `Expr::Cached` (a derived tag's value): evaluated once per table
//! snapshot and reused by later statements on it; never stale after a
//! write (a write publishes a new snapshot with an empty cache); not kept
//! for what changes while the table does not (a campaign group).

use segdb_engine::write::parse_batch;
use segdb_engine::{
    CmpOp, DayRange, Expr, ExprCacheStats, FieldDef, FieldKind, RowSet, Schema, Store,
};

fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("spend", FieldKind::Int),
            FieldDef::new("buy", FieldKind::Event),
        ],
    };
    s.create_table("t", &schema).unwrap();
    ingest(&s, 0..100, 10);
    s
}

/// Rows `u{i}` for `ids`, each spending `i * step`, one buy on 2026-03-10
/// for even `i`.
fn ingest(s: &Store, ids: std::ops::Range<u32>, step: u32) {
    let mut text = String::new();
    for i in ids {
        text.push_str(&format!(
            "{{\"id\":\"u{i}\",\"set\":{{\"spend\":{}}}}}\n",
            i * step
        ));
        if i % 2 == 0 {
            text.push_str(&format!(
                "{{\"id\":\"u{i}\",\"event\":\"buy\",\"day\":\"2026-03-10\"}}\n"
            ));
        }
    }
    let t = s.table("t").unwrap();
    s.ingest("t", parse_batch(t.schema(), &text).unwrap())
        .unwrap();
}

fn day(iso: &str) -> i32 {
    segdb_engine::date::parse_iso_day(iso).unwrap()
}

/// `did(buy, last 7 days) AND spend >= 500` on `last`, cached.
fn value(last: &str) -> Expr {
    Expr::Cached(Box::new(Expr::And(vec![
        Expr::did(
            "buy",
            DayRange {
                first: day(last) - 6,
                last: day(last),
            },
        ),
        Expr::IntCmp {
            field: "spend".into(),
            op: CmpOp::Ge,
            value: 500,
        },
    ])))
}

#[test]
fn a_cached_value_is_reused_on_its_snapshot_and_never_stale_after_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let e = value("2026-03-12");
    let t = s.table("t").unwrap();
    // Even i with i * 10 >= 500: 50, 52, …, 98.
    assert_eq!(t.count(&e).unwrap(), 25);
    let after_first = t.expr_cache_stats();
    assert_eq!((after_first.entries, after_first.misses), (1, 1));
    // Later statements on the same snapshot: read from the cache, and the
    // same answer inside other expressions.
    assert_eq!(t.count(&e).unwrap(), 25);
    let within = Expr::And(vec![
        e.clone(),
        Expr::IntCmp {
            field: "spend".into(),
            op: CmpOp::Lt,
            value: 700,
        },
    ]);
    assert_eq!(t.count(&within).unwrap(), 10);
    assert_eq!(t.count(&Expr::Not(Box::new(e.clone()))).unwrap(), 75);
    let stats = t.expr_cache_stats();
    assert_eq!((stats.entries, stats.misses, stats.hits), (1, 1, 3));
    assert!(stats.bytes >= 25 * 4, "{stats:?}");
    // Another day is another expression, cached beside it.
    assert_eq!(t.count(&value("2026-03-20")).unwrap(), 0);
    assert_eq!(t.expr_cache_stats().entries, 2);

    // A write: the next statement sees it (the new snapshot's cache is
    // empty), whatever the old snapshot cached.
    ingest(&s, 0..100, 1);
    let t2 = s.table("t").unwrap();
    assert_eq!(t2.expr_cache_stats(), ExprCacheStats::default());
    assert_eq!(t2.count(&e).unwrap(), 0);
    ingest(&s, 100..120, 10);
    let t3 = s.table("t").unwrap();
    assert_eq!(t3.count(&e).unwrap(), 10);
    // The old snapshot still answers as it did.
    assert_eq!(t.count(&e).unwrap(), 25);
}

#[test]
fn a_campaign_group_is_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let t = s.table("t").unwrap();
    // A group's rows change with deliveries while the table does not:
    // two sets under one label must each be read.
    let group = |rows: Vec<u32>| {
        Expr::Cached(Box::new(Expr::RowSet(RowSet::new(
            "sent(c) run 1",
            "t",
            rows,
        ))))
    };
    assert_eq!(t.count(&group(vec![1, 2, 3])).unwrap(), 3);
    assert_eq!(t.count(&group(vec![1, 2, 3, 4, 5])).unwrap(), 5);
    assert_eq!(t.expr_cache_stats().entries, 0);
}
