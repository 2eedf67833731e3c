//! Real-time writes against the naive model: a random table imported in
//! bulk, then random batches of every operation (set, add, remove, clear,
//! event, delete; new ids among them) through `Store::ingest`, with random
//! flushes, compactions and reopens (WAL replay) between them, and writes
//! to sets of rows by row id (`Store::write_rows`: a BOOL set, a SET value
//! added, an EVENT count added, some retried by idempotency key). After
//! every step, counts, row ids and profiles of random expressions must
//! equal the model's.

use std::collections::BTreeSet;

use proptest::prelude::*;
use segdb_engine::write::{Batch, Op, RowsChange, RowsWrite, SetValue};
use segdb_engine::{DayRange, Expr, FieldKind, ImportFormat, ImportOptions, Schema, Store};
use segdb_tests::model::*;

/// One operation as generated: field indices of the schema.
#[derive(Debug, Clone)]
enum GenOp {
    Set(u32, usize, MValue),
    Add(u32, usize, Vec<String>),
    Remove(u32, usize, Vec<String>),
    Clear(u32, usize),
    Event(u32, usize, i32, u64),
    Delete(u32),
}

/// A write to a set of rows: every `every`-th row from `from` (of the
/// rows there are when it runs), on field `field` (skipped unless a BOOL,
/// SET or EVENT field).
#[derive(Debug, Clone)]
struct RowsGen {
    field: usize,
    flag: bool,
    value: String,
    day: i32,
    count: u64,
    every: usize,
    from: usize,
    /// With an idempotency key, and sent twice.
    retried: bool,
}

#[derive(Debug, Clone)]
enum Step {
    Batch(Vec<GenOp>),
    Rows(RowsGen),
    Flush,
    Compact,
    Reopen,
}

fn arb_gen_op(schema: &Schema, id_space: u32) -> BoxedStrategy<GenOp> {
    let fields: Vec<(usize, FieldKind)> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| (i, f.kind))
        .collect();
    let events: Vec<usize> = fields
        .iter()
        .filter(|f| f.1 == FieldKind::Event)
        .map(|f| f.0)
        .collect();
    let sets: Vec<usize> = fields
        .iter()
        .filter(|f| f.1 == FieldKind::Set)
        .map(|f| f.0)
        .collect();
    let scalars: Vec<(usize, FieldKind)> = fields
        .iter()
        .copied()
        .filter(|f| !matches!(f.1, FieldKind::Set | FieldKind::Event))
        .collect();
    let values = || {
        prop::collection::vec(
            prop::sample::select(&VALUES[..]).prop_map(String::from),
            1..3,
        )
    };
    // Ids past the imported ones are created by the batches.
    let id = 0..id_space + 40;
    let n = fields.len();
    prop_oneof![
        4 => (id.clone(), prop::sample::select(scalars)).prop_flat_map(move |(i, (f, k))| {
            arb_value(k).prop_filter("set takes a value", |v| *v != MValue::Null)
                .prop_map(move |v| GenOp::Set(i, f, v))
        }),
        2 => (id.clone(), prop::sample::select(sets.clone()), values()).prop_map(|(i, f, v)| GenOp::Add(i, f, v)),
        2 => (id.clone(), prop::sample::select(sets), values()).prop_map(|(i, f, v)| GenOp::Remove(i, f, v)),
        1 => (id.clone(), 0..n).prop_map(|(i, f)| GenOp::Clear(i, f)),
        4 => (id.clone(), prop::sample::select(events), 0i32..12, prop_oneof![5 => 1u64..4, 1 => 1u64..300])
            .prop_map(|(i, f, d, c)| GenOp::Event(i, f, DAY0 + d, c)),
        1 => id.prop_map(GenOp::Delete),
    ]
    .boxed()
}

fn arb_steps(schema: &Schema, id_space: u32) -> BoxedStrategy<Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::collection::vec(arb_gen_op(schema, id_space), 1..40).prop_map(Step::Batch),
            3 => (
                0..schema.fields.len(),
                any::<bool>(),
                prop::sample::select(&VALUES[..]),
                0i32..12,
                prop_oneof![5 => 1u64..4, 1 => 1u64..300],
                1usize..5,
                0usize..6,
                any::<bool>(),
            )
                .prop_map(|(field, flag, value, day, count, every, from, retried)| {
                    Step::Rows(RowsGen { field, flag, value: value.to_string(), day: DAY0 + day, count, every, from, retried })
                }),
            1 => Just(Step::Flush),
            1 => Just(Step::Compact),
            1 => Just(Step::Reopen),
        ],
        1..12,
    )
    .boxed()
}

