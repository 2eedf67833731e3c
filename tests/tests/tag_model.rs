//! Derived tags against the row-scan model: a random table (every field
//! kind) imported in bulk, a random tag (`CASE WHEN … THEN … [ELSE …]
//! END` over random conditions on every kind, EVENT windows `last N days`
//! among them, or a BOOL tag), then random real-time writes. After every
//! write, and on two AS OF days, the rows of every predicate on the tag
//! (`= v`, `!= v`, `IN`, `IS NULL`, bare, `NOT`) as the language binds
//! them and the engine evaluates them must be the rows whose tag value,
//! computed row by row from the definition (the first WHEN that holds
//! wins), satisfies the predicate; GROUP BY the tag must count each
//! value's rows.

use proptest::prelude::*;
use segdb_engine::write::{Batch, Op, SetValue};
use segdb_engine::{CmpOp, DayRange, Expr, FieldKind, ImportFormat, ImportOptions, Schema, Store};
use segdb_query_lang::{Catalog, CatalogError, Statement, TagRef};
use segdb_tests::model::*;

/// The store as the binder sees it (no values known: nothing warned of).
struct StoreCatalog<'a>(&'a Store);

impl Catalog for StoreCatalog<'_> {
    fn schema(&self, table: &str) -> Option<Schema> {
        self.0.table(table).ok().map(|t| t.schema().clone())
    }
    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }
    fn field_values(&self, _table: &str, _field: &str) -> Vec<String> {
        Vec::new()
    }
    fn resolve_ids(&self, _table: &str, _ids: &[String]) -> Result<Vec<u32>, CatalogError> {
        Ok(Vec::new())
    }
    fn tag(&self, name: &str) -> Option<TagRef> {
        self.0.tag(name).map(|t| TagRef {
            table: t.table,
            text: t.text,
        })
    }
    fn tag_names(&self) -> Vec<String> {
        self.0.tags().into_iter().map(|t| t.name).collect()
    }
}

/// A condition: its text, and its meaning for the model on a given day.
#[derive(Debug, Clone)]
enum Cond {
    /// A condition that does not depend on the day.
    Fixed(String, Expr),
    /// `count(field, last days days) op n` (`did(…)` for `> 0`).
    Window {
        field: String,
        days: i32,
        op: CmpOp,
        n: i64,
    },
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

impl Cond {
    fn text(&self) -> String {
        let join = |xs: &[Cond], sep: &str| {
            let parts: Vec<String> = xs.iter().map(|x| format!("({})", x.text())).collect();
            parts.join(sep)
        };
        match self {
            Cond::Fixed(t, _) => t.clone(),
            Cond::Window {
                field,
                days,
                op: CmpOp::Gt,
                n: 0,
            } => format!("did({field}, last {days} days)"),
            Cond::Window { field, days, op, n } => {
                format!("count({field}, last {days} days) {} {n}", op_text(*op))
            }
            Cond::And(xs) => join(xs, " AND "),
            Cond::Or(xs) => join(xs, " OR "),
            Cond::Not(x) => format!("NOT ({})", x.text()),
        }
    }

    /// The engine expression the model scans with, on day `as_of`.
    fn expr(&self, as_of: i32) -> Expr {
        match self {
            Cond::Fixed(_, e) => e.clone(),
            Cond::Window { field, days, op, n } => Expr::EventCount {
                field: field.clone(),
                days: DayRange {
                    first: as_of - days + 1,
                    last: as_of,
                },
                op: *op,
                n: *n,
            },
            Cond::And(xs) => Expr::And(xs.iter().map(|x| x.expr(as_of)).collect()),
            Cond::Or(xs) => Expr::Or(xs.iter().map(|x| x.expr(as_of)).collect()),
            Cond::Not(x) => Expr::Not(Box::new(x.expr(as_of))),
        }
    }
}

fn quoted(values: &[String]) -> String {
    let q: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    q.join(", ")
}

fn fields_of(schema: &Schema, kind: FieldKind) -> Vec<String> {
    schema
        .fields
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| f.name.clone())
        .collect()
}

