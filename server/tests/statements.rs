//! Every statement kind through `segdb query --format json` on a generated
//! store, with the answers checked against a naive scan of the generated
//! users.csv and events.csv.
//!
//! One test: nextest runs each test in its own process, so a shared data
//! set would be generated once per test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use segdb_tests::generated::{Data, Row};
use serde_json::{json, Value};

fn segdb(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_segdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `text`; one JSON answer per statement.
fn query(store: &Path, text: &str) -> Vec<Value> {
    let (ok, out, err) = segdb(&["query", "--data", p(store), "--format", "json", text]);
    assert!(ok, "{text}\n{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs one statement; its answer.
fn one(store: &Path, text: &str) -> Value {
    let mut answers = query(store, text);
    assert_eq!(answers.len(), 1, "{text}");
    answers.pop().unwrap()
}

/// The single number a `SELECT COUNT(*)` answers.
fn count(store: &Path, text: &str) -> u64 {
    let v = one(store, text);
    assert_eq!(v["columns"], json!(["count"]), "{text}");
    v["rows"][0][0].as_u64().unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf, Data) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let store = dir.path().join("store");
    let (ok, _, err) = segdb(&["gen", "--scale", "5000", "--seed", "11", "--out", p(&csv)]);
    assert!(ok, "{err}");
    let (ok, _, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "users",
        "--schema",
        p(&csv.join("schema.sql")),
        "--events",
        p(&csv.join("events.csv")),
        p(&csv.join("users.csv")),
    ]);
    assert!(ok, "{err}");
    let data = Data::read(&csv);
    (dir, store, data)
}

#[test]
fn every_statement_kind_against_a_scan_of_the_data() {
    let (dir, store, data) = setup();
    let store = store.as_path();
    assert_eq!(data.rows.len(), 5000);

    counts(store, &data);
    ids_and_aggregates(store, &data);
    group_by(store, &data);
    explain(store, &data);
    // Before the statements below change the table.
    insight_statements(store, &data);
    compare_statements(store, &data);
    quantiles(store, &data);
    schema_statements(store, &data, dir.path());
    segments_and_calls(store, &data, dir.path());
}

/// Which rows of users.csv a WHERE clause keeps.
type Naive = dyn Fn(&Row<'_>) -> bool;

fn counts(store: &Path, data: &Data) {
    let cases: Vec<(&str, Box<Naive>)> = vec![
        (
            "gender = 'f' AND age BETWEEN 25 AND 35 AND city IN ('c000', 'c001', 'c002') AND os = 'ios'",
            Box::new(|r| {
                r.get("gender") == "f"
                    && r.int("age").is_some_and(|a| (25..=35).contains(&a))
                    && ["c000", "c001", "c002"].contains(&r.get("city"))
                    && r.get("os") == "ios"
            }),
        ),
        (
            "(is_owner OR member_level >= 3) AND NOT flag_3",
            Box::new(|r| {
                (r.is("is_owner") || r.int("member_level").is_some_and(|m| m >= 3))
                    && !r.is("flag_3")
            }),
        ),
        (
            "interests HAS ALL ('i01', 'i05') OR interests HAS 'i07' AND NOT interests HAS ANY ('i00', 'i02')",
            Box::new(|r| {
                (r.has("interests", "i01") && r.has("interests", "i05"))
                    || (r.has("interests", "i07")
                        && !(r.has("interests", "i00") || r.has("interests", "i02")))
            }),
        ),
        (
            "contract_end_days IS NULL OR contract_end_days < 0",
            Box::new(|r| r.int("contract_end_days").is_none_or(|d| d < 0)),
        ),
        (
            "education != 'bachelor' AND city NOT IN ('c000', 'c001')",
            Box::new(|r| {
                !r.get("education").is_empty()
                    && r.get("education") != "bachelor"
                    && !r.get("city").is_empty()
                    && !["c000", "c001"].contains(&r.get("city"))
            }),
        ),
        (
            "city = 'c000' AND count(search, last 7 days) > 3 AS OF '2026-11-22'",
            Box::new(|r| {
                r.get("city") == "c000" && r.events("search", "2026-11-16", "2026-11-22") > 3
            }),
        ),
        (
            "did(view, '2026-11-09'..'2026-11-22') AND NOT did(book, last 14 days) AS OF '2026-11-22'",
            Box::new(|r| {
                r.events("view", "2026-11-09", "2026-11-22") > 0
                    && r.events("book", "2026-11-09", "2026-11-22") == 0
            }),
        ),
        (
            "user_id IN ('u000000001', 'u000000007', 'nobody') OR user_id = 'u000000042'",
            Box::new(|r| ["u000000001", "u000000007", "u000000042"].contains(&r.id())),
        ),
    ];
    for (filter, naive) in &cases {
        let text = format!("SELECT COUNT(*) FROM users WHERE {filter}");
        assert_eq!(count(store, &text), data.count(naive), "{text}");
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM users"), 5000);
}

fn ids_and_aggregates(store: &Path, data: &Data) {
    let want: Vec<&str> = data
        .rows()
        .filter(|r| r.get("city") == "c001" && r.get("os") == "android")
        .map(|r| r.id())
        .collect();
    assert!(want.len() > 12, "{}", want.len());
    let v = one(
        store,
        "SELECT user_id FROM users WHERE city = 'c001' AND os = 'android' LIMIT 7 OFFSET 3",
    );
    assert_eq!(v["columns"], json!(["user_id"]));
    let got: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(got, want[3..10]);
    let v = one(
        store,
        "SELECT user_id FROM users WHERE city = 'c001' AND os = 'android'",
    );
    assert_eq!(v["rows"].as_array().unwrap().len(), want.len());

    let v = one(
        store,
        "SELECT SUM(income), AVG(income), MIN(income), MAX(income), COUNT(*) FROM users WHERE os = 'ios'",
    );
    assert_eq!(
        v["columns"],
        json!([
            "sum(income)",
            "avg(income)",
            "min(income)",
            "max(income)",
            "count"
        ])
    );
    let incomes: Vec<i64> = data
        .rows()
        .filter(|r| r.get("os") == "ios")
        .filter_map(|r| r.int("income"))
        .collect();
    let sum: i64 = incomes.iter().sum();
    let row = &v["rows"][0];
    assert_eq!(row[0], json!(sum));
    let avg = row[1].as_f64().unwrap();
    assert!(
        (avg - sum as f64 / incomes.len() as f64).abs() < 1e-6,
        "{avg}"
    );
    assert_eq!(row[2], json!(incomes.iter().min().unwrap()));
    assert_eq!(row[3], json!(incomes.iter().max().unwrap()));
    assert_eq!(row[4], json!(data.count(|r| r.get("os") == "ios")));

    // No rows: no sum, average, minimum or maximum.
    let v = one(
        store,
        "SELECT SUM(ltv), AVG(ltv), MIN(ltv), MAX(ltv), COUNT(*) FROM users WHERE city = 'nowhere'",
    );
    assert_eq!(v["rows"], json!([[null, null, null, null, 0]]));
}

/// Groups by count descending (ties by value), as `ORDER BY COUNT(*) DESC`.
fn naive_groups(
    data: &Data,
    field: &str,
    set: bool,
    keep: impl Fn(&Row<'_>) -> bool,
) -> Vec<(String, u64)> {
    let mut groups: BTreeMap<String, u64> = BTreeMap::new();
    for r in data.rows().filter(|r| keep(r)) {
        let v = r.get(field);
        let values: Vec<&str> = if set {
            v.split('|').filter(|s| !s.is_empty()).collect()
        } else if v.is_empty() {
            vec![]
        } else {
            vec![v]
        };
        for v in values {
            *groups.entry(v.to_string()).or_default() += 1;
        }
    }
    let mut groups: Vec<(String, u64)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    groups
}

fn group_rows(v: &Value) -> Vec<(String, u64)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect()
}

fn group_by(store: &Path, data: &Data) {
    let want = naive_groups(data, "city", false, |r| r.is("is_owner"));
    let v = one(
        store,
        "SELECT city, COUNT(*) FROM users WHERE is_owner GROUP BY city ORDER BY COUNT(*) DESC LIMIT 5",
    );
    assert_eq!(v["columns"], json!(["city", "count"]));
    assert_eq!(group_rows(&v), want[..5]);

    let mut want = naive_groups(data, "interests", true, |r| {
        r.int("age").is_some_and(|a| a < 30)
    });
    want.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let v = one(
        store,
        "SELECT interests, COUNT(*) FROM users WHERE age < 30 GROUP BY interests ORDER BY COUNT(*) ASC LIMIT 4 OFFSET 2",
    );
    assert_eq!(group_rows(&v), want[2..6]);

    // Without ORDER BY, the same groups in some order.
    let mut want = naive_groups(data, "os", false, |_| true);
    let mut got = group_rows(&one(store, "SELECT os, COUNT(*) FROM users GROUP BY os"));
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let got = group_rows(&one(
        store,
        "SELECT is_tenant, COUNT(*) FROM users GROUP BY is_tenant",
    ));
    let tenants = data.count(|r| r.is("is_tenant"));
    let mut want = vec![
        ("false".to_string(), 5000 - tenants),
        ("true".to_string(), tenants),
    ];
    want.retain(|g| g.1 > 0);
    assert_eq!(got, want);
}

/// `(label, estimated rows)` of each row of an EXPLAIN.
fn plan_rows(v: &Value) -> Vec<(String, u64)> {
    assert_eq!(v["columns"], json!(["plan", "estimated_rows"]));
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect()
}

fn explain(store: &Path, data: &Data) {
    let c000 = data.count(|r| r.get("city") == "c000");
    let ios = data.count(|r| r.get("os") == "ios");
    let v = one(
        store,
        "EXPLAIN SELECT COUNT(*) FROM users WHERE city = 'c000' AND os = 'ios'",
    );
    assert_eq!(
        plan_rows(&v),
        [
            ("AND".to_string(), c000.min(ios)),
            ("  city = 'c000'".to_string(), c000),
            ("  os = 'ios'".to_string(), ios),
        ]
    );

    // Any projection explains its filter; bounds hold against the scan.
    let v = one(
        store,
        "EXPLAIN SELECT user_id FROM users WHERE count(search, last 7 days) > 3 \
         OR NOT is_owner LIMIT 3 AS OF '2026-11-22'",
    );
    let rows = plan_rows(&v);
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "OR",
            "  count(search, 2026-11-16..2026-11-22) > 3",
            "  NOT",
            "    is_owner = true"
        ]
    );
    let searchers = data.count(|r| r.events("search", "2026-11-16", "2026-11-22") > 3);
    let owners = data.count(|r| r.is("is_owner"));
    assert!(rows[1].1 >= searchers, "{rows:?} {searchers}");
    assert_eq!(rows[3].1, owners);
    assert_eq!(rows[2].1, 5000 - owners);
    let all =
        data.count(|r| r.events("search", "2026-11-16", "2026-11-22") > 3 || !r.is("is_owner"));
    assert!(rows[0].1 >= all && rows[0].1 <= 5000, "{rows:?} {all}");

    // Without WHERE, or with a value no row has.
    let v = one(store, "EXPLAIN SELECT COUNT(*) FROM users");
    assert_eq!(plan_rows(&v), [("ALL".to_string(), 5000)]);
    let v = one(
        store,
        "EXPLAIN SELECT COUNT(*) FROM users WHERE city = 'nowhere' AND is_owner",
    );
    assert_eq!(plan_rows(&v), [("NOTHING".to_string(), 0)]);
}

fn schema_statements(store: &Path, data: &Data, dir: &Path) {
    // SHOW FIELDS: the schema of schema.sql, with the values the data has.
    let v = one(store, "SHOW FIELDS FROM users");
    assert_eq!(
        v["columns"],
        json!(["field", "kind", "sensitive", "values"])
    );
    let fields = v["rows"].as_array().unwrap();
    assert_eq!(fields.len(), 29);
    let distinct = |field: &str, set: bool| naive_groups(data, field, set, |_| true).len();
    assert_eq!(
        fields[0],
        json!(["gender", "ENUM", false, distinct("gender", false)])
    );
    assert_eq!(fields[1], json!(["age", "INT", false, null]));
    assert_eq!(
        fields[2],
        json!(["city", "ENUM", false, distinct("city", false)])
    );
    assert_eq!(fields[12], json!(["is_owner", "BOOL", false, null]));
    assert_eq!(
        fields[24],
        json!(["interests", "SET", false, distinct("interests", true)])
    );
    assert_eq!(fields[28], json!(["book", "EVENT", false, null]));

    // CREATE TABLE, SHOW TABLES.
    let v = one(
        store,
        "CREATE TABLE houses (rooms INT, address TEXT SENSITIVE)",
    );
    assert_eq!(v, json!({"columns": ["created"], "rows": [["houses"]]}));
    let v = one(store, "SHOW TABLES");
    assert_eq!(v["columns"], json!(["table", "rows", "fields", "bytes"]));
    let tables = v["rows"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0], json!(["houses", 0, 2, 0]));
    assert_eq!(
        tables[1].as_array().unwrap()[..3],
        [json!("users"), json!(5000), json!(29)]
    );
    assert!(tables[1][3].as_u64().unwrap() > 0);

    // ALTER TABLE ADD: null for every row until an import writes it.
    let v = one(store, "ALTER TABLE users ADD score INT");
    assert_eq!(
        v,
        json!({"columns": ["table", "added", "kind"], "rows": [["users", "score", "INT"]]})
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE score IS NOT NULL"),
        0
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE NOT score > 3"),
        5000
    );
    let scores = dir.join("scores.csv");
    let mut csv = String::from("user_id,score\n");
    for r in data.rows().take(100) {
        csv.push_str(&format!(
            "{},{}\n",
            r.id(),
            r.id()[1..].parse::<u64>().unwrap() % 10
        ));
    }
    std::fs::write(&scores, csv).unwrap();
    let (ok, _, err) = segdb(&["import", "--data", p(store), "--table", "users", p(&scores)]);
    assert!(ok, "{err}");
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE score >= 5"),
        50
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE city = 'c000'"),
        data.count(|r| r.get("city") == "c000")
    );
    let v = one(store, "SHOW FIELDS FROM users");
    assert_eq!(v["rows"][29], json!(["score", "INT", false, null]));

    // Several statements: each sees what the ones before it made.
    let answers = query(
        store,
        "SELECT COUNT(*) FROM users WHERE is_owner; CREATE TABLE t2 (a INT);\n\
         ALTER TABLE t2 ADD b ENUM; SHOW FIELDS FROM t2; DROP TABLE t2; SHOW TABLES;",
    );
    assert_eq!(answers.len(), 6);
    assert_eq!(
        answers[0]["rows"],
        json!([[data.count(|r| r.is("is_owner"))]])
    );
    assert_eq!(answers[1]["rows"], json!([["t2"]]));
    assert_eq!(answers[2]["rows"], json!([["t2", "b", "ENUM"]]));
    assert_eq!(
        answers[3]["rows"],
        json!([["a", "INT", false, null], ["b", "ENUM", false, 0]])
    );
    assert_eq!(
        answers[4],
        json!({"columns": ["dropped"], "rows": [["t2"]]})
    );
    let names: Vec<&Value> = answers[5]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r[0])
        .collect();
    assert_eq!(names, [&json!("houses"), &json!("users")]);

    // DROP TABLE: gone, and a statement about it is an error.
    let v = one(store, "DROP TABLE houses");
    assert_eq!(v, json!({"columns": ["dropped"], "rows": [["houses"]]}));
    let (ok, _, err) = segdb(&["query", "--data", p(store), "SELECT COUNT(*) FROM houses"]);
    assert!(!ok);
    assert!(err.contains("unknown table `houses`"), "{err}");
    let (ok, out, err) = segdb(&["query", "--data", p(store), "SHOW FIELDS FROM user"]);
    assert!(!ok && out.is_empty());
    assert!(err.contains("did you mean `users`?"), "{err}");
    let v = one(store, "SHOW TABLES");
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert!(!store.join("houses").exists());
}

