//! `Store::write_tallied` against a model: random writes of SET values to
//! sets of rows and of tallies, with flushes, compactions, reopenings
//! (WAL replay, and the manifest's committed tallies) and retries by
//! idempotency key in between. After every step the values' rows and every
//! tally read through the store equal the model's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proptest::prelude::*;
use segdb_engine::tally::TallyMap;
use segdb_engine::write::{TalliedWrite, ValueAdd};
use segdb_engine::{EngineError, Tally};
use segdb_engine::{Expr, FieldDef, FieldKind, ImportFormat, ImportOptions, Schema, Store};

const ROWS: u32 = 300;
const VALUES: usize = 4;
const KEYS: usize = 3;

#[derive(Debug, Default, Clone)]
struct Model {
    values: BTreeMap<String, BTreeSet<u32>>,
    tallies: TallyMap,
}

impl Model {
    fn apply(&mut self, w: &TalliedWrite) {
        for a in &w.adds {
            self.values
                .entry(a.value.clone())
                .or_default()
                .extend(&a.rows);
        }
        for t in &w.tallies {
            *self
                .tallies
                .entry(t.key.clone())
                .or_default()
                .entry(t.day)
                .or_default() += t.count;
        }
    }
}

fn open(dir: &Path) -> Store {
    Store::open(dir).unwrap()
}

