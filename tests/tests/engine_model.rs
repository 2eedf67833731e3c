//! The engine against the naive model: random schemas, random data
//! (imported in two batches, the second updating rows and adding event
//! counts), random nested expressions; counts, row ids, external ids,
//! aggregates, GROUP BY pages, insight and COMPARE must be identical. A second suite runs on one table that
//! spans two shards (row ids past 2^20) with dense, sparse and run
//! containers at the 65,536-row and 2^20-row boundaries.

use std::sync::OnceLock;

use proptest::prelude::*;
use segdb_engine::{Expr, FieldKind, ImportFormat, ImportOptions, Schema, SegmentDef, Store};
use segdb_tests::model::*;
use segdb_tests::model_answers::model_compare;

#[derive(Clone)]
struct Case {
    schema: Schema,
    batch1: Vec<(String, Vec<MValue>)>,
    /// Rows updated by the second batch, on a subset of fields.
    batch2_fields: Vec<usize>,
    batch2: Vec<(String, Vec<MValue>)>,
    events1: Vec<(String, usize, i32, u64)>,
    events2: Vec<(String, usize, i32, u64)>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Case {{ rows: {}, updates: {}, events: {} }}",
            self.batch1.len(),
            self.batch2.len(),
            self.events1.len() + self.events2.len()
        )
    }
}

fn non_event(schema: &Schema) -> Vec<usize> {
    (0..schema.fields.len())
        .filter(|&f| schema.fields[f].kind != FieldKind::Event)
        .collect()
}

fn arb_rows(
    schema: &Schema,
    fields: Vec<usize>,
    n: std::ops::Range<usize>,
    id_space: u32,
) -> BoxedStrategy<Vec<(String, Vec<MValue>)>> {
    let cells: Vec<BoxedStrategy<MValue>> = fields
        .iter()
        .map(|&f| arb_value(schema.fields[f].kind))
        .collect();
    prop::collection::vec((0..id_space, cells), n)
        .prop_map(|rows| {
            rows.into_iter()
                .map(|(i, c)| (format!("u{i}"), c))
                .collect()
        })
        .boxed()
}

fn arb_events(schema: &Schema, id_space: u32) -> BoxedStrategy<Vec<(String, usize, i32, u64)>> {
    let evs: Vec<usize> = (0..schema.fields.len())
        .filter(|&f| schema.fields[f].kind == FieldKind::Event)
        .collect();
    prop::collection::vec(
        (
            0..id_space,
            prop::sample::select(evs),
            0i32..12,
            prop_oneof![5 => 1u64..4, 1 => 1u64..300],
        ),
        0..300,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(i, f, d, c)| (format!("u{i}"), f, DAY0 + d, c))
            .collect()
    })
    .boxed()
}

fn arb_case() -> impl Strategy<Value = Case> {
    (arb_schema(), 1u32..400).prop_flat_map(|(schema, id_space)| {
        let all = non_event(&schema);
        let subset = prop::sample::subsequence(all.clone(), 0..=all.len());
        (
            Just(schema.clone()),
            arb_rows(&schema, all, 0..300, id_space),
            subset.prop_flat_map({
                let schema = schema.clone();
                move |fields| {
                    (
                        Just(fields.clone()),
                        arb_rows(&schema, fields, 0..100, id_space),
                    )
                }
            }),
            arb_events(&schema, id_space),
            arb_events(&schema, id_space),
        )
            .prop_map(
                |(schema, batch1, (batch2_fields, batch2), events1, events2)| Case {
                    schema,
                    batch1,
                    batch2_fields,
                    batch2,
                    events1,
                    events2,
                },
            )
    })
}

fn import(store: &Store, format: ImportFormat, text: &str) {
    // Few ids in memory, so that imports also write their new ids out as
    // several dictionary parts.
    let opts = ImportOptions {
        ids_in_memory: 37,
        ..ImportOptions::default()
    };
    store
        .import("t", format, text.as_bytes(), &opts)
        .unwrap_or_else(|e| panic!("import failed: {e}\n{text}"));
}