/// Runs `text`, which must fail; its error output.
fn error_of(store: &Path, text: &str) -> String {
    let (ok, out, err) = segdb(&["query", "--data", p(store), text]);
    assert!(!ok && out.is_empty(), "{text}\n{out}");
    err
}

/// Segments and CALL. Every `segdb query` opens the store anew, so each
/// statement here also checks that what the ones before it made survived a
/// reopen.
fn segments_and_calls(store: &Path, data: &Data, dir: &Path) {
    let in_bj =
        |r: &Row<'_>| r.get("city") == "c000" && r.int("last_login_days").is_some_and(|d| d < 7);
    let bj = data.count(in_bj);
    let owners_bj: Vec<String> = data
        .rows()
        .filter(|r| in_bj(r) && r.is("is_owner"))
        .map(|r| r.id().to_string())
        .collect();
    assert!(bj > 20 && owners_bj.len() > 7, "{bj} {}", owners_bj.len());

    // CREATE SEGMENT answers the rows it holds now.
    let v = one(
        store,
        "CREATE SEGMENT bj AS SELECT FROM users WHERE city = 'c000' AND last_login_days < 7",
    );
    assert_eq!(
        v,
        json!({"columns": ["segment", "table", "kind", "rows"], "rows": [["bj", "users", "dynamic", bj]]})
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT bj"),
        bj
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE NOT IN SEGMENT bj"),
        5000 - bj
    );
    let v = one(
        store,
        "CREATE SEGMENT owners_bj SNAPSHOT AS SELECT FROM users WHERE IN SEGMENT bj AND is_owner",
    );
    assert_eq!(
        v["rows"],
        json!([["owners_bj", "users", "snapshot", owners_bj.len()]])
    );
    let mix =
        "CREATE SEGMENT mix AS SELECT FROM users WHERE IN SEGMENT bj AND NOT IN SEGMENT owners_bj";
    assert_eq!(
        one(store, mix)["rows"][0][3],
        json!(bj - owners_bj.len() as u64)
    );
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT mix OR IN SEGMENT owners_bj"
        ),
        bj
    );
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM users WHERE is_owner AND IN SEGMENT mix"
        ),
        0
    );
    // A snapshot's ids, in row order, by SELECT and by CALL.
    let v = one(
        store,
        "SELECT user_id FROM users WHERE IN SEGMENT owners_bj",
    );
    let ids: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(ids, owners_bj);
    let v = one(
        store,
        "CALL segment_ids('owners_bj', limit => 5, offset => 2)",
    );
    assert_eq!(v["columns"], json!(["user_id"]));
    assert_eq!(
        v["rows"],
        json!(owners_bj[2..7].iter().map(|id| [id]).collect::<Vec<_>>())
    );
    let v = one(store, "CALL segment_ids(segment => 'bj')");
    assert_eq!(v["rows"].as_array().unwrap().len() as u64, bj.min(100));
    let v = one(store, "CALL segment_info('mix')");
    assert_eq!(
        v,
        json!({
            "columns": ["segment", "table", "kind", "definition", "uses", "used_by", "rows", "bytes"],
            "rows": [["mix", "users", "dynamic", "IN SEGMENT bj AND NOT IN SEGMENT owners_bj",
                      "bj, owners_bj", "", bj - owners_bj.len() as u64, null]]
        })
    );
    let v = one(store, "CALL segment_info('bj')");
    assert_eq!(v["rows"][0][5], json!("mix"));
    let v = one(store, "CALL procedures()");
    let names: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "segment_ids",
            "segment_info",
            "profile",
            "insight",
            "procedures"
        ]
    );
    let v = one(store, "SHOW SEGMENTS");
    assert_eq!(
        v,
        json!({
            "columns": ["segment", "table", "kind", "definition", "uses", "rows"],
            "rows": [
                ["bj", "users", "dynamic", "city = 'c000' AND last_login_days < 7", "", null],
                ["mix", "users", "dynamic", "IN SEGMENT bj AND NOT IN SEGMENT owners_bj", "bj, owners_bj", null],
                ["owners_bj", "users", "snapshot", "IN SEGMENT bj AND is_owner", "", owners_bj.len()],
            ]
        })
    );
    let v = one(
        store,
        "EXPLAIN SELECT COUNT(*) FROM users WHERE IN SEGMENT owners_bj",
    );
    assert_eq!(
        plan_rows(&v),
        [(
            "IN SEGMENT owners_bj (snapshot)".to_string(),
            owners_bj.len() as u64
        )]
    );

    // Mistakes: a cycle, an unknown segment or procedure, a segment of
    // another table, dropping what others use.
    let err = error_of(
        store,
        "CREATE OR REPLACE SEGMENT bj AS SELECT FROM users\n  WHERE IN SEGMENT mix AND is_owner",
    );
    assert!(
        err.contains("error: a segment cannot use itself: bj -> mix -> bj")
            && err.contains("line 2, column 20")
            && err.contains("^^^"),
        "{err}"
    );
    let err = error_of(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT mx");
    assert!(
        err.contains("unknown segment `mx`") && err.contains("did you mean `mix`?"),
        "{err}"
    );
    let err = error_of(store, "CALL segment_idz('bj')");
    assert!(err.contains("did you mean `segment_ids`?"), "{err}");
    let err = error_of(store, "CALL segment_ids('bj', limit => 'all')");
    assert!(
        err.contains("argument `limit` of segment_ids takes an integer"),
        "{err}"
    );
    let err = error_of(store, "DROP SEGMENT bj");
    assert!(
        err.contains("segment `bj` is used by segment `mix`"),
        "{err}"
    );
    let err = error_of(store, "DROP TABLE users");
    assert!(
        err.contains("table `users` has segments `bj`, `mix`, `owners_bj`"),
        "{err}"
    );
    let answers = query(
        store,
        "CREATE TABLE flats (rooms INT); CREATE SEGMENT roomy AS SELECT FROM flats WHERE rooms > 2",
    );
    assert_eq!(
        answers[1]["rows"],
        json!([["roomy", "flats", "dynamic", 0]])
    );
    let err = error_of(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT roomy");
    assert!(
        err.contains("segment `roomy` holds rows of table `flats`, not of `users`"),
        "{err}"
    );
    let err = error_of(
        store,
        "CREATE SEGMENT bj AS SELECT FROM users WHERE is_owner",
    );
    assert!(
        err.contains("segment `bj` already exists") && err.contains("OR REPLACE"),
        "{err}"
    );

    // New rows: the dynamic segments see them, the snapshot keeps its rows.
    let new_rows = dir.join("new_rows.csv");
    let mut csv = String::from("user_id,city,last_login_days,is_owner\n");
    for i in 0..10 {
        csv.push_str(&format!("n{i},c000,{},{}\n", i % 3, i % 2));
    }
    std::fs::write(&new_rows, csv).unwrap();
    let (ok, _, err) = segdb(&[
        "import",
        "--data",
        p(store),
        "--table",
        "users",
        p(&new_rows),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT bj"),
        bj + 10
    );
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM users WHERE IN SEGMENT owners_bj"
        ),
        owners_bj.len() as u64
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT mix"),
        bj - owners_bj.len() as u64 + 10
    );
    // Replacing the snapshot evaluates it again; replacing a dynamic
    // segment changes what its users see.
    let v = one(
        store,
        "CREATE OR REPLACE SEGMENT owners_bj SNAPSHOT AS SELECT FROM users WHERE IN SEGMENT bj AND is_owner",
    );
    assert_eq!(v["rows"][0][3], json!(owners_bj.len() + 5));
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT mix"),
        bj + 5 - owners_bj.len() as u64
    );
    one(
        store,
        "CREATE OR REPLACE SEGMENT bj AS SELECT FROM users WHERE user_id IN ('n1', 'n2')",
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT mix"),
        1
    );

    // Dropping, users first.
    let answers = query(store, "DROP SEGMENT mix; DROP SEGMENT bj; SHOW SEGMENTS");
    assert_eq!(
        answers[0],
        json!({"columns": ["dropped"], "rows": [["mix"]]})
    );
    let left: Vec<&Value> = answers[2]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r[0])
        .collect();
    assert_eq!(left, [&json!("owners_bj"), &json!("roomy")]);
    let files = std::fs::read_dir(store.join("segments")).unwrap().count();
    assert_eq!(files, 1, "one snapshot file, the replaced one deleted");
    let err = error_of(store, "SELECT COUNT(*) FROM users WHERE IN SEGMENT bj");
    assert!(err.contains("unknown segment `bj`"), "{err}");
}

