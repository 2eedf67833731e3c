//! Named segments in the store: snapshots evaluated in place, persistence
//! across a reopen, dependencies (cycles, dropping a segment in use) and
//! damaged snapshot files.

use std::path::Path;

use segdb_engine::{
    EngineError, Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, SegmentDef,
    SegmentKind, Store,
};

fn import(s: &Store, csv: &str) {
    s.import(
        "users",
        ImportFormat::Csv,
        csv.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
}

/// `users` with `n` rows `u0..`: city `c{i % 3}`, age `i % 50`.
fn store(dir: &Path, n: u32) -> Store {
    let s = Store::open(dir).unwrap();
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("age", FieldKind::Int),
        ],
    };
    s.create_table("users", &schema).unwrap();
    let mut csv = String::from("user_id,city,age\n");
    for i in 0..n {
        csv.push_str(&format!("u{i},c{},{}\n", i % 3, i % 50));
    }
    import(&s, &csv);
    s
}

fn city(c: &str) -> Expr {
    Expr::Value {
        field: "city".into(),
        value: c.into(),
    }
}

fn dynamic(text: &str, uses: &[&str]) -> SegmentDef {
    SegmentDef::Dynamic {
        text: text.into(),
        uses: uses.iter().map(|u| u.to_string()).collect(),
    }
}

/// `users` with `n` rows `u0..` and one BOOL field, `flag`, set where
/// `flagged(row)`.
fn flag_store(dir: &Path, n: u32, flagged: impl Fn(u32) -> bool) -> Store {
    let s = Store::open(dir).unwrap();
    s.create_table(
        "users",
        &Schema {
            fields: vec![FieldDef::new("flag", FieldKind::Bool)],
        },
    )
    .unwrap();
    let mut csv = String::with_capacity(n as usize * 14);
    csv.push_str("user_id,flag\n");
    for i in 0..n {
        csv.push_str(&format!("u{i},{}\n", u8::from(flagged(i))));
    }
    import(&s, &csv);
    s
}

fn snapshot(rows: Vec<u32>) -> SegmentDef {
    SegmentDef::Snapshot { rows, text: None }
}

#[test]
fn a_snapshot_evaluates_like_its_rows_in_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1000);
    let rows: Vec<u32> = (0..1000).filter(|i| i % 7 == 0 || i % 11 == 0).collect();
    let info = s
        .create_segment("sevens", "users", snapshot(rows.clone()), false)
        .unwrap();
    assert_eq!(info.kind, SegmentKind::Snapshot);
    assert_eq!(info.rows, Some(rows.len() as u64));
    let snap = s.snapshot_expr("sevens").unwrap();
    let t = s.table("users").unwrap();
    let as_rows = Expr::Rows(rows.clone());
    let wrap = |inner: &Expr| {
        vec![
            inner.clone(),
            Expr::Not(Box::new(inner.clone())),
            Expr::And(vec![city("c1"), inner.clone()]),
            Expr::And(vec![city("c1"), Expr::Not(Box::new(inner.clone()))]),
            Expr::Or(vec![city("c2"), inner.clone()]),
            Expr::Or(vec![Expr::Not(Box::new(city("c2"))), inner.clone()]),
            Expr::And(vec![inner.clone(), inner.clone()]),
        ]
    };
    for (a, b) in wrap(&snap).iter().zip(wrap(&as_rows).iter()) {
        assert_eq!(t.count(a).unwrap(), t.count(b).unwrap(), "{a:?}");
        assert_eq!(t.rows(a).unwrap(), t.rows(b).unwrap(), "{a:?}");
    }
    assert_eq!(t.rows(&snap).unwrap(), rows);
    assert_eq!(t.estimate(&snap).unwrap(), rows.len() as u64);
    let plan = t
        .explain(&Expr::And(vec![city("c1"), snap.clone()]))
        .unwrap();
    assert!(
        plan.children
            .iter()
            .any(|c| c.label == "IN SEGMENT sevens (snapshot)"),
        "{plan:?}"
    );
}

#[test]
fn snapshots_span_shards() {
    let dir = tempfile::tempdir().unwrap();
    let n = (1u32 << 20) + 70_000;
    let s = flag_store(dir.path(), n, |i| i % 2 == 0);
    let rows: Vec<u32> = (0..n).filter(|i| i % 1000 == 3).chain([n - 1]).collect();
    s.create_segment("spread", "users", snapshot(rows.clone()), false)
        .unwrap();
    let t = s.table("users").unwrap();
    let snap = s.snapshot_expr("spread").unwrap();
    assert_eq!(t.rows(&snap).unwrap(), rows);
    let flagged = Expr::And(vec![
        Expr::Bool {
            field: "flag".into(),
            value: true,
        },
        snap.clone(),
    ]);
    let expected = rows.iter().filter(|r| *r % 2 == 0).count() as u64;
    assert_eq!(t.count(&flagged).unwrap(), expected);
    assert_eq!(
        t.rows_range(&snap, 1048, Some(2)).unwrap(),
        rows[1048..1050]
    );
}

