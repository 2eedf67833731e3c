//! CREATE TABLE, ALTER TABLE, DROP TABLE and SHOW.

use super::*;

/// A SHOW FIELDS answer with only the columns it had before the catalog.
fn pre_catalog(v: &Value) -> Value {
    let cut = |a: &Value| json!(a.as_array().unwrap()[..6]);
    json!({
        "columns": cut(&v["columns"]),
        "rows": v["rows"].as_array().unwrap().iter().map(cut).collect::<Vec<_>>(),
    })
}

pub(crate) fn schema_statements(store: &Path, data: &Data, dir: &Path) {
    // SHOW FIELDS: the schema of schema.sql, with the values the data has;
    // the catalog's columns follow the six it had before them.
    let full = one(store, "SHOW FIELDS FROM users");
    assert_eq!(
        full["columns"],
        json!([
            "field",
            "kind",
            "sensitive",
            "category",
            "values",
            "closed",
            "description",
            "owner",
            "source",
            "coverage",
            "rows_with_value",
            "last_written",
            "segments",
            "campaigns",
            "tags"
        ])
    );
    let v = pre_catalog(&full);
    let fields = v["rows"].as_array().unwrap();
    assert_eq!(fields.len(), 29);
    let distinct = |field: &str, set: bool| naive_groups(data, field, set, |_| true).len();
    assert_eq!(
        fields[0],
        json!([
            "gender",
            "ENUM",
            false,
            null,
            distinct("gender", false),
            false
        ])
    );
    assert_eq!(fields[1], json!(["age", "INT", false, null, null, null]));
    assert_eq!(
        fields[2],
        json!(["city", "ENUM", false, null, distinct("city", false), false])
    );
    assert_eq!(
        fields[12],
        json!(["is_owner", "BOOL", false, null, null, null])
    );
    assert_eq!(
        fields[24],
        json!([
            "interests",
            "SET",
            false,
            null,
            distinct("interests", true),
            false
        ])
    );
    assert_eq!(
        fields[28],
        json!(["book", "EVENT", false, null, null, null])
    );

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
    let v = pre_catalog(&one(store, "SHOW FIELDS FROM users"));
    assert_eq!(
        v["rows"][29],
        json!(["score", "INT", false, null, null, null])
    );

    // Several statements: each sees what the ones before it made.
    let answers = query(
        store,
        "SELECT COUNT(*) FROM users WHERE is_owner; CREATE TABLE t2 (a INT);\n\
         ALTER TABLE t2 ADD b ENUM; ALTER TABLE t2 ADD c INT SENSITIVE CATEGORY finance; SHOW FIELDS FROM t2; DROP TABLE t2; SHOW TABLES;",
    );
    assert_eq!(answers.len(), 7);
    assert_eq!(
        answers[0]["rows"],
        json!([[data.count(|r| r.is("is_owner"))]])
    );
    assert_eq!(answers[1]["rows"], json!([["t2"]]));
    assert_eq!(answers[2]["rows"], json!([["t2", "b", "ENUM"]]));
    assert_eq!(answers[3]["rows"], json!([["t2", "c", "INT"]]));
    assert_eq!(
        pre_catalog(&answers[4])["rows"],
        json!([
            ["a", "INT", false, null, null, null],
            ["b", "ENUM", false, null, 0, false],
            ["c", "INT", true, "finance", null, null]
        ])
    );
    assert_eq!(
        answers[5],
        json!({"columns": ["dropped"], "rows": [["t2"]]})
    );
    let names: Vec<&Value> = answers[6]["rows"]
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