/// The values a cell of `field` holds, as insight names them: an ENUM's
/// value, a SET's labels, a BOOL's `true`/`false`.
fn cell_values(r: &Row<'_>, field: &str, kind: &str) -> Vec<String> {
    let cell = r.get(field);
    match kind {
        "BOOL" if cell.is_empty() => vec![],
        "BOOL" => vec![(cell == "1").to_string()],
        "SET" => cell
            .split('|')
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect(),
        _ if cell.is_empty() => vec![],
        _ => vec![cell.to_string()],
    }
}

/// Rows per value of `field` among the rows kept by `keep`.
fn tally(data: &Data, field: &str, kind: &str, keep: &Naive) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in data.rows().filter(|r| keep(r)) {
        for v in cell_values(&r, field, kind) {
            *m.entry(v).or_default() += 1;
        }
    }
    m
}

/// Rows active per ISO day of `event` over `first..=last` among the rows
/// kept by `keep`.
fn active_days(
    data: &Data,
    event: &str,
    first: &str,
    last: &str,
    keep: &Naive,
) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in data.rows().filter(|r| keep(r)) {
        for (day, c) in r.event_days(event) {
            if *c > 0 && day.as_str() >= first && day.as_str() <= last {
                *m.entry(day.clone()).or_default() += 1;
            }
        }
    }
    m
}