fn to_op(schema: &Schema, g: &GenOp) -> Op {
    let id = |i: &u32| format!("u{i}");
    match g {
        GenOp::Set(i, f, v) => Op::Set {
            id: id(i),
            values: vec![(
                *f as u32,
                match v {
                    MValue::Enum(s) => SetValue::Enum(s.clone()),
                    MValue::Bool(b) => SetValue::Bool(*b),
                    MValue::Int(x) => SetValue::Int(*x),
                    MValue::Text(t) => SetValue::Text(t.clone()),
                    other => panic!("no set of {other:?} ({:?})", schema.fields[*f]),
                },
            )],
        },
        GenOp::Add(i, f, v) => Op::Add {
            id: id(i),
            values: vec![(*f as u32, v.clone())],
        },
        GenOp::Remove(i, f, v) => Op::Remove {
            id: id(i),
            values: vec![(*f as u32, v.clone())],
        },
        GenOp::Clear(i, f) => Op::Clear {
            id: id(i),
            fields: vec![*f as u32],
        },
        GenOp::Event(i, f, d, c) => Op::Event {
            id: id(i),
            field: *f as u32,
            day: *d,
            count: *c,
        },
        GenOp::Delete(i) => Op::Delete { id: id(i) },
    }
}

/// The model of one operation.
fn apply_model(m: &mut Model, g: &GenOp) {
    let id = |i: &u32| format!("u{i}");
    match g {
        GenOp::Set(i, f, v) => m.set(&id(i), &[(*f, v.clone())]),
        GenOp::Add(i, f, v) => {
            let r = m.row(&id(i)) as usize;
            let mut s = match &m.rows[r][*f] {
                MValue::Set(s) => s.clone(),
                _ => BTreeSet::new(),
            };
            s.extend(v.iter().cloned());
            m.rows[r][*f] = MValue::Set(s);
        }
        GenOp::Remove(i, f, v) => {
            let r = m.row(&id(i)) as usize;
            if let MValue::Set(s) = &m.rows[r][*f] {
                let rest: BTreeSet<String> = s.iter().filter(|x| !v.contains(x)).cloned().collect();
                m.rows[r][*f] = if rest.is_empty() {
                    MValue::Null
                } else {
                    MValue::Set(rest)
                };
            }
        }
        GenOp::Clear(i, f) => {
            let r = m.row(&id(i));
            m.rows[r as usize][*f] = MValue::Null;
            m.events.remove(&(r, *f));
        }
        GenOp::Event(i, f, d, c) => m.add_event(&id(i), *f, *d, *c),
        GenOp::Delete(i) => {
            let r = m.row(&id(i));
            for f in 0..m.schema.fields.len() {
                m.rows[r as usize][f] = MValue::Null;
                m.events.remove(&(r, f));
            }
        }
    }
}

/// The rows and the change of a rows write, if its field takes one.
fn rows_write(schema: &Schema, model: &Model, g: &RowsGen, key: &str) -> Option<RowsWrite> {
    let field = schema.fields[g.field].name.clone();
    let change = match schema.fields[g.field].kind {
        FieldKind::Bool => RowsChange::SetBool {
            field,
            value: g.flag,
        },
        FieldKind::Set => RowsChange::AddValue {
            field,
            value: g.value.clone(),
        },
        FieldKind::Event => RowsChange::AddEvent {
            field,
            day: g.day,
            count: g.count,
        },
        _ => return None,
    };
    Some(RowsWrite {
        rows: (g.from..model.rows.len())
            .step_by(g.every)
            .map(|r| r as u32)
            .collect(),
        change,
        idempotency_key: g.retried.then(|| key.to_string()),
    })
}

/// The model of a rows write.
fn apply_rows_model(m: &mut Model, g: &RowsGen, w: &RowsWrite) {
    for &r in &w.rows {
        let cell = &mut m.rows[r as usize][g.field];
        match &w.change {
            RowsChange::SetBool { value, .. } => *cell = MValue::Bool(*value),
            RowsChange::AddValue { value, .. } => {
                let mut s = match cell {
                    MValue::Set(s) => s.clone(),
                    _ => BTreeSet::new(),
                };
                s.insert(value.clone());
                *cell = MValue::Set(s);
            }
            RowsChange::AddEvent { day, count, .. } => {
                let id = m.ids[r as usize].clone();
                m.add_event(&id, g.field, *day, *count);
            }
        }
    }
}

