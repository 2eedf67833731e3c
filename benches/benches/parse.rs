//! The query language's cost: parse, bind and plan one SELECT of 50
//! predicates over the users schema of ../shared/bench/DATASET.md (the
//! issue's target: under 50 µs median for all three).
//!
//! - `parse`: text -> syntax tree;
//! - `parse_bind`: and bound to an in-memory catalog that, like the
//!   server's, hands out each ENUM and SET field's known values (all 2,000
//!   districts, 300 cities…) as a fresh list;
//! - `plan`: the bound filter compiled by the engine against a table with
//!   every value of the data set, and the rows of each node estimated
//!   (`Table::estimate`: what a planner needs to order operands; the
//!   estimates read headers only, so the table's size does not matter);
//! - `parse_bind_plan`: the three together;
//! - `parse_bind_explain`: `EXPLAIN` of the statement: the same with the
//!   plan's tree and a label for each node (`Table::explain`).

use std::collections::{HashMap, HashSet};

use criterion::{criterion_group, criterion_main, Criterion};
use segdb_engine::date::{parse_iso_day, Day};
use segdb_engine::{ImportFormat, ImportOptions, Schema, Store};
use segdb_query_lang::{bind, parse, parse_and_bind, Catalog, Statement};
use segdb_tests::generated::users_schema;

/// The values of each ENUM and SET field of the data set.
fn field_values(field: &str) -> Vec<String> {
    let range = |prefix: &str, n: usize, width: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i:0width$}")).collect()
    };
    let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect();
    match field {
        "gender" => words(&["m", "f", "u"]),
        "city" => range("c", 300, 3),
        "district" => range("d", 2000, 4),
        "education" => words(&["primary", "middle", "high", "bachelor", "master", "phd"]),
        "os" => words(&["ios", "android", "other"]),
        "product" => range("p", 8, 1),
        "interests" => range("i", 40, 2),
        _ => Vec::new(),
    }
}

/// The users table, in memory: its schema, and each field's values as a
/// list and as a hash set (as the server's catalog has them).
struct Users {
    schema: Schema,
    values: HashMap<String, (Vec<String>, HashSet<String>)>,
}

impl Users {
    fn new() -> Users {
        let schema = users_schema();
        let values = schema
            .fields
            .iter()
            .map(|f| {
                let list = field_values(&f.name);
                let set = list.iter().cloned().collect();
                (f.name.clone(), (list, set))
            })
            .collect();
        Users { schema, values }
    }
}

impl Catalog for Users {
    fn schema(&self, table: &str) -> Option<Schema> {
        (table == "users").then(|| self.schema.clone())
    }
    fn table_names(&self) -> Vec<String> {
        vec!["users".into()]
    }
    fn field_values(&self, table: &str, field: &str) -> Vec<String> {
        if table != "users" {
            return Vec::new();
        }
        self.values
            .get(field)
            .map(|(list, _)| list.clone())
            .unwrap_or_default()
    }
    fn has_value(&self, table: &str, field: &str, value: &str) -> Option<bool> {
        let (list, set) = self.values.get(field).filter(|_| table == "users")?;
        (!list.is_empty()).then(|| set.contains(value))
    }
    fn resolve_ids(
        &self,
        _table: &str,
        ids: &[String],
    ) -> Result<Vec<u32>, segdb_query_lang::CatalogError> {
        Ok(ids
            .iter()
            .filter_map(|id| id.strip_prefix('u')?.parse().ok())
            .collect())
    }
}

