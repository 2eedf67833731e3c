//! Segments and CALL.

use super::*;

/// Runs `text`, which must fail; its error output.
pub(crate) fn error_of(store: &Path, text: &str) -> String {
    let (ok, out, err) = segdb(&["query", "--data", p(store), text]);
    assert!(!ok && out.is_empty(), "{text}\n{out}");
    err
}

/// Segments and CALL. Every `segdb query` opens the store anew, so each
/// statement here also checks that what the ones before it made survived a
/// reopen.
pub(crate) fn segments_and_calls(store: &Path, data: &Data, dir: &Path) {
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
    assert_eq!(
        v["columns"],
        json!(["procedure", "signature", "doc", "role", "writes"])
    );
    for r in v["rows"].as_array().unwrap() {
        assert_eq!((&r[3], &r[4]), (&json!("read"), &json!(false)), "{r}");
    }
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
            "campaign_status",
            "campaign_report",
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