fn check(store: &Store, model: &Model, exprs: &[Expr]) -> Result<(), TestCaseError> {
    let t = store.table("t").unwrap();
    prop_assert_eq!(t.num_rows(), model.rows.len() as u64);
    for e in exprs {
        let want = model.rows_matching(e);
        prop_assert_eq!(t.count(e).unwrap(), want.len() as u64, "count of {:?}", e);
        // Exports reserve it: never below the count, over live layers too.
        let bound = t.upper_bound(e).unwrap();
        prop_assert!(
            bound >= want.len() as u64,
            "upper bound {} of {:?}",
            bound,
            e
        );
        prop_assert_eq!(&t.rows(e).unwrap(), &want, "rows of {:?}", e);
        let ids = t.ids(e, 0, Some(3)).unwrap();
        let want_ids: Vec<String> = want
            .iter()
            .take(3)
            .map(|&r| model.ids[r as usize].clone())
            .collect();
        prop_assert_eq!(ids, want_ids);
    }
    // Every id and a few absent ones, looked up in one batch and one at a
    // time: their rows.
    let mut lookups: Vec<&str> = model.ids.iter().map(String::as_str).collect();
    lookups.extend(["", "absent", "u", "u999999"]);
    lookups.reverse();
    let want: Vec<Option<u32>> = lookups
        .iter()
        .map(|id| model.index.get(*id).copied())
        .collect();
    prop_assert_eq!(&t.rows_of(&lookups).unwrap(), &want);
    for (id, w) in lookups.iter().zip(&want) {
        prop_assert_eq!(t.row_of(id).unwrap(), *w, "row of {:?}", id);
    }
    let window = DayRange {
        first: DAY0,
        last: DAY0 + 11,
    };
    for row in (0..model.rows.len() as u32).step_by(7) {
        let got = t.profile_of_row(row, window).unwrap();
        prop_assert_eq!(got, model.profile(row, window), "profile of row {}", row);
    }
    Ok(())
}

/// A schema, its imported rows, the steps, and the expressions checked.
type Case = (Schema, Vec<(String, Vec<MValue>)>, Vec<Step>, Vec<Expr>);