/// Predicate `i` of the statement: every kind of predicate, in turn.
fn predicate(i: usize) -> String {
    let k = i / 25;
    match i % 25 {
        0 => format!("gender = '{}'", ["f", "m"][k]),
        1 => format!("age BETWEEN {} AND {}", 20 + k, 35 + k),
        2 => format!("city IN ('c{:03}', 'c{:03}', 'c{:03}')", k, k + 1, k + 2),
        3 => "os = 'ios'".into(),
        4 => format!(
            "district IN ('d{:04}', 'd{:04}', 'd{:04}')",
            100 + k,
            101 + k,
            102 + k
        ),
        5 => "education != 'phd'".into(),
        6 => format!("member_level >= {}", 2 + k),
        7 => "product NOT IN ('p1', 'p2')".into(),
        8 => format!("income > {}", 10_000 * (k + 1)),
        9 => "ltv <= 50000".into(),
        10 => "last_login_days < 30".into(),
        11 => "contract_end_days IS NOT NULL".into(),
        12 => "is_owner".into(),
        13 => "NOT is_tenant".into(),
        14 => format!("flag_{} = false", k),
        15 => format!("flag_{}", 2 + k),
        16 => format!("interests HAS 'i{:02}'", k),
        17 => "interests HAS ANY ('i02', 'i03')".into(),
        18 => "NOT interests HAS ALL ('i04', 'i05')".into(),
        19 => format!("count(search, last 7 days) > {}", 3 + k),
        20 => "did(view, last 14 days)".into(),
        21 => "NOT did(book, '2026-11-09'..'2026-11-22')".into(),
        22 => "count(favorite, last 30 days) >= 1".into(),
        23 => "user_id NOT IN ('u000000001', 'u000000002')".into(),
        _ => "education IS NULL".into(),
    }
}

/// A SELECT of 50 predicates: groups of five, `a AND b AND (c OR d OR e)`.
fn statement() -> String {
    let groups: Vec<String> = (0..10)
        .map(|g| {
            let p: Vec<String> = (0..5).map(|j| predicate(g * 5 + j)).collect();
            format!(
                "{} AND {} AND ({} OR {} OR {})",
                p[0], p[1], p[2], p[3], p[4]
            )
        })
        .collect();
    format!(
        "SELECT COUNT(*) FROM users WHERE {} AS OF '2026-11-22'",
        groups.join(" AND ")
    )
}

/// A store whose `users` table holds every value of every ENUM and SET
/// field (3,000 rows).
fn store(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).expect("open a store");
    store
        .create_table("users", &users_schema())
        .expect("create users");
    let names: Vec<&str> = [
        "gender",
        "city",
        "district",
        "education",
        "os",
        "product",
        "interests",
    ]
    .to_vec();
    let values: Vec<Vec<String>> = names.iter().map(|f| field_values(f)).collect();
    let mut csv = format!("user_id,age,income,{}\n", names.join(","));
    for i in 0..3_000 {
        let cells: Vec<&str> = values.iter().map(|v| v[i % v.len()].as_str()).collect();
        csv.push_str(&format!(
            "u{i:09},{},{},{}\n",
            16 + i % 60,
            i * 37,
            cells.join(",")
        ));
    }
    store
        .import(
            "users",
            ImportFormat::Csv,
            csv.as_bytes(),
            &ImportOptions::default(),
        )
        .expect("import");
    store
}

fn bench(c: &mut Criterion) {
    let text = statement();
    let explain_text = format!("EXPLAIN {text}");
    let catalog = Users::new();
    let today: Day = parse_iso_day("2026-11-22").unwrap_or_default();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = store(dir.path());
    let table = store.table("users").expect("the users table");

    // The statement binds, plans, and has 50 predicates.
    let bound = parse_and_bind(&text, &catalog, today).expect("the statement binds");
    let Some(Statement::Select(select)) = bound.first() else {
        panic!("a SELECT")
    };
    let plan = table.explain(&select.filter).expect("the statement plans");
    let mut leaves = 0;
    plan.walk(&mut |_, n| leaves += usize::from(n.children.is_empty()));
    println!(
        "{} bytes, 50 predicates, {leaves} plan leaves, {} warnings",
        text.len(),
        select.warnings.len()
    );

    let mut g = c.benchmark_group("query_50_predicates");
    g.bench_function("parse", |b| b.iter(|| parse(&text).map(|s| s.len())));
    g.bench_function("parse_bind", |b| {
        b.iter(|| parse_and_bind(&text, &catalog, today).map(|s| s.len()))
    });
    g.bench_function("plan", |b| b.iter(|| table.estimate(&select.filter)));
    g.bench_function("parse_bind_plan", |b| {
        b.iter(|| {
            let parsed = parse(&text).ok()?;
            let Ok(Statement::Select(select)) = bind(&parsed[0], &catalog, today) else {
                return None;
            };
            table.estimate(&select.filter).ok()
        })
    });
    g.bench_function("parse_bind_explain", |b| {
        b.iter(|| {
            let parsed = parse(&explain_text).ok()?;
            let Ok(Statement::Explain(select)) = bind(&parsed[0], &catalog, today) else {
                return None;
            };
            table.explain(&select.filter).ok().map(|p| p.children.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