/// A random condition on one field, of any kind but TEXT.
fn arb_leaf(schema: &Schema) -> BoxedStrategy<Cond> {
    let enums = fields_of(schema, FieldKind::Enum);
    let sets = fields_of(schema, FieldKind::Set);
    let bools = fields_of(schema, FieldKind::Bool);
    let ints = fields_of(schema, FieldKind::Int);
    let events = fields_of(schema, FieldKind::Event);
    let value = || prop::sample::select(&VALUES[..]).prop_map(String::from);
    let values = move || prop::collection::vec(value(), 1..3);
    let small = || prop_oneof![3 => -5i64..20, 1 => -1000i64..1000];
    let op = || {
        prop::sample::select(vec![
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ])
    };
    let f = |names: &Vec<String>| prop::sample::select(names.clone());
    prop_oneof![
        1 => (f(&enums), value()).prop_map(|(field, v)| Cond::Fixed(
            format!("{field} = '{v}'"),
            Expr::Value { field, value: v }
        )),
        1 => (f(&enums), values()).prop_map(|(field, vs)| Cond::Fixed(
            format!("{field} IN ({})", quoted(&vs)),
            Expr::AnyValue { field, values: vs }
        )),
        1 => (f(&enums), values()).prop_map(|(field, vs)| Cond::Fixed(
            format!("{field} NOT IN ({})", quoted(&vs)),
            Expr::NoneOfValues { field, values: vs }
        )),
        1 => f(&enums).prop_map(|field| Cond::Fixed(
            format!("{field} IS NULL"),
            Expr::Not(Box::new(Expr::NotNull { field }))
        )),
        1 => (f(&sets), value()).prop_map(|(field, v)| Cond::Fixed(
            format!("{field} HAS '{v}'"),
            Expr::Value { field, value: v }
        )),
        1 => (f(&sets), values()).prop_map(|(field, vs)| Cond::Fixed(
            format!("{field} HAS ANY ({})", quoted(&vs)),
            Expr::AnyValue { field, values: vs }
        )),
        1 => (f(&sets), values()).prop_map(|(field, vs)| Cond::Fixed(
            format!("{field} HAS ALL ({})", quoted(&vs)),
            Expr::AllValues { field, values: vs }
        )),
        1 => f(&bools).prop_map(|field| Cond::Fixed(
            field.clone(),
            Expr::Bool { field, value: true }
        )),
        1 => f(&bools).prop_map(|field| Cond::Fixed(
            format!("{field} = false"),
            Expr::Bool {
                field,
                value: false
            }
        )),
        2 => (f(&ints), op(), small()).prop_map(|(field, op, value)| Cond::Fixed(
            format!("{field} {} {value}", op_text(op)),
            Expr::IntCmp { field, op, value }
        )),
        1 => (f(&ints), small(), small()).prop_map(|(field, a, b)| {
            let (lo, hi) = (a.min(b), a.max(b));
            Cond::Fixed(
                format!("{field} BETWEEN {lo} AND {hi}"),
                Expr::IntBetween { field, lo, hi },
            )
        }),
        3 => (f(&events), 1i32..14, op(), 0i64..5).prop_map(|(field, days, op, n)| Cond::Window {
            field,
            days,
            op,
            n
        }),
        2 => (f(&events), 1i32..14).prop_map(|(field, days)| Cond::Window {
            field,
            days,
            op: CmpOp::Gt,
            n: 0
        }),
    ]
    .boxed()
}

fn arb_cond(schema: &Schema) -> BoxedStrategy<Cond> {
    arb_leaf(schema)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Cond::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Cond::Or),
                inner.prop_map(|x| Cond::Not(Box::new(x))),
            ]
        })
        .boxed()
}

/// A tag's definition: `(WHEN condition, THEN value)`s and the ELSE
/// value; no WHENs with a condition: a BOOL tag.
#[derive(Debug, Clone)]
enum Def {
    Case(Vec<(Cond, String)>, Option<String>),
    Bool(Cond),
}

impl Def {
    fn text(&self) -> String {
        match self {
            Def::Bool(c) => c.text(),
            Def::Case(whens, otherwise) => {
                let mut t = String::from("CASE");
                for (c, v) in whens {
                    t.push_str(&format!(" WHEN {} THEN '{v}'", c.text()));
                }
                if let Some(v) = otherwise {
                    t.push_str(&format!(" ELSE '{v}'"));
                }
                t + " END"
            }
        }
    }

