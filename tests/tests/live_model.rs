//! Real-time writes against the naive model: a random table imported in
//! bulk, then random batches of every operation (set, add, remove, clear,
//! event, delete; new ids among them) through `Store::ingest`, with random
//! flushes, compactions and reopens (WAL replay) between them. After every
//! step, counts, row ids and profiles of random expressions must equal the
//! model's.

use std::collections::BTreeSet;

use proptest::prelude::*;
use segdb_engine::write::{Batch, Op, SetValue};
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

#[derive(Debug, Clone)]
enum Step {
    Batch(Vec<GenOp>),
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

fn check(store: &Store, model: &Model, exprs: &[Expr]) -> Result<(), TestCaseError> {
    let t = store.table("t").unwrap();
    prop_assert_eq!(t.num_rows(), model.rows.len() as u64);
    for e in exprs {
        let want = model.rows_matching(e);
        prop_assert_eq!(t.count(e).unwrap(), want.len() as u64, "count of {:?}", e);
        prop_assert_eq!(&t.rows(e).unwrap(), &want, "rows of {:?}", e);
        let ids = t.ids(e, 0, Some(3)).unwrap();
        let want_ids: Vec<String> = want
            .iter()
            .take(3)
            .map(|&r| model.ids[r as usize].clone())
            .collect();
        prop_assert_eq!(ids, want_ids);
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