/// Builds the store and the model of a case.
fn build(case: &Case, dir: &std::path::Path) -> (Store, Model) {
    let store = Store::open(dir).unwrap();
    store.create_table("t", &case.schema).unwrap();
    let mut model = Model::new(case.schema.clone());
    let all = non_event(&case.schema);
    import(
        &store,
        ImportFormat::Csv,
        &to_csv(&case.schema, &all, &case.batch1),
    );
    for (id, cells) in &case.batch1 {
        model.set(
            id,
            &all.iter()
                .copied()
                .zip(cells.iter().cloned())
                .collect::<Vec<_>>(),
        );
    }
    import(
        &store,
        ImportFormat::Events,
        &events_csv(&case.schema, &case.events1),
    );
    for (id, f, d, c) in &case.events1 {
        model.add_event(id, *f, *d, *c);
    }
    import(
        &store,
        ImportFormat::Csv,
        &to_csv(&case.schema, &case.batch2_fields, &case.batch2),
    );
    for (id, cells) in &case.batch2 {
        model.set(
            id,
            &case
                .batch2_fields
                .iter()
                .copied()
                .zip(cells.iter().cloned())
                .collect::<Vec<_>>(),
        );
    }
    import(
        &store,
        ImportFormat::Events,
        &events_csv(&case.schema, &case.events2),
    );
    for (id, f, d, c) in &case.events2 {
        model.add_event(id, *f, *d, *c);
    }
    (store, model)
}

fn check(store: &Store, model: &Model, e: &Expr) -> Result<(), TestCaseError> {
    let t = store.table("t").unwrap();
    prop_assert_eq!(t.num_rows(), model.rows.len() as u64);
    let want = model.rows_matching(e);
    prop_assert_eq!(t.count(e).unwrap(), want.len() as u64, "count of {:?}", e);
    let bound = t.upper_bound(e).unwrap();
    prop_assert!(
        bound >= want.len() as u64 && bound <= t.num_rows(),
        "upper bound {} of {:?}: {} rows",
        bound,
        e,
        want.len()
    );
    let got = t.rows(e).unwrap();
    prop_assert_eq!(&got, &want, "rows of {:?}", e);
    let ids = t.ids(e, 1, Some(3)).unwrap();
    let want_ids: Vec<String> = want
        .iter()
        .skip(1)
        .take(3)
        .map(|&r| model.ids[r as usize].clone())
        .collect();
    prop_assert_eq!(ids, want_ids);
    let portable =
        roaring::RoaringBitmap::deserialize_from(&t.rows_roaring(e).unwrap()[..]).unwrap();
    prop_assert_eq!(&portable.iter().collect::<Vec<u32>>(), &want);
    // Profiles of a few rows, over part of the event days.
    let window = segdb_engine::DayRange {
        first: DAY0 + 2,
        last: DAY0 + 9,
    };
    let n = model.rows.len() as u32;
    for row in [0, n / 2, n.saturating_sub(1)]
        .into_iter()
        .filter(|&r| r < n)
    {
        let got = t
            .profile(&model.ids[row as usize], window)
            .unwrap()
            .unwrap();
        prop_assert_eq!(got.row, row);
        prop_assert_eq!(
            t.row_matches(row, e).unwrap(),
            want.binary_search(&row).is_ok()
        );
        prop_assert_eq!(got, model.profile(row, window));
    }
    prop_assert!(t.profile("no such id", window).unwrap().is_none());
    // Some rows checked at once (every third, and one past the end): only
    // those in `want` match.
    let some: Vec<u32> = (0..=n).step_by(3).collect();
    let want_some: Vec<u32> = some
        .iter()
        .copied()
        .filter(|r| want.binary_search(r).is_ok())
        .collect();
    prop_assert_eq!(t.rows_matching(&some, e).unwrap(), want_some);
    // Insight: every field, then a few with TOP and a bucket width.
    let mut opts = segdb_engine::insight::InsightOptions {
        fields: Vec::new(),
        top: None,
        bucket_width: None,
        bucket_widths: Vec::new(),
        quantiles: vec![0.0, 0.25, 0.5, 0.9, 0.99, 1.0],
        window,
    };
    prop_assert_eq!(
        t.insight(e, &opts).unwrap(),
        model_insight(model, e, &opts).unwrap(),
        "insight of {:?}",
        e
    );
    // Quantiles alone (QUANTILE(f, q)) agree with insight's, by selection
    // among the extracted values and by the search over the slices that
    // segments too large to extract take; so does the whole insight.
    let full = model_insight(model, e, &opts).unwrap();
    for walk in [false, true] {
        segdb_engine::insight::set_values_in_memory(if walk { 0 } else { 4 << 20 });
        for report in &full.fields {
            if let segdb_engine::insight::FieldInsight::Int { quantiles, .. } = &report.insight {
                prop_assert_eq!(
                    &t.int_quantiles(e, &report.field, &opts.quantiles).unwrap(),
                    quantiles,
                    "quantiles of {} over {:?} (walking: {})",
                    report.field,
                    e,
                    walk
                );
            }
        }
        if walk {
            prop_assert_eq!(
                &t.insight(e, &opts).unwrap(),
                &full,
                "walked insight of {:?}",
                e
            );
        }
    }
    segdb_engine::insight::set_values_in_memory(4 << 20);
    opts.fields = model
        .schema
        .fields
        .iter()
        .rev()
        .filter(|f| f.kind != FieldKind::Text)
        .take(3)
        .map(|f| f.name.clone())
        .collect();
    opts.top = Some(2);
    opts.bucket_width = Some(7);
    opts.bucket_widths = vec![("i0".into(), 1 << 60)];
    match (t.insight(e, &opts), model_insight(model, e, &opts)) {
        (Ok(got), Ok(want)) => prop_assert_eq!(got, want, "insight of {:?}", e),
        (Err(segdb_engine::EngineError::InvalidArgument(_)), Err(_)) => {}
        (got, want) => prop_assert!(
            false,
            "insight of {:?}: {:?} but the model says {:?}",
            e,
            got,
            want
        ),
    }
    for f in &model.schema.fields {
        match f.kind {
            FieldKind::Int => prop_assert_eq!(
                t.int_stats(e, &f.name).unwrap(),
                model.int_stats(e, &f.name),
                "stats of {} over {:?}",
                f.name,
                e
            ),
            FieldKind::Enum | FieldKind::Set | FieldKind::Bool => {
                let mut sorted: Vec<(String, u64)> =
                    model.group_count(e, &f.name).into_iter().collect();
                sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                for n in [1, 3] {
                    let want: Vec<(String, u64)> = sorted.iter().take(n).cloned().collect();
                    prop_assert_eq!(
                        t.group_count_top(e, &f.name, n).unwrap(),
                        want,
                        "top {} of {} over {:?}",
                        n,
                        f.name,
                        e
                    );
                }
                let got: std::collections::BTreeMap<String, u64> =
                    t.group_count(e, &f.name).unwrap().into_iter().collect();
                prop_assert_eq!(
                    got,
                    model.group_count(e, &f.name),
                    "groups of {} over {:?}",
                    f.name,
                    e
                );
            }
            _ => {}
        }
    }
    check_answers(&t, model, e, window)
}