    /// The tag's value in `row` on day `as_of`, by scanning: the first
    /// WHEN that holds (`"true"`/`"false"` for a BOOL tag).
    fn value(&self, m: &Model, row: u32, as_of: i32) -> Option<String> {
        match self {
            Def::Bool(c) => Some(m.matches(&c.expr(as_of), row).to_string()),
            Def::Case(whens, otherwise) => whens
                .iter()
                .find(|(c, _)| m.matches(&c.expr(as_of), row))
                .map(|(_, v)| v.clone())
                .or_else(|| otherwise.clone()),
        }
    }
}

fn arb_def(schema: &Schema) -> BoxedStrategy<Def> {
    let value = || prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(String::from);
    prop_oneof![
        3 => (
            prop::collection::vec((arb_cond(schema), value()), 1..5),
            prop::option::of(value())
        )
            .prop_map(|(w, e)| Def::Case(w, e)),
        1 => arb_cond(schema).prop_map(Def::Bool),
    ]
    .boxed()
}

/// A real-time write: a value set, an event, a field cleared.
#[derive(Debug, Clone)]
enum GenOp {
    Set(u32, usize, MValue),
    Event(u32, usize, i32, u64),
    Clear(u32, usize),
}

fn arb_ops(schema: &Schema, ids: u32) -> BoxedStrategy<Vec<GenOp>> {
    let scalars: Vec<(usize, FieldKind)> = schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| !matches!(f.kind, FieldKind::Set | FieldKind::Event))
        .map(|(i, f)| (i, f.kind))
        .collect();
    let events: Vec<usize> = (0..schema.fields.len())
        .filter(|&i| schema.fields[i].kind == FieldKind::Event)
        .collect();
    let n = schema.fields.len();
    let id = 0..ids + 10;
    let op = prop_oneof![
        3 => (id.clone(), prop::sample::select(scalars)).prop_flat_map(|(i, (f, k))| {
            arb_value(k)
                .prop_filter("set takes a value", |v| *v != MValue::Null)
                .prop_map(move |v| GenOp::Set(i, f, v))
        }),
        4 => (id.clone(), prop::sample::select(events), 0i32..14, 1u64..4)
            .prop_map(|(i, f, d, c)| GenOp::Event(i, f, DAY0 + d, c)),
        1 => (id, 0..n).prop_map(|(i, f)| GenOp::Clear(i, f)),
    ];
    prop::collection::vec(op, 1..20).boxed()
}

fn to_op(g: &GenOp) -> Op {
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
                    other => panic!("no set of {other:?}"),
                },
            )],
        },
        GenOp::Event(i, f, d, c) => Op::Event {
            id: id(i),
            field: *f as u32,
            day: *d,
            count: *c,
        },
        GenOp::Clear(i, f) => Op::Clear {
            id: id(i),
            fields: vec![*f as u32],
        },
    }
}

fn apply_model(m: &mut Model, g: &GenOp) {
    let id = |i: &u32| format!("u{i}");
    match g {
        GenOp::Set(i, f, v) => m.set(&id(i), &[(*f, v.clone())]),
        GenOp::Event(i, f, d, c) => m.add_event(&id(i), *f, *d, *c),
        GenOp::Clear(i, f) => {
            let r = m.row(&id(i));
            m.rows[r as usize][*f] = MValue::Null;
            m.events.remove(&(r, *f));
        }
    }
}