#[test]
fn segments_survive_a_reopen_and_snapshots_keep_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = store(dir.path(), 30);
        let c0: Vec<u32> = s.table("users").unwrap().rows(&city("c0")).unwrap();
        s.create_segment("c0_then", "users", snapshot(c0), false)
            .unwrap();
        s.create_segment("c0_now", "users", dynamic("city = 'c0'", &[]), false)
            .unwrap();
        s.create_segment(
            "both",
            "users",
            dynamic(
                "IN SEGMENT c0_now AND IN SEGMENT c0_then",
                &["c0_now", "c0_then", "c0_now"],
            ),
            false,
        )
        .unwrap();
        // New rows after the snapshot: it does not see them.
        import(&s, "user_id,city,age\nv1,c0,1\nv2,c0,2\n");
    }
    // A file no manifest names is removed at open.
    let stray = dir.path().join("segments/snap-99999999.seg");
    std::fs::write(&stray, b"left by a crash").unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(!stray.exists());
    let names: Vec<String> = s.segments().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["both", "c0_now", "c0_then"]);
    let then = s.segment("c0_then").unwrap();
    assert_eq!(
        (then.kind, then.rows, then.text),
        (SegmentKind::Snapshot, Some(10), None)
    );
    let both = s.segment("both").unwrap();
    assert_eq!(both.uses, ["c0_now", "c0_then"]);
    assert_eq!(
        both.text.as_deref(),
        Some("IN SEGMENT c0_now AND IN SEGMENT c0_then")
    );
    let t = s.table("users").unwrap();
    assert_eq!(t.count(&s.snapshot_expr("c0_then").unwrap()).unwrap(), 10);
    assert_eq!(t.count(&city("c0")).unwrap(), 12);
    assert!(matches!(
        s.snapshot_expr("c0_now"),
        Err(EngineError::InvalidSegment(_))
    ));
    assert!(matches!(
        s.snapshot_expr("nope"),
        Err(EngineError::UnknownSegment(_))
    ));
}