/// The first bucket and count of a histogram of `min..=max` with `width`
/// (min rounded down to a multiple of the width).
fn layout(min: i64, max: i64, width: i64) -> (i64, usize) {
    let first = min.div_euclid(width) * width;
    (first, ((max - first) / width + 1) as usize)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn close(got: &Value, want: Option<f64>, what: &str) {
    match want {
        None => assert_eq!(got, &Value::Null, "{what}"),
        Some(w) => {
            let g = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{what}: {g} != {w}"
            );
        }
    }
}

/// One expected INSIGHT row: field, value, count, table count (`None`
/// for EVENT days).
type InsightRow = (String, String, u64, Option<u64>);

fn check_insight_rows(v: &Value, want: &[InsightRow], seg: u64, all: u64, text: &str) {
    assert_eq!(
        v["columns"],
        json!([
            "field",
            "value",
            "count",
            "share",
            "table_count",
            "table_share",
            "tgi"
        ]),
        "{text}"
    );
    let rows = v["rows"].as_array().unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let names: Vec<(String, String)> = want.iter().map(|w| (w.0.clone(), w.1.clone())).collect();
    assert_eq!(got, names, "{text}");
    for (row, (field, value, count, table_count)) in rows.iter().zip(want) {
        let what = format!("{text}: {field} {value}");
        assert_eq!(row[2], json!(count), "{what}");
        close(&row[3], Some(ratio(*count, seg)), &what);
        match table_count {
            Some(tc) => {
                assert_eq!(row[4], json!(tc), "{what}");
                close(&row[5], Some(ratio(*tc, all)), &what);
                let tgi = (*tc > 0).then(|| ratio(*count, seg) / ratio(*tc, all) * 100.0);
                close(&row[6], tgi, &what);
            }
            None => assert_eq!(
                &row.as_array().unwrap()[4..],
                &[Value::Null, Value::Null, Value::Null],
                "{what}"
            ),
        }
    }
}