fn arb_case() -> impl Strategy<Value = Case> {
    (arb_schema(), 1u32..120).prop_flat_map(|(schema, id_space)| {
        let all: Vec<usize> = (0..schema.fields.len())
            .filter(|&f| schema.fields[f].kind != FieldKind::Event)
            .collect();
        let cells: Vec<BoxedStrategy<MValue>> = all
            .iter()
            .map(|&f| arb_value(schema.fields[f].kind))
            .collect();
        (
            Just(schema.clone()),
            prop::collection::vec((0..id_space, cells), 0..80).prop_map(|rows| {
                rows.into_iter()
                    .map(|(i, c)| (format!("u{i}"), c))
                    .collect::<Vec<_>>()
            }),
            arb_steps(&schema, id_space),
            prop::collection::vec(arb_expr(&schema, id_space + 40), 4),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ingest_flush_compact_and_replay_agree_with_the_model(
        (schema, rows, steps, exprs) in arb_case()
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.create_table("t", &schema).unwrap();
        let mut model = Model::new(schema.clone());
        let all: Vec<usize> = (0..schema.fields.len())
            .filter(|&f| schema.fields[f].kind != FieldKind::Event)
            .collect();
        store
            .import("t", ImportFormat::Csv, to_csv(&schema, &all, &rows).as_bytes(), &ImportOptions::default())
            .unwrap();
        for (id, cells) in &rows {
            model.set(id, &all.iter().copied().zip(cells.iter().cloned()).collect::<Vec<_>>());
        }
        check(&store, &model, &exprs)?;
        for step in &steps {
            match step {
                Step::Batch(ops) => {
                    let batch = Batch {
                        idempotency_key: None,
                        ops: ops.iter().map(|g| to_op(&schema, g)).collect(),
                    };
                    let ack = store.ingest("t", batch).unwrap();
                    prop_assert_eq!(ack.operations, ops.len() as u64);
                    for g in ops {
                        apply_model(&mut model, g);
                    }
                }
                Step::Rows(g) => {
                    // A key never used before in this store.
                    static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                    let key = format!("rows-{}", KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
                    if let Some(w) = rows_write(&schema, &model, g, &key) {
                        let ack = store.write_rows("t", &w).unwrap();
                        prop_assert_eq!(ack.operations, w.rows.len() as u64);
                        prop_assert!(!ack.duplicate);
                        if g.retried && !w.rows.is_empty() {
                            let again = store.write_rows("t", &w).unwrap();
                            prop_assert!(again.duplicate);
                            prop_assert_eq!(again.seq, ack.seq);
                        }
                        apply_rows_model(&mut model, g, &w);
                    }
                }
                Step::Flush => {
                    store.flush().unwrap();
                }
                Step::Compact => {
                    store.compact("t").unwrap();
                }
                Step::Reopen => {
                    drop(store);
                    store = Store::open(dir.path()).unwrap();
                }
            }
            check(&store, &model, &exprs)?;
        }
        // Whatever is left replays the same after a restart.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        check(&store, &model, &exprs)?;
    }
}

/// Writes across a shard boundary: rows on both sides of 2^20, new ids
/// after the last row, then a flush, a compaction and a reopen.
#[test]
fn writes_across_shards_agree_with_the_model() {
    let schema = Schema {
        fields: vec![
            segdb_engine::FieldDef::new("e0", FieldKind::Enum),
            segdb_engine::FieldDef::new("i0", FieldKind::Int),
            segdb_engine::FieldDef::new("ev0", FieldKind::Event),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.create_table("t", &schema).unwrap();
    let shard = 1u32 << 20;
    let n = shard + 1000;
    let mut csv = String::from("user_id,e0,i0\n");
    let mut model = Model::new(schema.clone());
    for r in 0..n {
        let (e, i) = (format!("v{}", r % 3), i64::from(r % 50));
        csv.push_str(&format!("u{r},{e},{i}\n"));
        model.set(
            &format!("u{r}"),
            &[(0, MValue::Enum(e)), (1, MValue::Int(i))],
        );
    }
    store
        .import(
            "t",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
    // Rows on both sides of the boundary, and 40 new ones.
    let mut ops = Vec::new();
    for r in (shard - 300..shard + 300).chain([0, 1, n - 1]) {
        ops.push(GenOp::Set(r, 0, MValue::Enum("v5".into())));
        ops.push(GenOp::Set(r, 1, MValue::Int(1_000 + i64::from(r % 7))));
        ops.push(GenOp::Event(r, 2, DAY0 + 3, u64::from(r % 4) + 1));
    }
    for r in (0..40).map(|k| 2 * shard + k) {
        ops.push(GenOp::Event(r, 2, DAY0, 2));
    }
    ops.push(GenOp::Delete(shard + 5));
    ops.push(GenOp::Clear(shard - 5, 1));
    // The new ids must be created in order for the model's row numbers to
    // match: ids `u{2*shard+k}` get rows n, n+1, … in both.
    let exprs = [
        Expr::Value {
            field: "e0".into(),
            value: "v5".into(),
        },
        Expr::Value {
            field: "e0".into(),
            value: "v1".into(),
        },
        Expr::IntBetween {
            field: "i0".into(),
            lo: 1_000,
            hi: 1_003,
        },
        Expr::Not(Box::new(Expr::IntBetween {
            field: "i0".into(),
            lo: 0,
            hi: 20,
        })),
        Expr::EventCount {
            field: "ev0".into(),
            days: segdb_engine::DayRange {
                first: DAY0,
                last: DAY0 + 5,
            },
            op: segdb_engine::CmpOp::Ge,
            n: 2,
        },
    ];
    for chunk in ops.chunks(500) {
        let batch = Batch {
            idempotency_key: None,
            ops: chunk.iter().map(|g| to_op(&schema, g)).collect(),
        };
        store.ingest("t", batch).unwrap();
        for g in chunk {
            apply_model(&mut model, g);
        }
    }
    let counts = |store: &Store| -> Vec<u64> {
        let t = store.table("t").unwrap();
        exprs.iter().map(|e| t.count(e).unwrap()).collect()
    };
    let want: Vec<u64> = exprs
        .iter()
        .map(|e| model.rows_matching(e).len() as u64)
        .collect();
    assert_eq!(counts(&store), want);
    assert_eq!(
        store.table("t").unwrap().num_rows(),
        model.rows.len() as u64
    );
    store.flush().unwrap();
    assert_eq!(counts(&store), want);
    store
        .ingest(
            "t",
            Batch {
                idempotency_key: None,
                ops: vec![to_op(
                    &schema,
                    &GenOp::Set(shard + 1, 0, MValue::Enum("v5".into())),
                )],
            },
        )
        .unwrap();
    apply_model(
        &mut model,
        &GenOp::Set(shard + 1, 0, MValue::Enum("v5".into())),
    );
    let want: Vec<u64> = exprs
        .iter()
        .map(|e| model.rows_matching(e).len() as u64)
        .collect();
    store.flush().unwrap();
    store.compact("t").unwrap();
    assert_eq!(counts(&store), want);
    drop(store);
    store = Store::open(dir.path()).unwrap();
    assert_eq!(counts(&store), want);
    let t = store.table("t").unwrap();
    for r in [shard - 1, shard, shard + 5, n, n + 39] {
        let window = DayRange {
            first: DAY0,
            last: DAY0 + 11,
        };
        assert_eq!(
            t.profile_of_row(r, window).unwrap(),
            model.profile(r, window),
            "row {r}"
        );
    }
}
