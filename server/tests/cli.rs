//! The `segdb` binary end to end: generate a small data set, import it, and
//! check `segdb query` answers against a scan of the generated CSV.

mod common;

use common::{generated_store, p, segdb};

#[test]
fn gen_import_query() {
    let (dir, store, csv, out) = generated_store(5000, 7);
    assert!(out.contains("5000 new rows"), "{out}");

    // The naive answer: scan users.csv.
    let text = std::fs::read_to_string(csv.join("users.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (city, os, age) = (col("city"), col("os"), col("age"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let want: Vec<&str> = rows
        .iter()
        .filter(|r| r[city] == "c000" && r[os] == "ios" && r[age].parse::<i64>().unwrap() >= 30)
        .map(|r| r[0])
        .collect();

    let q = "SELECT COUNT(*) FROM users WHERE city = 'c000' AND os = 'ios' AND age >= 30";
    let (ok, out, err) = segdb(&["query", "--data", p(&store), "--format", "json", q]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        format!("{{\"columns\":[\"count\"],\"rows\":[[{}]]}}", want.len())
    );

    let q = "SELECT user_id FROM users WHERE city = 'c000' AND os = 'ios' AND age >= 30 LIMIT 5 OFFSET 1";
    let (ok, out, err) = segdb(&["query", "--data", p(&store), "--format", "csv", q]);
    assert!(ok, "{err}");
    let got: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        got,
        want.iter().skip(1).take(5).copied().collect::<Vec<_>>()
    );

    // A mistake: a clear error with the caret and a suggestion, exit 1.
    let (ok, _, err) = segdb(&[
        "query",
        "--data",
        p(&store),
        "SELECT COUNT(*) FROM users WHERE cty = 'c000'",
    ]);
    assert!(!ok);
    assert!(
        err.contains("line 1, column 34") && err.contains("did you mean `city`?"),
        "{err}"
    );
    assert!(!err.contains("error: error"), "{err}");

    // A bad import line: the line number, nothing imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "user_id,age\nz1,1\nz2,x\n").unwrap();
    let (ok, _, err) = segdb(&["import", "--data", p(&store), "--table", "users", p(&bad)]);
    assert!(!ok);
    assert!(err.contains("line 3, column `age`"), "{err}");
    let (_, out, _) = segdb(&[
        "query",
        "--data",
        p(&store),
        "--format",
        "csv",
        "SELECT COUNT(*) FROM users",
    ]);
    assert_eq!(out, "count\n5000\n");
}

#[test]
fn demo_builds_once_then_answers() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (ok, out, err) = segdb(&["demo", "--dir", p(&demo), "--rows", "3000"]);
    assert!(ok, "{err}");
    assert!(out.contains("building the demo store"), "{out}");
    assert!(out.contains("segdb> SELECT city, COUNT(*)"), "{out}");
    assert!(out.contains("(5 rows)"), "{out}");
    assert!(out.contains("segdb> INSIGHT gender, age"), "{out}");
    assert!(out.contains("quantile(income, 0.9)"), "{out}");
    // The second run reuses the store: same rows, events not imported twice.
    // The events end on the day the store is built: no AS OF needed.
    let q = "SELECT COUNT(*) FROM users WHERE did(search, last 30 days)";
    let (ok, first, _) = segdb(&["demo", "--dir", p(&demo), "--rows", "3000", q]);
    assert!(ok);
    assert!(!first.contains("building"), "{first}");
    let (_, second, _) = segdb(&["demo", "--dir", p(&demo), "--rows", "3000", q]);
    let count = |s: &str| s.lines().find_map(|l| l.trim().parse::<u64>().ok());
    let n = count(&first).expect("a count");
    assert!(n > 0 && n < 3000, "{first}");
    assert_eq!(Some(n), count(&second));
    let (_, total, _) = segdb(&["demo", "--dir", p(&demo), "SELECT COUNT(*) FROM users"]);
    assert_eq!(count(&total), Some(3000), "{total}");

    // The demo has a SENSITIVE phone; `segdb query` is the store's owner and
    // sees it.
    let store = demo.join("store");
    let (ok, out, err) = segdb(&[
        "query",
        "--data",
        p(&store),
        "CALL profile('users', 'u000000042')",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("phone ") && l.contains("+1-555-")),
        "{out}"
    );

    // Its fields carry catalog categories; `income` is SENSITIVE.
    let (ok, out, err) = segdb(&[
        "query",
        "--data",
        p(&store),
        "--format",
        "json",
        "SHOW FIELDS FROM users",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = |name: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == name)
            .map(|r| serde_json::json!(r.as_array().unwrap()[..6]))
            .unwrap()
    };
    assert_eq!(
        row("income"),
        serde_json::json!(["income", "INT", true, "finance", null, null])
    );
    assert_eq!(
        row("phone"),
        serde_json::json!(["phone", "TEXT", true, "contact", null, null])
    );
    assert_eq!(row("city")[3], "geo");
    assert_eq!(
        (row("city")[5].clone(), row("gender")[5].clone()),
        (serde_json::json!(false), serde_json::json!(true))
    );

    // A window without any day of events: the answer, and a warning.
    let (ok, out, err) = segdb(&[
        "query",
        "--data",
        p(&store),
        "SELECT COUNT(*) FROM users WHERE did(search, '2020-01-01'..'2020-01-07')",
    ]);
    assert!(ok, "{err}");
    assert_eq!(count(&out), Some(0), "{out}");
    assert!(
        err.starts_with(
            "warning: the window 2020-01-01..2020-01-07 holds no day with `search` events"
        ),
        "{err}"
    );

    // A store from an earlier day is rebuilt, its events ending today.
    let ready = demo.join("READY");
    let text = std::fs::read_to_string(&ready).unwrap();
    let today = text.lines().nth(1).unwrap().to_owned();
    std::fs::write(&ready, "3000\n2026-01-01\n").unwrap();
    let (ok, out, err) = segdb(&["demo", "--dir", p(&demo), "--rows", "3000", q]);
    assert!(ok, "{err}");
    assert!(
        out.contains("has events up to 2026-01-01, not today") && out.contains("building"),
        "{out}"
    );
    assert_eq!(count(&out), Some(n), "{out}");
    assert_eq!(
        std::fs::read_to_string(&ready).unwrap(),
        format!("3000\n{today}\n")
    );
}