fn insight_statements(store: &Path, data: &Data) {
    let ios: Box<Naive> = Box::new(|r| r.get("os") == "ios");
    let everyone: Box<Naive> = Box::new(|_| true);
    let seg = data.count(|r| ios(r));
    let all = data.count(|_| true);
    assert!(seg > 100, "{seg}");

    let text = "INSIGHT gender, interests, is_owner, age, view FROM users WHERE os = 'ios' \
                WIDTH 5 AS OF '2026-11-22'";
    let mut want: Vec<InsightRow> = Vec::new();
    for (field, kind) in [
        ("gender", "ENUM"),
        ("interests", "SET"),
        ("is_owner", "BOOL"),
    ] {
        let (in_seg, in_table) = (
            tally(data, field, kind, &*ios),
            tally(data, field, kind, &*everyone),
        );
        let mut values: Vec<(String, u64)> = in_seg.into_iter().collect();
        values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        assert!(values.len() >= 2, "{field}");
        for (v, c) in values {
            want.push((field.into(), v.clone(), c, Some(in_table[&v])));
        }
    }
    let ages = |keep: &Naive| -> Vec<i64> {
        data.rows()
            .filter(|r| keep(r))
            .filter_map(|r| r.int("age"))
            .collect()
    };
    let (seg_ages, all_ages) = (ages(&*ios), ages(&*everyone));
    let (min, max) = (
        *seg_ages.iter().min().unwrap(),
        *seg_ages.iter().max().unwrap(),
    );
    let (first, n) = layout(min, max, 5);
    assert!(n > 3, "{n}");
    for i in 0..n as i64 {
        let (lo, hi) = (first + 5 * i, first + 5 * i + 5);
        let within = |v: &Vec<i64>| v.iter().filter(|&&a| a >= lo && a < hi).count() as u64;
        want.push((
            "age".into(),
            format!("[{lo},{hi})"),
            within(&seg_ages),
            Some(within(&all_ages)),
        ));
    }
    let days = active_days(data, "view", "2026-10-24", "2026-11-22", &*ios);
    assert!(days.len() > 20, "{}", days.len());
    for (day, c) in days {
        want.push(("view".into(), day, c, None));
    }
    check_insight_rows(&one(store, text), &want, seg, all, text);

    // TOP keeps the k values with most rows and sums the rest as `other`.
    let text = "INSIGHT city FROM users WHERE os = 'ios' TOP 5";
    let (in_seg, in_table) = (
        tally(data, "city", "ENUM", &*ios),
        tally(data, "city", "ENUM", &*everyone),
    );
    let mut values: Vec<(String, u64)> = in_seg.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert!(values.len() > 5);
    let rest = values.split_off(5);
    let mut want: Vec<InsightRow> = values
        .iter()
        .map(|(v, c)| ("city".to_string(), v.clone(), *c, Some(in_table[v])))
        .collect();
    want.push((
        "city".into(),
        "other".into(),
        rest.iter().map(|r| r.1).sum(),
        Some(rest.iter().map(|r| in_table[&r.0]).sum()),
    ));
    check_insight_rows(&one(store, text), &want, seg, all, text);
    // The same through CALL insight.
    let call = "CALL insight('users', where => 'os = ''ios''', fields => 'city', top => 5)";
    check_insight_rows(&one(store, call), &want, seg, all, call);

    // No field list: every ENUM, SET, BOOL and INT field, in schema order;
    // no EVENT field.
    let v = one(store, "INSIGHT FROM users WHERE is_owner");
    let mut fields: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    fields.dedup();
    let header: Vec<&str> = data.header.iter().map(String::as_str).collect();
    let expected: Vec<&str> = header
        .iter()
        .copied()
        .filter(|h| *h != "user_id" && fields.contains(h))
        .collect();
    assert_eq!(fields, expected);
    for f in ["gender", "age", "interests", "is_owner", "flag_9", "income"] {
        assert!(fields.contains(&f), "{f}: {fields:?}");
    }
    assert!(!fields
        .iter()
        .any(|f| ["search", "view", "favorite", "book"].contains(f)));

    // An empty segment: no values, no buckets, no days.
    let v = one(
        store,
        "INSIGHT gender, age, view FROM users WHERE city = 'nowhere'",
    );
    assert_eq!(v["rows"], json!([]));
    // TEXT fields are refused before anything runs.
    let (ok, _, err) = segdb(&["query", "--data", p(store), "INSIGHT user_id FROM users"]);
    assert!(!ok && err.contains("external id"), "{err}");
}