#[test]
fn dependencies_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 10);
    s.create_table(
        "houses",
        &Schema {
            fields: vec![FieldDef::new("rooms", FieldKind::Int)],
        },
    )
    .unwrap();
    s.create_segment("a", "users", dynamic("city = 'c0'", &[]), false)
        .unwrap();
    s.create_segment("b", "users", dynamic("IN SEGMENT a", &["a"]), false)
        .unwrap();
    s.create_segment("c", "users", dynamic("IN SEGMENT b", &["b"]), false)
        .unwrap();
    s.create_segment("h", "houses", dynamic("rooms > 2", &[]), false)
        .unwrap();

    let err = s
        .create_segment("a", "users", dynamic("x", &[]), false)
        .unwrap_err();
    assert_eq!(err.to_string(), "segment `a` already exists");
    let err = s
        .create_segment("a", "users", dynamic("IN SEGMENT c", &["c"]), true)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment `a` would use itself: a -> c -> b -> a"
    );
    let err = s
        .create_segment("d", "users", dynamic("IN SEGMENT d", &["d"]), false)
        .unwrap_err();
    assert!(matches!(err, EngineError::SegmentCycle { .. }), "{err}");
    let err = s
        .create_segment("d", "users", dynamic("IN SEGMENT h", &["h"]), false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment `h` holds rows of table `houses`, not of `users`"
    );
    let err = s
        .create_segment("d", "users", dynamic("IN SEGMENT zz", &["zz"]), false)
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown segment `zz`");

    // Dropping: refused while used, naming the users.
    let err = s.drop_segment("a").unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment `a` is used by segment `b`: drop or replace it first"
    );
    let err = s.create_segment("a", "houses", dynamic("rooms > 1", &[]), true);
    assert!(matches!(err, Err(EngineError::SegmentInUse { .. })));
    let err = s.drop_table("users").unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `users` has segments `a`, `b`, `c`: drop them first"
    );
    s.drop_segment("c").unwrap();
    s.drop_segment("b").unwrap();
    s.drop_segment("a").unwrap();
    assert!(matches!(
        s.drop_segment("a"),
        Err(EngineError::UnknownSegment(_))
    ));
    s.drop_table("users").unwrap();
    assert_eq!(s.segments().len(), 1);

    // Snapshot rows: sorted, distinct, rows of the table.
    let rooms = "user_id,rooms\nh1,3\nh2,4\n";
    s.import(
        "houses",
        ImportFormat::Csv,
        rooms.as_bytes(),
        &ImportOptions::default(),
    )
    .unwrap();
    for bad in [vec![1, 0], vec![0, 0], vec![2]] {
        let err = s.create_segment("bad", "houses", snapshot(bad.clone()), false);
        assert!(
            matches!(err, Err(EngineError::InvalidSegment(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        s.create_segment("bad", "nohouses", snapshot(vec![]), false),
        Err(EngineError::UnknownTable(_))
    ));
    assert!(matches!(
        s.create_segment("1bad", "houses", snapshot(vec![]), false),
        Err(EngineError::InvalidSegment(_))
    ));

    // A snapshot of another table is refused at evaluation.
    s.create_segment("hs", "houses", snapshot(vec![1]), false)
        .unwrap();
    s.create_table(
        "users",
        &Schema {
            fields: vec![FieldDef::new("city", FieldKind::Enum)],
        },
    )
    .unwrap();
    let hs = s.snapshot_expr("hs").unwrap();
    assert!(matches!(
        s.table("users").unwrap().count(&hs),
        Err(EngineError::InvalidSegment(_))
    ));
    assert_eq!(s.table("houses").unwrap().count(&hs).unwrap(), 1);

    // Replacing a snapshot removes its old file.
    let files = || {
        std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .count()
    };
    assert_eq!(files(), 1);
    s.create_segment("hs", "houses", snapshot(vec![0, 1]), true)
        .unwrap();
    assert_eq!(files(), 1);
    assert_eq!(s.segment("hs").unwrap().rows, Some(2));
    s.drop_segment("hs").unwrap();
    assert_eq!(files(), 0);
}

#[test]
fn a_damaged_snapshot_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file;
    {
        let s = store(dir.path(), 100);
        s.create_segment("s", "users", snapshot((0..100).step_by(3).collect()), false)
            .unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1);
        file = entries[0].clone();
    }
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let good = std::fs::read(&file).unwrap();

    // A flipped bit in the bitmap: the store opens, the query fails.
    let mut bad = good.clone();
    bad[20] ^= 0x40;
    std::fs::write(&file, &bad).unwrap();
    let s = Store::open(dir.path()).unwrap();
    let e = s.snapshot_expr("s").unwrap();
    let err = s.table("users").unwrap().count(&e).unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    drop(s);

    // A truncated file: opening the store fails, naming it.
    std::fs::write(&file, &good[..good.len() - 10]).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");

    // A missing file too.
    std::fs::remove_file(&file).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");

    // Restored, it reads again.
    std::fs::write(&file, &good).unwrap();
    let s = Store::open(dir.path()).unwrap();
    let e = s.snapshot_expr("s").unwrap();
    assert_eq!(s.table("users").unwrap().count(&e).unwrap(), 34);
}

/// Shards are evaluated in groups (1, 2, 4… at once, in parallel) and
/// handed over in order: with six shards, every group size is used, and the
/// rows come back whole, in order, and stop where the caller stops.
#[test]
fn shard_groups_hand_rows_over_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5 * (1u32 << 20) + 1000;
    // Shard 2 has no flagged row at all: an empty shard is skipped.
    let s = flag_store(dir.path(), n, |i| i >> 20 != 2 && i % 997 == 5);
    let t = s.table("users").unwrap();
    assert_eq!(t.num_shards(), 6);
    let flag = Expr::Bool {
        field: "flag".into(),
        value: true,
    };
    let want: Vec<u32> = (0..n).filter(|i| i >> 20 != 2 && i % 997 == 5).collect();
    let mut calls = Vec::new();
    t.for_each_shard_rows(&flag, |rows| {
        calls.push(rows.to_vec());
        Ok(std::ops::ControlFlow::Continue(()))
    })
    .unwrap();
    assert_eq!(calls.len(), 5, "one call per shard with rows");
    assert!(calls
        .iter()
        .all(|c| c.iter().all(|r| r >> 20 == c[0] >> 20)));
    assert_eq!(calls.concat(), want);
    // Stopping after the third call hands over nothing more.
    let mut seen = 0;
    t.for_each_shard_rows(&flag, |_| {
        seen += 1;
        Ok(if seen == 3 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        })
    })
    .unwrap();
    assert_eq!(seen, 3);
    for (offset, limit) in [
        (0, Some(3)),
        (1000, Some(2500)),
        (4000, None),
        (5300, Some(10)),
    ] {
        let end = want.len().min(limit.map_or(usize::MAX, |l| offset + l));
        assert_eq!(
            t.rows_range(&flag, offset as u64, limit.map(|l| l as u64))
                .unwrap(),
            want[offset.min(want.len())..end],
            "offset {offset}, limit {limit:?}"
        );
    }
}