fn setup(dir: &Path) -> Store {
    let store = open(dir);
    let schema = Schema {
        fields: vec![
            FieldDef::new("city", FieldKind::Enum),
            FieldDef::new("marks", FieldKind::Set),
        ],
    };
    store.create_table("t", &schema).unwrap();
    let mut csv = String::from("user_id,city\n");
    for r in 0..ROWS {
        csv.push_str(&format!("u{r},c{}\n", r % 3));
    }
    store
        .import(
            "t",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
    store
}

fn check(store: &Store, model: &Model) {
    let t = store.table("t").unwrap();
    for v in 0..VALUES {
        let value = format!("v{v}");
        let rows: BTreeSet<u32> = t
            .rows(&Expr::Value {
                field: "marks".into(),
                value: value.clone(),
            })
            .unwrap()
            .into_iter()
            .collect();
        let want = model.values.get(&value).cloned().unwrap_or_default();
        assert_eq!(rows, want, "rows of {value}");
    }
    assert_eq!(t.tallies().with_prefix(""), model.tallies);
    for (k, days) in &model.tallies {
        for (d, c) in days {
            assert_eq!(t.tallies().get(k, *d), *c);
        }
    }
    let some = model.tallies.keys().next().cloned().unwrap_or_default();
    if !some.is_empty() {
        let p = t.tallies().with_prefix(&some);
        assert!(p.keys().all(|k| k.starts_with(&some)));
        assert!(p.contains_key(&some));
    }
}

#[derive(Debug, Clone)]
enum Step {
    Write {
        adds: Vec<(usize, Vec<u32>)>,
        tallies: Vec<(usize, i32, u64)>,
    },
    Retry,
    Flush,
    Compact,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    let write = (
        prop::collection::vec(
            (0..VALUES, prop::collection::btree_set(0..ROWS, 0..40)),
            0..3,
        ),
        prop::collection::vec((0..KEYS, 20_400i32..20_404, 1u64..5), 0..4),
    )
        .prop_map(|(adds, tallies)| Step::Write {
            adds: adds
                .into_iter()
                .map(|(v, r)| (v, r.into_iter().collect()))
                .collect(),
            tallies,
        });
    prop_oneof![
        6 => write,
        1 => Just(Step::Retry),
        1 => Just(Step::Flush),
        1 => Just(Step::Compact),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn tallied_writes_equal_the_model(steps in prop::collection::vec(step(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = setup(dir.path());
        let mut model = Model::default();
        let mut last: Option<TalliedWrite> = None;
        for (i, s) in steps.into_iter().enumerate() {
            match s {
                Step::Write { adds, tallies } => {
                    let w = TalliedWrite {
                        adds: adds
                            .into_iter()
                            .map(|(v, rows)| ValueAdd {
                                field: "marks".into(),
                                value: format!("v{v}"),
                                rows,
                            })
                            .collect(),
                        tallies: tallies
                            .into_iter()
                            .map(|(k, day, count)| Tally { key: format!("7/1/k{k}"), day, count })
                            .collect(),
                        idempotency_key: Some(format!("w{i}")),
                    };
                    let ack = store.write_tallied("t", &w).unwrap();
                    prop_assert!(!ack.duplicate);
                    model.apply(&w);
                    last = Some(w);
                }
                Step::Retry => {
                    if let Some(w) = &last {
                        let ack = store.write_tallied("t", w).unwrap();
                        let empty = w.adds.iter().all(|a| a.rows.is_empty()) && w.tallies.is_empty();
                        prop_assert!(ack.duplicate || empty);
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
                    store = open(dir.path());
                }
            }
            check(&store, &model);
        }
        store.flush().unwrap();
        drop(store);
        check(&open(dir.path()), &model);
    }
}

#[test]
fn bad_writes_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = setup(dir.path());
    let good = ValueAdd {
        field: "marks".into(),
        value: "v0".into(),
        rows: vec![1, 2],
    };
    let tally = Tally {
        key: "k".into(),
        day: 20_400,
        count: 1,
    };
    let cases: Vec<(TalliedWrite, &str)> = vec![
        (
            TalliedWrite {
                adds: vec![
                    good.clone(),
                    ValueAdd {
                        field: "city".into(),
                        ..good.clone()
                    },
                ],
                ..TalliedWrite::default()
            },
            "SET",
        ),
        (
            TalliedWrite {
                adds: vec![
                    good.clone(),
                    ValueAdd {
                        field: "nope".into(),
                        ..good.clone()
                    },
                ],
                ..TalliedWrite::default()
            },
            "nope",
        ),
        (
            TalliedWrite {
                adds: vec![
                    good.clone(),
                    ValueAdd {
                        rows: vec![3, 2],
                        ..good.clone()
                    },
                ],
                ..TalliedWrite::default()
            },
            "sorted",
        ),
        (
            TalliedWrite {
                adds: vec![
                    good.clone(),
                    ValueAdd {
                        rows: vec![ROWS],
                        ..good.clone()
                    },
                ],
                ..TalliedWrite::default()
            },
            "not a row",
        ),
        (
            TalliedWrite {
                adds: vec![
                    good.clone(),
                    ValueAdd {
                        value: String::new(),
                        ..good.clone()
                    },
                ],
                ..TalliedWrite::default()
            },
            "1 to 256 bytes",
        ),
        (
            TalliedWrite {
                adds: vec![good.clone()],
                tallies: vec![
                    tally.clone(),
                    Tally {
                        count: 0,
                        ..tally.clone()
                    },
                ],
                ..TalliedWrite::default()
            },
            "1 or more",
        ),
        (
            TalliedWrite {
                adds: vec![good.clone()],
                tallies: vec![Tally {
                    key: "x".repeat(257),
                    ..tally.clone()
                }],
                ..TalliedWrite::default()
            },
            "1 to 256 bytes",
        ),
    ];
    for (w, what) in cases {
        let e = store.write_tallied("t", &w).unwrap_err();
        assert!(e.to_string().contains(what), "{e} should say {what}");
        let t = store.table("t").unwrap();
        assert!(t.tallies().is_empty());
        assert!(
            t.field_values("marks").is_empty(),
            "{:?}",
            t.field_values("marks")
        );
    }
    assert!(matches!(
        store.write_tallied("nope", &TalliedWrite::default()),
        Err(EngineError::UnknownTable(_))
    ));
    // The same key with another write is refused, not acknowledged.
    let w = TalliedWrite {
        adds: vec![good.clone()],
        tallies: vec![tally.clone()],
        idempotency_key: Some("k1".into()),
    };
    store.write_tallied("t", &w).unwrap();
    let other = TalliedWrite {
        tallies: vec![Tally { count: 2, ..tally }],
        ..w.clone()
    };
    assert!(store.write_tallied("t", &other).is_err());
    assert_eq!(store.table("t").unwrap().tallies().get("k", 20_400), 1);
}