fn compare_statements(store: &Path, data: &Data) {
    let a: Box<Naive> = Box::new(|r| r.is("is_owner"));
    let b: Box<Naive> = Box::new(|r| !r.is("is_owner"));
    let (rows_a, rows_b) = (data.count(|r| a(r)), data.count(|r| b(r)));
    assert!(rows_a > 50 && rows_b > 50, "{rows_a} {rows_b}");
    let text =
        "COMPARE gender, interests, age, view FROM users WHERE is_owner VERSUS NOT is_owner \
                TOP 3 WIDTH 10 AS OF '2026-11-22'";
    // (field, value, count_a, count_b)
    let mut want: Vec<(String, String, u64, u64)> = Vec::new();
    for (field, kind) in [("gender", "ENUM"), ("interests", "SET")] {
        let (ta, tb) = (tally(data, field, kind, &*a), tally(data, field, kind, &*b));
        let mut joined: Vec<(String, u64, u64)> = ta
            .keys()
            .chain(tb.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|v| {
                (
                    v.clone(),
                    ta.get(v).copied().unwrap_or(0),
                    tb.get(v).copied().unwrap_or(0),
                )
            })
            .collect();
        joined.sort_by(|x, y| {
            y.1.cmp(&x.1)
                .then_with(|| y.2.cmp(&x.2))
                .then_with(|| x.0.cmp(&y.0))
        });
        if joined.len() > 3 {
            let rest = joined.split_off(3);
            joined.push((
                "other".into(),
                rest.iter().map(|r| r.1).sum(),
                rest.iter().map(|r| r.2).sum(),
            ));
        }
        want.extend(
            joined
                .into_iter()
                .map(|(v, x, y)| (field.to_string(), v, x, y)),
        );
    }
    let ages = |keep: &Naive| -> Vec<i64> {
        data.rows()
            .filter(|r| keep(r))
            .filter_map(|r| r.int("age"))
            .collect()
    };
    let (ages_a, ages_b) = (ages(&*a), ages(&*b));
    let both = || ages_a.iter().chain(&ages_b);
    let (first, n) = layout(*both().min().unwrap(), *both().max().unwrap(), 10);
    for i in 0..n as i64 {
        let (lo, hi) = (first + 10 * i, first + 10 * i + 10);
        let within = |v: &Vec<i64>| v.iter().filter(|&&x| x >= lo && x < hi).count() as u64;
        want.push((
            "age".into(),
            format!("[{lo},{hi})"),
            within(&ages_a),
            within(&ages_b),
        ));
    }
    let (da, db) = (
        active_days(data, "view", "2026-10-24", "2026-11-22", &*a),
        active_days(data, "view", "2026-10-24", "2026-11-22", &*b),
    );
    let days: std::collections::BTreeSet<&String> = da.keys().chain(db.keys()).collect();
    for d in days {
        want.push((
            "view".into(),
            d.clone(),
            da.get(d).copied().unwrap_or(0),
            db.get(d).copied().unwrap_or(0),
        ));
    }
    assert!(want.iter().any(|w| w.1 == "other"));

    let v = one(store, text);
    assert_eq!(
        v["columns"],
        json!([
            "field",
            "value",
            "count_a",
            "share_a",
            "count_b",
            "share_b",
            "difference",
            "tgi"
        ])
    );
    let rows = v["rows"].as_array().unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let names: Vec<(String, String)> = want.iter().map(|w| (w.0.clone(), w.1.clone())).collect();
    assert_eq!(got, names, "{text}");
    for (row, (field, value, ca, cb)) in rows.iter().zip(&want) {
        let what = format!("{text}: {field} {value}");
        let (sa, sb) = (ratio(*ca, rows_a), ratio(*cb, rows_b));
        assert_eq!(row[2], json!(ca), "{what}");
        close(&row[3], Some(sa), &what);
        assert_eq!(row[4], json!(cb), "{what}");
        close(&row[5], Some(sb), &what);
        close(&row[6], Some(sa - sb), &what);
        close(&row[7], (sb > 0.0).then(|| sa / sb * 100.0), &what);
    }
}