/// What the server asks of the engine for a SELECT's aggregates, a GROUP
/// BY's order and page, and COMPARE (of `e` against its complement),
/// against the model.
fn check_answers(
    t: &segdb_engine::Table,
    model: &Model,
    e: &Expr,
    window: segdb_engine::DayRange,
) -> Result<(), TestCaseError> {
    use segdb_engine::insight::CompareOptions;
    use segdb_engine::{Aggregate, GroupOrder};
    let fields = &model.schema.fields;
    // Every aggregate of every INT field in one call, COUNT(*) twice.
    let mut aggs = vec![Aggregate::Count];
    for f in fields.iter().filter(|f| f.kind == FieldKind::Int) {
        let n = f.name.clone();
        aggs.extend([
            Aggregate::Sum(n.clone()),
            Aggregate::Avg(n.clone()),
            Aggregate::Min(n.clone()),
            Aggregate::Max(n.clone()),
            Aggregate::Quantile(n.clone(), 0.9),
            Aggregate::Quantile(n.clone(), 0.0),
            Aggregate::Quantile(n, 1.0),
        ]);
    }
    aggs.push(Aggregate::Count);
    let want: Vec<_> = aggs.iter().map(|a| model.aggregate(e, a)).collect();
    prop_assert_eq!(
        t.aggregates(e, &aggs).unwrap(),
        want,
        "aggregates over {:?}",
        e
    );
    for f in fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Enum | FieldKind::Set | FieldKind::Bool))
    {
        for order in [
            GroupOrder::Value,
            GroupOrder::CountAsc,
            GroupOrder::CountDesc,
        ] {
            for (offset, limit) in [(0, None), (0, Some(1)), (1, Some(2)), (3, None)] {
                prop_assert_eq!(
                    t.group_by(e, &f.name, order, offset, limit).unwrap(),
                    model.group_by(e, &f.name, order, offset, limit),
                    "GROUP BY {} {:?} offset {} limit {:?} over {:?}",
                    f.name,
                    order,
                    offset,
                    limit,
                    e
                );
            }
        }
    }
    let complement = Expr::Not(Box::new(e.clone()));
    let names: Vec<String> = fields
        .iter()
        .filter(|f| f.kind != FieldKind::Text)
        .map(|f| f.name.clone())
        .collect();
    for (top, bucket_width) in [(None, None), (Some(2), Some(7))] {
        let opts = CompareOptions {
            fields: names.clone(),
            top,
            bucket_width,
            window,
        };
        match (
            t.compare(e, &complement, &opts),
            model_compare(model, e, &complement, &opts),
        ) {
            (Ok(got), Ok(want)) => prop_assert_eq!(got, want, "COMPARE {:?}", e),
            (Err(segdb_engine::EngineError::InvalidArgument(_)), Err(_)) => {}
            (got, want) => prop_assert!(
                false,
                "COMPARE {:?}: {:?} but the model says {:?}",
                e,
                got,
                want
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_tables_agree_with_the_model(
        (case, exprs) in arb_case().prop_flat_map(|c| {
            let s = c.schema.clone();
            (Just(c), prop::collection::vec(arb_expr(&s, 400), 1..24))
        })
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (store, model) = build(&case, dir.path());
        for e in &exprs {
            check(&store, &model, e)?;
        }
        // The first expression's rows frozen as a snapshot segment, combined
        // with the others.
        let frozen = model.rows_matching(&exprs[0]);
        store
            .create_segment("frozen", "t", SegmentDef::Snapshot { rows: frozen, text: None }, false)
            .unwrap();
        let snap = store.snapshot_expr("frozen").unwrap();
        let combined = |snap: &Expr| -> Vec<Expr> {
            exprs
                .iter()
                .skip(1)
                .take(3)
                .flat_map(|e| {
                    [
                        Expr::And(vec![snap.clone(), e.clone()]),
                        Expr::Or(vec![Expr::Not(Box::new(snap.clone())), e.clone()]),
                    ]
                })
                .chain([snap.clone()])
                .collect()
        };
        for e in combined(&snap) {
            check(&store, &model, &e)?;
        }
        // Reopening (through mmap, from the manifest) answers the same.
        drop(snap);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        for e in exprs.iter().take(3) {
            check(&store, &model, e)?;
        }
        let snap = store.snapshot_expr("frozen").unwrap();
        for e in combined(&snap).iter().take(3) {
            check(&store, &model, e)?;
        }
    }
}

/// One table across two shards: rows 0..1,050,000 plus dense data around
/// the chunk and shard boundaries.
fn big() -> &'static (tempfile::TempDir, Store, Model) {
    static BIG: OnceLock<(tempfile::TempDir, Store, Model)> = OnceLock::new();
    BIG.get_or_init(|| {
        let schema = Schema {
            fields: vec![
                segdb_engine::FieldDef::new("e0", FieldKind::Enum),
                segdb_engine::FieldDef::new("s0", FieldKind::Set),
                segdb_engine::FieldDef::new("b0", FieldKind::Bool),
                segdb_engine::FieldDef::new("i0", FieldKind::Int),
                segdb_engine::FieldDef::new("ev0", FieldKind::Event),
            ],
        };
        let n: u32 = (1 << 20) + 70_000;
        let mut model = Model::new(schema.clone());
        let mut csv = String::from("user_id,e0,s0,b0,i0\n");
        let mut events = String::from("user_id,event,day,count\n");
        // A cheap deterministic generator.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut pending = Vec::new();
        for r in 0..n {
            let id = format!("r{r}");
            // Dense near the start, a full run region, sparse in the middle,
            // dense again across the shard boundary.
            let dense = !(70_000..(1 << 20) - 3_000).contains(&r);
            let row = if dense || rnd() % 500 == 0 {
                let k = rnd();
                let e = if r % 7 == 0 {
                    MValue::Null
                } else {
                    MValue::Enum(VALUES[(k % 3) as usize].into())
                };
                let s: std::collections::BTreeSet<String> = VALUES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (k >> (8 + i)) & 1 == 1)
                    .map(|(_, v)| v.to_string())
                    .collect();
                let s = if s.is_empty() {
                    MValue::Null
                } else {
                    MValue::Set(s)
                };
                let b = if (10_000..20_000).contains(&r) {
                    MValue::Bool(true)
                } else if k % 5 == 0 {
                    MValue::Null
                } else {
                    MValue::Bool(k & 4 == 0)
                };
                let i = match k % 4 {
                    0 => MValue::Null,
                    1 => MValue::Int((k >> 20) as i64 % 100 - 50),
                    2 => MValue::Int(r as i64),
                    _ => MValue::Int(-((k >> 3) as i64)),
                };
                if k % 3 == 0 {
                    let day = DAY0 + (k >> 30) as i32 % 12;
                    let c = 1 + (k >> 40) % 9;
                    events.push_str(&format!(
                        "{id},ev0,{},{c}\n",
                        segdb_engine::date::format_iso_day(day)
                    ));
                    pending.push((id.clone(), day, c));
                }
                vec![e, s, b, i]
            } else {
                vec![MValue::Null, MValue::Null, MValue::Null, MValue::Null]
            };
            csv.push_str(&id);
            for c in &row {
                csv.push(',');
                csv.push_str(&csv_cell(c));
            }
            csv.push('\n');
            let r = model.row(&id);
            model.rows[r as usize] = row;
            for (id, day, c) in pending.drain(..) {
                model.add_event(&id, 4, day, c);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_table("t", &schema).unwrap();
        store
            .import(
                "t",
                ImportFormat::Csv,
                csv.as_bytes(),
                &ImportOptions::default(),
            )
            .unwrap();
        store
            .import(
                "t",
                ImportFormat::Events,
                events.as_bytes(),
                &ImportOptions::default(),
            )
            .unwrap();
        store
            .create_segment(
                "spread",
                "t",
                SegmentDef::Snapshot {
                    rows: spread_rows(),
                    text: None,
                },
                false,
            )
            .unwrap();
        (dir, store, model)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn two_shards_agree_with_the_model(e in arb_expr(&big().2.schema, (1 << 20) + 70_000)) {
        let (_dir, store, model) = big();
        let t = store.table("t").unwrap();
        prop_assert_eq!(t.num_shards(), 2);
        let want = model.rows_matching(&e);
        prop_assert_eq!(t.count(&e).unwrap(), want.len() as u64, "count of {:?}", e);
        prop_assert_eq!(&t.rows(&e).unwrap(), &want, "rows of {:?}", e);
        // A page of rows from the middle (often across the shard boundary),
        // and one past the end.
        let (off, lim) = (want.len() / 2, 2_000);
        let page: Vec<u32> = want.iter().skip(off).take(lim).copied().collect();
        prop_assert_eq!(t.rows_range(&e, off as u64, Some(lim as u64)).unwrap(), page.clone());
        prop_assert!(t.rows_range(&e, want.len() as u64, None).unwrap().is_empty());
        prop_assert_eq!(t.int_stats(&e, "i0").unwrap(), model.int_stats(&e, "i0"));
        let got: std::collections::BTreeMap<String, u64> = t.group_count(&e, "s0").unwrap().into_iter().collect();
        prop_assert_eq!(got, model.group_count(&e, "s0"));
        let aggs = [
            segdb_engine::Aggregate::Count,
            segdb_engine::Aggregate::Sum("i0".into()),
            segdb_engine::Aggregate::Max("i0".into()),
            segdb_engine::Aggregate::Quantile("i0".into(), 0.5),
        ];
        let want: Vec<_> = aggs.iter().map(|a| model.aggregate(&e, a)).collect();
        prop_assert_eq!(t.aggregates(&e, &aggs).unwrap(), want);
        let order = segdb_engine::GroupOrder::CountDesc;
        prop_assert_eq!(
            t.group_by(&e, "s0", order, 1, Some(2)).unwrap(),
            model.group_by(&e, "s0", order, 1, Some(2))
        );
        let opts = segdb_engine::insight::InsightOptions {
            fields: Vec::new(),
            top: Some(3),
            bucket_width: None,
            bucket_widths: vec![("i0".into(), 1 << 58)],
            quantiles: segdb_engine::insight::InsightOptions::QUANTILES.to_vec(),
            window: segdb_engine::DayRange { first: DAY0, last: DAY0 + 11 },
        };
        match (t.insight(&e, &opts), model_insight(model, &e, &opts)) {
            (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
            (Err(segdb_engine::EngineError::InvalidArgument(_)), Err(_)) => {}
            (got, want) => prop_assert!(false, "{:?} but the model says {:?}", got, want),
        }
        // Pages shard by shard, mapped on a pool of its own and handed over
        // in order, make the same page; a break stops at once.
        let want = model.rows_matching(&e);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (o, l) in [(0, None), (off as u64, Some(lim as u64)), (want.len() as u64, None)] {
            let (mut got, mut pages) = (Vec::new(), 0);
            t.for_each_shard_page(Some(&pool), &e, o, l, |p| Ok(p.to_vec()), |rows, n| {
                assert_eq!(rows.len(), n);
                got.extend(rows);
                pages += 1;
                Ok(std::ops::ControlFlow::Continue(()))
            }).unwrap();
            let page: Vec<u32> = want.iter().skip(o as usize).take(l.map_or(usize::MAX, |l| l as usize)).copied().collect();
            prop_assert_eq!(got, page);
            prop_assert!(pages <= 2);
        }
        let mut first = Vec::new();
        t.for_each_shard_page(None, &e, 0, None, |p| Ok(p.to_vec()), |rows, _| {
            first = rows;
            Ok(std::ops::ControlFlow::Break(()))
        }).unwrap();
        prop_assert_eq!(&first[..], &want[..first.len()]);
        // Evaluated once, the rows read back like the filter, alone, in
        // a page across the shard boundary and under a NOT; each row is
        // in it as the model says.
        let want = model.rows_matching(&e);
        let ev = t.evaluate(&e).unwrap();
        prop_assert_eq!(ev.len(), want.len() as u64);
        let evaluated = Expr::Evaluated(ev.clone());
        prop_assert_eq!(&t.rows(&evaluated).unwrap(), &want);
        prop_assert_eq!(t.rows_range(&evaluated, off as u64, Some(lim as u64)).unwrap(), page);
        let not = |x: &Expr| Expr::Not(Box::new(x.clone()));
        prop_assert_eq!(t.count(&not(&evaluated)).unwrap(), t.count(&not(&e)).unwrap());
        for row in [0, 1 << 16, (1 << 20) - 1, 1 << 20, (1 << 20) + 69_999, (1 << 20) + 70_000] {
            prop_assert_eq!(ev.contains(row), want.binary_search(&row).is_ok(), "row {}", row);
        }
        // A snapshot segment across both shards reads like its rows.
        let snap = store.snapshot_expr("spread").unwrap();
        let rows = Expr::Rows(spread_rows());
        let set = Expr::RowSet(segdb_engine::RowSet::new("sent(c) run 1", "t", spread_rows()));
        for (a, b) in [
            (Expr::And(vec![snap.clone(), e.clone()]), Expr::And(vec![rows.clone(), e.clone()])),
            (
                Expr::Or(vec![Expr::Not(Box::new(snap.clone())), e.clone()]),
                Expr::Or(vec![Expr::Not(Box::new(rows.clone())), e.clone()]),
            ),
            // A campaign group's set across both shards reads like its rows.
            (Expr::And(vec![set.clone(), e.clone()]), Expr::And(vec![rows.clone(), e.clone()])),
            (
                Expr::Or(vec![Expr::Not(Box::new(set.clone())), e.clone()]),
                Expr::Or(vec![Expr::Not(Box::new(rows.clone())), e.clone()]),
            ),
        ] {
            prop_assert_eq!(t.count(&a).unwrap(), t.count(&b).unwrap(), "count of {:?}", b);
            prop_assert_eq!(
                t.rows_range(&a, off as u64, Some(lim as u64)).unwrap(),
                t.rows_range(&b, off as u64, Some(lim as u64)).unwrap()
            );
        }
    }
}

/// The rows of the snapshot segment `spread` of [`big`]: dense at the
/// start and across the shard boundary, sparse between.
fn spread_rows() -> Vec<u32> {
    (0..(1u32 << 20) + 70_000)
        .filter(|r| {
            let dense = !(70_000..(1 << 20) - 3_000).contains(r);
            (dense && r % 3 != 0) || r % 997 == 0
        })
        .collect()
}