/// Every predicate on tag `tg` agrees with the scan, on day `as_of`.
fn check(store: &Store, model: &Model, def: &Def, as_of: i32) -> Result<(), TestCaseError> {
    let t = store.table("t").unwrap();
    let catalog = StoreCatalog(store);
    let values: Vec<Option<String>> = (0..model.rows.len() as u32)
        .map(|r| def.value(model, r, as_of))
        .collect();
    let rows_where = |keep: &dyn Fn(Option<&str>) -> bool| -> Vec<u32> {
        (0..values.len() as u32)
            .filter(|&r| keep(values[r as usize].as_deref()))
            .collect()
    };
    let mut cases: Vec<(String, Vec<u32>)> = Vec::new();
    match def {
        Def::Bool(_) => {
            cases.push(("tg".into(), rows_where(&|v| v == Some("true"))));
            cases.push(("NOT tg".into(), rows_where(&|v| v == Some("false"))));
            cases.push(("tg = false".into(), rows_where(&|v| v == Some("false"))));
        }
        Def::Case(whens, otherwise) => {
            let mut names: Vec<&str> = whens.iter().map(|(_, v)| v.as_str()).collect();
            names.extend(otherwise.as_deref());
            names.sort_unstable();
            names.dedup();
            for v in &names {
                cases.push((format!("tg = '{v}'"), rows_where(&|x| x == Some(*v))));
                cases.push((
                    format!("tg != '{v}'"),
                    rows_where(&|x| x.is_some_and(|x| x != *v)),
                ));
            }
            let first = names[0];
            let last = names[names.len() - 1];
            cases.push((
                format!("tg IN ('{first}', '{last}')"),
                rows_where(&|x| x == Some(first) || x == Some(last)),
            ));
            cases.push((
                format!("tg NOT IN ('{first}')"),
                rows_where(&|x| x.is_some_and(|x| x != first)),
            ));
            cases.push(("tg IS NULL".into(), rows_where(&|x| x.is_none())));
            cases.push(("tg IS NOT NULL".into(), rows_where(&|x| x.is_some())));
        }
    }
    // GROUP BY the tag: a count per value held by some row, by value.
    let q = "SELECT tg, COUNT(*) FROM t GROUP BY tg";
    let bound = segdb_query_lang::parse_and_bind(q, &catalog, as_of)
        .map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
    let Some(Statement::Select(sel)) = bound.into_iter().next() else {
        return Err(TestCaseError::fail("not a SELECT"));
    };
    let segdb_query_lang::Projection::GroupByTag { groups, .. } = &sel.projection else {
        return Err(TestCaseError::fail(format!("{:?}", sel.projection)));
    };
    let got = t
        .group_by_exprs(
            &sel.filter,
            groups,
            segdb_engine::GroupOrder::Value,
            0,
            None,
        )
        .unwrap();
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for v in values.iter().flatten() {
        *want.entry(v.clone()).or_default() += 1;
    }
    prop_assert_eq!(
        got,
        want.into_iter().collect::<Vec<_>>(),
        "GROUP BY tg on day {}",
        as_of
    );
    for (text, want) in cases {
        let bound = segdb_query_lang::bind_filter(&catalog, "t", &text, as_of)
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let got = t.rows(&bound.filter).unwrap();
        prop_assert_eq!(
            &got,
            &want,
            "{} on day {} (tag {})",
            text,
            as_of,
            def.text()
        );
        prop_assert_eq!(t.count(&bound.filter).unwrap(), want.len() as u64);
    }
    Ok(())
}

type Case = (
    Schema,
    Vec<(String, Vec<MValue>)>,
    Def,
    Vec<Vec<GenOp>>,
    (i32, i32),
);

fn arb_case() -> impl Strategy<Value = Case> {
    (arb_schema(), 1u32..60).prop_flat_map(|(schema, ids)| {
        let all: Vec<usize> = (0..schema.fields.len())
            .filter(|&f| schema.fields[f].kind != FieldKind::Event)
            .collect();
        let cells: Vec<BoxedStrategy<MValue>> = all
            .iter()
            .map(|&f| arb_value(schema.fields[f].kind))
            .collect();
        (
            Just(schema.clone()),
            prop::collection::vec((0..ids, cells), 0..50).prop_map(|rows| {
                rows.into_iter()
                    .map(|(i, c)| (format!("u{i}"), c))
                    .collect::<Vec<_>>()
            }),
            arb_def(&schema),
            prop::collection::vec(arb_ops(&schema, ids), 1..4),
            (0i32..16, 0i32..16),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn derived_tags_agree_with_a_row_scan(
        (schema, rows, def, batches, (d1, d2)) in arb_case()
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
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

        // The tag, made as the language makes it.
        let text = format!("CREATE TAG tg ON t AS {}", def.text());
        let bound = segdb_query_lang::parse_and_bind(&text, &StoreCatalog(&store), DAY0)
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let Some(Statement::CreateTag(tag)) = bound.into_iter().next() else {
            return Err(TestCaseError::fail("not a CREATE TAG"));
        };
        store.create_tag(&tag.name, &tag.table, &tag.text, tag.uses, false).unwrap();

        let (d1, d2) = (DAY0 + d1, DAY0 + d2);
        check(&store, &model, &def, d1)?;
        check(&store, &model, &def, d2)?;
        for ops in &batches {
            let batch = Batch {
                idempotency_key: None,
                ops: ops.iter().map(to_op).collect(),
            };
            store.ingest("t", batch).unwrap();
            for g in ops {
                apply_model(&mut model, g);
            }
            check(&store, &model, &def, d1)?;
            check(&store, &model, &def, d2)?;
        }
    }
}