fn quantiles(store: &Path, data: &Data) {
    let text = "SELECT QUANTILE(income, 0.9), QUANTILE(income, 0), QUANTILE(income, 1), \
                QUANTILE(age, 0.5), QUANTILE(ltv, 0.25), AVG(income) FROM users WHERE os = 'ios'";
    let v = one(store, text);
    assert_eq!(
        v["columns"],
        json!([
            "quantile(income, 0.9)",
            "quantile(income, 0)",
            "quantile(income, 1)",
            "quantile(age, 0.5)",
            "quantile(ltv, 0.25)",
            "avg(income)"
        ])
    );
    let sorted = |field: &str| -> Vec<i64> {
        let mut v: Vec<i64> = data
            .rows()
            .filter(|r| r.get("os") == "ios")
            .filter_map(|r| r.int(field))
            .collect();
        v.sort_unstable();
        v
    };
    // Nearest rank: the smallest value with at least ceil(q * n) values at
    // or below it.
    let nearest =
        |v: &[i64], q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let (income, age, ltv) = (sorted("income"), sorted("age"), sorted("ltv"));
    let row = &v["rows"][0];
    assert_eq!(row[0], json!(nearest(&income, 0.9)));
    assert_eq!(row[1], json!(income[0]));
    assert_eq!(row[2], json!(income[income.len() - 1]));
    assert_eq!(row[3], json!(nearest(&age, 0.5)));
    assert_eq!(row[4], json!(nearest(&ltv, 0.25)));
    assert_ne!(row[0], row[1]);
    // No rows: no quantile.
    let v = one(
        store,
        "SELECT QUANTILE(income, 0.5), COUNT(*) FROM users WHERE city = 'nowhere'",
    );
    assert_eq!(v["rows"], json!([[null, 0]]));
}

/// COMPARE lays INT buckets out once for both segments, also where one
/// segment's own buckets would fall off that grid (values near i64::MIN,
/// where the first bucket starts at the minimum itself).
#[test]
fn compare_buckets_near_the_smallest_int() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let schema = dir.path().join("schema.sql");
    std::fs::write(&schema, "CREATE TABLE edge (v INT, g ENUM)").unwrap();
    let min = i64::MIN;
    // (id, v, g): A = g 'a' (from i64::MIN), B = g 'b' (from i64::MIN + 100).
    let rows: Vec<(String, i64, &str)> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                (format!("u{i}"), min + i * 3, "a")
            } else {
                (format!("u{i}"), min + 100 + i * 7, "b")
            }
        })
        .collect();
    let mut csv = String::from("user_id,v,g\n");
    for (id, v, g) in &rows {
        csv.push_str(&format!("{id},{v},{g}\n"));
    }
    let data = dir.path().join("edge.csv");
    std::fs::write(&data, csv).unwrap();
    let (ok, _, err) = segdb(&[
        "import",
        "--data",
        p(&store),
        "--table",
        "edge",
        "--schema",
        p(&schema),
        p(&data),
    ]);
    assert!(ok, "{err}");
    let v = one(
        &store,
        "COMPARE v FROM edge WHERE g = 'a' VERSUS g = 'b' WIDTH 10",
    );
    // The layout: from i64::MIN (rounding down would pass it) by 10s.
    let max = rows.iter().map(|r| r.1).max().unwrap();
    let n = ((i128::from(max) - i128::from(min)) / 10 + 1) as usize;
    let got = v["rows"].as_array().unwrap();
    assert_eq!(got.len(), n);
    for (i, row) in got.iter().enumerate() {
        let lo = i128::from(min) + 10 * i as i128;
        let within = |g: &str| {
            rows.iter()
                .filter(|r| r.2 == g && (lo..lo + 10).contains(&i128::from(r.1)))
                .count() as u64
        };
        assert_eq!(row[1], json!(format!("[{lo},{})", lo + 10)), "{row}");
        assert_eq!(row[2], json!(within("a")), "{row}");
        assert_eq!(row[4], json!(within("b")), "{row}");
    }
    let total = |col: usize| got.iter().map(|r| r[col].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total(2), total(4)), (20, 20));
}
